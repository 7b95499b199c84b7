"""Early transcripts: the local STT starts at the first silence, and a pause that ends in more
speech never yields a partial transcript.

Real Silero VAD (livekit-local-inference) on espeak-ng speech pushed in real-time 20 ms frames;
the STT is a recorder that names the length of the audio it was given.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import APIConnectOptions, stt, utils
from livekit.agents.language import LanguageCode
from livekit.agents.types import NOT_GIVEN, NotGivenOr

from voxplug import load_config
from voxplug.config.models import SessionConfig
from voxplug.core.early_stt import EarlyTranscriptAdapter
from voxplug.core.session import build_session, load_session_models

RATE = 16_000
FRAME = RATE // 50


class RecordingSTT(stt.STT[Any]):
    """Non-streaming; answers "<n> ms" for a buffer of n ms, and records when it was asked."""

    def __init__(self) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self.requests: list[tuple[float, float]] = []  # (monotonic time, seconds of audio)

    async def _recognize_impl(
        self, buffer: utils.AudioBuffer, *, language: NotGivenOr[str] = NOT_GIVEN, conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        frame = rtc.combine_audio_frames(buffer)
        seconds = frame.samples_per_channel / frame.sample_rate
        self.requests.append((time.monotonic(), seconds))
        await asyncio.sleep(0.05)
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT, request_id=uuid.uuid4().hex,
            alternatives=[stt.SpeechData(language=LanguageCode("en"), text=f"{round(seconds * 1000)} ms")],
        )


def spoken(tmp_path: Path, text: str) -> np.ndarray:
    path = tmp_path / f"{abs(hash(text))}.wav"
    subprocess.run(["espeak-ng", "-s", "160", "-w", str(path), text], check=True)
    with wave.open(str(path)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        rate = w.getframerate()
    resampler = rtc.AudioResampler(rate, RATE, num_channels=1)
    frames = [*resampler.push(rtc.AudioFrame(pcm.tobytes(), rate, 1, len(pcm))), *resampler.flush()]
    pcm = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])
    voiced = np.flatnonzero(np.abs(pcm) > 300)  # espeak-ng pads its speech with silence: cut it
    return pcm[voiced[0] : voiced[-1] + 1]


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


async def transcribe(adapter: stt.STT[Any], samples: np.ndarray) -> list[tuple[float, stt.SpeechEvent]]:
    """Push ``samples`` in real time; the stream's events with their monotonic times."""
    stream = adapter.stream()
    events: list[tuple[float, stt.SpeechEvent]] = []

    async def read() -> None:
        async for ev in stream:
            events.append((time.monotonic(), ev))

    reader = asyncio.create_task(read())
    start = time.monotonic()
    for i in range(0, len(samples) - FRAME + 1, FRAME):
        stream.push_frame(rtc.AudioFrame(samples[i : i + FRAME].tobytes(), RATE, 1, FRAME))
        await asyncio.sleep(max(0.0, start + (i + FRAME) / RATE - time.monotonic()))
    stream.end_input()
    await asyncio.wait_for(reader, 10)
    await stream.aclose()
    return events


def finals(events: list[tuple[float, stt.SpeechEvent]]) -> list[str]:
    return [ev.alternatives[0].text for _, ev in events if ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT]


@pytest.fixture(scope="module")
def vad() -> Any:
    return load_session_models(SessionConfig()).vad  # min silence 0.25 s


async def test_the_transcript_request_starts_at_the_first_silence(vad: Any, tmp_path: Path) -> None:
    plain_stt, early_stt = RecordingSTT(), RecordingSTT()
    speech = np.concatenate([silence(0.5), spoken(tmp_path, "What time is it"), silence(1.0)])
    plain = await transcribe(stt.StreamAdapter(stt=plain_stt, vad=vad), speech)
    early = await transcribe(EarlyTranscriptAdapter(stt=early_stt, vad=vad, after=0.064), speech)

    [(_, plain_seconds)] = plain_stt.requests
    [(asked, early_seconds)] = early_stt.requests
    # the same speech, less the trailing silence the plain adapter waits for (0.25 s - 0.064 s)
    assert 0.1 < plain_seconds - early_seconds < 0.25
    assert finals(plain) == [f"{round(plain_seconds * 1000)} ms"]
    assert finals(early) == [f"{round(early_seconds * 1000)} ms"]
    end_of_speech = next(t for t, ev in early if ev.type == stt.SpeechEventType.END_OF_SPEECH)
    assert asked < end_of_speech  # asked while the VAD was still waiting for its silence


async def test_a_pause_followed_by_speech_gives_the_whole_utterance(vad: Any, tmp_path: Path) -> None:
    recorder = RecordingSTT()
    first, second = spoken(tmp_path, "What time"), spoken(tmp_path, "is it in Paris")
    # 0.16 s: longer than the early trigger, shorter than the VAD's 0.25 s of silence
    speech = np.concatenate([silence(0.5), first, silence(0.16), second, silence(1.0)])
    events = await transcribe(EarlyTranscriptAdapter(stt=recorder, vad=vad, after=0.064), speech)

    durations = [seconds for _, seconds in recorder.requests]
    assert len(durations) >= 2, (durations, finals(events))  # one early request in the pause, dropped
    assert durations[-1] > len(first) / RATE + 0.16 + 0.5 * len(second) / RATE
    # one transcript for the turn, of the whole utterance; the pause's request never surfaces
    assert finals(events) == [f"{round(durations[-1] * 1000)} ms"]


async def test_the_session_wraps_only_the_local_stt(tmp_path: Path) -> None:
    local = build_session(load_config(env={"AGENT_GREETING": ""}))
    assert isinstance(local.stt, EarlyTranscriptAdapter) and local.stt.after == 0.064
    (tmp_path / "off.yaml").write_text("session:\n  early_transcript: null\n")
    off = build_session(load_config(tmp_path / "off.yaml", env={}))
    assert not isinstance(off.stt, EarlyTranscriptAdapter)
    fixed = build_session(load_config(env={"STT_PROVIDER": "fixed", "LLM_PROVIDER": "fixed", "TTS_PROVIDER": "fixed"}))
    assert not isinstance(fixed.stt, EarlyTranscriptAdapter)
