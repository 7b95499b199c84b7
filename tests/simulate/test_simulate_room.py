"""``voxplug simulate --room``: a real LiveKit server, a real ``voxplug start`` worker, the CLI as a subprocess.

The worker runs the fixed-latency test providers, so what the simulator reports through the
room can be checked exactly: the STT's scripted transcripts come back as "heard", the LLM's
reply as the agent's reply.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from voxplug.room import LiveKitServer, start_worker

pytestmark = [pytest.mark.slow, pytest.mark.realtime]

AGENT = "voxplug-simulate-room"
TRANSCRIPTS = ["hello there", "what is the weather"]
WORKER_ENV = {
    "STT_PROVIDER": "fixed", "LLM_PROVIDER": "fixed", "TTS_PROVIDER": "fixed",
    "VOXPLUG_STT__OPTIONS": json.dumps({"latency": 0.1, "transcripts": TRANSCRIPTS}),
    "VOXPLUG_LLM__OPTIONS": json.dumps({"ttft": 0.2, "reply": "You said {user}."}),
    "VOXPLUG_TTS__OPTIONS": json.dumps({"ttfb": 0.1, "chars_per_second": 40, "realtime": True}),
    "VOXPLUG_AGENT__TOOLS": "[]",
    "VOXPLUG_AGENT__GREETING": "Hi, how can I help?",
    "VOXPLUG_WORKER__AGENT_NAME": AGENT,
}


def _voxplug(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voxplug", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_simulate_through_a_room_reports_heard_text_replies_and_voice_to_voice(
    tmp_path: Path, livekit: LiveKitServer
) -> None:
    script = tmp_path / "script.yaml"
    script.write_text(
        "turns:\n  - say: Hello there.\n    pause: 0.3\n"
        "  - say: What is the weather like?\n    pause: 0.3\n    expect: weather\n",
        encoding="utf-8",
    )
    report, out = tmp_path / "report.json", tmp_path / "agent"
    worker = start_worker(tmp_path, {**livekit.env, **WORKER_ENV}, name="simulate-room")
    try:
        env = {**os.environ, **livekit.env}
        proc = _voxplug(
            ["simulate", str(script), "--room", "--agent-name", AGENT, "--voice", "espeak", "--json", str(report),
             "--out", str(out), "--turn-timeout", "30"],
            env,
        )
    finally:
        worker.stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr + worker.text()[-3000:]
    table = proc.stdout
    assert "USER SAID" in table and "p95" in table and "2/2 turns ok" in table
    assert "room mode:" in table and "room=simulate-" in table
    # the agent's session-state stream is drained by the caller, not logged once per message
    assert "ignoring byte stream" not in proc.stderr, proc.stderr[-2000:]

    data = json.loads(report.read_text())
    assert data["transport"] == "room" and data["rooms"][0].startswith("simulate-")
    turns = data["turns"]
    assert [t["turn"] for t in turns] == [1, 2] and all(t["ok"] for t in turns)
    assert [t["said"] for t in turns] == ["Hello there.", "What is the weather like?"]
    assert [t["heard"] for t in turns] == TRANSCRIPTS
    assert [t["reply"] for t in turns] == [f"You said {text}." for text in TRANSCRIPTS]
    assert data["greetings"][0]["text"] == "Hi, how can I help?"
    for t in turns:
        # the providers alone take 0.4 s; the upper bound only guards against nonsense
        assert 0 < t["voice_to_voice"] < 30, t
        for key in ("end_of_turn_delay", "stt_request", "stt_delay", "llm_ttft", "tts_ttfb"):
            assert t[key] is None, (key, t)  # not observable from the room
        assert Path(t["agent_wav"]).is_file() and t["agent_audio"] > 0.1
    assert data["summary"]["voice_to_voice"]["n"] == 2


def test_room_mode_without_livekit_url_is_a_one_line_error(tmp_path: Path) -> None:
    script = tmp_path / "script.yaml"
    script.write_text("- say: Hello there.\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    proc = _voxplug(["simulate", str(script), "--room", "--agent-name", AGENT], env, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "LIVEKIT_URL" in lines[0], proc.stderr
    assert proc.stdout == ""
