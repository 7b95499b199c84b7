"""A phone network on loopback: Redis, a LiveKit server sharing it, the LiveKit SIP service,
and PJSIP phones (``voxplug.telephony.softphone``) that dial in and answer."""

from __future__ import annotations

import asyncio
import difflib
import re
import subprocess
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from livekit import rtc

from voxplug.room.devserver import LiveKitServer, RedisServer, run_livekit_server, run_redis
from voxplug.telephony.devserver import SipService, run_livekit_sip
from voxplug.telephony.softphone import Softphone


@dataclass
class PhoneNetwork:
    redis: RedisServer
    livekit: LiveKitServer
    sip: SipService
    phone: Softphone
    workdir: Path


@pytest.fixture(scope="session")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhoneNetwork]:
    workdir = tmp_path_factory.mktemp("sip")
    with (
        run_redis(workdir) as redis,
        run_livekit_server(workdir, redis=redis.address) as livekit,
        run_livekit_sip(workdir, livekit=livekit, redis=redis.address) as sip,
        Softphone(log_file=workdir / "softphone.log") as phone,
    ):
        yield PhoneNetwork(redis, livekit, sip, phone, workdir)


@pytest.fixture(scope="session")
def whisper() -> Any:
    """The local Whisper base model, loaded once: it transcribes what the phones hear (pinned:
    the default for English, tiny.en, is the agent's; a fresh-clone run heard the agent's
    greeting through the phone as "Thank you for calling the test will up you today." with it)."""
    from voxplug.config.models import STTConfig
    from voxplug.local.whisper import create_stt

    stt = create_stt(STTConfig(provider="local", model="base"))
    stt.load()
    return stt


def transcribe(whisper: Any, samples: np.ndarray, rate: int) -> str:
    frame = rtc.AudioFrame(samples.astype(np.int16).tobytes(), rate, 1, len(samples))
    event = asyncio.run(whisper.recognize(buffer=[frame]))
    return str(event.alternatives[0].text) if event.alternatives else ""


def words(text: str) -> list[str]:
    return [w for w in re.sub(r"[^a-z0-9' ]", " ", text.lower()).split() if w]


def word_recall(reference: str, heard: str) -> float:
    """Share of the reference's words found, in order, in what was heard."""
    ref, hyp = words(reference), words(heard)
    if not ref:
        return 1.0
    matcher = difflib.SequenceMatcher(a=ref, b=hyp, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / len(ref)


def speech(directory: Path, text: str) -> tuple[np.ndarray, int]:
    """``text`` spoken by espeak-ng: mono int16 samples and the rate."""
    path = directory / f"{abs(hash(text))}.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16), w.getframerate()
