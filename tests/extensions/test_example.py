"""The appointment example (examples/appointments) runs end to end through ``voxplug simulate``.

Its backend runs as a real process on a free port; the test points the example's tool URLs
at it and swaps the local speech models for the fixed ones (the local models have tests of
their own), everything else is the example's own configuration and script.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import voxplug.cli as voxplug_cli

from .conftest import EXAMPLE, SIGNING_SECRET, TOKEN, Backend


def test_the_appointment_example_runs_end_to_end(
    tmp_path: Path, backend: Backend, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {
        "APPOINTMENTS_TOKEN": TOKEN, "APPOINTMENTS_SIGNING_SECRET": SIGNING_SECRET,
        "VOXPLUG_TOOLS__CHECK_AVAILABILITY__URL": f"{backend.url}/v1/availability/{{day}}",
        "VOXPLUG_TOOLS__CALENDAR__URL": f"{backend.url}/mcp",
        "STT_PROVIDER": "fixed", "TTS_PROVIDER": "fixed",
        "VOXPLUG_TTS__OPTIONS": "{ttfb: 0.05, chars_per_second: 60}",
        "VOXPLUG_AGENTS__BILLING__TTS": "{options: {tone: 440}}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = str(EXAMPLE / "voxplug.yaml")
    assert voxplug_cli.main(["config", "check", "--config", config, "--connect"]) == 0
    checked = capsys.readouterr().out
    assert f"tool calendar: mcp {backend.url}/mcp: book_appointment" in checked

    report = tmp_path / "report.json"
    code = voxplug_cli.main([
        "simulate", "--config", config, str(EXAMPLE / "conversation.yaml"), "--voice", "espeak",
        "--json", str(report), "--turn-timeout", "40",
    ])
    table = capsys.readouterr().out
    turns = json.loads(report.read_text())["turns"]
    assert code == 0, table
    assert [t["ok"] for t in turns] == [True] * 5
    replies = [t["reply"] for t in turns]
    assert replies[0] == "On Thursday we have 12:00, 13:30 and 14:00 free. Which time suits you?"
    assert replies[1].startswith("Booked Alex on Thursday at 2 pm. The confirmation code is ")
    assert replies[2] == "Hi, this is billing. What is your question about the invoice?"
    assert replies[4] == "Thank you for calling the Riverside clinic. Goodbye!"
    # the backend got the tool calls, authenticated and signed
    [slots] = [r for r in backend.requests("availability") if r["query"] == {"service": "check-up"}]
    assert slots["day"] == "thursday" and slots["authorized"] and slots["signed"]
    assert [b for b in backend.requests("book_appointment") if b["time"] == "2 pm"]
