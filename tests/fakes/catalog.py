"""Placeholder values for catalog rows and a search for them inside a built plugin's options."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator
from typing import Any

from voxplug.config.models import LLMConfig, StageConfig, STTConfig, TTSConfig
from voxplug.providers.builder import Row, Vendor

__all__ = ["CONFIG_TYPES", "PLACEHOLDERS", "expected_text", "find_value", "row_id", "section_for"]

CONFIG_TYPES: dict[str, type[StageConfig]] = {
    "stt": STTConfig, "llm": LLMConfig, "tts": TTSConfig, "realtime": LLMConfig,
}

# distinctive values, so finding one in a plugin's options cannot be a coincidence
PLACEHOLDERS: dict[str, Any] = {
    "model": "catalog-model-7",
    "voice": "catalog-voice-7",
    "language": "fr-FR",
    "temperature": 0.37,
    "api_key": "catalog-key-0123456789",
    "api_secret": "catalog-secret-0123456789",
    "base_url": "http://127.0.0.1:9/catalog-base",
    "endpoint": "https://catalog-endpoint.example.net",
    "deployment": "catalog-deployment",
    "api_version": "2024-10-21",
    "region": "eu-west-3",
    "project": "catalog-project",
    "location": "europe-west4",
}

# plugins that validate a value against their own list: a real one of theirs
OVERRIDES: dict[str, dict[str, Any]] = {
    "stt-assemblyai": {"model": "universal-3-6-pro"},
    "llm-sarvam": {"model": "sarvam-105b"},
    "stt-slng": {"model": "deepgram/nova:3"},
    "tts-slng": {"model": "cartesia/sonic:3"},
    "tts-simplismart": {"model": "qwen-tts-catalog", "language": "French"},
    "tts-vakyam": {"model": "raaga-v1", "language": "hi-IN"},
    "stt-speechmatics": {"model": "linden-1", "base_url": "ws://127.0.0.1:9/v2/agent"},
    "stt-meta": {"base_url": "wss://127.0.0.1:9/catalog-base"},
    "stt-microsoft-ai": {"base_url": "wss://127.0.0.1:9/catalog-base"},
    "tts-microsoft-ai": {"base_url": "https://127.0.0.1:9/catalog-base"},
    "realtime-thunderphone-realtime": {"api_key": "sk_live_catalog0123456789"},
}


def row_id(vendor: Vendor, row: Row) -> str:
    return f"{row.stage}-{vendor.provider_name(row)}"


def section_for(vendor: Vendor, row: Row, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A stage section that sets every field the row maps, with placeholders."""
    name = vendor.provider_name(row)
    values = {**PLACEHOLDERS, **OVERRIDES.get(row_id(vendor, row), {})}
    section: dict[str, Any] = {"provider": name}
    for field in row.args:
        if field not in skip:
            section[field] = values[field]
    return section


def expected_text(field: str, value: Any) -> list[str]:
    """Forms of a placeholder a plugin may keep (a URL's host, a language's base)."""
    if field == "base_url":
        return ["127.0.0.1:9"]
    if field == "endpoint":
        return ["catalog-endpoint.example.net"]
    if field == "language":
        return ["fr-FR", "fr_FR", "fr-fr", "fr", "French", "french", str(value)]
    return [str(value)]


_SKIP_TYPES = (type, type(len), type(lambda: None))


def _children(obj: Any) -> Iterator[Any]:
    if isinstance(obj, dict):
        yield from obj.keys()
        yield from obj.values()
    elif isinstance(obj, list | tuple | set | frozenset):
        yield from obj
    else:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            for f in dataclasses.fields(obj):
                yield getattr(obj, f.name, None)
        attrs = getattr(obj, "__dict__", None)
        if isinstance(attrs, dict):
            yield from attrs.values()
        for slot in getattr(type(obj), "__slots__", ()):
            if isinstance(slot, str) and hasattr(obj, slot):
                yield getattr(obj, slot)


def find_value(obj: Any, wanted: list[str], *, max_depth: int = 6, max_nodes: int = 50_000) -> bool:
    """Whether a string (or number) equal to, or containing, one of ``wanted`` sits in ``obj``."""
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(obj, 0)]
    while stack and len(seen) < max_nodes:
        node, depth = stack.pop()
        if id(node) in seen or isinstance(node, _SKIP_TYPES) or node is None:
            continue
        seen.add(id(node))
        if isinstance(node, enum.Enum):
            node = node.value
        if isinstance(node, bool):
            continue
        if isinstance(node, str | int | float | bytes):
            text = node.decode(errors="ignore") if isinstance(node, bytes) else str(node)
            if any(w == text or (len(w) > 3 and w in text) for w in wanted):
                return True
            continue
        if type(node).__name__ in ("URL", "Url", "HttpUrl"):
            text = str(node)
            if any(w in text for w in wanted):
                return True
        if hasattr(node, "_pb"):  # a proto-plus message (Google): its text form holds the fields
            text = str(node)
            if any(w in text for w in wanted):
                return True
        if hasattr(node, "get_secret_value"):
            text = node.get_secret_value()
            if any(w in text for w in wanted):
                return True
        if depth < max_depth:
            stack.extend((child, depth + 1) for child in _children(node))
    return False
