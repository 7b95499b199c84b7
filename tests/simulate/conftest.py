"""Fixtures for the simulate/console tests: espeak-ng speech, a fixed-provider config, the CLI."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import voxplug.cli as voxplug_cli

UTTERANCES = {"hello": "Hello there.", "time": "What time is it?"}

# fast replies: 0.1 s STT, 0.2 s first token, 0.1 s first byte, short tone audio
FIXED_CONFIG = """
agent:
  greeting: null
stt: {provider: fixed, options: {latency: 0.1, transcripts: ["hello there", "what time is it"]}}
llm: {provider: fixed, options: {ttft: 0.2, reply: "You said {user}."}}
tts: {provider: fixed, options: {ttfb: 0.1, chars_per_second: 80}}
"""


@pytest.fixture(scope="session")
def speech_wavs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("speech")
    out = {}
    for key, text in UTTERANCES.items():
        path = folder / f"{key}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True, capture_output=True)
        out[key] = path
    return out


@pytest.fixture
def fixed_config(tmp_path: Path) -> Path:
    path = tmp_path / "voxplug.yaml"
    path.write_text(FIXED_CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def cli_main() -> Callable[[list[str]], int]:
    """``voxplug.cli.main``, called in-process."""
    return voxplug_cli.main
