"""``voxplug serve``: the browser page and its token endpoint (implementation in voxplug.web)."""

from __future__ import annotations

import argparse
import os
from datetime import timedelta
from typing import Any

from pydantic import SecretStr

from ..errors import EXIT_OK, ConfigError
from ..providers import load_config
from ..room.client import LiveKitSettings
from ..web import DEV_AGENT_NAME, Authenticator, RateLimit, ServeOptions, check_assets, dev_stack, serve_forever
from ..web.security import is_loopback, load_auth_hook
from ..web.server import MAX_TOKEN_TTL, MIN_TOKEN_TTL
from .contract import Subparsers, WithConfig

__all__ = ["SECRET_ENV", "add_commands", "cmd_serve"]

SECRET_ENV = "VOXPLUG_SERVE_SECRET"


def _ttl(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if not MIN_TOKEN_TTL.total_seconds() <= value <= MAX_TOKEN_TTL.total_seconds():
        raise argparse.ArgumentTypeError(
            f"must be between {MIN_TOKEN_TTL.total_seconds():.0f} and {MAX_TOKEN_TTL.total_seconds():.0f} seconds"
        )
    return value


def cmd_serve(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    check_assets()
    secret = os.environ.get(SECRET_ENV)
    auth = Authenticator(
        secret=SecretStr(secret) if secret else None,
        hook=load_auth_hook(args.auth_hook) if args.auth_hook else None,
    )
    # unset: ServeOptions' defaults (docs/deployment.md lists them)
    limits: dict[str, Any] = {}
    if args.rate_limit:
        limits["per_client"] = RateLimit.parse(args.rate_limit, "--rate-limit")
    if args.global_rate_limit:
        limits["overall"] = RateLimit.parse(args.global_rate_limit, "--global-rate-limit")
    if args.dev and not is_loopback(args.host):
        raise ConfigError("serve --dev: the local LiveKit server listens on 127.0.0.1 only; drop --host")
    agent_name = args.agent_name or config.worker.agent_name or (DEV_AGENT_NAME if args.dev else "")

    def options(livekit: LiveKitSettings) -> ServeOptions:
        return ServeOptions(
            livekit=livekit, agent_name=agent_name, host=args.host, port=args.port,
            public_livekit_url=args.public_livekit_url, token_ttl=timedelta(seconds=args.token_ttl),
            auth=auth, trust_forwarded=args.trust_forwarded_for, **limits,
        )

    def say(line: str) -> None:
        print(line, flush=True)

    if not args.dev:
        serve_forever(config, options(LiveKitSettings.from_env()), on_ready=say)
        return EXIT_OK
    with dev_stack(agent_name=agent_name, config_path=args.config, say=say) as livekit:
        serve_forever(config, options(livekit), on_ready=say)
    return EXIT_OK


def add_commands(sub: Subparsers, with_config: WithConfig) -> None:
    serve = with_config(sub.add_parser(
        "serve",
        help="a web page to talk to the agent (token endpoint included)",
        description="Serve a page that talks to the agent through LiveKit (LIVEKIT_URL/KEY/SECRET), "
        f"or with --dev through a local LiveKit server and worker. Off loopback, set {SECRET_ENV} "
        "or --auth-hook. See docs/deployment.md.",
    ))
    serve.add_argument("--dev", action="store_true",
                       help="also start a local LiveKit server and a worker (one command, keyless by default)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080; 0 = any free)")
    serve.add_argument("--agent-name", help="the agent to dispatch (default: worker.agent_name)")
    serve.add_argument("--public-livekit-url", metavar="URL",
                       help="the LiveKit URL as browsers reach it (default: LIVEKIT_URL)")
    serve.add_argument("--token-ttl", type=_ttl, default=120, metavar="SECONDS",
                       help="how long a token may be used to join (default 120)")
    serve.add_argument("--rate-limit", metavar="N/min[,burst=B]",
                       help="tokens per client address (default 6/min,burst=3; 0 = off)")
    serve.add_argument("--global-rate-limit", metavar="N/min[,burst=B]",
                       help="tokens for all clients together (default 60/min,burst=20; 0 = off)")
    serve.add_argument("--auth-hook", metavar="MODULE:FUNCTION",
                       help="a function(request) -> bool (or awaitable) that decides who gets a token")
    serve.add_argument("--trust-forwarded-for", action="store_true",
                       help="count clients by X-Forwarded-For (only behind a proxy that sets it)")
    serve.set_defaults(func=cmd_serve)
