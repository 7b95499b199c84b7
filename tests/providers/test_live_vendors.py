"""Real vendor APIs, one small request per catalog provider whose keys are in the environment.

Opt-in: each case runs only when every required credential of its catalog row is set in the
shell that starts pytest (CI has none: they are skipped, naming the missing variables).
Everything else about the providers is proven offline (test_catalog.py, test_wire*.py,
test_realtime.py). Run, for example::

    DEEPGRAM_API_KEY=... CARTESIA_API_KEY=... .venv/bin/pytest -m needs_keys tests/providers/test_live_vendors.py
"""

from __future__ import annotations

import asyncio
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import ChatContext
from livekit.agents import stt as lk_stt

from conftest import REAL_VENDOR_ENV
from voxplug import load_config
from voxplug.providers import ProviderFactory
from voxplug.providers.builder import Row, Vendor
from voxplug.providers.catalog import iter_rows

pytestmark = pytest.mark.needs_keys

ROWS = [(v, r) for v, r in iter_rows() if r.kind == "vendor" or r.kind == "preset"]
IDS = [f"{r.stage}-{v.provider_name(r)}" for v, r in ROWS]
TIMEOUT = 60.0


def _config_or_skip(vendor: Vendor, row: Row):  # type: ignore[no-untyped-def]
    creds = vendor.row_credentials(row)
    missing = [c.env[0] for c in creds if c.required and not any(REAL_VENDOR_ENV.get(e) for e in c.env)]
    # rows whose keys are all optional (AWS credential chain, Google ADC) run when one is set
    any_set = any(REAL_VENDOR_ENV.get(e) for c in creds for e in c.env)
    if missing or not any_set:
        pytest.skip(f"needs {', '.join(missing) or ' or '.join(c.env[0] for c in creds) or 'a credential'}")
    if not ProviderFactory.spec(row.stage, vendor.provider_name(row)).installed():
        pytest.skip(f"voxplug[{vendor.extra_name}] is not installed here")
    stage = "LLM" if row.stage == "realtime" else row.stage.upper()
    return load_config(env={**REAL_VENDOR_ENV, f"{stage}_PROVIDER": vendor.provider_name(row)})


def _speech(tmp: Path) -> list[rtc.AudioFrame]:
    wav = tmp / "hello.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "Hello, this is a test."], check=True)
    with wave.open(str(wav)) as w:
        rate, pcm = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), np.int16)
    pcm = np.concatenate([pcm, np.zeros(rate, np.int16)])  # a second of silence ends the turn
    step = rate // 50
    return [rtc.AudioFrame(pcm[i:i + step].tobytes(), rate, 1, step) for i in range(0, len(pcm) - step, step)]


@pytest.mark.parametrize(("vendor", "row"), ROWS, ids=IDS)
async def test_live_provider_answers(vendor: Vendor, row: Row, tmp_path: Path) -> None:
    config = _config_or_skip(vendor, row)
    if row.stage == "llm":
        ctx = ChatContext.empty()
        ctx.add_message(role="user", content="Reply with the single word: ready")
        text = ""
        async with ProviderFactory.create_llm(config.llm).chat(chat_ctx=ctx) as stream:
            async for chunk in stream:
                if chunk.delta and chunk.delta.content:
                    text += chunk.delta.content
        assert "ready" in text.lower()
    elif row.stage == "tts":
        samples = 0
        async with ProviderFactory.create_tts(config.tts).synthesize("Hello from voxplug.") as stream:
            async for ev in stream:
                samples += ev.frame.samples_per_channel
        assert samples > 0
    elif row.stage == "stt":
        model = ProviderFactory.create_stt(config.stt)
        frames = _speech(tmp_path)
        if model.capabilities.offline_recognize:
            event = await asyncio.wait_for(model.recognize(buffer=frames), TIMEOUT)
            text = event.alternatives[0].text
        else:
            stream = model.stream()
            for frame in frames:
                stream.push_frame(frame)
            stream.end_input()
            text = ""
            async for ev in stream:
                if ev.type == lk_stt.SpeechEventType.FINAL_TRANSCRIPT:
                    text = ev.alternatives[0].text
                    break
        assert "test" in text.lower() or "hello" in text.lower()
    else:
        model = ProviderFactory.create_realtime(config.llm)
        session = model.session()
        try:
            generation = await asyncio.wait_for(session.generate_reply(instructions="Say: ready"), TIMEOUT)
            assert generation.response_id
        finally:
            await session.aclose()
            await model.aclose()
