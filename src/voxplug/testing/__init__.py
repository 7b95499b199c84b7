"""Test doubles for voxplug and its users: fixed-latency STT, LLM and TTS (provider ``fixed``)."""

from .fixed import (
    FixedLatencyLLM,
    FixedLatencySTT,
    FixedLatencyTTS,
    FixedLLMOptions,
    FixedSTTOptions,
    FixedTTSOptions,
)

__all__ = [
    "FixedLLMOptions",
    "FixedLatencyLLM",
    "FixedLatencySTT",
    "FixedLatencyTTS",
    "FixedSTTOptions",
    "FixedTTSOptions",
]
