"""PCM helpers shared by every layer that handles audio: WAV files, resampling, utterances.

Mono int16 samples as numpy arrays, 20 ms frames. No LiveKit import: the room client, the
simulator and the tests use the same helpers (LiveKit's rtc resampler, no agents framework).
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
from livekit import rtc

from .errors import UsageError

__all__ = [
    "FRAME_MS",
    "INPUT_SAMPLE_RATE",
    "AudioInputError",
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


class AudioInputError(UsageError):
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
    db: np.ndarray = 20 * np.log10(np.maximum(rms, 1e-6))
    return db


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
