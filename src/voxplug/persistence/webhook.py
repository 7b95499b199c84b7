"""Backend webhook: signing, verification and delivery of session events.

Contract (docs/persistence.md): each event is one ``POST`` of a JSON body with

* ``X-Voxplug-Timestamp``: Unix seconds when this attempt was signed;
* ``X-Voxplug-Signature``: ``v1=`` + hex HMAC-SHA256 of ``"{timestamp}.{raw body}"`` with
  the shared secret (a new signature on each attempt, so the timestamp check still holds
  for an event retried hours later);
* ``Idempotency-Key``: the event id (``{session_id}:{seq}``), identical on every retry.

2xx acknowledges. 400, 413 and 422 mean the receiver will never take this body: the event is
moved to the outbox's ``dead`` channel (kept, logged, re-deliverable). Anything else —
network errors, timeouts, 401/403 (a secret being rotated), 404, 429, 5xx — is retried with
exponential backoff, and later events wait: delivery is strictly in order.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from ..signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from .events import StoreEvent

__all__ = [
    "EVENT_ID_HEADER",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Backoff",
    "DeliveryResult",
    "WebhookClient",
    "encode_body",
    "signed_headers",
]

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_ID_HEADER = "X-Voxplug-Event-Type"
PERMANENT_STATUSES = frozenset({400, 413, 422})


def encode_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def signed_headers(secret: str, event: StoreEvent, body: bytes, *, now: float | None = None) -> dict[str, str]:
    ts = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(secret, ts, body),
        IDEMPOTENCY_HEADER: event.key,
        EVENT_ID_HEADER: event.type,
        "User-Agent": "voxplug-webhook/1",
    }


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    permanent: bool = False
    status: int | None = None
    error: str | None = None


class Backoff:
    """Exponential backoff with jitter: initial, doubled per failure, capped; reset on success."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = max(maximum, initial)
        self.failures = 0

    def next_delay(self) -> float:
        base = min(self.maximum, self.initial * (2 ** min(self.failures, 30)))
        self.failures += 1
        # "equal jitter": never less than half the step, so a flapping receiver is not hammered
        delay: float = base / 2 + random.uniform(0, base / 2)
        return delay

    def reset(self) -> None:
        self.failures = 0


class WebhookClient:
    """POSTs one signed event at a time (aiohttp, already a LiveKit dependency)."""

    def __init__(self, url: str, secret: str, *, timeout: float, include_transcripts: bool) -> None:
        self.url = url
        self._secret = secret
        self.timeout = timeout
        self.include_transcripts = include_transcripts
        self._http: Any = None

    async def deliver(self, event: StoreEvent) -> DeliveryResult:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        body = encode_body(event.webhook_body(include_transcripts=self.include_transcripts))
        headers = signed_headers(self._secret, event, body)
        try:
            async with self._http.post(self.url, data=body, headers=headers) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return DeliveryResult(ok=True, status=resp.status)
                return DeliveryResult(
                    ok=False, permanent=resp.status in PERMANENT_STATUSES, status=resp.status,
                    error=f"HTTP {resp.status}",
                )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return DeliveryResult(ok=False, error=type(exc).__name__)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
