"""Cartesia TTS through ``livekit-plugins-cartesia``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from ..config.models import TTSConfig
from .registry import Credential, ProviderType, given, require_plugin

if TYPE_CHECKING:
    from livekit.agents import tts

    from .registry import ProviderFactory

__all__ = ["create_tts", "register"]

TTSModel = Literal["sonic-2", "sonic-3", "sonic-turbo"]

CREDENTIALS = (
    Credential("api_key", ("CARTESIA_API_KEY",)),
    Credential("base_url", ("CARTESIA_BASE_URL",), required=False),
)


def create_tts(cfg: TTSConfig) -> tts.TTS:
    plugin = require_plugin("livekit.plugins.cartesia", extra="cartesia")
    kwargs = given(
        voice=cfg.voice,
        model=cfg.model,
        language=cfg.language,
        api_key=cfg.secret(),
        base_url=cfg.base_url,
    )
    return plugin.TTS(**kwargs, **cfg.options)  # type: ignore[no-any-return]


def register(factory: type[ProviderFactory]) -> None:
    factory.register_tts_provider(
        ProviderType.CARTESIA,
        create_tts,
        extra="cartesia",
        module="livekit.plugins.cartesia",
        credentials=CREDENTIALS,
    )
