"""Conversation scripts for ``voxplug simulate``.

A script is YAML: a list of turns, or a mapping with ``turns:``. Each turn has exactly one
of ``say`` (text, spoken with the local TTS to make the user's audio) or ``wav`` (a speech
recording, relative to the script's folder), and optionally ``pause`` (seconds of silence
before the utterance, after the agent finished its previous reply; default 0.5) and
``expect`` (a substring the agent's reply must contain, case-insensitive)::

    turns:
      - say: Hello there!
      - say: What time is it?
        expect: ":"
      - wav: recordings/thanks.wav
        pause: 1.0

WAV files given on the command line are turns of their own, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.files import YamlFileError, read_yaml_file
from ..errors import UsageError

__all__ = ["DEFAULT_PAUSE", "ScriptError", "Turn", "load_inputs", "load_script"]

DEFAULT_PAUSE = 0.5
TURN_KEYS = ("say", "wav", "pause", "expect")
SCRIPT_SUFFIXES = (".yaml", ".yml")


class ScriptError(UsageError):
    """The conversation script or an input argument is malformed."""


@dataclass(frozen=True)
class Turn:
    """One user utterance: text to speak or a WAV file, the pause before it, a reply check."""

    say: str | None = None
    wav: Path | None = None
    pause: float = DEFAULT_PAUSE
    expect: str | None = None

    @property
    def label(self) -> str:
        return self.say if self.say is not None else (self.wav.name if self.wav else "")


def _turn(raw: Any, where: str, base: Path) -> Turn:
    if isinstance(raw, str):
        raw = {"say": raw}
    if not isinstance(raw, dict):
        raise ScriptError(f"{where}: must be a mapping such as {{say: \"Hello\"}}, not {type(raw).__name__}")
    unknown = [k for k in raw if k not in TURN_KEYS]
    if unknown:
        raise ScriptError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(TURN_KEYS)}")
    has_say, has_wav = raw.get("say") is not None, raw.get("wav") is not None
    if has_say == has_wav:
        raise ScriptError(f"{where}: needs exactly one of 'say' (text) or 'wav' (file)")
    say = raw.get("say")
    if has_say and (not isinstance(say, str | int | float) or not str(say).strip()):
        raise ScriptError(f"{where}.say: must be non-empty text")
    wav = raw.get("wav")
    if has_wav and (not isinstance(wav, str) or not wav.strip()):
        raise ScriptError(f"{where}.wav: must be a file path")
    pause = raw.get("pause", DEFAULT_PAUSE)
    if isinstance(pause, bool) or not isinstance(pause, int | float) or not 0 <= pause <= 60:
        raise ScriptError(f"{where}.pause: must be seconds between 0 and 60 (got {pause!r})")
    expect = raw.get("expect")
    if expect is not None and not isinstance(expect, str | int | float):
        raise ScriptError(f"{where}.expect: must be text")
    wav_path = None
    if has_wav:
        wav_path = Path(str(wav)).expanduser()
        if not wav_path.is_absolute():
            wav_path = base / wav_path
    return Turn(
        say=str(say).strip() if has_say else None,
        wav=wav_path,
        pause=float(pause),
        expect=str(expect) if expect is not None else None,
    )


def load_script(path: str | Path) -> list[Turn]:
    """The turns of a YAML script; :class:`ScriptError` (one line) if it is malformed."""
    p = Path(path)
    if not p.is_file():
        raise ScriptError(f"{p}: script not found")
    try:
        data = read_yaml_file(p)
    except YamlFileError as exc:
        if exc.problem is not None:
            raise ScriptError(f"{p}{exc.line}: invalid YAML: {exc.problem}") from None
        raise ScriptError(f"{p}: cannot read script ({exc.cause})") from None
    if isinstance(data, dict):
        extra = [k for k in data if k != "turns"]
        if extra:
            raise ScriptError(f"{p}: unknown key {extra[0]!r}; a script holds 'turns: [...]'")
        data = data.get("turns")
    if not isinstance(data, list) or not data:
        raise ScriptError(f"{p}: a script is a non-empty list of turns (or 'turns: [...]'), e.g. - say: Hello")
    return [_turn(raw, f"{p}: turn {i + 1}", p.parent) for i, raw in enumerate(data)]


def load_inputs(inputs: list[str]) -> list[Turn]:
    """Command-line inputs: YAML scripts expand to their turns, WAV files are one turn each."""
    if not inputs:
        raise ScriptError("simulate: give a YAML script or WAV files")
    turns: list[Turn] = []
    for arg in inputs:
        path = Path(arg).expanduser()
        suffix = path.suffix.lower()
        if suffix in SCRIPT_SUFFIXES:
            turns += load_script(path)
        elif suffix == ".wav":
            if not path.is_file():
                raise ScriptError(f"{path}: WAV file not found")
            turns.append(Turn(wav=path))
        else:
            raise ScriptError(f"{arg}: expected a .yaml/.yml script or a .wav file")
    return turns
