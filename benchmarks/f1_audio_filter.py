"""F1: the built-in ``highpass`` audio filter: its cost per 20 ms frame, its worth against
low-frequency noise (mains hum, rumble).

    python benchmarks/f1_audio_filter.py                 # both parts, updates docs/benchmarks.md
    python benchmarks/f1_audio_filter.py --no-worth      # the cost only (seconds)
    python benchmarks/f1_audio_filter.py --sentences 2 --no-doc   # a quick try (about 1 min)

Cost: ``HighPassFilter.__call__`` on 20 ms ``rtc.AudioFrame``s (conversions included), at the
rates a session sees (16 kHz simulated microphone, 24 kHz LiveKit room input, 48 kHz), per
frame and as a share of the frame's 20 ms of real time.

Worth, in the session's order (filter -> Silero VAD -> STT on each segment the VAD cuts): the
same sentences (espeak-ng) with hum or rumble at +10, +20 and +30 dB relative to the speech,
as heard, through ``highpass`` and through ``highpass`` with the gain normaliser: which
utterances the VAD finds, how late it starts and ends them, the word error rate of the
packaged local Whisper base (faster-whisper, int8, beam 5) on the VAD's segments, and the
false speech segments the VAD cuts from the noise alone. About 4 CPU-minutes (2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import environment, markdown_table, write_section
from livekit import rtc
from livekit.agents.vad import VADEventType

from voxplug.config.models import SessionConfig
from voxplug.core.audio_filters import HighPassFilter
from voxplug.core.session import load_session_models
from voxplug.local.whisper import LocalWhisperSTT
from voxplug.pcm import FRAME_MS, load_wav, resample

RATE = 16_000
SENTENCES = [
    "I would like to book an appointment for next Thursday morning.",
    "Can you tell me which doctors are available this week?",
    "My daughter needs a vaccination before the school trip.",
    "Please move my check up to the afternoon if that is possible.",
    "I have a question about the invoice you sent me last month.",
    "Is there parking near the clinic on the main street?",
    "The pharmacy said my prescription has not arrived yet.",
    "Could someone call me back after five in the evening?",
    "I think I was charged twice for the same blood test.",
    "We are running late and will arrive in about twenty minutes.",
    "Do I need to bring anything for my first visit?",
    "Thank you very much, that is all I needed today.",
]
NOISES = ("hum", "rumble")
NOISE_LEVELS_DB = (10.0, 20.0, 30.0)  # noise RMS relative to speech RMS: the speech is quieter
# quiet speech (a distant or soft-spoken caller) leaves room for loud hum without clipping
SPEECH_DBFS = -40.0


def _frames(samples: np.ndarray, rate: int) -> list[rtc.AudioFrame]:
    n = rate * FRAME_MS // 1000
    pcm = np.clip(np.round(samples), -32768, 32767).astype(np.int16)
    return [
        rtc.AudioFrame(data=pcm[i:i + n].tobytes(), sample_rate=rate, num_channels=1, samples_per_channel=n)
        for i in range(0, len(pcm) - n + 1, n)
    ]


# -- cost ------------------------------------------------------------------------------------------
def cost_rows(frames: int) -> list[list[str]]:
    rows = [["filter", "rate Hz", "frames", "median us/frame", "p99 us/frame", "share of 20 ms"]]
    rng = np.random.default_rng(0)
    makers: tuple[tuple[str, Callable[[], HighPassFilter]], ...] = (
        ("highpass (120 Hz, order 4)", HighPassFilter),
        ("highpass + gain normaliser", lambda: HighPassFilter(target_dbfs=-20.0)),
    )
    for label, make in makers:
        for rate in (16_000, 24_000, 48_000):
            f = make()
            audio = _frames(rng.normal(0, 3000, rate * FRAME_MS // 1000 * frames), rate)
            for frame in audio[:50]:  # warm-up: the block operators are built on the first frame
                f(frame)
            times = []
            for frame in audio:
                t0 = time.perf_counter()
                f(frame)
                times.append(time.perf_counter() - t0)
            times.sort()
            median, p99 = statistics.median(times), times[int(0.99 * len(times))]
            rows.append([label, str(rate), str(len(times)), f"{median * 1e6:.0f}", f"{p99 * 1e6:.0f}",
                         f"{median / (FRAME_MS / 1000) * 100:.2f}%"])
    return rows


# -- worth ---------------------------------------------------------------------------------------
def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def _edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def _speech(folder: Path) -> list[np.ndarray]:
    out = []
    for i, text in enumerate(SENTENCES):
        wav = folder / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), text], check=True, capture_output=True)
        samples, rate = load_wav(wav)
        x = resample(samples, rate, RATE).astype(np.float64)
        rms = np.sqrt(np.mean(x**2))
        out.append(x * (10 ** (SPEECH_DBFS / 20) * 32768 / rms))
    return out


def _noise(kind: str, n: int, level_db: float, seed: int) -> np.ndarray:
    """``hum``: 50 Hz mains and harmonics; ``rumble``: random noise below ~150 Hz (traffic, wind,
    handling), at ``level_db`` RMS relative to the speech."""
    t = np.arange(n) / RATE
    if kind == "hum":
        parts = ((50, 1.0), (100, 0.5), (150, 0.25))
        wave: np.ndarray = sum((a * np.sin(2 * math.pi * f * t + seed * 0.7 * k) for k, (f, a) in enumerate(parts)),
                               np.zeros(n))
    else:
        spectrum = np.fft.rfft(np.random.default_rng(seed).normal(0, 1, n))
        freqs = np.fft.rfftfreq(n, 1 / RATE)
        # brown-ish (1/f amplitude) from 20 Hz, falling off steeply above 100 Hz
        shape = np.where(freqs > 20, 1 / np.maximum(freqs, 1), 0) / (1 + (freqs / 100) ** 4)
        wave = np.fft.irfft(spectrum * shape, n)
    rms = float(np.sqrt(np.mean(wave**2)))
    scaled: np.ndarray = wave * (10 ** ((SPEECH_DBFS + level_db) / 20) * 32768 / rms)
    return scaled


def _clip(speech: np.ndarray, noise: tuple[str, float] | None, index: int) -> np.ndarray:
    """1 s of (noise-only) lead-in, the sentence, 2 s of tail: what a microphone delivers."""
    x = np.concatenate([np.zeros(RATE), speech, np.zeros(2 * RATE)])
    return x if noise is None else x + _noise(noise[0], len(x), noise[1], index)


def _through(x: np.ndarray, options: dict[str, float] | None) -> tuple[list[rtc.AudioFrame], float]:
    """The clip as the session's 20 ms frames, through the filter (``options``) or as heard, and
    the gain (dB) the filter's normaliser ended with."""
    frames = _frames(x, RATE)
    if options is None:
        return frames, 0.0
    f = HighPassFilter(**options)  # type: ignore[arg-type]
    return [f(fr) for fr in frames], f.gain_db


async def _vad(frames: list[rtc.AudioFrame]) -> list[tuple[float, float, list[rtc.AudioFrame]]]:
    """The speech segments Silero VAD (session defaults) cuts: start, end (s) and their frames,
    which is what the session hands a non-streaming STT."""
    vad = load_session_models(SessionConfig()).vad
    assert vad is not None
    stream = vad.stream()
    segments: list[tuple[float, float, list[rtc.AudioFrame]]] = []
    starts: list[float] = []

    async def read() -> None:
        async for ev in stream:
            if ev.type == VADEventType.START_OF_SPEECH:
                starts.append(ev.timestamp)
            elif ev.type == VADEventType.END_OF_SPEECH:
                segments.append((starts[-1] if starts else 0.0, ev.timestamp, list(ev.frames)))

    reader = asyncio.create_task(read())
    for frame in frames:
        stream.push_frame(frame)
        await asyncio.sleep(0)
    stream.end_input()
    await reader
    await stream.aclose()
    return segments


PATHS: tuple[tuple[str, dict[str, float] | None], ...] = (
    ("as heard", None),
    ("highpass", {}),
    ("highpass + normaliser", {"target_dbfs": -20.0}),
)


def worth_rows(model: str, sentences: int) -> tuple[list[list[str]], list[list[str]]]:
    stt = LocalWhisperSTT(model=model)
    refs = [_words(s) for s in SENTENCES[:sentences]]
    total = sum(len(r) for r in refs)
    with tempfile.TemporaryDirectory() as tmp:
        speech = _speech(Path(tmp))[:sentences]

    def transcribe(frames: list[rtc.AudioFrame]) -> list[str]:
        pcm = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])
        return _words(stt._transcribe((pcm / 32768.0).astype(np.float32), "en")[0])

    clean = [asyncio.run(_vad(_frames(_clip(x, None, i), RATE))) for i, x in enumerate(speech)]
    rows = [["noise (vs speech)", "path", "utterances found", "extra segments", "start late ms",
             "end late ms", "WER", "normaliser gain dB", "Whisper s/utterance"]]
    conditions: list[tuple[str, float] | None] = [None] + [(k, lv) for k in NOISES for lv in NOISE_LEVELS_DB]
    for noise in conditions:
        for label, options in PATHS:
            errors, found, extra, start_late, end_late, spent, gains = 0, 0, 0, [], [], 0.0, []
            for i, x in enumerate(speech):
                heard, gain = _through(_clip(x, noise, i), options)
                gains.append(gain)
                segments = asyncio.run(_vad(heard))
                hyp: list[str] = []
                t0 = time.perf_counter()
                for _, _, frames in segments:  # the session transcribes each segment the VAD cuts
                    hyp += transcribe(frames)
                spent += time.perf_counter() - t0
                errors += _edit_distance(refs[i], hyp)
                if segments and clean[i]:
                    found += 1
                    extra += len(segments) - 1
                    start_late.append(1000 * (segments[0][0] - clean[i][0][0]))
                    end_late.append(1000 * (segments[-1][1] - clean[i][-1][1]))
            rows.append([
                "none (clean)" if noise is None else f"{noise[0]} {noise[1]:+.0f} dB", label,
                f"{found}/{len(speech)}", str(extra),
                f"{statistics.mean(start_late):.0f}" if start_late else "-",
                f"{statistics.mean(end_late):.0f}" if end_late else "-",
                f"{errors / total:.1%}", f"{statistics.mean(gains):+.1f}", f"{spent / len(speech):.2f}",
            ])
            print(" | ".join(rows[-1]), flush=True)
    # noise alone: every segment the VAD cuts is a false turn (the agent stops or answers noise)
    alone = [["noise alone (level as above)", "path", "false speech segments in 60 s", "seconds of false speech"]]
    for kind in NOISES:
        for level in NOISE_LEVELS_DB:
            for label, options in PATHS:
                x = np.concatenate([_noise(kind, 20 * RATE, level, seed) for seed in range(3)])
                segments = asyncio.run(_vad(_through(x, options)[0]))
                alone.append([f"{kind} {level:+.0f} dB", label, str(len(segments)),
                              f"{sum(end - start for start, end, _ in segments):.1f}"])
                print(" | ".join(alone[-1]), flush=True)
    return rows, alone


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=5000, help="frames timed per rate (default 5000)")
    parser.add_argument("--model", default="base", help="local Whisper model (default base, as the local STT)")
    parser.add_argument("--sentences", type=int, default=len(SENTENCES), help="sentences per condition")
    parser.add_argument("--no-worth", action="store_true", help="skip the VAD and Whisper part (minutes)")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    cost = markdown_table(cost_rows(args.frames))
    print(cost, flush=True)
    body = f"""## F1 - the built-in audio filter: cost per frame, worth against hum and rumble

`python benchmarks/f1_audio_filter.py`: `session.audio_filters: [{{name: highpass}}]` (Butterworth
high-pass, 120 Hz, order 4, exact block IIR in numpy) on 20 ms frames, conversions from and to
`rtc.AudioFrame` included.

{cost}
"""
    if not args.no_worth:
        t0 = time.process_time()
        rows, alone = worth_rows(args.model, args.sentences)
        cpu = time.process_time() - t0
        n = min(args.sentences, len(SENTENCES))
        body += f"""
Worth, in the session's order (filter, then Silero VAD with the session defaults, then the STT on
each segment the VAD cuts, as LiveKit's adapter for a non-streaming STT does): {n} sentences
(espeak-ng, {sum(len(_words(s)) for s in SENTENCES[:n])} words, speech at {SPEECH_DBFS:.0f} dBFS RMS, 1 s
before and 2 s after each) with noise added to the whole clip at each level relative to the
speech (so at +20 and +30 dB the speech is far quieter than the noise): `hum` = 50 + 100 +
150 Hz (1 : 0.5 : 0.25), `rumble` = random noise below ~150 Hz (1/f, steep above 100 Hz).
Paths: as heard; `highpass`; `highpass` with the gain normaliser (`target_dbfs: -20`).
"utterances found": clips where the VAD cut at least one segment; "extra segments": segments
beyond one per utterance (a turn split in two); "start/end late": against the VAD's cut of the
clean clip as heard (end late = end-of-speech delay, which delays the reply). WER: Whisper
{args.model} (int8, beam 5) on the VAD's segments, word edit distance / reference words (an
utterance the VAD misses loses all its words). "normaliser gain": the gain the normaliser
ended each clip with (mean; it moves on speech only, so it is the gain the speech got).
Whisper's result on the same audio varies from run to run (faster-whisper's temperature
fallback samples when a segment decodes badly): read WER differences of a few words (a word
is 0.8 points) as noise, and compare the rows where the VAD loses or delays utterances.

{markdown_table(rows)}

The noise alone (3 x 20 s at each level), where every segment is a false turn (the agent is
interrupted, or answers noise):

{markdown_table(alone)}

CPU time of the worth part: {cpu / 60:.1f} min.
"""
    body += f"\nEnvironment: {environment()}.\n"
    print(body)
    if not args.no_doc:
        write_section("f1", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
