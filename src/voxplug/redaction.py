"""One redaction function for every output: errors, logs, dumps, stored text.

Two kinds of value are masked:

* **known secrets**: values passed in (configured keys, the database password, the webhook
  secret) and the values of credential environment variables named by the caller (the
  provider registry knows them: ``OPENAI_API_KEY``, ``DEEPGRAM_API_KEY``, ...);
* **credential-shaped tokens**, wherever they sit: vendor key prefixes (``sk-``, ``gsk_``,
  ``AKIA``, ``AIza``, ...), ``Bearer`` tokens, and long random-looking runs (hex or base64
  of 24+ characters mixing letters and digits). This catches a key pasted into the wrong
  field, which no list of secret fields can know about.

Model names (``gpt-4.1-mini``, ``claude-3-5-sonnet-20241022``), voice ids (UUIDs, 20-character
ElevenLabs ids) and URLs without credentials stay readable.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, overload

from pydantic import BaseModel, SecretStr

__all__ = ["REDACTED", "Redactor", "collect_secrets", "looks_like_secret", "redact", "safe_repr"]

REDACTED = "**********"
# shorter values are not masked: masking "a" would shred every text
MIN_SECRET_LENGTH = 4

# prefixes vendors put on their keys (OpenAI, Anthropic, Groq, xAI, Cartesia, ElevenLabs,
# Stripe-style "sk_live_", GitHub, Hugging Face, Replicate, Perplexity, Fireworks, Google,
# AWS access key ids, Slack, LiveKit's "API" keys are short ids and are not matched)
_PREFIXED = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"sk-[A-Za-z0-9_\-]{12,}|sk_[A-Za-z0-9_\-]{12,}|rk_[A-Za-z0-9_\-]{12,}|pk_[A-Za-z0-9_\-]{16,}|"
    r"gsk_[A-Za-z0-9]{12,}|xai-[A-Za-z0-9]{12,}|pplx-[A-Za-z0-9]{12,}|fw_[A-Za-z0-9]{12,}|"
    r"ghp_[A-Za-z0-9]{12,}|gho_[A-Za-z0-9]{12,}|github_pat_[A-Za-z0-9_]{12,}|glpat-[A-Za-z0-9_\-]{12,}|"
    r"hf_[A-Za-z0-9]{12,}|r8_[A-Za-z0-9]{12,}|xox[abprs]-[A-Za-z0-9\-]{10,}|"
    r"AIza[A-Za-z0-9_\-]{20,}|(?:AKIA|ASIA)[A-Z0-9]{16}"
    r")"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)\s+([A-Za-z0-9._~+/=\-]{8,})")
# user:password@ in a URL
_URL_PASSWORD = re.compile(r"(?<=://)([^/\s:@]+):([^/\s@]+)@")
# candidate tokens for the shape test: runs of key-like characters
_TOKEN = re.compile(r"[A-Za-z0-9+/=_\-]{24,}")
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")


def _entropy(text: str) -> float:
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _random_looking(token: str) -> bool:
    if _UUID.match(token) or token.startswith("/"):
        return False
    runs = _ALNUM_RUN.findall(token)
    longest = max(runs, key=len, default="")
    if len(longest) < 24:
        # base64 keys are broken up by '/' and '+': judge the whole token then
        if not ("/" in token or "+" in token) or len(token) < 30:
            return False
        longest = re.sub(r"[^A-Za-z0-9]", "", token)
    has_digit = any(c.isdigit() for c in longest)
    has_alpha = any(c.isalpha() for c in longest)
    if not (has_digit and has_alpha):
        return False
    if _HEX.match(longest):
        return _entropy(longest) >= 3.0  # hex keys (Azure, Deepgram, AssemblyAI): 32-40 digits
    mixed_case = any(c.islower() for c in longest) and any(c.isupper() for c in longest)
    return _entropy(longest) >= (3.5 if mixed_case else 3.8)


def looks_like_secret(value: str) -> bool:
    """True when ``value`` contains something shaped like a credential."""
    if _PREFIXED.search(value) or _BEARER.search(value) or _URL_PASSWORD.search(value):
        return True
    return any(_random_looking(m.group(0)) for m in _TOKEN.finditer(value))


def _mask_shapes(text: str) -> str:
    text = _PREFIXED.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{REDACTED}@", text)
    return _TOKEN.sub(lambda m: REDACTED if _random_looking(m.group(0)) else m.group(0), text)


class Redactor:
    """Masks known secret values (and, by default, credential-shaped tokens) in text.

    ``env_names`` are credential variable names; their values in ``env`` (default: the
    process environment) count as known secrets.
    """

    def __init__(
        self,
        secrets: Iterable[str] = (),
        *,
        env_names: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        shapes: bool = True,
    ) -> None:
        env = os.environ if env is None else env
        values = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        values |= {env[name] for name in env_names if len(env.get(name) or "") >= MIN_SECRET_LENGTH}
        # longest first, so a secret that contains another is masked whole
        self.secrets = sorted(values, key=len, reverse=True)
        self.shapes = shapes

    @overload
    def __call__(self, text: str, limit: int | None = None) -> str: ...
    @overload
    def __call__(self, text: None, limit: int | None = None) -> None: ...

    def __call__(self, text: str | None, limit: int | None = None) -> str | None:
        if text is None:
            return None
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if self.shapes:
            text = _mask_shapes(text)
        if limit is not None and len(text) > limit:
            text = text[:limit] + "…"
        return text


def redact(
    text: str,
    *,
    secrets: Iterable[str] = (),
    env_names: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
) -> str:
    """``text`` with known secrets and credential-shaped tokens masked."""
    return Redactor(secrets, env_names=env_names, env=env)(text)


def safe_repr(value: object, limit: int = 60) -> str:
    """A user's value for a message: never a credential, never longer than ``limit``, one line."""
    text = str(value)
    if looks_like_secret(text):
        return "<a value shaped like a credential: not shown>"
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    # bounded as shown: repr escapes a character it cannot print in up to 10 (a hypothesis test's
    # 40-character key of unassigned code points came out 400 long)
    shown = repr(text)
    quote, inner = shown[0], shown[1:-1]
    if len(inner) > limit:
        inner = inner[:limit] + "…"
    return quote + inner + quote if isinstance(value, str) else inner


def collect_secrets(*models: Any) -> list[str]:
    """Every ``SecretStr`` value found in pydantic models (nested models, lists, dicts)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    for model in models:
        walk(model)
    return found
