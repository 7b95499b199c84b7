"""A simulated voice conversation through a real ``AgentSession``, for the telemetry tests.

Audio in: 20 ms frames paced in real time, silence with bursts of a tone for each user
utterance; an energy VAD (deterministic, unlike Silero on a tone) cuts them. STT, LLM and
TTS are voxplug's fixed-latency test providers; the LLM sits behind a fallback adapter
whose first model always fails (one fallback switch), and the TTS fails its first request
once (one recoverable error, retried). Audio out: paced in real time, so the agent
"speaks" for as long as its audio lasts.

Also a script: ``python conversation.py --turns N`` runs one conversation in a process
of its own as a LiveKit job process would (``setup_telemetry(role="job")``), so several
of them can feed one worker endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents import AgentSession, APIConnectOptions, llm, vad
from livekit.agents.voice.agent_session import SessionConnectOptions
from livekit.agents.voice.io import AudioInput, AudioOutput, AudioOutputCapabilities

from voxplug.config.models import AgentConfig, SessionConfig
from voxplug.config.pricing import Price, PriceTable, PricingConfig
from voxplug.config.telemetry import TelemetryConfig
from voxplug.core.agent import VoiceAssistantAgent
from voxplug.core.observers import ObserverHub, SessionInfo, SessionObserver, TurnRecord, fallback_chain
from voxplug.core.session import SessionModels, turn_handling_options
from voxplug.telemetry import MetricsObserver
from voxplug.testing import (
    FixedLatencyLLM,
    FixedLatencySTT,
    FixedLatencyTTS,
    FixedLLMOptions,
    FixedSTTOptions,
    FixedTTSOptions,
)

SAMPLE_RATE = 16000
FRAME = 0.02
AGENT = "sim-agent"

# priced so the cost panels have data: the fixed providers are free by default
TEST_PRICES = [
    Price(stage="llm", provider="fixed", model="*", input_per_million_tokens=500.0, output_per_million_tokens=1500.0),
    Price(stage="tts", provider="fixed", model="*", per_million_characters=100.0),
    Price(stage="stt", provider="fixed", model="*", per_audio_minute=0.01),
]


def fixed_prices() -> PriceTable:
    return PricingConfig(prices=TEST_PRICES).table()


def telemetry_config(**kw: Any) -> TelemetryConfig:
    return TelemetryConfig(snapshot_interval=0.25, **kw)


# -- audio in/out ---------------------------------------------------------------------------
def _frame(amplitude: float, index: int) -> rtc.AudioFrame:
    n = int(SAMPLE_RATE * FRAME)
    if amplitude:
        t = (np.arange(n) + index * n) / SAMPLE_RATE
        data = (amplitude * 32767 * np.sin(2 * math.pi * 200 * t)).astype(np.int16)
    else:
        data = np.zeros(n, dtype=np.int16)
    return rtc.AudioFrame(data.tobytes(), SAMPLE_RATE, 1, n)


class ScriptedMic(AudioInput):
    """Silence, with tone bursts queued by :meth:`speak`, in real time."""

    def __init__(self) -> None:
        super().__init__(label="scripted-mic")
        self._speech_frames = 0
        self._index = 0
        self._next = time.monotonic()
        self.closed = False

    def speak(self, seconds: float) -> None:
        self._speech_frames += round(seconds / FRAME)

    async def __anext__(self) -> rtc.AudioFrame:
        if self.closed:
            raise StopAsyncIteration
        self._next += FRAME
        delay = self._next - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            self._next = time.monotonic()  # a loaded machine: do not burst to catch up
        self._index += 1
        if self._speech_frames > 0:
            self._speech_frames -= 1
            return _frame(0.3, self._index)
        return _frame(0.0, self._index)


class PacedSpeaker(AudioOutput):
    """Plays the agent's audio in real time and reports playback like a room would."""

    def __init__(self) -> None:
        super().__init__(
            label="paced-speaker",
            next_in_chain=None,
            sample_rate=None,
            capabilities=AudioOutputCapabilities(pause=False),
        )
        self._started_at: float | None = None
        self._pushed = 0.0
        self._done: asyncio.TimerHandle | None = None

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if self._started_at is None:
            self._started_at = time.time()
            self.on_playback_started(created_at=self._started_at)
        self._pushed += frame.duration

    def flush(self) -> None:
        super().flush()
        if self._started_at is None:
            self.on_playback_finished(playback_position=0.0, interrupted=False)
            return
        remaining = max(self._started_at + self._pushed - time.time(), 0.0)
        position = self._pushed
        self._done = asyncio.get_running_loop().call_later(remaining, self._finish, position, False)

    def _finish(self, position: float, interrupted: bool) -> None:
        self._done = None
        self._started_at, self._pushed = None, 0.0
        self.on_playback_finished(playback_position=position, interrupted=interrupted)

    def clear_buffer(self) -> None:
        if self._done is not None:
            self._done.cancel()
            self._done = None
        if self._started_at is not None:
            self._finish(min(time.time() - self._started_at, self._pushed), True)


# -- an energy VAD ---------------------------------------------------------------------------
class EnergyVAD(vad.VAD):
    def __init__(
        self, *, min_speech: float = 0.1, min_silence: float = 0.25, threshold: float = 500.0
    ) -> None:
        super().__init__(capabilities=vad.VADCapabilities(update_interval=FRAME))
        self.min_speech, self.min_silence, self.threshold = min_speech, min_silence, threshold

    @property
    def model(self) -> str:
        return "energy"

    @property
    def provider(self) -> str:
        return "test"

    def stream(self) -> vad.VADStream:
        return _EnergyStream(self)


class _EnergyStream(vad.VADStream):
    def __init__(self, owner: EnergyVAD) -> None:
        super().__init__(owner)
        self._opts = owner

    async def _main_task(self) -> None:
        speaking = False
        speech: list[rtc.AudioFrame] = []
        speech_dur = silence_dur = 0.0
        samples = 0
        async for item in self._input_ch:
            if not isinstance(item, rtc.AudioFrame):  # flush: a fresh segment
                speaking, speech, speech_dur, silence_dur = False, [], 0.0, 0.0
                continue
            samples += item.samples_per_channel
            pcm = np.frombuffer(item.data, dtype=np.int16).astype(np.float32)
            loud = bool(pcm.size) and float(np.sqrt(np.mean(pcm**2))) > self._opts.threshold
            if loud:
                speech.append(item)
                speech_dur += item.duration
                silence_dur = 0.0
            elif speech:
                speech.append(item)
                silence_dur += item.duration
            ts = samples / item.sample_rate

            def event(
                kind: vad.VADEventType,
                frames: list[rtc.AudioFrame],
                *,
                samples: int = samples,
                ts: float = ts,
                loud: bool = loud,
                speech_dur: float = speech_dur,
                silence_dur: float = silence_dur,
                speaking: bool = speaking,
            ) -> vad.VADEvent:
                return vad.VADEvent(
                    type=kind,
                    samples_index=samples,
                    timestamp=ts,
                    speech_duration=speech_dur,
                    silence_duration=silence_dur,
                    frames=frames,
                    probability=1.0 if loud else 0.0,
                    speaking=speaking,
                    raw_accumulated_silence=silence_dur,
                    raw_accumulated_speech=speech_dur,
                )

            if not speaking and speech_dur >= self._opts.min_speech:
                speaking = True
                self._event_ch.send_nowait(
                    event(vad.VADEventType.START_OF_SPEECH, list(speech), speaking=True)
                )
            self._event_ch.send_nowait(event(vad.VADEventType.INFERENCE_DONE, [item]))
            if speaking and silence_dur >= self._opts.min_silence:
                speaking = False
                self._event_ch.send_nowait(
                    event(vad.VADEventType.END_OF_SPEECH, list(speech), speaking=False)
                )
                speech, speech_dur, silence_dur = [], 0.0, 0.0
            elif not speaking and not loud and speech and silence_dur >= self._opts.min_silence:
                speech, speech_dur, silence_dur = [], 0.0, 0.0


# -- the conversation ------------------------------------------------------------------------
@dataclass
class Result:
    turns: list[TurnRecord] = field(default_factory=list)
    errors: int = 0
    fallbacks: int = 0
    elapsed: float = 0.0
    cost: float = 0.0


class _Waiter(SessionObserver):
    def __init__(self) -> None:
        self.turns: list[TurnRecord] = []
        self.event = asyncio.Event()
        self.errors = 0
        self.fallbacks = 0

    def on_turn_completed(self, turn: TurnRecord) -> None:
        self.turns.append(turn)
        self.event.set()

    def on_error(self, ev: Any) -> None:
        self.errors += 1

    def on_availability_changed(self, change: Any) -> None:
        self.fallbacks += 1


UTTERANCES = ["what time is it", "hello there", "what time is it now", "tell me a joke", "thanks", "goodbye"]


def build_session(prompts: Sequence[str]) -> tuple[AgentSession, EnergyVAD]:
    energy = EnergyVAD()
    broken = FixedLatencyLLM(FixedLLMOptions(fail="http500"), model="broken-model")
    reply = "Sure, {user}. That is a fine thing to say."
    good = FixedLatencyLLM(FixedLLMOptions(ttft=0.15, reply=reply), model="good-model")
    fallback = llm.FallbackAdapter(
        [broken, good], attempt_timeout=5.0, max_retry_per_llm=0, retry_interval=0.1
    )
    tts = FixedLatencyTTS(FixedTTSOptions(ttfb=0.08, chars_per_second=25, fail="http500", fail_times=1))
    stt = FixedLatencySTT(FixedSTTOptions(latency=0.1, transcripts=list(prompts)))
    cfg = SessionConfig(min_endpointing_delay=0.15, max_endpointing_delay=1.0, preemptive_generation=False)
    retry = APIConnectOptions(max_retry=2, retry_interval=0.05, timeout=5.0)
    session: AgentSession = AgentSession(
        stt=stt,
        llm=fallback,
        tts=tts,
        vad=energy,
        turn_handling=turn_handling_options(cfg, SessionModels(vad=energy, turn_detector=None)),
        conn_options=SessionConnectOptions(
            stt_conn_options=retry, llm_conn_options=retry, tts_conn_options=retry, max_unrecoverable_errors=3
        ),
    )
    return session, energy


async def converse(
    observers: Sequence[SessionObserver],
    *,
    turns: int = 4,
    interrupt: int | None = None,
    utterance: float = 0.5,
    timeout: float = 20.0,
) -> Result:
    """Run ``turns`` spoken user turns (each answered) through a real AgentSession.

    With ``interrupt=i``, the user talks over the agent's reply to turn ``i``: that reply
    ends interrupted and the interruption is answered as one more turn.
    """
    prompts = [UTTERANCES[i % len(UTTERANCES)] for i in range(turns)]
    session, _ = build_session(prompts)
    mic, speaker = ScriptedMic(), PacedSpeaker()
    session.input.audio = mic
    session.output.audio = speaker
    waiter = _Waiter()
    info = SessionInfo(
        agent_name=AGENT,
        stt="fixed/fixed",
        llm="fallback",
        tts="fixed/fixed",
        config_fingerprint="test",
        fallback_chains={"llm": fallback_chain(session.llm)},
        room="room-secret-123",
    )
    hub = ObserverHub(info, [*observers, waiter])
    hub.attach(session)
    agent = VoiceAssistantAgent(AgentConfig(instructions="Be brief.", greeting=None, tools=["current_time"]))
    started = time.monotonic()
    await session.start(agent)
    try:
        for index in range(turns):
            waiter.event.clear()
            await asyncio.sleep(0.3)
            mic.speak(utterance)
            if index == interrupt:
                await _until(lambda: session.agent_state == "speaking", timeout)
                await asyncio.sleep(0.2)
                waiter.event.clear()
                mic.speak(0.9)
                await asyncio.wait_for(waiter.event.wait(), timeout)  # the interrupted reply
                waiter.event.clear()
            await asyncio.wait_for(waiter.event.wait(), timeout)
            # let the reply play out before the next utterance
            deadline = time.monotonic() + timeout
            while session.agent_state == "speaking" and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
    finally:
        mic.closed = True
        await session.aclose()
        await hub.aclose()
    cost = sum(o.session_cost for o in observers if isinstance(o, MetricsObserver))
    return Result(
        turns=waiter.turns,
        errors=waiter.errors,
        fallbacks=waiter.fallbacks,
        elapsed=time.monotonic() - started,
        cost=cost,
    )


async def _until(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


def main() -> None:
    """One job process: set up telemetry as the worker's prewarm does, run, report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--interrupt", type=int, default=None)
    args = parser.parse_args()
    from voxplug.telemetry import setup_telemetry

    runtime = setup_telemetry(telemetry_config(), role="job")
    result = asyncio.run(converse(runtime.observers(fixed_prices()), turns=args.turns, interrupt=args.interrupt))
    runtime.flush()
    print(
        json.dumps(
            {
                "turns": len(result.turns),
                "errors": result.errors,
                "fallbacks": result.fallbacks,
                "elapsed": result.elapsed,
                "cost": result.cost,
                "e2e": [t.e2e_latency for t in result.turns],
                "interrupted": sum(t.interrupted for t in result.turns),
            }
        )
    )


if __name__ == "__main__":
    main()
