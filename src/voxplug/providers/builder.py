"""Catalog rows and the one generic builder that turns a row and a stage config into a plugin.

A :class:`Vendor` names an official ``livekit-plugins-*`` package, its extra and its
credentials; each :class:`Row` says how one stage is built: the class (or ``with_*``
constructor) in the plugin module, which voxplug field goes to which constructor keyword,
the default model, fixed keywords, and a hook only for the genuinely odd cases.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from ..config.directory import Credential
from ..config.models import COMMON_FIELDS, CommonField, StageConfig
from ..errors import ConfigError
from .registry import Kind, Stage, require_plugin

__all__ = ["Hook", "Row", "Vendor", "args", "build", "field_value", "resolve_attribute", "stage_of"]

# an odd case: gets the section, its field path and the keywords so far; returns the keywords
Hook = Callable[[StageConfig, str, dict[str, Any]], dict[str, Any]]


def args(names: str = "", **renamed: str) -> dict[CommonField, str]:
    """``args("model language", voice="voice_id")``: voxplug field -> constructor keyword."""
    mapping: dict[str, str] = {name: name for name in names.split()}
    mapping.update(renamed)
    return mapping  # type: ignore[return-value]


@dataclass(frozen=True)
class Row:
    """How one stage of a vendor is built."""

    stage: Stage
    # attribute path in the plugin module: "STT", "realtime.RealtimeModel", "LLM.with_azure"
    target: str
    args: Mapping[CommonField, str]
    default_model: str | None = None
    # keywords voxplug sets (``options`` still override them)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    hook: Hook | None = None
    # realtime rows: keywords that make the model answer in text for a separate TTS;
    # None = the model cannot hand its answer to a TTS (no half-cascade)
    text_only: Mapping[str, Any] | None = None
    # provider name when it is not the vendor's (presets, realtime rows, second products)
    name: str | None = None
    kind: Kind = "vendor"
    # credentials of this row instead of the vendor's (presets with their own key)
    credentials: tuple[Credential, ...] | None = None
    python: str | None = None  # the row's SDK needs this Python (e.g. ">=3.12")
    description: str = ""
    # voxplug fields the hook reads itself (so they are not reported as unused)
    hook_fields: tuple[CommonField, ...] = ()


@dataclass(frozen=True)
class Vendor:
    """One official plugin package and the stages it offers."""

    name: str  # provider name and extra: voxplug[<name>]
    title: str
    plugin: str  # livekit.plugins.<plugin>
    credentials: tuple[Credential, ...]
    rows: tuple[Row, ...]
    package: str | None = None  # PyPI name when it is not livekit-plugins-<name>
    extra: str | None = None  # the extra when it is not voxplug[<name>]

    @property
    def module(self) -> str:
        return f"livekit.plugins.{self.plugin}"

    @property
    def distribution(self) -> str:
        return self.package or f"livekit-plugins-{self.name}"

    @property
    def extra_name(self) -> str:
        return self.extra or self.name

    def provider_name(self, row: Row) -> str:
        return row.name or self.name

    def row_credentials(self, row: Row) -> tuple[Credential, ...]:
        return self.credentials if row.credentials is None else row.credentials


def stage_of(cfg: StageConfig) -> str:
    """``stt``, ``llm`` or ``tts`` for error messages (from the section's type)."""
    return type(cfg).__name__.removesuffix("Config").lower()


def resolve_attribute(module: Any, path: str) -> Any:
    target = module
    for part in path.split("."):
        target = getattr(target, part)
    return target


def field_value(cfg: StageConfig, name: str) -> Any:
    """A stage field's value, a secret in clear text (for the plugin constructor only)."""
    value = getattr(cfg, name, None)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _env_only(vendor: Vendor, row: Row) -> set[str]:
    return {cred.field for cred in vendor.row_credentials(row) if cred.env_only}


def build(vendor: Vendor, row: Row, cfg: StageConfig, **extra_kwargs: Any) -> Any:
    """The plugin instance for ``cfg``: mapped fields, defaults, hook, then ``options``."""
    where = stage_of(cfg)
    module = require_plugin(vendor.module, extra=vendor.extra_name, python=row.python)
    try:
        target = resolve_attribute(module, row.target)
    except ImportError as exc:  # a lazily imported submodule whose SDK is missing
        raise ConfigError(f"{where}.provider: {vendor.module}.{row.target} cannot load: {exc}") from None
    unused = [
        name for name in COMMON_FIELDS
        if field_value(cfg, name) is not None and name not in row.args and name not in row.hook_fields
        and name not in _env_only(vendor, row)
    ]
    if unused:
        provider = vendor.provider_name(row)
        raise ConfigError(*(
            f"{where}.{name}: provider {provider!r} has no {name} setting; remove it, or pass the "
            f"plugin's own keyword in {where}.options"
            for name in unused
        ))
    kwargs: dict[str, Any] = dict(row.defaults)
    for name, keyword in row.args.items():
        value = field_value(cfg, name)
        if name == "model" and value is None:
            value = row.default_model
        if value is not None:
            kwargs[keyword] = value
    kwargs.update(extra_kwargs)
    if row.hook is not None:
        kwargs = row.hook(cfg, where, kwargs)
    kwargs.update(cfg.options)
    return target(**kwargs)
