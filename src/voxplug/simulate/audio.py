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
import wave
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from livekit import rtc
from livekit.agents.voice.io import AudioInput, AudioOutput, AudioOutputCapabilities

from ..errors import VoxplugError

__all__ = [
    "FRAME_MS",
    "INPUT_SAMPLE_RATE",
    "AudioInputError",
    "OutputSegment",
    "PlayedUtterance",
    "RecordingAudioOutput",
    "SimulatedAudioInput",
    "load_wav",
    "prepare_utterance",
    "resample",
    "write_wav",
]

FRAME_MS = 20
INPUT_SAMPLE_RATE = 16000
# an utterance must have a 20 ms frame this loud (dBFS) somewhere, else it counts as silent
SILENCE_PEAK_DBFS = -45.0
# frames quieter than the loudest one by more than this are trimmed from both ends
TRIM_BELOW_PEAK_DB = 40.0


class AudioInputError(VoxplugError):
    """A WAV file or synthesized utterance cannot be used (missing, unreadable, silent)."""


# -- PCM helpers -----------------------------------------------------------------------------
def load_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono int16 samples and the sample rate of a PCM WAV file."""
    p = Path(path)
    if not p.is_file():
        raise AudioInputError(f"{p}: WAV file not found")
    try:
        with wave.open(str(p), "rb") as w:
            channels, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except (wave.Error, EOFError) as exc:
        raise AudioInputError(f"{p}: not a PCM WAV file ({exc}); convert it, e.g. sox in.wav -b 16 out.wav") from None
    except OSError as exc:
        raise AudioInputError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.int32)
    elif width == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.int32) - 128) << 8
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        data = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8) >> 16
    elif width == 4:
        data = np.frombuffer(raw, dtype="<i4").astype(np.int64) >> 16
    else:  # pragma: no cover - wave rejects other widths
        raise AudioInputError(f"{p}: unsupported sample width {width * 8} bits")
    if channels > 1:
        data = data[: len(data) // channels * channels].reshape(-1, channels).mean(axis=1)
    if len(data) == 0:
        raise AudioInputError(f"{p}: WAV file has no audio")
    return np.clip(data, -32768, 32767).astype(np.int16), rate


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(np.asarray(samples, dtype=np.int16).tobytes())


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Mono int16 at ``target`` Hz, through LiveKit's resampler."""
    if rate == target or len(samples) == 0:
        return samples
    resampler = rtc.AudioResampler(input_rate=rate, output_rate=target, num_channels=1)
    frame = rtc.AudioFrame(
        data=samples.astype(np.int16).tobytes(), sample_rate=rate, num_channels=1, samples_per_channel=len(samples)
    )
    out = [*resampler.push(frame), *resampler.flush()]
    if not out:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in out])


def _frame_dbfs(samples: np.ndarray, rate: int) -> np.ndarray:
    size = rate * FRAME_MS // 1000
    n = len(samples) // size
    if n == 0:
        return np.array([-120.0])
    frames = samples[: n * size].astype(np.float64).reshape(n, size) / 32768.0
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-6))


def prepare_utterance(samples: np.ndarray, rate: int, *, source: str) -> np.ndarray:
    """Resample to the input rate and trim leading/trailing silence; reject silent audio.

    Trimming makes "end of the user's speech" the end of the last voiced frame, the
    reference point of voice-to-voice latency.
    """
    pcm = resample(samples, rate, INPUT_SAMPLE_RATE)
    levels = _frame_dbfs(pcm, INPUT_SAMPLE_RATE)
    peak = float(levels.max())
    if peak < SILENCE_PEAK_DBFS:
        raise AudioInputError(
            f"{source}: audio is silent (loudest 20 ms at {peak:.0f} dBFS, need > {SILENCE_PEAK_DBFS:.0f}); "
            "use a recording of speech"
        )
    voiced = np.nonzero(levels > peak - TRIM_BELOW_PEAK_DB)[0]
    size = INPUT_SAMPLE_RATE * FRAME_MS // 1000
    return pcm[voiced[0] * size : (voiced[-1] + 1) * size]


# -- input: the simulated microphone ---------------------------------------------------------
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
