"""``voxplug start`` and ``voxplug dev``: the production LiveKit worker.

The worker is handed to LiveKit's own runner (``livekit.agents.cli``) with voxplug's
logging options: ``--log-level`` and ``--log-format json`` (LiveKit's JSON lines) or
``text`` (its coloured lines).
"""

from __future__ import annotations

import argparse
import os

from livekit.agents.cli import cli as livekit_cli
from livekit.agents.cli import proto

from ..config.loader import CONFIG_ENV
from ..errors import EXIT_OK, ConfigError
from ..providers import load_config
from ..redaction import collect_secrets
from ..worker import build_server
from .contract import Subparsers, WithConfig, log_settings, remember_secrets

__all__ = ["LIVEKIT_ENV", "add_commands", "cmd_worker"]

LIVEKIT_ENV = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")


def cmd_worker(args: argparse.Namespace) -> int:
    if args.config:
        # job processes are spawned: they find the same file through the environment
        os.environ[CONFIG_ENV] = os.path.abspath(args.config)
    config = load_config(args.config)
    remember_secrets(collect_secrets(config))
    missing = [n for n in LIVEKIT_ENV if not os.environ.get(n)]
    if missing:
        raise ConfigError(f"worker: {', '.join(missing)} not set; point them at your LiveKit server")
    level, fmt = log_settings(args)
    server = build_server(config)
    # the runner behind LiveKit's `start`/`dev` commands (livekit-agents 1.8.9), so that the
    # log format can be chosen too; tests/cli/test_worker_cli.py covers this hand-off
    livekit_cli._run_worker(
        server,
        proto.CliArgs(
            log_level=level.upper(),
            log_format="json" if fmt == "json" else "colored",
            url=os.environ["LIVEKIT_URL"],
            api_key=os.environ["LIVEKIT_API_KEY"],
            api_secret=os.environ["LIVEKIT_API_SECRET"],
            dev=args.command == "dev",
        ),
    )
    return EXIT_OK


def add_commands(sub: Subparsers, with_config: WithConfig) -> None:
    """Add ``start`` and ``dev``."""
    for name, text in (("start", "run a production LiveKit worker"), ("dev", "run a worker in dev mode")):
        p = with_config(sub.add_parser(name, help=text))
        p.set_defaults(func=cmd_worker, default_log_format="json" if name == "start" else "text")
