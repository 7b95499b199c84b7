"""Per-room settings from a job's dispatch or room metadata, limited to an allowlist.

Metadata is written by whoever creates the room or the dispatch, not by the operator, so
only settings listed in ``overrides.allow`` may change, and never an endpoint, base URL,
provider or credential. No metadata can break a job: whatever is wrong with it (not JSON,
nested too deeply, too large, not UTF-8, wrong types, texts over their limits) becomes a
refusal with a one-line reason, and the session starts with the operator's settings for
everything refused. Reasons name keys, never echo a credential or a long value.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from ..config.models import OverrideConfig, VoxplugConfig
from ..redaction import safe_repr

__all__ = [
    "FORBIDDEN_FIELDS", "TEXT_LIMITS", "apply_overrides", "metadata_objects", "overrides_from_metadata",
    "parse_metadata", "text_limit",
]

logger = logging.getLogger(__name__)

FORBIDDEN_FIELDS = frozenset(
    {"provider", "api_key", "base_url", "endpoint", "deployment", "api_version", "region", "options", "fallbacks"}
)
# "section.field": deeper metadata is not ours
MAX_DEPTH = 2
# keys beyond this count are not read: a metadata blob with a million keys costs nothing
MAX_KEYS = 64
NUMERIC_FIELDS = frozenset({"llm.temperature"})
# texts with a limit of their own (an OverrideConfig field); others have max_value_chars
TEXT_LIMITS = {"agent.instructions": "max_instructions_chars", "agent.greeting": "max_greeting_chars"}
# overrides.max_metadata_bytes' default, for callers without a config at hand
DEFAULT_MAX_BYTES = 65_536


def _key(key: str) -> str:
    return safe_repr(key, 60).strip("'")


def _utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, e.g. from a "\\ud800" JSON escape
        return False
    return True


def _flatten(data: dict[str, Any], refused: list[str], prefix: str = "", depth: int = 1) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            if depth >= MAX_DEPTH:
                refused.append(f"{_key(path)}: nested too deeply; metadata holds section.field values")
                continue
            flat |= _flatten(value, refused, f"{path}.", depth + 1)
        else:
            flat[path] = value
    return flat


def _decode(raw: object, where: str, max_bytes: int, refused: list[str]) -> dict[str, Any] | None:
    """The JSON object in one metadata string, or ``None`` (with a reason when it is ours)."""
    if not raw:
        return None
    if not isinstance(raw, str):
        refused.append(f"{where}: not text; ignored")
        return None
    if not _utf8(raw):
        refused.append(f"{where}: not valid UTF-8; ignored")
        return None
    size = len(raw.encode("utf-8"))
    if size > max_bytes:
        refused.append(f"{where}: {size} bytes is over overrides.max_metadata_bytes ({max_bytes}); ignored")
        return None
    try:
        data = json.loads(raw)
    except RecursionError:
        refused.append(f"{where}: JSON nested too deeply; ignored")
        return None
    except ValueError:
        return None  # not JSON: someone else's metadata
    return data if isinstance(data, dict) else None


def metadata_objects(*sources: str | None, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[dict[str, Any]]:
    """The JSON objects among metadata strings, read as safely as :func:`parse_metadata` reads
    them; anything else (not JSON, too large, not UTF-8, too deep) is skipped."""
    for index, raw in enumerate(sources):
        data = _decode(raw, f"metadata #{index + 1}", max_bytes, [])
        if data is not None:
            yield data


def parse_metadata(*sources: str | None, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[dict[str, Any], list[str]]:
    """Dotted overrides from JSON metadata strings (later sources win), and what was refused.

    Accepts ``{"voxplug": {...}}`` or the mapping itself, nested (``{"tts": {"voice": "x"}}``)
    or dotted (``{"tts.voice": "x"}``). Metadata that is not a JSON object belongs to someone
    else: ignored without a reason.
    """
    merged: dict[str, Any] = {}
    refused: list[str] = []
    for index, raw in enumerate(sources):
        where = f"metadata #{index + 1}"
        data = _decode(raw, where, max_bytes, refused)
        if data is None:
            continue
        section = data.get("voxplug", data)
        if not isinstance(section, dict):
            refused.append(f"{where}: 'voxplug' must be an object of settings; ignored")
            continue
        if len(section) > MAX_KEYS:
            refused.append(f"{where}: more than {MAX_KEYS} keys; ignored")
            continue
        merged |= _flatten(section, refused)
    return merged, refused


def _check_value(key: str, value: Any, limits: OverrideConfig) -> str | None:
    """Why ``value`` cannot be used for ``key``, or ``None``."""
    if key in NUMERIC_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{key}: must be a number"
        return None
    if not isinstance(value, str):
        return f"{key}: must be text, not {type(value).__name__}"
    if not _utf8(value):
        return f"{key}: not valid UTF-8"
    name, most = text_limit(key, limits)
    if len(value) > most:
        return f"{key}: {len(value)} characters is over overrides.{name} ({most})"
    return None


def text_limit(key: str, limits: OverrideConfig) -> tuple[str, int]:
    """The ``overrides`` field that bounds the text ``key`` and its value."""
    name = TEXT_LIMITS.get(key, "max_value_chars")
    return name, int(getattr(limits, name))


def apply_overrides(config: VoxplugConfig, overrides: dict[str, Any]) -> tuple[VoxplugConfig, list[str]]:
    """Return the config with allowed overrides applied, and one reason per refused key."""
    refused: list[str] = []
    allowed = set(config.overrides.allow)
    data = config.model_dump()
    current = config
    for key, value in overrides.items():
        parts = key.split(".")
        name = _key(key)
        if any(p in FORBIDDEN_FIELDS for p in parts):
            refused.append(f"{name}: endpoints, providers and credentials cannot be set from metadata")
            continue
        if key not in allowed:
            refused.append(f"{name}: not in overrides.allow")
            continue
        problem = _check_value(key, value, config.overrides)
        if problem is not None:
            refused.append(problem)
            continue
        if key == "llm.model" and value != config.llm.model and value not in config.overrides.llm_models:
            refused.append(f"llm.model: {safe_repr(value)} is not in overrides.llm_models")
            continue
        section, field = parts
        candidate = copy.deepcopy(data)  # SecretStr values stay objects: never masked copies
        candidate[section][field] = value
        try:
            current = VoxplugConfig.model_validate(candidate)
        except ValidationError:
            refused.append(f"{key}: invalid value")
            continue
        data = candidate
    return current, refused


def overrides_from_metadata(config: VoxplugConfig, *sources: str | None) -> tuple[VoxplugConfig, list[str]]:
    """The config for one job and the reasons for every refusal. Never raises."""
    try:
        overrides, refused = parse_metadata(*sources, max_bytes=config.overrides.max_metadata_bytes)
        updated, more = apply_overrides(config, overrides)
    except Exception as exc:  # no metadata may take a call down
        return config, [f"metadata: could not be read ({type(exc).__name__}); using the configured settings"]
    return updated, [*refused, *more]
