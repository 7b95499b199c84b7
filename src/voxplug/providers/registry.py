"""The provider registry: stage x name → a small factory function.

Each vendor module registers plain functions that turn a validated stage config into an
official LiveKit plugin instance. Nothing here buffers or streams audio: the returned
objects are handed to ``AgentSession`` as they are.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, ClassVar, Literal, TypeVar

from livekit.agents import llm, stt, tts, vad

from ..config.models import LLMConfig, StageConfig, STTConfig, TTSConfig
from ..errors import ConfigError, MissingExtraError

__all__ = [
    "ENTRY_POINT_GROUP",
    "Credential",
    "ProviderFactory",
    "ProviderSpec",
    "ProviderType",
    "Stage",
    "given",
    "require_plugin",
]

logger = logging.getLogger("voxplug.providers")

ENTRY_POINT_GROUP = "voxplug.providers"

Stage = Literal["stt", "llm", "tts"]
STAGES: tuple[Stage, ...] = ("stt", "llm", "tts")

ConfigT = TypeVar("ConfigT", bound=StageConfig)


class ProviderType(StrEnum):
    """Names of the built-in providers (third-party ones may add any other name)."""

    OPENAI = "openai"
    AZURE = "azure"
    AZURE_SPEECH = "azure-speech"
    DEEPGRAM = "deepgram"
    ANTHROPIC = "anthropic"
    GROQ = "groq"
    ELEVENLABS = "elevenlabs"
    CARTESIA = "cartesia"
    OPENAI_COMPATIBLE = "openai-compatible"
    LOCAL = "local"


@dataclass(frozen=True)
class Credential:
    """A config field that can be filled from environment variables (first one set wins)."""

    field: Literal["api_key", "base_url", "endpoint", "deployment", "api_version", "region"]
    env: tuple[str, ...]
    required: bool = True
    default: str | None = None


@dataclass(frozen=True)
class ProviderSpec:
    stage: Stage
    name: str
    factory: Callable[[Any], Any]
    extra: str | None = None
    module: str | None = None  # importable module that tells whether the extra is installed
    credentials: tuple[Credential, ...] = ()
    description: str = ""

    def installed(self) -> bool:
        if self.module is None:
            return True
        try:
            return importlib.util.find_spec(self.module) is not None
        except ModuleNotFoundError:
            return False

    def install_hint(self) -> str:
        return f"pip install 'voxplug[{self.extra}]'" if self.extra else ""


def given(**kwargs: Any) -> dict[str, Any]:
    """Keyword arguments without the ``None`` ones, so plugin defaults (NOT_GIVEN) apply."""
    return {k: v for k, v in kwargs.items() if v is not None}


def require_plugin(module: str, *, extra: str) -> ModuleType:
    """Import a vendor plugin, or fail with the command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{module} is not installed: pip install 'voxplug[{extra}]'"
        ) from exc


@dataclass
class _Registry:
    specs: dict[Stage, dict[str, ProviderSpec]] = field(
        default_factory=lambda: {stage: {} for stage in STAGES}
    )
    loaded: bool = False


class ProviderFactory:
    """Registry of provider factories, keyed by stage and provider name."""

    _state: ClassVar[_Registry] = _Registry()

    # -- registration -------------------------------------------------------------------
    @classmethod
    def register(
        cls,
        stage: Stage,
        name: str,
        fn: Callable[[Any], Any],
        *,
        extra: str | None = None,
        module: str | None = None,
        credentials: Sequence[Credential] = (),
        description: str = "",
    ) -> None:
        key = str(name).lower()
        cls._state.specs[stage][key] = ProviderSpec(
            stage=stage,
            name=key,
            factory=fn,
            extra=extra,
            module=module,
            credentials=tuple(credentials),
            description=description,
        )

    @classmethod
    def register_stt_provider(
        cls, name: str, fn: Callable[[STTConfig], stt.STT], **kwargs: Any
    ) -> None:
        cls.register("stt", name, fn, **kwargs)

    @classmethod
    def register_llm_provider(
        cls, name: str, fn: Callable[[LLMConfig], llm.LLM], **kwargs: Any
    ) -> None:
        cls.register("llm", name, fn, **kwargs)

    @classmethod
    def register_tts_provider(
        cls, name: str, fn: Callable[[TTSConfig], tts.TTS], **kwargs: Any
    ) -> None:
        cls.register("tts", name, fn, **kwargs)

    # -- lookup -------------------------------------------------------------------------
    @classmethod
    def _ensure_loaded(cls) -> None:
        if cls._state.loaded:
            return
        cls._state.loaded = True
        from . import builtin

        builtin.register_all(cls)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                target = ep.load()
                if callable(target):
                    target(cls)
            except Exception as exc:  # a broken third-party plugin must not take us down
                logger.warning("provider plugin %r failed to load: %s", ep.name, exc)

    @classmethod
    def list_providers(cls, stage: Stage) -> list[str]:
        cls._ensure_loaded()
        return sorted(cls._state.specs[stage])

    @classmethod
    def spec(cls, stage: Stage, name: str) -> ProviderSpec:
        cls._ensure_loaded()
        try:
            return cls._state.specs[stage][name]
        except KeyError:
            known = ", ".join(cls.list_providers(stage))
            raise ConfigError(
                f"{stage}.provider: unknown provider {name!r}; known: {known}"
            ) from None

    # -- construction -------------------------------------------------------------------
    @classmethod
    def _build_one(cls, stage: Stage, cfg: StageConfig) -> Any:
        spec = cls.spec(stage, cfg.provider)
        return spec.factory(cfg)

    @classmethod
    def create_stt(cls, cfg: STTConfig, *, vad: vad.VAD | None = None) -> stt.STT:
        """Build the STT for ``cfg``; with fallbacks, LiveKit's ``stt.FallbackAdapter``."""
        primary = cls._build_one("stt", cfg)
        if not cfg.fallbacks:
            return primary  # type: ignore[no-any-return]
        chain = [primary, *(cls._build_one("stt", fb) for fb in cfg.fallbacks)]
        return stt.FallbackAdapter(chain, vad=vad)

    @classmethod
    def create_llm(cls, cfg: LLMConfig, *, attempt_timeout: float = 5.0) -> llm.LLM:
        """Build the LLM for ``cfg``; with fallbacks, LiveKit's ``llm.FallbackAdapter``."""
        primary = cls._build_one("llm", cfg)
        if not cfg.fallbacks:
            return primary  # type: ignore[no-any-return]
        chain = [primary, *(cls._build_one("llm", fb) for fb in cfg.fallbacks)]
        return llm.FallbackAdapter(chain, attempt_timeout=attempt_timeout)

    @classmethod
    def create_tts(cls, cfg: TTSConfig) -> tts.TTS:
        """Build the TTS for ``cfg``; with fallbacks, LiveKit's ``tts.FallbackAdapter``."""
        primary = cls._build_one("tts", cfg)
        if not cfg.fallbacks:
            return primary  # type: ignore[no-any-return]
        chain = [primary, *(cls._build_one("tts", fb) for fb in cfg.fallbacks)]
        return tts.FallbackAdapter(chain)
