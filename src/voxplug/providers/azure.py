"""Azure OpenAI through ``livekit-plugins-openai``'s ``with_azure`` constructors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config.models import LLMConfig, StageConfig, STTConfig, TTSConfig
from .openai import DEFAULT_LLM_MODEL, DEFAULT_STT_MODEL, DEFAULT_TTS_MODEL, TTS_DEFAULT_OPTIONS
from .registry import Credential, ProviderType, given, require_plugin

if TYPE_CHECKING:
    from livekit.agents import llm, stt, tts

    from .registry import ProviderFactory

__all__ = ["DEFAULT_API_VERSION", "create_llm", "create_stt", "create_tts", "register"]

DEFAULT_API_VERSION = "2024-10-21"

CREDENTIALS = (
    Credential("api_key", ("AZURE_OPENAI_API_KEY", "AZURE_API_KEY")),
    Credential("endpoint", ("AZURE_OPENAI_ENDPOINT",)),
    Credential("api_version", ("OPENAI_API_VERSION",), required=False, default=DEFAULT_API_VERSION),
    Credential("deployment", ("AZURE_OPENAI_DEPLOYMENT",), required=False),
)


def _azure_kwargs(cfg: StageConfig, model: str) -> dict[str, Any]:
    # the deployment name defaults to the model name, Azure's own convention
    return given(
        model=model,
        azure_endpoint=cfg.endpoint,
        azure_deployment=cfg.deployment or model,
        api_version=cfg.api_version,
        api_key=cfg.secret(),
    )


def _openai():  # type: ignore[no-untyped-def]
    return require_plugin("livekit.plugins.openai", extra="azure")


def create_stt(cfg: STTConfig) -> stt.STT:
    kwargs = _azure_kwargs(cfg, cfg.model or DEFAULT_STT_MODEL) | given(language=cfg.language)
    return _openai().STT.with_azure(**kwargs, **cfg.options)  # type: ignore[no-any-return]


def create_llm(cfg: LLMConfig) -> llm.LLM:
    kwargs = _azure_kwargs(cfg, cfg.model or DEFAULT_LLM_MODEL) | given(temperature=cfg.temperature)
    return _openai().LLM.with_azure(**kwargs, **cfg.options)  # type: ignore[no-any-return]


def create_tts(cfg: TTSConfig) -> tts.TTS:
    kwargs = _azure_kwargs(cfg, cfg.model or DEFAULT_TTS_MODEL) | given(voice=cfg.voice)
    return _openai().TTS.with_azure(**kwargs, **(TTS_DEFAULT_OPTIONS | cfg.options))  # type: ignore[no-any-return]


def register(factory: type[ProviderFactory]) -> None:
    opts: dict[str, Any] = {"extra": "azure", "module": "livekit.plugins.openai", "credentials": CREDENTIALS}
    factory.register_stt_provider(ProviderType.AZURE, create_stt, **opts)
    factory.register_llm_provider(ProviderType.AZURE, create_llm, **opts)
    factory.register_tts_provider(ProviderType.AZURE, create_tts, **opts)
