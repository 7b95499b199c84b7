"""``voxplug simulate`` end to end: real AgentSession, Silero VAD, fixed-latency providers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from voxplug import load_config
from voxplug.pcm import load_wav
from voxplug.simulate import Turn, simulate


def _script(tmp_path: Path, speech_wavs: dict[str, Path], *, expect: str | None = None) -> Path:
    lines = ["turns:", f"  - wav: {speech_wavs['hello']}", "    pause: 0.2", f"  - wav: {speech_wavs['time']}",
             "    pause: 0.2"]
    if expect is not None:
        lines.append(f"    expect: {expect}")
    path = tmp_path / "script.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_simulate_two_turns_table_json_and_agent_wavs(
    cli_main: Callable[[list[str]], int], fixed_config: Path, speech_wavs: dict[str, Path],
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out, report = tmp_path / "agent", tmp_path / "report.json"
    code = cli_main([
        "simulate", "--config", str(fixed_config), str(_script(tmp_path, speech_wavs, expect="Here you go")),
        "--out", str(out), "--json", str(report),
    ])
    table = capsys.readouterr().out
    assert code == 0, table
    assert "USER SAID" in table and "V2V ms" in table and "p50" in table and "p95" in table
    assert "hello there" in table and "2/2 turns ok" in table

    data = json.loads(report.read_text())
    turns = data["turns"]
    assert [t["turn"] for t in turns] == [1, 2] and all(t["ok"] for t in turns)
    assert [t["heard"] for t in turns] == ["hello there", "what time is it"]
    assert turns[0]["reply"] == "You said hello there."
    assert turns[1]["reply"].startswith("Here you go: ")  # the fixed LLM called current_time
    assert turns[0]["tool_calls"] == []
    assert [c["name"] for c in turns[1]["tool_calls"]] == ["current_time"]  # each turn its own calls
    assert turns[1]["tool_calls"][0]["output"].endswith("(UTC)")  # what the tool answered
    for t in turns:
        for key in ("voice_to_voice", "stt_request", "end_of_turn_delay", "stt_delay", "llm_ttft", "tts_ttfb"):
            assert t[key] is not None and 0 < t[key] < 10, (key, t)
        # the reply can't start before the providers' own latencies have passed
        assert t["voice_to_voice"] >= 0.2 + 0.1
        assert t["llm_ttft"] >= 0.2 and t["tts_ttfb"] >= 0.1 and t["stt_request"] >= 0.1
    assert data["summary"]["voice_to_voice"]["n"] == 2
    assert data["summary"]["voice_to_voice"]["p95"] >= data["summary"]["voice_to_voice"]["p50"] > 0
    # the dashboard's figures, read back from the run's OpenTelemetry instruments (the meter is
    # per process, so earlier runs in this test process may add to the totals)
    metrics = data["metrics"]
    assert metrics["turns"] >= 2 and metrics["voice_to_voice_s"]["count"] >= 2
    assert metrics["llm_input_tokens"] > 0 and metrics["tts_characters"] > 0
    assert "== voxplug metrics (as on the Grafana dashboard) ==" in table

    for t in turns:
        samples, rate = load_wav(t["agent_wav"])
        assert rate == 24000 and len(samples) > 0.1 * rate
        assert np.abs(samples).max() > 1000  # the fixed TTS tone, not silence
    assert sorted(p.name for p in out.iterdir()) == ["session1_turn1.wav", "session1_turn2.wav"]


async def test_simulate_two_concurrent_sessions(fixed_config: Path, speech_wavs: dict[str, Path]) -> None:
    config = load_config(fixed_config, env={})
    turns = [Turn(wav=speech_wavs["hello"], pause=0.2), Turn(wav=speech_wavs["time"], pause=0.2)]
    report = await simulate(config, turns, concurrency=2)
    assert report.ok, [t.error for t in report.failures]
    assert [(t.session, t.turn) for t in report.turns] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert all(t.heard and t.reply and t.voice_to_voice for t in report.turns)


def test_failing_turn_gives_exit_code_1(
    cli_main: Callable[[list[str]], int], fixed_config: Path, speech_wavs: dict[str, Path],
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    script = tmp_path / "one.yaml"
    script.write_text(f"- wav: {speech_wavs['hello']}\n  pause: 0.1\n  expect: banana\n", encoding="utf-8")
    code = cli_main(["simulate", "--config", str(fixed_config), str(script)])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL turn 1: reply does not contain 'banana'" in out and "0/1 turns ok" in out


async def test_failing_llm_falls_back_during_a_spoken_turn(tmp_path: Path, speech_wavs: dict[str, Path]) -> None:
    path = tmp_path / "fallback.yaml"
    path.write_text(
        """
agent: {greeting: null}
stt: {provider: fixed, options: {latency: 0.05, transcript: "hello there"}}
llm:
  provider: fixed
  options: {fail: http500}
  fallbacks:
    - {provider: fixed, options: {ttft: 0.05, reply: "Backup here."}}
tts: {provider: fixed, options: {ttfb: 0.05, chars_per_second: 80}}
""",
        encoding="utf-8",
    )
    config = load_config(path, env={})
    report = await simulate(config, [Turn(wav=speech_wavs["hello"], pause=0.1)])
    assert report.ok, [t.error for t in report.failures]
    assert report.stages["llm"] == "fallback"
    assert report.turns[0].reply == "Backup here."
