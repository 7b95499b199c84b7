"""Provider ``plugin``: any installed LiveKit plugin class, named in the config.

A team can use a third-party or brand-new ``livekit-plugins-*`` package the day it appears,
without a voxplug release::

    tts:
      provider: plugin
      plugin:
        module: livekit.plugins.acme
        class: TTS                  # or a constructor: TTS.with_fast
        args: {voice: speaker}      # voxplug field -> constructor keyword (default: same name)
        env: {api_key: ACME_API_KEY}
      voice: nova
      options: {speed: 1.1}

The ``env`` credentials are resolved by the loader like a catalog vendor's (a missing one is
a one-line config error; keys are ``SecretStr``, redacted everywhere); fallbacks work the same.
Provider ``plugin-realtime`` does the same for a ``RealtimeModel`` in the LLM's place.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from livekit.agents import llm, stt, tts

from ..config.directory import CREDENTIAL_FIELDS, Credential
from ..config.models import COMMON_FIELDS, StageConfig
from ..errors import ConfigError
from .builder import field_value, resolve_attribute, stage_of
from .registry import ProviderFactory

__all__ = ["GENERIC_PROVIDER", "GENERIC_REALTIME_PROVIDER", "create", "plugin_credentials", "register"]

GENERIC_PROVIDER = "plugin"
GENERIC_REALTIME_PROVIDER = "plugin-realtime"

_BASES: dict[str, tuple[type, ...]] = {
    "stt": (stt.STT,),
    "llm": (llm.LLM,),
    "tts": (tts.TTS,),
    "realtime": (llm.RealtimeModel,),
}
_BASE_NAMES = {"stt": "stt.STT", "llm": "llm.LLM", "tts": "tts.TTS", "realtime": "llm.RealtimeModel"}


def plugin_credentials(section: Mapping[str, Any]) -> tuple[Credential, ...]:
    """The section's ``plugin.env`` as credentials (unknown fields are left to validation)."""
    plugin = section.get("plugin")
    env = plugin.get("env") if isinstance(plugin, Mapping) else None
    if not isinstance(env, Mapping):
        return ()
    return tuple(
        Credential(name, (var,))
        for name, var in env.items()
        if name in CREDENTIAL_FIELDS and isinstance(var, str) and var
    )


def create(cfg: StageConfig, *, realtime: bool = False) -> Any:
    """Import, check and build the plugin class named in ``cfg.plugin``."""
    where = stage_of(cfg)
    kind = "realtime" if realtime else where
    ref = cfg.plugin
    if ref is None:
        raise ConfigError(
            f"{where}.plugin: required for provider {cfg.provider!r}; give plugin.module and plugin.class "
            "(docs/adding-a-provider.md)"
        )
    try:
        module = importlib.import_module(ref.module)
    except ImportError as exc:
        raise ConfigError(
            f"{where}.plugin.module: cannot import {ref.module!r} ({type(exc).__name__}); install its package"
        ) from None
    try:
        target = resolve_attribute(module, ref.class_)
    except (AttributeError, ImportError):
        raise ConfigError(f"{where}.plugin.class: {ref.module} has no {ref.class_!r}") from None
    label = f"{ref.module}.{ref.class_}"
    if isinstance(target, type) and not issubclass(target, _BASES[kind]):
        raise ConfigError(f"{where}.plugin.class: {label} is not a {_BASE_NAMES[kind]}; name the plugin's {kind} class")
    if not callable(target):
        raise ConfigError(f"{where}.plugin.class: {label} is not a class or constructor")
    kwargs = {
        ref.args.get(name, name): value
        for name in COMMON_FIELDS
        if (value := field_value(cfg, name)) is not None
    }
    kwargs.update(cfg.options)
    try:
        instance = target(**kwargs)
    except TypeError as exc:  # a keyword the constructor does not take; names only, no values
        raise ConfigError(f"{where}.plugin: {label} rejected the settings: {exc}") from None
    if not isinstance(instance, _BASES[kind]):
        raise ConfigError(
            f"{where}.plugin.class: {label} built a {type(instance).__name__}, not a {_BASE_NAMES[kind]}"
        )
    return instance


def _create_realtime(cfg: StageConfig, *, text_only: bool = False) -> Any:
    # text-only output needs the plugin's own keyword (in llm.options); the session builder
    # checks the built model's capabilities and says so when it still speaks
    return create(cfg, realtime=True)


def register(factory: type[ProviderFactory]) -> None:
    description = "any installed LiveKit plugin class named in the config (plugin.module, plugin.class)"
    for stage in ("stt", "llm", "tts"):
        factory.register(stage, GENERIC_PROVIDER, create, kind="generic", description=description,
                         dynamic_credentials=plugin_credentials)
    factory.register("realtime", GENERIC_REALTIME_PROVIDER, _create_realtime, kind="generic",
                     description="any installed LiveKit RealtimeModel named in the config",
                     dynamic_credentials=plugin_credentials)
