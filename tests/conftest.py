"""Shared fixtures. Every test runs offline: vendor APIs are local servers on 127.0.0.1."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

# vendor keys from a developer's shell must not leak into config tests
VENDOR_ENV = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "AZURE_API_KEY", "AZURE_OPENAI_ENDPOINT",
    "OPENAI_API_VERSION", "DEEPGRAM_API_KEY", "ELEVEN_API_KEY", "ANTHROPIC_API_KEY", "CARTESIA_API_KEY",
    "GROQ_API_KEY", "AZURE_SPEECH_KEY", "AZURE_SPEECH_REGION", "STT_PROVIDER", "LLM_PROVIDER",
    "TTS_PROVIDER", "STT_MODEL", "LLM_MODEL", "TTS_MODEL", "TTS_VOICE", "VOXPLUG_CONFIG",
)


@pytest.fixture(autouse=True)
def _clean_vendor_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in VENDOR_ENV:
        monkeypatch.delenv(name, raising=False)
