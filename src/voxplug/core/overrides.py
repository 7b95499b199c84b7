"""Per-room settings from a job's dispatch or room metadata, limited to an allowlist.

Metadata is written by whoever creates the room or the dispatch, not by the operator, so
only settings listed in ``overrides.allow`` may change, and never an endpoint, base URL,
provider or credential.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import ValidationError

from ..config.models import VoxplugConfig

__all__ = ["FORBIDDEN_FIELDS", "apply_overrides", "parse_metadata"]

logger = logging.getLogger("voxplug.overrides")

FORBIDDEN_FIELDS = frozenset(
    {"provider", "api_key", "base_url", "endpoint", "deployment", "api_version", "region", "options", "fallbacks"}
)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= _flatten(value, f"{path}.")
        else:
            flat[path] = value
    return flat


def parse_metadata(*sources: str | None) -> dict[str, Any]:
    """Dotted overrides from JSON metadata strings; later sources win.

    Accepts ``{"voxplug": {...}}`` or the mapping itself, nested (``{"tts": {"voice": "x"}}``)
    or dotted (``{"tts.voice": "x"}``). Non-JSON metadata belongs to someone else: ignored.
    """
    merged: dict[str, Any] = {}
    for raw in sources:
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        section = data.get("voxplug", data)
        if isinstance(section, dict):
            merged |= _flatten(section)
    return merged


def apply_overrides(config: VoxplugConfig, overrides: dict[str, Any]) -> tuple[VoxplugConfig, list[str]]:
    """Return the config with allowed overrides applied, and one reason per refused key."""
    refused: list[str] = []
    data = config.model_dump()
    allowed = set(config.overrides.allow)
    for key, value in overrides.items():
        parts = key.split(".")
        if parts[-1] in FORBIDDEN_FIELDS or any(p in FORBIDDEN_FIELDS for p in parts):
            refused.append(f"{key}: endpoints, providers and credentials cannot be set from metadata")
            continue
        if key not in allowed:
            refused.append(f"{key}: not in overrides.allow")
            continue
        if key == "llm.model" and value != config.llm.model and value not in config.overrides.llm_models:
            refused.append(f"llm.model: {value!r} is not in overrides.llm_models")
            continue
        section, field = parts
        data[section][field] = value
    try:
        updated = VoxplugConfig.model_validate(data)
    except ValidationError as exc:
        bad = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        return config, [*refused, f"{bad}: invalid value; overrides ignored"]
    for reason in refused:
        logger.warning("refused metadata override %s", reason)
    return updated, refused
