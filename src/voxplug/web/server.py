"""``voxplug serve``: the page and the token endpoint, on aiohttp.

``GET /`` serves the page built from ``web/`` (its assets ship inside the package);
``GET /api/config`` tells the page what it may offer; ``POST /api/token`` gives each
visitor a short-lived token for a fresh room, with the configured agent dispatched into it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from ..config.models import VoxplugConfig
from ..errors import ConfigError, VoxplugError
from ..room.client import LiveKitSettings, mint_token
from .security import Authenticator, RateLimit, RateLimiter, is_loopback
from .settings import page_settings, parse_settings

__all__ = [
    "DEFAULT_OVERALL",
    "DEFAULT_PER_CLIENT",
    "DEFAULT_TOKEN_TTL",
    "MAX_TOKEN_TTL",
    "MIN_TOKEN_TTL",
    "STATIC_DIR",
    "ServeOptions",
    "check_assets",
    "create_app",
    "run_server",
    "serve_forever",
]

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
ASSETS = ("index.html", "app.js", "app.css")
# the largest request body accepted: the settings panel's text fits many times over
MAX_BODY_BYTES = 16 * 1024
# the agent may take a moment to say hello, so a room lives on a little after the join;
# the token itself only has to last from the click to the join
DEFAULT_TOKEN_TTL = timedelta(minutes=2)
MIN_TOKEN_TTL, MAX_TOKEN_TTL = timedelta(seconds=10), timedelta(hours=1)
# a visitor reconnecting a few times in a row is fine; a script asking every second is not
DEFAULT_PER_CLIENT = RateLimit(per_minute=6, burst=3)
DEFAULT_OVERALL = RateLimit(per_minute=60, burst=20)


@dataclass(frozen=True)
class ServeOptions:
    livekit: LiveKitSettings
    agent_name: str
    host: str = "127.0.0.1"
    port: int = 8080
    # the LiveKit URL as the browser reaches it (default: LIVEKIT_URL)
    public_livekit_url: str | None = None
    token_ttl: timedelta = DEFAULT_TOKEN_TTL
    per_client: RateLimit = DEFAULT_PER_CLIENT
    overall: RateLimit = DEFAULT_OVERALL
    auth: Authenticator = field(default_factory=Authenticator)
    # count clients by the last X-Forwarded-For hop (only behind a proxy that sets it)
    trust_forwarded: bool = False
    room_prefix: str = "web"

    def __post_init__(self) -> None:
        problems = []
        if not self.agent_name:
            problems.append(
                "serve: no agent name; set worker.agent_name (VOXPLUG_WORKER__AGENT_NAME) or pass --agent-name, "
                "so the page dispatches its agent explicitly"
            )
        if not is_loopback(self.host) and self.auth.mode == "none":
            problems.append(
                f"serve: --host {self.host} is reachable from other machines; set VOXPLUG_SERVE_SECRET "
                "or --auth-hook so only your visitors get tokens"
            )
        if not MIN_TOKEN_TTL <= self.token_ttl <= MAX_TOKEN_TTL:
            problems.append(
                f"serve: --token-ttl must be between {MIN_TOKEN_TTL.total_seconds():.0f} "
                f"and {MAX_TOKEN_TTL.total_seconds():.0f} seconds"
            )
        if problems:
            raise ConfigError(*problems)

    @property
    def browser_livekit_url(self) -> str:
        return self.public_livekit_url or self.livekit.url


def check_assets(static_dir: Path = STATIC_DIR) -> None:
    missing = [name for name in ASSETS if not (static_dir / name).is_file()]
    if missing:
        raise VoxplugError(
            f"serve: the page is not built ({', '.join(missing)} missing in {static_dir}); "
            "run `make web` in a voxplug checkout (npm ci + esbuild), or install a voxplug wheel"
        )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _origins(url: str) -> str:
    """The LiveKit server's origins for the page's connect-src (WebSocket and HTTP)."""
    parts = urlsplit(url)
    secure = parts.scheme in ("wss", "https")
    hosts = [parts.netloc]
    if (parts.hostname or "").endswith(".livekit.cloud"):
        # LiveKit Cloud hands clients regional URLs (<project>.<region>.production.livekit.cloud)
        hosts.append("*.livekit.cloud")
    return " ".join(f"{'wss' if secure else 'ws'}://{h} {'https' if secure else 'http'}://{h}" for h in hosts)


class _Handlers:
    def __init__(self, config: VoxplugConfig, options: ServeOptions, static_dir: Path) -> None:
        self.config = config
        self.options = options
        self.static_dir = static_dir
        self.limiter = RateLimiter(options.per_client, options.overall)
        self.csp = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {_origins(options.browser_livekit_url)}; "
            "media-src 'self' blob: mediastream:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
        )

    # -- middleware ----------------------------------------------------------------------
    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        # bound to loopback, answer only to loopback names: a page elsewhere whose DNS name
        # points at 127.0.0.1 (DNS rebinding) must not read tokens
        if is_loopback(self.options.host) and not is_loopback(request.url.host or ""):
            response: web.StreamResponse = _error(403, "this server answers only to localhost addresses")
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                if not request.path.startswith("/api/"):
                    raise
                response = _error(exc.status, exc.reason)
            except Exception:  # a bug: logged with its traceback, never shown to the visitor
                logger.exception("serve: %s %s failed", request.method, request.path)
                response = _error(500, "internal error; see the server log")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Content-Security-Policy", self.csp)
        # the microphone is the one powerful feature the page uses
        response.headers.setdefault("Permissions-Policy", "microphone=(self), camera=(), geolocation=()")
        return response

    # -- routes ----------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(self.static_dir / "index.html", headers={"Cache-Control": "no-cache"})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def page_config(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "agent_name": self.options.agent_name,
                "auth": self.options.auth.mode,
                "settings": page_settings(self.config),
                "token_ttl": int(self.options.token_ttl.total_seconds()),
                "rate_limits": self.limiter.describe(),
            },
            headers={"Cache-Control": "no-store"},
        )

    def _client(self, request: web.Request) -> str:
        if self.options.trust_forwarded:
            forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
            if forwarded:
                return forwarded[:64]
        return request.remote or "unknown"

    async def token(self, request: web.Request) -> web.Response:
        client = self._client(request)
        wait = self.limiter.check(client)
        if wait:
            retry = max(1, math.ceil(wait))
            logger.warning("serve: token refused to %s: rate limit (retry in %d s)", client, retry)
            return _error(429, f"too many token requests; try again in {retry} s", {"Retry-After": str(retry)})
        origin = request.headers.get("Origin")
        if origin and urlsplit(origin).netloc != request.host:
            logger.warning("serve: token refused to %s: cross-origin request", client)
            return _error(403, "cross-origin token requests are refused")
        try:
            allowed = await self.options.auth.allows(request)
        except Exception as exc:  # the operator's hook: logged, and the visitor is refused
            logger.error("serve: the auth hook failed: %s: %s", type(exc).__name__, exc)
            return _error(503, "authentication is unavailable; try again later")
        if not allowed:
            logger.warning("serve: token refused to %s: not authenticated (%s)", client, self.options.auth.mode)
            if self.options.auth.mode == "secret":
                return _error(401, "access code missing or wrong", {"WWW-Authenticate": "Bearer"})
            return _error(403, "refused by the server's auth hook")
        if request.content_type != "application/json":
            return _error(415, "send the settings as application/json")
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "the body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        try:
            chosen = parse_settings(body.get("settings"), self.config)
        except ConfigError as exc:
            logger.warning("serve: token refused to %s: %s", client, "; ".join(exc.problems))
            return _error(400, "; ".join(exc.problems))
        room = f"{self.options.room_prefix}-{secrets.token_hex(8)}"
        identity = f"visitor-{secrets.token_hex(4)}"
        token = mint_token(
            self.options.livekit,
            identity=identity,
            name="visitor",
            room=room,
            ttl=self.options.token_ttl,
            agent_name=self.options.agent_name,
            metadata=json.dumps({"voxplug": chosen}) if chosen else None,
            microphone_only=True,
        )
        logger.info("serve: token for room %s (settings: %s)", room, ", ".join(chosen) or "none")
        return web.json_response(
            {
                "url": self.options.browser_livekit_url,
                "token": token,
                "room": room,
                "identity": identity,
                "expires_in": int(self.options.token_ttl.total_seconds()),
            },
            headers={"Cache-Control": "no-store"},
        )


def create_app(config: VoxplugConfig, options: ServeOptions, *, static_dir: Path = STATIC_DIR) -> web.Application:
    check_assets(static_dir)
    handlers = _Handlers(config, options, static_dir)
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[handlers.middleware])
    app.router.add_get("/", handlers.index)
    app.router.add_get("/healthz", handlers.health)
    app.router.add_get("/api/config", handlers.page_config)
    app.router.add_post("/api/token", handlers.token)
    app.router.add_static("/static", static_dir, show_index=False, follow_symlinks=False)
    return app


async def run_server(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner (``await runner.cleanup()`` to stop) and the bound port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        reason = exc.strerror or exc
        raise VoxplugError(f"serve: cannot listen on {host}:{port}: {reason}; pick another --port") from None
    return runner, int(runner.addresses[0][1])


def serve_forever(
    config: VoxplugConfig, options: ServeOptions, *, on_ready: Callable[[str], None] = print
) -> None:
    """Run until SIGINT or SIGTERM."""

    async def main() -> None:
        runner, port = await run_server(create_app(config, options), options.host, options.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        host = f"[{options.host}]" if ":" in options.host else options.host
        on_ready(f"voxplug serve: open http://{host}:{port}/ (agent {options.agent_name!r})")
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())
