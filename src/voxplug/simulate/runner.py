"""Run scripted voice conversations through the real ``AgentSession``, without a LiveKit server.

Each conversation is one session built by :func:`voxplug.core.session.build_session` with
a :class:`~voxplug.simulate.audio.SimulatedAudioInput` as microphone and a
:class:`~voxplug.simulate.audio.RecordingAudioOutput` as speaker. For every turn the runner
waits until the agent is listening and silent, pauses, plays the utterance in real time,
then waits for the whole reply to play out.

Latencies per turn (seconds):

``voice_to_voice``
    first frame of the agent's reply reaching the speaker - end of the user's speech in
    the played audio. Measured here, outside the framework: the honest number.
``stt_request``
    duration of the STT's recognize requests for the utterance (non-streaming STT only:
    the time the vendor took, from the STT's own metrics).
``end_of_turn_delay``, ``stt_delay``
    the framework's user-turn metrics (``end_of_turn_delay``; ``transcription_delay``:
    end of speech as the VAD saw it → final transcript, which for a non-streaming STT
    includes the VAD's silence wait before the request).
``llm_ttft``, ``tts_ttfb``, ``e2e_latency``
    the framework's metrics on the reply (``llm_node_ttft``, ``tts_node_ttfb``,
    ``e2e_latency``).

``tool_calls`` lists the tools the agent called for the turn (``name``, JSON ``arguments`` and
the tool's ``output``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from livekit.agents import (
    Agent,
    AgentSession,
    AgentStateChangedEvent,
    ChatMessage,
    CloseEvent,
    ConversationItemAddedEvent,
    ErrorEvent,
    FunctionToolsExecutedEvent,
    UserInputTranscribedEvent,
)
from livekit.agents.metrics import STTMetrics
from livekit.agents.utils import http_context

from ..config.models import VoxplugConfig
from ..core.agents import build_agent
from ..core.observers import ObserverHub, SessionObserver, TurnRecord
from ..core.session import SessionModels, attach_observers, build_session, session_info
from ..pcm import resample, write_wav
from ..testing.fixed import FixedLatencySTT
from .audio import OutputSegment, PlayedUtterance, RecordingAudioOutput, SimulatedAudioInput
from .script import Turn

__all__ = ["SessionResult", "TurnResult", "drive_conversation", "judge_turn", "run_conversation"]

# the reply is over when the agent has been listening with a silent speaker this long
SETTLE_SECONDS = 0.4
POLL_SECONDS = 0.02


@dataclass
class TurnResult:
    """One simulated turn, built on the session's own :class:`TurnRecord`.

    The simulator adds what was said and heard, the verdict and what it measures from
    outside (voice-to-voice, STT request time, audio lengths); the framework's latencies
    are read from ``record`` (absent when the agent ran elsewhere, behind a LiveKit room).
    """

    session: int
    turn: int
    said: str
    heard: str = ""
    reply: str = ""
    ok: bool = False
    error: str | None = None
    voice_to_voice: float | None = None
    stt_request: float | None = None
    user_speech: float | None = None  # seconds of user audio played
    agent_audio: float | None = None  # seconds of reply audio
    agent_wav: str | None = None
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    record: TurnRecord | None = None

    @property
    def end_of_turn_delay(self) -> float | None:
        return self.record.end_of_turn_delay if self.record else None

    @property
    def stt_delay(self) -> float | None:
        return self.record.transcription_delay if self.record else None

    @property
    def llm_ttft(self) -> float | None:
        return self.record.llm_ttft if self.record else None

    @property
    def tts_ttfb(self) -> float | None:
        return self.record.tts_ttfb if self.record else None

    @property
    def e2e_latency(self) -> float | None:
        return self.record.e2e_latency if self.record else None

    def as_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "record"}
        return data | {name: getattr(self, name) for name in RECORD_LATENCIES}


# the latencies a TurnResult reads from its TurnRecord (seconds)
RECORD_LATENCIES = ("end_of_turn_delay", "stt_delay", "llm_ttft", "tts_ttfb", "e2e_latency")


@dataclass
class SessionResult:
    index: int
    turns: list[TurnResult] = field(default_factory=list)
    greeting: str | None = None
    greeting_wav: str | None = None
    error: str | None = None
    input_max_lag: float = 0.0  # worst lateness of a microphone frame (event-loop stalls)
    stt: str = ""
    llm: str = ""
    tts: str = ""


class _Tracker:
    """Everything the runner needs from the session's events, with monotonic timestamps."""

    def __init__(self) -> None:
        self.agent_state = "initializing"
        self.finals: list[tuple[float, str]] = []
        self.items: list[tuple[float, ChatMessage]] = []
        self.errors: list[tuple[float, str]] = []
        self.stt_requests: list[tuple[float, float]] = []  # (monotonic, duration) of recognize calls
        self.tool_calls: list[dict[str, str]] = []
        self.closed: str | None = None

    def attach(self, session: Any) -> None:
        session.on("agent_state_changed", self._state)
        session.on("user_input_transcribed", self._transcribed)
        session.on("conversation_item_added", self._item)
        session.on("error", self._error)
        session.on("function_tools_executed", self._tools)
        session.on("close", self._close)
        stt = session.stt
        if stt is not None and hasattr(stt, "on"):
            stt.on("metrics_collected", self._stt_metrics)

    def _stt_metrics(self, ev: Any) -> None:
        if isinstance(ev, STTMetrics) and not ev.streamed and ev.duration > 0:
            self.stt_requests.append((time.monotonic(), ev.duration))

    def _state(self, ev: AgentStateChangedEvent) -> None:
        self.agent_state = ev.new_state

    def _transcribed(self, ev: UserInputTranscribedEvent) -> None:
        if ev.is_final and ev.transcript.strip():
            self.finals.append((time.monotonic(), ev.transcript.strip()))

    def _item(self, ev: ConversationItemAddedEvent) -> None:
        if isinstance(ev.item, ChatMessage):
            self.items.append((time.monotonic(), ev.item))

    def _tools(self, ev: FunctionToolsExecutedEvent) -> None:
        self.tool_calls += [{"name": c.name, "arguments": c.arguments, "output": o.output} for c, o in ev.zipped()]

    def _error(self, ev: ErrorEvent) -> None:
        recoverable = getattr(ev.error, "recoverable", True)
        if not recoverable:
            inner = getattr(ev.error, "error", ev.error)
            self.errors.append((time.monotonic(), f"{type(ev.source).__name__}: {type(inner).__name__}: {inner}"))

    def _close(self, ev: CloseEvent) -> None:
        self.closed = str(ev.reason)


def _fixed_stt(session: Any) -> Any:
    stt = session.stt
    return stt if isinstance(stt, FixedLatencySTT) and not stt.opts.transcripts else None


def _segments_audio(segments: Sequence[OutputSegment]) -> tuple[np.ndarray, int]:
    if not segments:
        return np.zeros(0, dtype=np.int16), 24000
    rate = segments[0].sample_rate
    parts = [
        seg.samples() if seg.sample_rate == rate else resample(seg.samples(), seg.sample_rate, rate)
        for seg in segments
    ]
    return np.concatenate(parts), rate


async def _wait_idle(tracker: _Tracker, speaker: RecordingAudioOutput, deadline: float) -> bool:
    """Until the agent listens with a silent speaker for SETTLE_SECONDS (False on timeout)."""
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        if tracker.closed is not None:
            return False
        now = time.monotonic()
        if tracker.agent_state == "listening" and speaker.idle:
            quiet_since = quiet_since or now
            if now - quiet_since >= SETTLE_SECONDS:
                return True
        else:
            quiet_since = None
        await asyncio.sleep(POLL_SECONDS)
    return False


async def _play(mic: SimulatedAudioInput, pcm: np.ndarray, tracker: _Tracker) -> PlayedUtterance | None:
    """Play an utterance; None if the session closes first (nobody reads the microphone then)."""
    fut = mic.play(pcm)
    while not fut.done():
        if tracker.closed is not None:
            return None
        await asyncio.sleep(POLL_SECONDS)
    return fut.result()


def judge_turn(
    res: TurnResult, turn: Turn, *, replied: bool, settled: bool, turn_timeout: float, nothing_heard: str
) -> str | None:
    """Why a turn failed (no reply, a reply that never finished, a missed ``expect``), or None."""
    if not replied:
        heard = f"STT heard {res.heard!r}" if res.heard else nothing_heard
        return f"no agent reply within {turn_timeout:g}s after the user stopped ({heard})"
    if not settled:
        return f"agent reply did not finish within {turn_timeout:g}s"
    if turn.expect is not None and turn.expect.lower() not in res.reply.lower():
        return f"reply does not contain {turn.expect!r}"
    return None


async def run_conversation(
    config: VoxplugConfig,
    turns: Sequence[Turn],
    audio: Sequence[np.ndarray],
    *,
    index: int = 1,
    models: SessionModels | None = None,
    out_dir: Path | None = None,
    turn_timeout: float = 20.0,
    observers: Sequence[SessionObserver] = (),
    on_turn: Callable[[TurnResult], None] | None = None,
) -> SessionResult:
    """One conversation with the session and agent voxplug builds from ``config``.

    Never raises for a failing turn: the failure is recorded on its :class:`TurnResult`
    and the remaining turns are marked as not run.
    """
    # the simulated user has finished when the script ends: no wait for a late transcript
    quick_close = config.session.model_copy(update={"close_transcript_timeout": 0.0})
    config = config.model_copy(update={"session": quick_close})
    # WebSocket plugins (realtime models, streaming vendors) share LiveKit's per-job HTTP
    # session, which a worker opens and a simulation has to open itself
    async with http_context.open():
        agent = build_agent(config)
        session = build_session(config, models=models)
        info = session_info(config, session, room=f"simulate-{index}")
        hub = attach_observers(session, info, observers)
        result = await drive_conversation(
            session, agent, turns, audio, hub=hub, index=index, greeting=bool(agent.config.greeting),
            out_dir=out_dir, turn_timeout=turn_timeout, on_turn=on_turn,
        )
    result.stt, result.llm, result.tts = info.stt, info.llm, info.tts
    return result


async def drive_conversation(
    session: AgentSession[Any],
    agent: Agent,
    turns: Sequence[Turn],
    audio: Sequence[np.ndarray],
    *,
    hub: ObserverHub | None = None,
    index: int = 1,
    greeting: bool = False,
    out_dir: Path | None = None,
    turn_timeout: float = 20.0,
    on_turn: Callable[[TurnResult], None] | None = None,
) -> SessionResult:
    """Drive any unstarted ``AgentSession`` (voxplug's or hand-built) through ``turns``.

    ``audio`` holds each turn's 16 kHz mono int16 speech. ``greeting``: the agent speaks
    first, wait for it. Without ``hub`` the framework's per-turn metrics are not collected
    (voice-to-voice still is). The session is closed at the end.
    """
    result = SessionResult(index=index)
    tracker = _Tracker()
    tracker.attach(session)
    mic = SimulatedAudioInput()
    speaker = RecordingAudioOutput()
    session.input.audio = mic
    session.output.audio = speaker
    fixed_stt = _fixed_stt(session)
    prefix = f"session{index}"
    records: list[TurnRecord] = hub.turns if hub is not None else []

    def finish_remaining(from_turn: int, reason: str) -> None:
        for j in range(from_turn, len(turns)):
            result.turns.append(TurnResult(session=index, turn=j + 1, said=turns[j].label, error=reason))

    try:
        await session.start(agent, record=False)
        if greeting:
            deadline = time.monotonic() + turn_timeout
            while not speaker.segments and time.monotonic() < deadline and tracker.closed is None:
                await asyncio.sleep(POLL_SECONDS)
            if not await _wait_idle(tracker, speaker, deadline):
                result.error = f"greeting did not finish within {turn_timeout:g}s"
            greeting_segments = list(speaker.segments)
            result.greeting = " ".join(
                m.text_content or "" for _, m in tracker.items if m.role == "assistant"
            ).strip() or None
            if out_dir is not None and greeting_segments:
                path = out_dir / f"{prefix}_greeting.wav"
                write_wav(path, *_segments_audio(greeting_segments))
                result.greeting_wav = str(path)
        if result.error is None and not await _wait_idle(tracker, speaker, time.monotonic() + turn_timeout):
            result.error = "agent never became idle after start"
        if result.error is not None:
            finish_remaining(0, result.error)
            return result

        for i, (turn, pcm) in enumerate(zip(turns, audio, strict=True)):
            res = TurnResult(session=index, turn=i + 1, said=turn.label)
            result.turns.append(res)
            if i and not result.turns[-2].ok:
                # a failed turn may have left a late reply playing: let it end first
                await _wait_idle(tracker, speaker, time.monotonic() + turn_timeout)
            await asyncio.sleep(turn.pause)
            if fixed_stt is not None and turn.say is not None:
                fixed_stt.push_transcript(turn.say)
            item_mark, seg_mark, final_mark = len(tracker.items), len(speaker.segments), len(tracker.finals)
            record_mark, error_mark = len(records), len(tracker.errors)
            stt_mark, tool_mark = len(tracker.stt_requests), len(tracker.tool_calls)

            played = await _play(mic, pcm, tracker)
            if played is None:  # the agent ended the call (end_call, time limit, silence)
                res.error = f"session closed ({tracker.closed})"
                finish_remaining(i + 1, res.error)
                break
            res.user_speech = round(played.duration, 3)
            deadline = played.ended_mono + turn_timeout

            # the reply: the first agent audio after the end of the user's speech
            reply_seg: OutputSegment | None = None
            while time.monotonic() < deadline and tracker.closed is None:
                reply_seg = next(
                    (s for s in speaker.segments[seg_mark:] if s.started_mono >= played.ended_mono), None
                )
                if reply_seg is not None or len(tracker.errors) > error_mark:
                    break
                await asyncio.sleep(POLL_SECONDS)
            # a reply after which the agent ended the call (a goodbye) is a finished reply
            settled = reply_seg is not None and (
                await _wait_idle(tracker, speaker, deadline) or tracker.closed is not None
            )

            res.heard = " ".join(text for _, text in tracker.finals[final_mark:])
            requests = [d for _, d in tracker.stt_requests[stt_mark:]]
            res.stt_request = sum(requests) if requests else None
            replies = [m for _, m in tracker.items[item_mark:] if m.role == "assistant"]
            res.reply = " ".join((m.text_content or "").strip() for m in replies).strip()
            res.tool_calls = tracker.tool_calls[tool_mark:]
            done = [r for r in records[record_mark:] if r.assistant_text]
            res.record = done[-1] if done else None
            if reply_seg is not None:
                res.voice_to_voice = reply_seg.started_mono - played.ended_mono
                segs = [s for s in speaker.segments[seg_mark:] if s.index >= reply_seg.index]
                res.agent_audio = round(sum(s.duration for s in segs), 3)
                if out_dir is not None:
                    path = out_dir / f"{prefix}_turn{i + 1}.wav"
                    write_wav(path, *_segments_audio(segs))
                    res.agent_wav = str(path)

            errors = [msg for _, msg in tracker.errors[error_mark:]]
            if tracker.closed is not None and reply_seg is None:
                res.error = f"session closed ({tracker.closed})" + (f": {errors[0]}" if errors else "")
            elif errors and reply_seg is None:
                res.error = errors[0]
            else:
                res.error = judge_turn(
                    res, turn, replied=reply_seg is not None, settled=settled, turn_timeout=turn_timeout,
                    nothing_heard="STT heard nothing",
                )
            res.ok = res.error is None
            if on_turn is not None:
                on_turn(res)
            if tracker.closed is not None:
                finish_remaining(i + 1, f"session closed ({tracker.closed})")
                break
    except Exception as exc:  # a provider failing to start: every remaining turn fails
        result.error = f"{type(exc).__name__}: {exc}"
        finish_remaining(len(result.turns), result.error)
    finally:
        result.input_max_lag = mic.max_lag
        try:
            await session.aclose()
        finally:
            mic.close()
            await speaker.aclose()
            if hub is not None:
                await hub.aclose()
    return result
