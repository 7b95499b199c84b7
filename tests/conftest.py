"""Shared fixtures. Every test runs offline: vendor APIs are local servers on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import wave
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from fakes.vendor_server import VendorServer
    from voxplug.room import LiveKitServer

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

# vendor keys from a developer's shell must not leak into config tests
VENDOR_ENV = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "AZURE_API_KEY", "AZURE_OPENAI_ENDPOINT",
    "OPENAI_API_VERSION", "DEEPGRAM_API_KEY", "ELEVEN_API_KEY", "ANTHROPIC_API_KEY", "CARTESIA_API_KEY",
    "GROQ_API_KEY", "AZURE_SPEECH_KEY", "AZURE_SPEECH_REGION", "STT_PROVIDER", "LLM_PROVIDER",
    "TTS_PROVIDER", "STT_MODEL", "LLM_MODEL", "TTS_MODEL", "TTS_VOICE", "VOXPLUG_CONFIG",
)

# what the developer's shell had, before each test cleans it: the live vendor tests use it
REAL_VENDOR_ENV = {name: os.environ[name] for name in VENDOR_ENV if os.environ.get(name)}


@pytest.fixture(autouse=True)
def _clean_vendor_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in VENDOR_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def livekit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveKitServer]:
    """One real LiveKit server for the whole run; tests use their own rooms and agent names."""
    from voxplug.room import run_livekit_server

    with run_livekit_server(tmp_path_factory.mktemp("livekit")) as server:
        yield server


@pytest.fixture
async def vendor() -> AsyncIterator[VendorServer]:
    """A local server speaking the OpenAI API with a fixed transcript and reply."""
    from fakes.vendor_server import VendorServer

    async with VendorServer(reply="The answer is forty two.", transcript="what is the answer") as srv:
        yield srv


@pytest.fixture(scope="session")
def question_speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, int]:
    """A spoken question (espeak-ng): mono int16 samples and the sample rate."""
    path = tmp_path_factory.mktemp("speech") / "question.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "What is the answer to everything?"], check=True)
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16), w.getframerate()
