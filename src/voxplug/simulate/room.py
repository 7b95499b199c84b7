"""``voxplug simulate --room``: the same scripts and table, through a room on a LiveKit server.

Each conversation is a :class:`~voxplug.room.client.RoomCaller` (a real WebRTC participant)
in its own room; the agent is whatever the server sends there, e.g. a deployed ``voxplug
start`` worker with its own configuration. Only what a caller can observe is reported:

``heard``
    the caller's words as the agent's STT heard them: the final ``lk.transcription`` text
    the agent publishes about the caller.
``reply``
    the agent's final ``lk.transcription`` text after the turn (``expect`` checks it).
``voice_to_voice``
    the first loud agent audio frame received after the end of the caller's speech -
    that end, on the caller's clock: network, server and agent together.

The framework's internal metrics (end-of-turn delay, STT, LLM TTFT, TTS TTFB) live in the
agent's process and stay None here; the table shows "-".
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..pcm import INPUT_SAMPLE_RATE, write_wav
from ..room.client import LiveKitSettings, RoomCaller, create_room, dispatch_agent
from .report import SimulationReport
from .runner import SessionResult, TurnResult, judge_turn
from .script import Turn
from .voice import VoiceEngine, prepare_turn_audio

__all__ = ["default_room_name", "room_conversation", "simulate_room"]

# the reply is over when the agent has been listening, with no loud audio arriving, this long;
# longer than in-process (0.4 s): audio and state both cross the network
SETTLE_SECONDS = 1.0
POLL_SECONDS = 0.05
# silence published between utterances, in chunks short enough to let an utterance start promptly
SILENCE_CHUNK = 0.1
# a worker may need to start a job process before it joins: never wait less than this for it
MIN_JOIN_TIMEOUT = 30.0
# how long after joining an agent may go without publishing its state (lk.agent.state)
STATELESS_GRACE = 5.0
# the agent's final transcript of a reply is closed when its playout ends: it may trail the audio
TRANSCRIPT_GRACE = 1.0


def default_room_name() -> str:
    return f"simulate-{secrets.token_hex(2)}"


class _Microphone:
    """The caller's microphone: utterances, and silence in between as a real microphone sends.

    Without frames between utterances the agent's VAD would never see the speech end. One
    lock orders the two writers; asyncio's lock is fair, so an utterance waits at most one
    silence chunk.
    """

    def __init__(self, caller: RoomCaller) -> None:
        self._caller = caller
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._idle())

    async def _idle(self) -> None:
        while True:
            async with self._lock:
                await self._caller.silence(SILENCE_CHUNK)

    async def say(self, pcm: np.ndarray) -> float:
        """Speak ``pcm`` (16 kHz mono int16); the monotonic time the speech ended."""
        async with self._lock:
            return await self._caller.speak(pcm, INPUT_SAMPLE_RATE)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def _wait_idle(caller: RoomCaller, since: float, deadline: float, *, stateless_after: float = 0.0) -> bool:
    """Until the agent listens with no loud audio arriving for SETTLE_SECONDS (False on timeout).

    An agent that publishes no state (not a LiveKit Agents agent) counts as listening, but
    only after ``stateless_after``: a LiveKit agent that just joined has not published it yet.
    """
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        if not caller.room.isconnected():
            return False
        now = time.monotonic()
        last_loud = caller.last_agent_speech_after(since)
        state = caller.agent_state
        listening = state == "listening" or (state is None and now >= stateless_after)
        if listening and (last_loud is None or now - last_loud >= POLL_SECONDS):
            quiet_since = quiet_since or now
            if now - quiet_since >= SETTLE_SECONDS:
                return True
        else:
            quiet_since = None
        await asyncio.sleep(POLL_SECONDS)
    return False


async def _agent_text(caller: RoomCaller, after: float) -> str:
    deadline = time.monotonic() + TRANSCRIPT_GRACE
    while not caller.final_transcripts(after, caller=False) and time.monotonic() < deadline:
        await asyncio.sleep(POLL_SECONDS)
    return " ".join(t.text.strip() for t in caller.final_transcripts(after, caller=False)).strip()


def _agent_wav(caller: RoomCaller, path: Path, start: float, end: float) -> float:
    """Write what the caller heard from ``start`` to ``end``; returns its duration (s)."""
    samples = caller.agent_audio_between(start, end)
    write_wav(path, samples, caller.heard_sample_rate)
    return round(len(samples) / caller.heard_sample_rate, 3)


async def room_conversation(
    settings: LiveKitSettings,
    turns: Sequence[Turn],
    audio: Sequence[np.ndarray],
    *,
    room: str,
    index: int = 1,
    agent_name: str | None = None,
    metadata: dict[str, Any] | None = None,
    out_dir: Path | None = None,
    turn_timeout: float = 20.0,
    on_turn: Callable[[TurnResult], None] | None = None,
) -> SessionResult:
    """One conversation with the agent the server sends to ``room``.

    ``agent_name``: dispatch that agent explicitly (with ``metadata``); without it the agent
    is expected to join every new room (automatic dispatch), and ``metadata`` becomes the
    room's metadata. Never raises for a failing turn, as :func:`~voxplug.simulate.runner.run_conversation`.
    """
    result = SessionResult(index=index, stt="room", llm="room", tts="room")
    caller = RoomCaller(settings, room=room, identity=f"simulate-user-{index}", sample_rate=INPUT_SAMPLE_RATE)
    mic = _Microphone(caller)
    prefix = f"session{index}"

    def finish_remaining(from_turn: int, reason: str) -> None:
        for j in range(from_turn, len(turns)):
            result.turns.append(TurnResult(session=index, turn=j + 1, said=turns[j].label, error=reason))

    try:
        if metadata and not agent_name:
            await create_room(settings, room=room, metadata=metadata)
        since = time.monotonic()
        await caller.join()
        mic.start()
        if agent_name:
            await dispatch_agent(settings, room=room, agent_name=agent_name, metadata=metadata)
        join_timeout = max(MIN_JOIN_TIMEOUT, turn_timeout)
        try:
            await asyncio.wait_for(caller.agent_joined.wait(), join_timeout)
        except TimeoutError:
            how = (
                f"dispatched as {agent_name!r}: is a worker with that worker.agent_name running?" if agent_name
                else "automatic dispatch: pass --agent-name if the worker has a worker.agent_name"
            )
            result.error = f"no agent joined room {room!r} within {join_timeout:g}s ({how})"
        # the greeting, if the agent has one: wait until it has been said
        joined = time.monotonic()
        if result.error is None and not await _wait_idle(
            caller, since, joined + turn_timeout, stateless_after=joined + STATELESS_GRACE
        ):
            result.error = f"agent in room {room!r} never became idle (listening and quiet) after joining"
        if result.error is not None:
            finish_remaining(0, result.error)
            return result
        greeting_start = caller.first_agent_speech_after(since)
        greeting_end = caller.last_agent_speech_after(since)
        if greeting_start is not None:
            result.greeting = await _agent_text(caller, since) or None
        if out_dir is not None and greeting_start is not None and greeting_end is not None:
            path = out_dir / f"{prefix}_greeting.wav"
            _agent_wav(caller, path, greeting_start - 1e-3, greeting_end)
            result.greeting_wav = str(path)

        for i, (turn, pcm) in enumerate(zip(turns, audio, strict=True)):
            res = TurnResult(session=index, turn=i + 1, said=turn.label)
            result.turns.append(res)
            if i and not result.turns[-2].ok:
                # a failed turn may have left a late reply playing: let it end first
                await _wait_idle(caller, time.monotonic() - SETTLE_SECONDS, time.monotonic() + turn_timeout)
            await asyncio.sleep(turn.pause)
            mark = time.monotonic()
            ended = await mic.say(pcm)
            res.user_speech = round(len(pcm) / INPUT_SAMPLE_RATE, 3)
            deadline = ended + turn_timeout

            started: float | None = None
            while time.monotonic() < deadline and caller.room.isconnected():
                started = caller.first_agent_speech_after(ended)
                if started is not None:
                    break
                await asyncio.sleep(POLL_SECONDS)
            settled = started is not None and await _wait_idle(caller, ended, deadline)

            res.heard = " ".join(t.text.strip() for t in caller.final_transcripts(mark, caller=True)).strip()
            if started is not None:
                res.voice_to_voice = started - ended
                res.reply = await _agent_text(caller, ended)
                last_loud = caller.last_agent_speech_after(ended) or started
                if out_dir is not None:
                    path = out_dir / f"{prefix}_turn{i + 1}.wav"
                    res.agent_audio = _agent_wav(caller, path, started - 1e-3, last_loud)
                    res.agent_wav = str(path)
                else:
                    res.agent_audio = round(last_loud - started, 3)

            if not caller.room.isconnected():
                res.error = f"disconnected from room {room!r}"
            else:
                res.error = judge_turn(
                    res, turn, replied=started is not None, settled=settled, turn_timeout=turn_timeout,
                    nothing_heard="no transcript of the user",
                )
            res.ok = res.error is None
            if on_turn is not None:
                on_turn(res)
            if not caller.room.isconnected():
                finish_remaining(i + 1, f"disconnected from room {room!r}")
                break
    except Exception as exc:  # the server unreachable, a bad key, a refused dispatch: every remaining turn fails
        result.error = f"{type(exc).__name__}: {exc}"
        finish_remaining(len(result.turns), result.error)
    finally:
        await mic.aclose()
        await caller.leave()
    return result


async def simulate_room(
    settings: LiveKitSettings,
    turns: Sequence[Turn],
    *,
    room: str | None = None,
    agent_name: str | None = None,
    metadata: dict[str, Any] | None = None,
    concurrency: int = 1,
    out_dir: str | Path | None = None,
    voice: VoiceEngine = "auto",
    turn_timeout: float = 20.0,
    on_turn: Callable[[TurnResult], None] | None = None,
) -> SimulationReport:
    """Run ``concurrency`` conversations of the same script, each in its own room.

    ``room`` names the room (``NAME-1``..``NAME-N`` with concurrency); default a random
    ``simulate-xxxx``. Bad input raises a :class:`~voxplug.errors.VoxplugError` before any
    room is joined; failing turns are reported, not raised.
    """
    audio = await prepare_turn_audio(turns, voice)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    base = room or default_room_name()
    rooms = [base] if concurrency == 1 else [f"{base}-{i + 1}" for i in range(concurrency)]
    started = time.monotonic()
    sessions = await asyncio.gather(
        *(
            room_conversation(
                settings, turns, audio, room=name, index=i + 1, agent_name=agent_name, metadata=metadata,
                out_dir=out, turn_timeout=turn_timeout, on_turn=on_turn,
            )
            for i, name in enumerate(rooms)
        )
    )
    return SimulationReport(
        sessions=list(sessions),
        stages={"stt": "room", "llm": "room", "tts": "room"},
        wall_seconds=time.monotonic() - started,
        transport="room",
        rooms=rooms,
    )
