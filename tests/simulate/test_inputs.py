"""Bad simulate input: one clear line on stderr and exit code 2, before any session starts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from voxplug.pcm import prepare_utterance, write_wav
from voxplug.simulate.script import DEFAULT_PAUSE, ScriptError, load_inputs, load_script


def _run(cli_main: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str], config: Path, *inputs: str) -> str:
    code = cli_main(["simulate", "--config", str(config), *inputs])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_missing_wav(cli_main, capsys, fixed_config: Path, tmp_path: Path) -> None:
    line = _run(cli_main, capsys, fixed_config, str(tmp_path / "nope.wav"))
    assert "nope.wav: WAV file not found" in line


def test_missing_wav_inside_a_script(cli_main, capsys, fixed_config: Path, tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("turns:\n  - wav: gone.wav\n", encoding="utf-8")
    line = _run(cli_main, capsys, fixed_config, str(script))
    assert "gone.wav: WAV file not found" in line


def test_silent_wav(cli_main, capsys, fixed_config: Path, tmp_path: Path) -> None:
    path = tmp_path / "silent.wav"
    write_wav(path, np.zeros(16000, dtype=np.int16), 16000)
    line = _run(cli_main, capsys, fixed_config, str(path))
    assert "silent.wav: audio is silent" in line


def test_not_a_wav(cli_main, capsys, fixed_config: Path, tmp_path: Path) -> None:
    path = tmp_path / "text.wav"
    path.write_text("not audio", encoding="utf-8")
    line = _run(cli_main, capsys, fixed_config, str(path))
    assert "text.wav: not a PCM WAV file" in line


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("turns: [\n", "invalid YAML"),
        ("hello: 1\n", "unknown key 'hello'"),
        ("turns: []\n", "non-empty list of turns"),
        ("- say: hi\n  wav: a.wav\n", "turn 1: needs exactly one of 'say' (text) or 'wav' (file)"),
        ("- say: hi\n- shout: hi\n", "turn 2: unknown key 'shout'"),
        ("- say: hi\n  pause: soon\n", "turn 1.pause: must be seconds"),
        ("- 42\n", "turn 1: must be a mapping"),
    ],
)
def test_malformed_script(cli_main, capsys, fixed_config: Path, tmp_path: Path, content: str, message: str) -> None:
    script = tmp_path / "bad.yaml"
    script.write_text(content, encoding="utf-8")
    assert message in _run(cli_main, capsys, fixed_config, str(script))


def test_unknown_input_kind(cli_main, capsys, fixed_config: Path) -> None:
    assert "expected a .yaml/.yml script or a .wav file" in _run(cli_main, capsys, fixed_config, "notes.txt")


def test_script_parsing_resolves_wavs_next_to_the_script(tmp_path: Path) -> None:
    script = tmp_path / "s.yml"
    script.write_text("- say: Hi\n- wav: rec/a.wav\n  pause: 1\n  expect: ok\n- Bye\n", encoding="utf-8")
    turns = load_script(script)
    assert [t.say for t in turns] == ["Hi", None, "Bye"]
    assert turns[1].wav == tmp_path / "rec" / "a.wav" and turns[1].pause == 1.0 and turns[1].expect == "ok"
    assert turns[0].pause == DEFAULT_PAUSE
    with pytest.raises(ScriptError):
        load_inputs([])


def test_bundled_example_script_is_valid() -> None:
    turns = load_script(Path(__file__).parents[2] / "examples" / "conversation.yaml")
    assert 2 <= len(turns) <= 4 and all(t.say for t in turns)  # a short demo (make demo)
    # issue 13: one request that needs a tool, one that must be answered without one
    assert any("time" in (t.say or "").lower() for t in turns)
    assert [t.expect for t in turns if t.expect] == ["Paris"]


def test_utterances_are_trimmed_to_the_voiced_part(speech_wavs: dict[str, Path]) -> None:
    from voxplug.pcm import load_wav

    samples, rate = load_wav(speech_wavs["hello"])
    padded = np.concatenate([np.zeros(rate, dtype=np.int16), samples, np.zeros(rate, dtype=np.int16)])
    trimmed = prepare_utterance(padded, rate, source="x")
    assert len(trimmed) / 16000 <= len(samples) / rate + 0.05


def test_espeak_voice_for_say_turns(tmp_path: Path) -> None:
    import asyncio

    from voxplug.simulate.script import Turn
    from voxplug.simulate.voice import prepare_turn_audio

    audio = asyncio.run(prepare_turn_audio([Turn(say="Good morning")], "espeak"))
    assert 0.3 < len(audio[0]) / 16000 < 3


def test_no_vad_with_vad_turn_detection_is_a_config_error(
    cli_main, capsys, fixed_config: Path, speech_wavs: dict[str, Path]
) -> None:
    fixed_config.write_text(fixed_config.read_text() + "session: {vad: none}\n", encoding="utf-8")
    line = _run(cli_main, capsys, fixed_config, str(speech_wavs["hello"]))
    assert line.startswith("error: session.vad: 'none' cannot detect the end of spoken turns")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agent-name", "support"], "--agent-name needs --room"),
        (["--metadata", "{}"], "--metadata needs --room"),
        (["--room", "--metadata", "{nope"], "--metadata: not valid JSON"),
        (["--room", "--metadata", "[1]"], "--metadata: must be a JSON object"),
    ],
)
def test_room_options_are_checked_before_joining(
    cli_main, capsys, fixed_config: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("- say: Hello\n", encoding="utf-8")
    line = _run(cli_main, capsys, fixed_config, str(script), *args)
    assert message in line
