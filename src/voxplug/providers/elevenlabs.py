"""ElevenLabs TTS through ``livekit-plugins-elevenlabs``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from ..config.models import TTSConfig
from .registry import Credential, ProviderType, given, require_plugin

if TYPE_CHECKING:
    from livekit.agents import tts

    from .registry import ProviderFactory

__all__ = ["create_tts", "register"]

TTSModel = Literal["eleven_flash_v2_5", "eleven_turbo_v2_5", "eleven_multilingual_v2"]

CREDENTIALS = (
    Credential("api_key", ("ELEVEN_API_KEY", "ELEVENLABS_API_KEY")),
    Credential("base_url", ("ELEVENLABS_BASE_URL",), required=False),
)


def create_tts(cfg: TTSConfig) -> tts.TTS:
    plugin = require_plugin("livekit.plugins.elevenlabs", extra="elevenlabs")
    kwargs = given(
        voice_id=cfg.voice,
        model=cfg.model,
        language=cfg.language,
        api_key=cfg.secret(),
        base_url=cfg.base_url,
    )
    return plugin.TTS(**kwargs, **cfg.options)  # type: ignore[no-any-return]


def register(factory: type[ProviderFactory]) -> None:
    factory.register_tts_provider(
        ProviderType.ELEVENLABS,
        create_tts,
        extra="elevenlabs",
        module="livekit.plugins.elevenlabs",
        credentials=CREDENTIALS,
    )
