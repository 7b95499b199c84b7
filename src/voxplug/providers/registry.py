"""The provider registry: stage x name → a small factory function.

The vendor catalog (``catalog``) registers one spec per official LiveKit plugin and stage;
third-party packages add theirs through the ``voxplug.providers`` entry point, and
``register_*_provider`` adds one in code. Nothing here buffers or streams audio: the
returned objects are handed to ``AgentSession`` as they are.

Realtime (speech-to-speech) models are the fourth stage. They take the LLM's place in a
session, so ``spec("llm", name)`` and ``list_providers("llm")`` include them: a config names
them as ``llm.provider``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, ClassVar, Literal

from livekit.agents import llm, stt, tts, vad

from ..config.directory import NO_PROVIDER, Credential
from ..config.directory import Stage as ConfigStage
from ..config.models import LLMConfig, StageConfig, STTConfig, TTSConfig
from ..errors import ConfigError, MissingExtraError
from .fallback import FirstTokenFallbackAdapter

__all__ = [
    "ENTRY_POINT_GROUP",
    "STAGES",
    "Credential",
    "Kind",
    "ProviderFactory",
    "ProviderSpec",
    "ProviderType",
    "Stage",
    "given",
    "require_plugin",
]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "voxplug.providers"

# the registry's stages: the config's three, plus realtime (speech-to-speech) models
Stage = Literal["stt", "llm", "tts", "realtime"]
STAGES: tuple[Stage, ...] = ("stt", "llm", "tts", "realtime")
# what a provider name is: a vendor's own plugin class, an OpenAI-compatible preset of
# another vendor's plugin, another name for a vendor, the generic "any plugin" provider, or
# a provider registered by code or an entry point (local models, test doubles, third parties)
Kind = Literal["vendor", "preset", "alias", "generic", "registered"]


class ProviderType(StrEnum):
    """Names of the most common providers (any other registered name works as well)."""

    OPENAI = "openai"
    AZURE = "azure"
    AZURE_SPEECH = "azure-speech"
    DEEPGRAM = "deepgram"
    ANTHROPIC = "anthropic"
    GROQ = "groq"
    ELEVENLABS = "elevenlabs"
    CARTESIA = "cartesia"
    GOOGLE = "google"
    AWS = "aws"
    ASSEMBLYAI = "assemblyai"
    SPEECHMATICS = "speechmatics"
    MISTRAL = "mistralai"
    XAI = "xai"
    OPENAI_COMPATIBLE = "openai-compatible"
    OPENAI_REALTIME = "openai-realtime"
    GOOGLE_REALTIME = "google-realtime"
    PLUGIN = "plugin"
    NONE = NO_PROVIDER
    LOCAL = "local"


@dataclass(frozen=True)
class ProviderSpec:
    stage: Stage
    name: str
    factory: Callable[..., Any]
    extra: str | None = None
    module: str | None = None  # importable module that tells whether the extra is installed
    credentials: tuple[Credential, ...] = ()
    description: str = ""
    kind: Kind = "registered"
    vendor: str | None = None  # the vendor counted once per stage (presets and aliases name theirs)
    # a Python requirement the extra's dependencies need (e.g. ">=3.12"); None: any supported
    python: str | None = None
    # credentials that depend on the section itself (provider "plugin": its ``plugin.env``)
    dynamic_credentials: Callable[[Mapping[str, Any]], tuple[Credential, ...]] | None = None

    def credentials_for(self, section: Mapping[str, Any]) -> tuple[Credential, ...]:
        """The credentials of a config section using this provider (the loader's hook)."""
        if self.dynamic_credentials is None:
            return self.credentials
        return self.credentials + self.dynamic_credentials(section)

    def python_supported(self) -> bool:
        return python_supported(self.python)

    def installed(self) -> bool:
        if self.module is None:
            return True
        if not self.python_supported():
            return False
        try:
            return importlib.util.find_spec(self.module) is not None
        except ModuleNotFoundError:
            return False

    def install_hint(self) -> str:
        return f"pip install 'voxplug[{self.extra}]'" if self.extra else ""

    def install_state(self) -> str:
        """``yes``, ``no``, or why the extra cannot install on this Python."""
        if not self.python_supported():
            return f"needs Python {self.python} (this is {sys.version_info.major}.{sys.version_info.minor})"
        return "yes" if self.installed() else "no"


def python_supported(requirement: str | None) -> bool:
    """Whether this Python meets ``requirement`` (``">=3.12"``; None: any)."""
    if not requirement:
        return True
    wanted = tuple(int(part) for part in requirement.removeprefix(">=").split("."))
    return sys.version_info[: len(wanted)] >= wanted


def given(**kwargs: Any) -> dict[str, Any]:
    """Keyword arguments without the ``None`` ones, so plugin defaults (NOT_GIVEN) apply."""
    return {k: v for k, v in kwargs.items() if v is not None}


def require_plugin(module: str, *, extra: str, python: str | None = None) -> ModuleType:
    """Import a vendor plugin, or fail with the command that installs it.

    ``python``: the Python the plugin's SDK needs; on an older one this fails up front.
    """
    if python and not python_supported(python):
        raise MissingExtraError(
            f"{module} needs Python {python} here (its SDK does not install on "
            f"{sys.version_info.major}.{sys.version_info.minor}); run voxplug on Python {python.removeprefix('>=')} "
            f"with pip install 'voxplug[{extra}]'"
        )
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(f"{module} is not installed: pip install 'voxplug[{extra}]'") from exc


@dataclass
class _Registry:
    specs: dict[Stage, dict[str, ProviderSpec]] = field(default_factory=lambda: {stage: {} for stage in STAGES})
    loaded: bool = False


def _normalise(name: str) -> str:
    return str(name).strip().lower().replace("_", "-")


class ProviderFactory:
    """Registry of provider factories, keyed by stage and provider name."""

    _state: ClassVar[_Registry] = _Registry()

    # -- registration -------------------------------------------------------------------
    @classmethod
    def register(
        cls,
        stage: Stage,
        name: str,
        fn: Callable[..., Any],
        *,
        extra: str | None = None,
        module: str | None = None,
        credentials: Sequence[Credential] = (),
        description: str = "",
        kind: Kind = "registered",
        vendor: str | None = None,
        python: str | None = None,
        dynamic_credentials: Callable[[Mapping[str, Any]], tuple[Credential, ...]] | None = None,
    ) -> None:
        key = _normalise(name)
        cls._state.specs[stage][key] = ProviderSpec(
            stage=stage,
            name=key,
            factory=fn,
            extra=extra,
            module=module,
            credentials=tuple(credentials),
            description=description,
            kind=kind,
            vendor=vendor,
            python=python,
            dynamic_credentials=dynamic_credentials,
        )

    @classmethod
    def register_stt_provider(cls, name: str, fn: Callable[[STTConfig], stt.STT[Any]], **kwargs: Any) -> None:
        cls.register("stt", name, fn, **kwargs)

    @classmethod
    def register_llm_provider(cls, name: str, fn: Callable[[LLMConfig], llm.LLM[Any]], **kwargs: Any) -> None:
        cls.register("llm", name, fn, **kwargs)

    @classmethod
    def register_tts_provider(cls, name: str, fn: Callable[[TTSConfig], tts.TTS[Any]], **kwargs: Any) -> None:
        cls.register("tts", name, fn, **kwargs)

    @classmethod
    def register_realtime_provider(
        cls, name: str, fn: Callable[..., llm.RealtimeModel], **kwargs: Any
    ) -> None:
        """A realtime model: ``fn(cfg: LLMConfig, *, text_only: bool)`` builds it."""
        cls.register("realtime", name, fn, **kwargs)

    # -- lookup -------------------------------------------------------------------------
    @classmethod
    def _ensure_loaded(cls) -> None:
        if cls._state.loaded:
            return
        cls._state.loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                target = ep.load()
                if callable(target):
                    target(cls)
            except Exception as exc:  # a broken third-party plugin must not take us down
                logger.warning("provider plugin %r failed to load: %s", ep.name, exc)

    @classmethod
    def _stages_for(cls, stage: Stage) -> tuple[Stage, ...]:
        # a realtime model sits in the LLM's place
        return ("llm", "realtime") if stage == "llm" else (stage,)

    @classmethod
    def list_providers(cls, stage: Stage) -> list[str]:
        """Names a config may give for ``stage`` (for ``llm``: LLMs and realtime models)."""
        cls._ensure_loaded()
        return sorted({name for s in cls._stages_for(stage) for name in cls._state.specs[s]})

    @classmethod
    def specs(cls, stage: Stage) -> list[ProviderSpec]:
        """The specs registered for exactly ``stage``, by name."""
        cls._ensure_loaded()
        return [cls._state.specs[stage][name] for name in sorted(cls._state.specs[stage])]

    @classmethod
    def credentials(
        cls, stage: ConfigStage, name: str, section: Mapping[str, Any] | None = None
    ) -> tuple[Credential, ...] | None:
        """The credential fields of a config section naming ``name`` (for the loader), or
        ``None`` when no such provider is registered; ``llm`` includes realtime models."""
        cls._ensure_loaded()
        key = _normalise(name)
        for s in cls._stages_for(stage):
            spec = cls._state.specs[s].get(key)
            if spec is not None:
                return spec.credentials_for(section or {})
        return None

    @classmethod
    def secret_env_names(cls) -> set[str]:
        """Every environment variable a registered provider reads a key or secret from."""
        cls._ensure_loaded()
        return {
            env
            for by_name in cls._state.specs.values()
            for spec in by_name.values()
            for cred in spec.credentials
            if cred.field in ("api_key", "api_secret")
            for env in cred.env
        }

    @classmethod
    def spec(cls, stage: Stage, name: str) -> ProviderSpec:
        cls._ensure_loaded()
        key = _normalise(name)
        for s in cls._stages_for(stage):
            if key in cls._state.specs[s]:
                return cls._state.specs[s][key]
        known = ", ".join(cls.list_providers(stage))
        raise ConfigError(f"{stage}.provider: unknown provider {name!r}; known: {known}")

    @classmethod
    def is_realtime(cls, name: str) -> bool:
        """Whether ``name`` is a realtime (speech-to-speech) provider."""
        cls._ensure_loaded()
        return _normalise(name) in cls._state.specs["realtime"]

    # -- construction -------------------------------------------------------------------
    @classmethod
    def _build_one(cls, stage: Literal["stt", "llm", "tts"], cfg: StageConfig) -> Any:
        spec = cls.spec(stage, cfg.provider)
        if spec.stage == "realtime":
            raise ConfigError(
                f"{stage}.provider: {cfg.provider!r} is a realtime model; it cannot be a fallback "
                "of a text LLM (put realtime models only in a realtime model's fallbacks)"
            )
        if spec.name == NO_PROVIDER:
            raise ConfigError(
                f"{stage}.provider: 'none' is valid only next to a realtime llm.provider "
                "(voxplug providers list shows them)"
            )
        return spec.factory(cfg)

    @classmethod
    def create_stt(cls, cfg: STTConfig, *, vad: vad.VAD | None = None) -> stt.STT[Any]:
        """Build the STT for ``cfg``; with fallbacks, LiveKit's ``stt.FallbackAdapter``."""
        primary = cls._build_one("stt", cfg)
        if not cfg.fallbacks:
            return primary  # type: ignore[no-any-return]
        chain = [primary, *(cls._build_one("stt", fb) for fb in cfg.fallbacks)]
        return stt.FallbackAdapter(chain, vad=vad)

    @classmethod
    def create_llm(
        cls, cfg: LLMConfig, *, attempt_timeout: float = 5.0, first_token_timeout: float | None = None
    ) -> llm.LLM[Any]:
        """Build the LLM for ``cfg``; with fallbacks, LiveKit's ``llm.FallbackAdapter`` (with a
        ``first_token_timeout``: one that also fails over when the first token is late)."""
        primary = cls._build_one("llm", cfg)
        if not cfg.fallbacks:
            return primary  # type: ignore[no-any-return]
        chain = [primary, *(cls._build_one("llm", fb) for fb in cfg.fallbacks)]
        if first_token_timeout is None:
            return llm.FallbackAdapter(chain, attempt_timeout=attempt_timeout)
        return FirstTokenFallbackAdapter(
            chain, attempt_timeout=attempt_timeout, first_token_timeout=first_token_timeout
        )

    @classmethod
    def create_tts(cls, cfg: TTSConfig) -> tts.TTS[Any]:
        """Build the TTS for ``cfg``; with fallbacks, LiveKit's ``tts.FallbackAdapter``."""
        primary = cls._build_one("tts", cfg)
        if not cfg.fallbacks:
            return primary  # type: ignore[no-any-return]
        chain = [primary, *(cls._build_one("tts", fb) for fb in cfg.fallbacks)]
        return tts.FallbackAdapter(chain)

    @classmethod
    def create_realtime(
        cls, cfg: LLMConfig, *, text_only: bool = False, cooldown: float = 10.0
    ) -> llm.RealtimeModel:
        """Build the realtime model for ``cfg``; with fallbacks, ``RealtimeModelFallbackAdapter``.

        ``text_only``: the model answers in text and a separate TTS speaks (half-cascade).
        """
        chain = [cfg, *cfg.fallbacks]
        models = []
        for index, section in enumerate(chain):
            where = "llm" if index == 0 else f"llm.fallbacks.{index - 1}"
            spec = cls.spec("llm", section.provider)
            if spec.stage != "realtime":
                raise ConfigError(
                    f"{where}.provider: {section.provider!r} is a text LLM; a realtime model's "
                    "fallbacks must be realtime models too"
                )
            models.append(spec.factory(section, text_only=text_only))
        if len(models) == 1:
            return models[0]  # type: ignore[no-any-return]
        try:
            return llm.RealtimeModelFallbackAdapter(models, cooldown=cooldown)
        except ValueError as exc:  # the models disagree on audio output or turn detection
            raise ConfigError(f"llm.fallbacks: these realtime models cannot back each other up: {exc}") from None
