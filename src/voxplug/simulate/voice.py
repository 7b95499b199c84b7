"""The simulated user's voice: text turns become speech before the conversation starts.

``auto`` uses voxplug's ``local`` TTS provider when it is registered and installed, else
Debian's ``espeak-ng`` (robotic, but enough for STT and VAD). Each distinct text is
synthesized once and shared by every concurrent session.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from ..config.models import TTSConfig
from ..errors import UsageError, VoxplugError
from ..pcm import load_wav, prepare_utterance
from ..providers import ProviderFactory
from .script import Turn

__all__ = ["VoiceEngine", "prepare_turn_audio", "resolve_engine"]

VoiceEngine = Literal["auto", "local", "espeak"]


def _local_available() -> bool:
    try:
        return ProviderFactory.spec("tts", "local").installed()
    except VoxplugError:
        return False


def resolve_engine(engine: VoiceEngine) -> Literal["local", "espeak"]:
    if engine in ("auto", "local") and _local_available():
        return "local"
    if engine == "local":
        raise UsageError("simulate: --voice local needs the 'local' TTS provider installed; or use --voice espeak")
    if shutil.which("espeak-ng") is None:
        raise VoxplugError(
            "simulate: no voice for 'say' turns: install the local TTS provider or espeak-ng "
            "(apt-get install espeak-ng), or give WAV files"
        )
    return "espeak"


async def _espeak(text: str) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory(prefix="voxplug-say-") as tmp:
        out = Path(tmp) / "say.wav"
        proc = await asyncio.create_subprocess_exec(
            "espeak-ng", "-v", "en-us", "-s", "160", "-w", str(out), "--", text,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        if proc.returncode != 0 or not out.is_file():
            raise VoxplugError(f"simulate: espeak-ng failed for {text!r}: {err.decode(errors='replace').strip()}")
        return load_wav(out)


async def _local_tts(texts: Sequence[str]) -> dict[str, tuple[np.ndarray, int]]:
    engine = ProviderFactory.create_tts(TTSConfig(provider="local"))
    out: dict[str, tuple[np.ndarray, int]] = {}
    try:
        for text in texts:
            chunks: list[bytes] = []
            async with engine.synthesize(text) as stream:
                async for ev in stream:
                    chunks.append(bytes(ev.frame.data))
            pcm = np.frombuffer(b"".join(chunks), dtype=np.int16)
            if engine.num_channels > 1:
                pcm = pcm.reshape(-1, engine.num_channels).mean(axis=1).astype(np.int16)
            out[text] = (pcm, engine.sample_rate)
    finally:
        await engine.aclose()
    return out


async def prepare_turn_audio(turns: Sequence[Turn], engine: VoiceEngine = "auto") -> list[np.ndarray]:
    """16 kHz mono int16 speech for each turn, trimmed; errors name the turn's source."""
    texts = sorted({t.say for t in turns if t.say is not None})
    spoken: dict[str, tuple[np.ndarray, int]] = {}
    if texts:
        chosen = resolve_engine(engine)
        if chosen == "local":
            spoken = await _local_tts(texts)
        else:
            results = await asyncio.gather(*(_espeak(t) for t in texts))
            spoken = dict(zip(texts, results, strict=True))
    audio: list[np.ndarray] = []
    for i, turn in enumerate(turns):
        if turn.say is not None:
            pcm, rate = spoken[turn.say]
            audio.append(prepare_utterance(pcm, rate, source=f"turn {i + 1} (say {turn.say!r})"))
        else:
            assert turn.wav is not None
            pcm, rate = load_wav(turn.wav)
            audio.append(prepare_utterance(pcm, rate, source=str(turn.wav)))
    return audio
