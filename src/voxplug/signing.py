"""HMAC-SHA256 request signing, shared by the webhook sink and HTTP tools.

A signature is ``v1=`` + hex HMAC-SHA256 of ``"{timestamp}.{raw body}"`` with a shared
secret. Several signatures may be sent during a secret rotation (``"v1=aaa,v1=bbb"``).
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["DEFAULT_TOLERANCE", "SIGNATURE_HEADER", "SIGNATURE_VERSION", "TIMESTAMP_HEADER", "sign", "verify"]

SIGNATURE_VERSION = "v1"
# the headers that carry the signature and its timestamp (webhooks and HTTP tools)
SIGNATURE_HEADER = "X-Voxplug-Signature"
TIMESTAMP_HEADER = "X-Voxplug-Timestamp"
# how old a signed timestamp may be (seconds) before it counts as a replay
DEFAULT_TOLERANCE = 300.0


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The signature header value for ``body`` signed at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def verify(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """True when the signature matches and the timestamp is fresh (replay protection)."""
    if not timestamp or not signature:
        return False
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    expected = sign(secret, ts, body)
    return any(hmac.compare_digest(expected, part.strip()) for part in signature.split(","))
