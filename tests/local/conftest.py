"""Fixtures for the local providers: each model loads once per test session."""

from __future__ import annotations

import subprocess
import wave
from collections.abc import Callable
from pathlib import Path

import pytest
from livekit import rtc

from voxplug.config.models import LLMConfig, STTConfig, TTSConfig

SpeechFactory = Callable[[str], rtc.AudioFrame]


def read_wav(path: Path) -> rtc.AudioFrame:
    with wave.open(str(path)) as w:
        return rtc.AudioFrame(w.readframes(w.getnframes()), w.getframerate(), w.getnchannels(), w.getnframes())


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> SpeechFactory:
    """Text → an espeak-ng recording (22.05 kHz mono), as an AudioFrame."""
    directory = tmp_path_factory.mktemp("speech")
    counter = iter(range(1_000_000))

    def make(text: str) -> rtc.AudioFrame:
        path = directory / f"utt{next(counter)}.wav"
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
        return read_wav(path)

    return make


@pytest.fixture(scope="session")
def whisper_stt():  # type: ignore[no-untyped-def]
    from voxplug.local.whisper import create_stt

    stt = create_stt(STTConfig(provider="local"))
    stt.load()
    return stt


@pytest.fixture(scope="session")
def llama_llm():  # type: ignore[no-untyped-def]
    from voxplug.local.llama import create_llm

    llm = create_llm(LLMConfig(provider="local", options={"seed": 7}))
    llm.load()
    return llm


@pytest.fixture(scope="session")
def piper_tts():  # type: ignore[no-untyped-def]
    from voxplug.local.piper import create_tts

    tts = create_tts(TTSConfig(provider="local"))
    tts.load()
    return tts
