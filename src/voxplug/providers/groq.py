"""Groq LLM and STT through ``livekit-plugins-groq``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from ..config.models import LLMConfig, STTConfig
from .registry import Credential, ProviderType, given, require_plugin

if TYPE_CHECKING:
    from livekit.agents import llm, stt

    from .registry import ProviderFactory

__all__ = ["create_llm", "create_stt", "register"]

LLMModel = Literal["llama-3.3-70b-versatile", "llama-3.1-8b-instant", "openai/gpt-oss-20b"]

CREDENTIALS = (
    Credential("api_key", ("GROQ_API_KEY",)),
    Credential("base_url", ("GROQ_BASE_URL",), required=False),
)


def _groq():  # type: ignore[no-untyped-def]
    return require_plugin("livekit.plugins.groq", extra="groq")


def create_llm(cfg: LLMConfig) -> llm.LLM:
    kwargs = given(model=cfg.model, api_key=cfg.secret(), base_url=cfg.base_url, temperature=cfg.temperature)
    return _groq().LLM(**kwargs, **cfg.options)  # type: ignore[no-any-return]


def create_stt(cfg: STTConfig) -> stt.STT:
    kwargs = given(model=cfg.model, api_key=cfg.secret(), base_url=cfg.base_url, language=cfg.language)
    return _groq().STT(**kwargs, **cfg.options)  # type: ignore[no-any-return]


def register(factory: type[ProviderFactory]) -> None:
    opts: dict[str, Any] = {"extra": "groq", "module": "livekit.plugins.groq", "credentials": CREDENTIALS}
    factory.register_llm_provider(ProviderType.GROQ, create_llm, **opts)
    factory.register_stt_provider(ProviderType.GROQ, create_stt, **opts)
