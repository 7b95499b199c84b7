"""Azure AI Speech (the Speech SDK service) through ``livekit-plugins-azure``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config.models import StageConfig, STTConfig, TTSConfig
from ..errors import ConfigError
from .registry import Credential, ProviderType, given, require_plugin

if TYPE_CHECKING:
    from livekit.agents import stt, tts

    from .registry import ProviderFactory

__all__ = ["create_stt", "create_tts", "register"]

CREDENTIALS = (
    Credential("api_key", ("AZURE_SPEECH_KEY",)),
    Credential("region", ("AZURE_SPEECH_REGION",), required=False),
    Credential("endpoint", ("AZURE_SPEECH_ENDPOINT",), required=False),
)


def _speech_kwargs(stage: str, cfg: StageConfig) -> dict[str, Any]:
    if not (cfg.region or cfg.endpoint):
        raise ConfigError(
            f"{stage}.region: missing for provider 'azure-speech'; set AZURE_SPEECH_REGION "
            f"(or AZURE_SPEECH_ENDPOINT) or {stage}.region in voxplug.yaml"
        )
    return given(speech_key=cfg.secret(), speech_region=cfg.region, speech_endpoint=cfg.endpoint)


def _azure():  # type: ignore[no-untyped-def]
    return require_plugin("livekit.plugins.azure", extra="azure")


def create_stt(cfg: STTConfig) -> stt.STT:
    kwargs = _speech_kwargs("stt", cfg) | given(language=cfg.language)
    return _azure().STT(**kwargs, **cfg.options)  # type: ignore[no-any-return]


def create_tts(cfg: TTSConfig) -> tts.TTS:
    kwargs = _speech_kwargs("tts", cfg) | given(voice=cfg.voice, language=cfg.language)
    return _azure().TTS(**kwargs, **cfg.options)  # type: ignore[no-any-return]


def register(factory: type[ProviderFactory]) -> None:
    opts: dict[str, Any] = {"extra": "azure", "module": "livekit.plugins.azure", "credentials": CREDENTIALS}
    factory.register_stt_provider(ProviderType.AZURE_SPEECH, create_stt, **opts)
    factory.register_tts_provider(ProviderType.AZURE_SPEECH, create_tts, **opts)
