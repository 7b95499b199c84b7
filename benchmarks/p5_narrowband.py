"""P5 - phone audio: Whisper and Silero VAD on 8 kHz G.711 against the wideband original.

`python benchmarks/p5_narrowband.py`: test sentences spoken by espeak-ng (22.05 kHz) are
sent through the telephone path a SIP call imposes - resampled to 8 kHz and G.711 mu-law
encoded and decoded, exactly what LiveKit SIP receives from a PCMU trunk - and each version
goes to the local Whisper base model (STT word recall against the text) and to the
framework's Silero VAD (speech seconds detected, segments, lag of the first
START_OF_SPEECH). The framework resamples either to the rate its models need; this
measures what the narrower band costs. The end-to-end voice-to-voice latency at a SIP
phone is measured by tests/telephony/test_phone_calls.py (printed with -s).
"""

from __future__ import annotations

import asyncio
import audioop
import difflib
import os
import re
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import environment, markdown_table, write_section
from livekit import rtc
from livekit.agents import vad as agents_vad

from voxplug.config.models import (
    SessionConfig,
    STTConfig,
)
from voxplug.core.session import load_session_models
from voxplug.local.whisper import create_stt
from voxplug.pcm import resample

SENTENCES = [
    "Please tell me the opening hours of the library.",
    "I would like to change my delivery address to twelve Baker Street.",
    "My account number is four five six seven and I forgot my password.",
    "Can you transfer me to someone in the billing department?",
    "The package arrived yesterday but the box was damaged.",
    "What is the weather going to be like tomorrow afternoon?",
]
FRAME_MS = 20


def speak(text: str, directory: Path) -> tuple[np.ndarray, int]:
    path = directory / f"{abs(hash(text))}.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16), w.getframerate()


def telephone(pcm: np.ndarray, rate: int) -> np.ndarray:
    """8 kHz, G.711 mu-law encoded and decoded: what a PCMU call carries."""
    narrow = resample(pcm, rate, 8000)
    return np.frombuffer(audioop.ulaw2lin(audioop.lin2ulaw(narrow.tobytes(), 2), 2), dtype=np.int16)


def words(text: str) -> list[str]:
    return [w for w in re.sub(r"[^a-z0-9' ]", " ", text.lower()).split() if w]


def recall(reference: str, heard: str) -> float:
    ref, hyp = words(reference), words(heard)
    blocks = difflib.SequenceMatcher(a=ref, b=hyp, autojunk=False).get_matching_blocks()
    return sum(b.size for b in blocks) / len(ref)


async def vad_profile(model: agents_vad.VAD, pcm: np.ndarray, rate: int) -> tuple[float, int, float | None]:
    """(speech seconds, segments, seconds from audio start to the first START_OF_SPEECH)."""
    padded = np.concatenate([np.zeros(rate // 2, np.int16), pcm, np.zeros(rate, np.int16)])
    stream = model.stream()
    step = rate * FRAME_MS // 1000
    for offset in range(0, len(padded) - step + 1, step):
        stream.push_frame(rtc.AudioFrame(padded[offset : offset + step].tobytes(), rate, 1, step))
    stream.end_input()
    speech, segments, first = 0.0, 0, None
    async for event in stream:
        if event.type == agents_vad.VADEventType.START_OF_SPEECH and first is None:
            first = event.timestamp - 0.5
        if event.type == agents_vad.VADEventType.END_OF_SPEECH:
            segments += 1
            speech += event.speech_duration
    return speech, segments, first


async def main() -> None:
    stt = create_stt(STTConfig(provider="local", model="base"))
    stt.load()
    vad = load_session_models(SessionConfig()).vad
    assert vad is not None
    rows = [[
        "audio", "sentences", "STT word recall (mean)", "STT worst", "VAD speech s (mean)", "VAD segments",
        "first speech lag ms",
    ]]
    with tempfile.TemporaryDirectory() as tmp:
        clips = [(text, *speak(text, Path(tmp))) for text in SENTENCES]
        for label, transform in (("wideband 22.05 kHz (espeak-ng)", None), ("telephone 8 kHz G.711 mu-law", telephone)):
            recalls, speech, segments, lags = [], [], [], []
            started = time.perf_counter()
            for text, pcm, rate in clips:
                audio, audio_rate = (transform(pcm, rate), 8000) if transform else (pcm, rate)
                frame = rtc.AudioFrame(audio.tobytes(), audio_rate, 1, len(audio))
                event = await stt.recognize(buffer=[frame])
                recalls.append(recall(text, event.alternatives[0].text if event.alternatives else ""))
                seconds, count, lag = await vad_profile(vad, audio, audio_rate)
                speech.append(seconds)
                segments.append(count)
                if lag is not None:
                    lags.append(lag)
            print(f"{label}: {time.perf_counter() - started:.1f} s")
            rows.append([
                label, str(len(clips)), f"{np.mean(recalls):.2f}", f"{min(recalls):.2f}",
                f"{np.mean(speech):.2f}", f"{np.mean(segments):.1f}", f"{np.mean(lags) * 1000:.0f}" if lags else "-",
            ])
    table = markdown_table(rows)
    print(table)
    write_section("p5", f"""## P5 - phone audio: 8 kHz G.711 against wideband

`python benchmarks/p5_narrowband.py`: {len(SENTENCES)} espeak-ng sentences, each as spoken (22.05 kHz)
and through the telephone path (resampled to 8 kHz, G.711 mu-law encoded and decoded), to the local
Whisper base model and to the framework's Silero VAD (0.5 s of silence before, 1 s after).

{table}

The end-to-end voice-to-voice latency at a SIP phone (PJSIP caller -> LiveKit SIP -> worker with
Whisper, the fixed LLM and Piper -> back over RTP) is printed by
`pytest -s tests/telephony/test_phone_calls.py -k inbound` (see docs/telephony.md for the figures
and the load they were measured under).

{environment()}
""")


if __name__ == "__main__":
    asyncio.run(main())
