"""Who may get a token, and how often: the shared secret or auth hook, and the rate limits.

The token endpoint is the only thing between the internet and the agent's capacity (and
the vendor bills behind it), so every request is counted before it is authenticated: a
guessed secret costs as much as a token.
"""

from __future__ import annotations

import hmac
import importlib
import inspect
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import web
from pydantic import SecretStr

from ..errors import ConfigError

__all__ = [
    "AuthHook",
    "Authenticator",
    "RateLimit",
    "RateLimiter",
    "TokenBucket",
    "is_loopback",
    "load_auth_hook",
]

# a hook answers True (allow) or False (refuse), directly or as an awaitable
AuthHook = Callable[[web.Request], "bool | Awaitable[bool]"]
MIN_SECRET_LENGTH = 16
# clients tracked at once; the least recently seen is forgotten first (bounded memory)
MAX_CLIENTS = 4096
MAX_RATE = 100_000


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_auth_hook(spec: str) -> AuthHook:
    """``package.module:function`` -> the function (``--auth-hook``)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"--auth-hook: {spec!r} is not module:function, e.g. mycompany.auth:allow_visitor")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"--auth-hook: cannot import {module_name!r} ({exc}); is it on PYTHONPATH?") from None
    hook = getattr(module, attribute, None)
    if not callable(hook):
        raise ConfigError(f"--auth-hook: {module_name} has no function {attribute!r}")
    return cast(AuthHook, hook)  # callable() checked above; its signature is the operator's


@dataclass
class Authenticator:
    """A shared secret (``Authorization: Bearer <secret>``), an auth hook, both, or none."""

    secret: SecretStr | None = None
    hook: AuthHook | None = None

    def __post_init__(self) -> None:
        if self.secret is not None and len(self.secret.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"VOXPLUG_SERVE_SECRET: at least {MIN_SECRET_LENGTH} characters; "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(24))'"
            )

    @property
    def mode(self) -> str:
        """What the page must provide: ``secret`` (an access code field), ``hook`` or ``none``."""
        if self.secret is not None:
            return "secret"
        return "hook" if self.hook is not None else "none"

    async def allows(self, request: web.Request) -> bool:
        if self.secret is not None:
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            expected = self.secret.get_secret_value().encode()
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
                return False
        if self.hook is not None:
            verdict = self.hook(request)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            return verdict is True
        return True


@dataclass(frozen=True)
class RateLimit:
    """``per_minute`` tokens a minute on average, up to ``burst`` at once."""

    per_minute: float
    burst: int

    @classmethod
    def parse(cls, text: str, option: str) -> RateLimit:
        """``N/min`` or ``N/min,burst=B``; ``0`` turns the limit off."""
        rate, _, rest = text.partition(",")
        number = rate.removesuffix("/min").strip()
        try:
            per_minute = float(number)
            burst = int(rest.removeprefix("burst=")) if rest else max(1, math.ceil(per_minute))
        except (ValueError, OverflowError):
            raise ConfigError(f"{option}: {text!r} is not N/min or N/min,burst=B (e.g. 6/min,burst=3)") from None
        if not (0 <= per_minute <= MAX_RATE and 1 <= burst <= MAX_RATE):
            raise ConfigError(f"{option}: the rate must be 0 to {MAX_RATE}/min and the burst 1 to {MAX_RATE}")
        return cls(per_minute, burst)

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def __str__(self) -> str:
        return f"{self.per_minute:g}/min,burst={self.burst}"


@dataclass
class TokenBucket:
    limit: RateLimit
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """0 if a token was taken, else the seconds until one is available."""
        refill = self.limit.per_minute / 60.0
        self.tokens = min(float(self.limit.burst), self.tokens + (now - self.updated) * refill)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / refill


@dataclass
class RateLimiter:
    """One bucket per client address and one for the whole server."""

    per_client: RateLimit
    overall: RateLimit
    clock: Callable[[], float] = time.monotonic
    _clients: OrderedDict[str, TokenBucket] = field(default_factory=OrderedDict)
    _overall: TokenBucket | None = None

    def _bucket(self, limit: RateLimit, now: float) -> TokenBucket:
        return TokenBucket(limit, float(limit.burst), now)

    def check(self, client: str) -> float:
        """0 to go ahead, else the seconds to wait (for ``Retry-After``)."""
        now = self.clock()
        if self.per_client.enabled:
            bucket = self._clients.pop(client, None) or self._bucket(self.per_client, now)
            self._clients[client] = bucket  # most recently seen last
            while len(self._clients) > MAX_CLIENTS:
                self._clients.popitem(last=False)
            wait = bucket.take(now)
            if wait:
                return wait
        if self.overall.enabled:
            if self._overall is None:
                self._overall = self._bucket(self.overall, now)
            return self._overall.take(now)
        return 0.0

    def describe(self) -> dict[str, Any]:
        return {
            "per_client": {"per_minute": self.per_client.per_minute, "burst": self.per_client.burst},
            "overall": {"per_minute": self.overall.per_minute, "burst": self.overall.burst},
        }
