"""Registers every built-in provider module."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import local
from . import anthropic, azure, azure_speech, cartesia, deepgram, elevenlabs, groq, openai

if TYPE_CHECKING:
    from .registry import ProviderFactory

__all__ = ["register_all"]

BUILTIN_MODULES = (openai, azure, azure_speech, deepgram, anthropic, groq, elevenlabs, cartesia, local)


def register_all(factory: type[ProviderFactory]) -> None:
    for module in BUILTIN_MODULES:
        module.register(factory)
