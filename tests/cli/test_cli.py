"""The command line, run as a user would: real subprocesses, exit codes, stdout/stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

SECRET = "sk-cli-secret-987654321"
COMPAT = {"STT_PROVIDER": "openai-compatible", "LLM_PROVIDER": "openai-compatible",
          "TTS_PROVIDER": "openai-compatible", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.endswith(("_API_KEY", "_PROVIDER")) and k != "VOXPLUG_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "voxplug", *args], capture_output=True, text=True, timeout=600,
        env={**clean, **(env or {})}, cwd=cwd,
    )


def test_providers_list_shows_stages_extras_and_credentials() -> None:
    out = run("providers", "list", env={"DEEPGRAM_API_KEY": SECRET})
    assert out.returncode == 0, out.stderr
    table, _, summary = out.stdout.partition("\n\n")
    rows = [line.split() for line in table.splitlines()[1:]]
    vendors: dict[str, set[str]] = {}
    for row in rows:
        if row[2] == "vendor":
            vendors.setdefault(row[0], set()).add(row[3])
    # the targets, counted as distinct vendors (presets and aliases listed separately)
    assert len(vendors["stt"]) >= 30 and len(vendors["llm"]) >= 12 and len(vendors["tts"]) >= 35
    assert len(vendors["realtime"]) >= 5
    assert "DEEPGRAM_API_KEY=set" in out.stdout and "ANTHROPIC_API_KEY=missing" in out.stdout
    assert "pip install 'voxplug[elevenlabs]'" in out.stdout
    assert "needs Python >=3.12" in out.stdout  # AWS Transcribe and Nova Sonic, said not hidden
    assert "# llm: 12 vendors" in summary and "presets" in summary
    assert SECRET not in out.stdout


def test_config_check_good_config(tmp_path: Path) -> None:
    out = run("config", "check", env={**COMPAT, "LLM_PROVIDER": "anthropic", "ANTHROPIC_API_KEY": SECRET})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("config ok: stt=openai-compatible llm=anthropic")


def test_config_check_bad_config_gives_one_line_per_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({
        "llm": {"provider": "openai", "api_key": SECRET, "temperature": 7},
        "tts": {"provider": "elevenlabs"},
        "session": {"turn_detection": "cloud"},
    }))
    out = run("config", "check", "--config", str(path), env={"STT_PROVIDER": "openai-compatible",
                                                              "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines), out.stderr
    assert any("tts.api_key: missing for provider 'elevenlabs'; set ELEVEN_API_KEY" in line for line in lines)
    assert any(line.startswith("error: llm.temperature:") for line in lines)
    assert any(line.startswith("error: session.turn_detection:") for line in lines)
    assert "Traceback" not in out.stderr and SECRET not in out.stderr + out.stdout


def test_config_check_reports_unknown_tool_and_missing_file(tmp_path: Path) -> None:
    out = run("config", "check", env={**COMPAT, "VOXPLUG_AGENT__TOOLS": "[current_time, launch_rockets]"})
    assert out.returncode == 2
    known = "calculate, current_time, end_call"
    assert out.stderr.strip() == f"error: agent.tools: unknown tool 'launch_rockets'; known: {known}"
    out = run("config", "check", "--config", str(tmp_path / "nope.yaml"))
    assert out.returncode == 2 and "not found" in out.stderr and "Traceback" not in out.stderr


def test_config_show_redacts_secrets(tmp_path: Path) -> None:
    out = run("config", "show", env={**COMPAT, "LLM_PROVIDER": "openai", "OPENAI_API_KEY": SECRET})
    assert out.returncode == 0, out.stderr
    shown = yaml.safe_load(out.stdout)
    assert shown["llm"]["provider"] == "openai" and shown["llm"]["api_key"] == "**********"
    assert SECRET not in out.stdout
    out = run("config", "show", "--format", "json", env=COMPAT)
    assert out.returncode == 0 and out.stdout.lstrip().startswith("{")


def test_worker_without_livekit_settings_says_what_is_missing() -> None:
    out = run("start", env={**COMPAT, "LIVEKIT_URL": "", "LIVEKIT_API_KEY": "", "LIVEKIT_API_SECRET": ""})
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "error: worker: LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET not set; point them at your LiveKit server"
    )
