"""Anthropic Claude through ``livekit-plugins-anthropic``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from ..config.models import LLMConfig
from .registry import Credential, ProviderType, given, require_plugin

if TYPE_CHECKING:
    from livekit.agents import llm

    from .registry import ProviderFactory

__all__ = ["DEFAULT_MODEL", "create_llm", "register"]

LLMModel = Literal["claude-haiku-4-5", "claude-sonnet-4-5", "claude-3-5-haiku-latest"]
DEFAULT_MODEL: LLMModel = "claude-haiku-4-5"

CREDENTIALS = (
    Credential("api_key", ("ANTHROPIC_API_KEY",)),
    Credential("base_url", ("ANTHROPIC_BASE_URL",), required=False),
)


def create_llm(cfg: LLMConfig) -> llm.LLM:
    plugin = require_plugin("livekit.plugins.anthropic", extra="anthropic")
    kwargs = given(
        model=cfg.model or DEFAULT_MODEL,
        api_key=cfg.secret(),
        base_url=cfg.base_url,
        temperature=cfg.temperature,
    )
    return plugin.LLM(**kwargs, **cfg.options)  # type: ignore[no-any-return]


def register(factory: type[ProviderFactory]) -> None:
    factory.register_llm_provider(
        ProviderType.ANTHROPIC,
        create_llm,
        extra="anthropic",
        module="livekit.plugins.anthropic",
        credentials=CREDENTIALS,
    )
