"""OpenAI (and any OpenAI-compatible server) through ``livekit-plugins-openai``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from ..config.models import LLMConfig, STTConfig, TTSConfig
from .registry import Credential, ProviderType, given, require_plugin

if TYPE_CHECKING:
    from livekit.agents import llm, stt, tts

    from .registry import ProviderFactory

__all__ = ["TTS_DEFAULT_OPTIONS", "create_llm", "create_stt", "create_tts", "register"]

STTModel = Literal["gpt-4o-mini-transcribe", "gpt-4o-transcribe", "whisper-1"]
LLMModel = Literal["gpt-4.1-mini", "gpt-4.1", "gpt-4o-mini", "gpt-4o"]
TTSModel = Literal["gpt-4o-mini-tts", "tts-1", "tts-1-hd"]

DEFAULT_STT_MODEL: STTModel = "gpt-4o-mini-transcribe"
DEFAULT_LLM_MODEL: LLMModel = "gpt-4.1-mini"
DEFAULT_TTS_MODEL: TTSModel = "gpt-4o-mini-tts"

OPENAI_KEY = Credential("api_key", ("OPENAI_API_KEY",))
OPENAI_BASE_URL = Credential("base_url", ("OPENAI_BASE_URL",), required=False)
# local OpenAI-compatible servers (Ollama, vLLM, llama.cpp) ignore the key, but the SDK
# refuses an empty one
COMPATIBLE_KEY = Credential("api_key", ("OPENAI_API_KEY",), required=False, default="not-needed")
COMPATIBLE_BASE_URL = Credential("base_url", ("OPENAI_BASE_URL",))


def _plugin():  # type: ignore[no-untyped-def]
    return require_plugin("livekit.plugins.openai", extra="openai")


def create_stt(cfg: STTConfig) -> stt.STT:
    return _plugin().STT(  # type: ignore[no-any-return]
        **given(
            model=cfg.model or DEFAULT_STT_MODEL,
            language=cfg.language,
            api_key=cfg.secret(),
            base_url=cfg.base_url,
        ),
        **cfg.options,
    )


def create_llm(cfg: LLMConfig) -> llm.LLM:
    return _plugin().LLM(  # type: ignore[no-any-return]
        **given(
            model=cfg.model or DEFAULT_LLM_MODEL,
            api_key=cfg.secret(),
            base_url=cfg.base_url,
            temperature=cfg.temperature,
        ),
        **cfg.options,
    )


# raw PCM needs no decoding, so the first audio frame leaves sooner than with mp3
TTS_DEFAULT_OPTIONS = {"response_format": "pcm"}


def create_tts(cfg: TTSConfig) -> tts.TTS:
    return _plugin().TTS(  # type: ignore[no-any-return]
        **given(
            model=cfg.model or DEFAULT_TTS_MODEL,
            voice=cfg.voice,
            api_key=cfg.secret(),
            base_url=cfg.base_url,
        ),
        **(TTS_DEFAULT_OPTIONS | cfg.options),
    )


def register(factory: type[ProviderFactory]) -> None:
    official = {"extra": "openai", "module": "livekit.plugins.openai"}
    creds = (OPENAI_KEY, OPENAI_BASE_URL)
    compat = (COMPATIBLE_KEY, COMPATIBLE_BASE_URL)
    factory.register_stt_provider(ProviderType.OPENAI, create_stt, credentials=creds, **official)
    factory.register_llm_provider(ProviderType.OPENAI, create_llm, credentials=creds, **official)
    factory.register_tts_provider(ProviderType.OPENAI, create_tts, credentials=creds, **official)
    name = ProviderType.OPENAI_COMPATIBLE
    factory.register_stt_provider(name, create_stt, credentials=compat, **official)
    factory.register_llm_provider(name, create_llm, credentials=compat, **official)
    factory.register_tts_provider(name, create_tts, credentials=compat, **official)
