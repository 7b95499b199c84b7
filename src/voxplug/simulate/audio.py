"""Audio for simulated conversations: WAV files, a real-time microphone stand-in, a recording speaker.

No sound device and no LiveKit room: :class:`SimulatedAudioInput` plays utterances into an
``AgentSession`` as 20 ms frames paced by a monotonic clock (silence in between), and
:class:`RecordingAudioOutput` receives the agent's audio, plays it out in simulated real time
(the agent stays "speaking" as long as the audio lasts) and keeps it for WAV files.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from livekit import rtc
from livekit.agents.voice.io import AudioInput, AudioOutput, AudioOutputCapabilities

from ..pcm import FRAME_MS, INPUT_SAMPLE_RATE

__all__ = ["OutputSegment", "PlayedUtterance", "RecordingAudioOutput", "SimulatedAudioInput"]

@dataclass
class PlayedUtterance:
    """When an utterance went in: wall clock (``time.time``) and monotonic seconds."""

    started_at: float
    started_mono: float
    ended_at: float
    ended_mono: float
    duration: float


class SimulatedAudioInput(AudioInput):
    """An endless microphone: 20 ms frames in real time, silence unless an utterance plays.

    Frame ``k`` is handed over at ``t0 + (k + 1) * 20 ms`` on the monotonic clock (when a
    real microphone would have captured it), so a late event loop catches up instead of
    drifting.
    """

    def __init__(self, *, sample_rate: int = INPUT_SAMPLE_RATE, label: str = "voxplug-simulated-mic") -> None:
        super().__init__(label=label)
        self.sample_rate = sample_rate
        self._frame_samples = sample_rate * FRAME_MS // 1000
        self._silence = np.zeros(self._frame_samples, dtype=np.int16)
        self._queue: deque[tuple[np.ndarray, asyncio.Future[PlayedUtterance]]] = deque()
        self._current: tuple[np.ndarray, asyncio.Future[PlayedUtterance]] | None = None
        self._pos = 0
        self._start: tuple[float, float] | None = None
        self._t0: float | None = None
        self._count = 0
        self._closed = False
        self.max_lag = 0.0  # worst lateness of a frame behind its schedule (s)

    def play(self, samples: np.ndarray) -> asyncio.Future[PlayedUtterance]:
        """Queue int16 samples at ``sample_rate``; the future resolves after the last frame."""
        fut: asyncio.Future[PlayedUtterance] = asyncio.get_running_loop().create_future()
        self._queue.append((samples, fut))
        return fut

    def close(self) -> None:
        self._closed = True

    async def __anext__(self) -> rtc.AudioFrame:
        if self._closed:
            raise StopAsyncIteration
        frame_s = FRAME_MS / 1000
        if self._t0 is None:
            self._t0 = time.monotonic()
        due = self._t0 + (self._count + 1) * frame_s
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
            if self._closed:
                raise StopAsyncIteration
        else:
            self.max_lag = max(self.max_lag, -delay)
        self._count += 1

        if self._current is None and self._queue:
            self._current = self._queue.popleft()
            self._pos = 0
            # this frame's audio began one frame before it is handed over
            self._start = (time.time() - frame_s, time.monotonic() - frame_s)
        if self._current is None:
            data = self._silence
        else:
            samples, fut = self._current
            data = samples[self._pos : self._pos + self._frame_samples]
            self._pos += self._frame_samples
            if len(data) < self._frame_samples:
                data = np.concatenate([data, self._silence[: self._frame_samples - len(data)]])
            if self._pos >= len(samples):
                self._current = None
                assert self._start is not None
                # the last voiced sample was captured just now (trailing padding is silence)
                tail = (self._pos - len(samples)) / self.sample_rate
                ended_at, ended_mono = time.time() - tail, time.monotonic() - tail
                if not fut.done():
                    fut.set_result(
                        PlayedUtterance(
                            started_at=self._start[0],
                            started_mono=self._start[1],
                            ended_at=ended_at,
                            ended_mono=ended_mono,
                            duration=len(samples) / self.sample_rate,
                        )
                    )
        return rtc.AudioFrame(
            data=data.tobytes(),
            sample_rate=self.sample_rate,
            num_channels=1,
            samples_per_channel=self._frame_samples,
        )


# -- output: the simulated speaker -----------------------------------------------------------
@dataclass
class OutputSegment:
    """One stretch of agent audio (a reply or the greeting) as the speaker got it."""

    index: int
    started_at: float  # wall clock of the first frame
    started_mono: float
    sample_rate: int = 0
    chunks: list[bytes] = field(default_factory=list)
    duration: float = 0.0
    finished_mono: float | None = None
    interrupted: bool = False

    def samples(self) -> np.ndarray:
        if not self.chunks:
            return np.zeros(0, dtype=np.int16)
        return np.frombuffer(b"".join(self.chunks), dtype=np.int16)


class RecordingAudioOutput(AudioOutput):
    """Keeps every frame the agent plays; playback "lasts" as long as the audio, in real time.

    Calls ``on_playback_started`` on a segment's first frame and ``on_playback_finished``
    once its audio has played out, or early (interrupted) after ``clear_buffer``. Supports
    ``pause``/``resume`` (the framework pauses on a possible false interruption).
    """

    def __init__(self, *, label: str = "voxplug-simulated-speaker") -> None:
        super().__init__(label=label, capabilities=AudioOutputCapabilities(pause=True), sample_rate=None)
        self.segments: list[OutputSegment] = []
        self._current: OutputSegment | None = None
        self._playout: asyncio.Task[None] | None = None
        self._interrupted = False
        self._wake = asyncio.Event()
        self._idle = True
        self._paused_at: float | None = None
        self._paused_total = 0.0

    @property
    def idle(self) -> bool:
        """Nothing being captured or playing out."""
        return self._idle

    def _position(self, seg: OutputSegment) -> float:
        now = time.monotonic()
        paused = self._paused_total + (now - self._paused_at if self._paused_at is not None else 0.0)
        return max(0.0, now - seg.started_mono - paused)

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if self._current is None and self._playout is not None and not self._playout.done():
            await asyncio.shield(self._playout)  # one segment at a time, like a real device
        if self._current is None:
            self._current = OutputSegment(
                index=len(self.segments), started_at=time.time(), started_mono=time.monotonic(),
                sample_rate=frame.sample_rate,
            )
            self.segments.append(self._current)
            self._interrupted = False
            self._paused_total = 0.0
            if self._paused_at is not None:
                self._paused_at = self._current.started_mono
            self._idle = False
            self.on_playback_started(created_at=self._current.started_at)
        seg = self._current
        if frame.num_channels != 1:
            pcm = np.frombuffer(frame.data, dtype=np.int16).reshape(-1, frame.num_channels).mean(axis=1)
            seg.chunks.append(pcm.astype(np.int16).tobytes())
        else:
            seg.chunks.append(bytes(frame.data))
        seg.duration += frame.duration

    def flush(self) -> None:
        super().flush()
        seg, self._current = self._current, None
        if seg is None:
            return
        self._playout = asyncio.create_task(self._play_out(seg), name="voxplug-sim-playout")

    def clear_buffer(self) -> None:
        if self._current is not None or (self._playout is not None and not self._playout.done()):
            self._interrupted = True
            self._wake.set()

    def pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = time.monotonic()
            self._wake.set()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._paused_total += time.monotonic() - self._paused_at
            self._paused_at = None
            self._wake.set()

    async def _play_out(self, seg: OutputSegment) -> None:
        while not self._interrupted:
            self._wake.clear()
            if self._paused_at is not None:
                await self._wake.wait()
                continue
            remaining = seg.duration - self._position(seg)
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=remaining)
        interrupted = self._interrupted
        played = min(seg.duration, self._position(seg)) if interrupted else seg.duration
        seg.finished_mono = time.monotonic()
        seg.interrupted = interrupted
        self._interrupted = False
        self._idle = True
        self.on_playback_finished(playback_position=played, interrupted=interrupted)

    async def aclose(self) -> None:
        if self._playout is not None and not self._playout.done():
            self._interrupted = True
            self._wake.set()
            await asyncio.gather(self._playout, return_exceptions=True)
