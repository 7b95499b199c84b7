"""Fixtures for the simulate/console tests: espeak-ng speech, a fixed-provider config, the CLI."""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import voxplug.cli as voxplug_cli
from voxplug.simulate.cli import add_simulate_commands

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
def cli_main(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[str]], int]:
    """``voxplug.cli.main``, with simulate/console added if the main parser lacks them."""
    original = voxplug_cli.build_parser

    def build_parser() -> argparse.ArgumentParser:
        parser = original()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "simulate" not in sub.choices:
            def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
                p.add_argument("--config", metavar="PATH")
                return p

            add_simulate_commands(sub, with_config)
        return parser

    monkeypatch.setattr(voxplug_cli, "build_parser", build_parser)
    return voxplug_cli.main
