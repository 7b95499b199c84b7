"""Deepgram STT and TTS through ``livekit-plugins-deepgram``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from ..config.models import STTConfig, TTSConfig
from .registry import Credential, ProviderType, given, require_plugin

if TYPE_CHECKING:
    from livekit.agents import stt, tts

    from .registry import ProviderFactory

__all__ = ["create_stt", "create_tts", "register"]

STTModel = Literal["nova-3", "nova-2", "nova-3-general"]
TTSModel = Literal["aura-2-andromeda-en", "aura-2-asteria-en", "aura-asteria-en"]

CREDENTIALS = (
    Credential("api_key", ("DEEPGRAM_API_KEY",)),
    Credential("base_url", ("DEEPGRAM_BASE_URL",), required=False),
)


def _deepgram():  # type: ignore[no-untyped-def]
    return require_plugin("livekit.plugins.deepgram", extra="deepgram")


def create_stt(cfg: STTConfig) -> stt.STT:
    kwargs = given(model=cfg.model, language=cfg.language, api_key=cfg.secret(), base_url=cfg.base_url)
    return _deepgram().STT(**kwargs, **cfg.options)  # type: ignore[no-any-return]


def create_tts(cfg: TTSConfig) -> tts.TTS:
    # Deepgram names its voices as models ("aura-2-andromeda-en"): a voice wins over a model
    kwargs = given(model=cfg.voice or cfg.model, api_key=cfg.secret(), base_url=cfg.base_url)
    return _deepgram().TTS(**kwargs, **cfg.options)  # type: ignore[no-any-return]


def register(factory: type[ProviderFactory]) -> None:
    opts: dict[str, Any] = {"extra": "deepgram", "module": "livekit.plugins.deepgram", "credentials": CREDENTIALS}
    factory.register_stt_provider(ProviderType.DEEPGRAM, create_stt, **opts)
    factory.register_tts_provider(ProviderType.DEEPGRAM, create_tts, **opts)
