"""Wire level, WebSocket vendors: the real Deepgram, ElevenLabs and Cartesia plugins, built by
the factory from env config, stream to local fakes on 127.0.0.1 (tests/fakes/streaming_vendors.py)
and get a transcript or audio back; the configured model, voice, language and key are
asserted on the wire."""

from __future__ import annotations

import asyncio

import numpy as np
from livekit import rtc
from livekit.agents import stt as lk_stt

from fakes.vendor_server import VendorServer, compatible_stages
from voxplug import load_config
from voxplug.providers import ProviderFactory

SECRET = "dg-wire-secret-0123456789"
TIMEOUT = 60.0  # generous: the machine may be loaded


def frames(seconds: float, *, loud: bool, rate: int = 16000, step: float = 0.02) -> list[rtc.AudioFrame]:
    per = int(rate * step)
    out = []
    for i in range(int(seconds / step)):
        t = (np.arange(per) + i * per) / rate
        samples = (np.sin(2 * np.pi * 300 * t) * 6000).astype(np.int16) if loud else np.zeros(per, np.int16)
        out.append(rtc.AudioFrame(samples.tobytes(), rate, 1, per))
    return out


async def stream_tts(tts: object, text: str) -> int:
    samples = 0
    stream = tts.stream()  # type: ignore[attr-defined]
    stream.push_text(text)
    stream.end_input()
    async with stream:
        async for ev in stream:
            samples += ev.frame.samples_per_channel
    return samples


async def test_deepgram_stt_streams_audio_and_gets_the_transcript() -> None:
    async with VendorServer(transcript="book a table for two") as srv:
        env = {**compatible_stages(srv.url), "STT_PROVIDER": "deepgram", "DEEPGRAM_API_KEY": SECRET,
               "DEEPGRAM_BASE_URL": f"{srv.url}/v1/listen", "STT_MODEL": "nova-3", "STT_LANGUAGE": "en-US"}
        stt = ProviderFactory.create_stt(load_config(env=env).stt)
        stream = stt.stream()

        async def feed() -> None:
            for frame in frames(0.8, loud=True) + frames(0.8, loud=False):
                stream.push_frame(frame)
                await asyncio.sleep(0.005)
            stream.end_input()

        async def first_final() -> str:
            async for ev in stream:
                if ev.type == lk_stt.SpeechEventType.FINAL_TRANSCRIPT:
                    return ev.alternatives[0].text
            return ""

        feeder = asyncio.create_task(feed())
        text = await asyncio.wait_for(first_final(), TIMEOUT)
        await feeder
        await stream.aclose()
        await stt.aclose()
    assert text == "book a table for two"
    conn = srv.streams.of("deepgram-stt")[0]
    assert conn.path == "/v1/listen"
    assert conn.query["model"] == "nova-3" and conn.query["language"] == "en-US"
    assert conn.headers["authorization"] == f"Token {SECRET}"
    assert conn.audio_bytes >= 16000  # at least half a second of 16 kHz PCM16 reached the server


async def test_deepgram_tts_streams_text_and_gets_audio() -> None:
    async with VendorServer() as srv:
        env = {**compatible_stages(srv.url), "TTS_PROVIDER": "deepgram", "DEEPGRAM_API_KEY": SECRET,
               "DEEPGRAM_BASE_URL": f"{srv.url}/v1/speak", "TTS_VOICE": "aura-2-asteria-en"}
        tts = ProviderFactory.create_tts(load_config(env=env).tts)
        samples = await asyncio.wait_for(stream_tts(tts, "Hello there, your table is booked."), TIMEOUT)
        await tts.aclose()
    conn = srv.streams.of("deepgram-tts")[0]
    assert conn.query["model"] == "aura-2-asteria-en"  # the voice is Deepgram's model name
    assert conn.headers["authorization"] == f"Token {SECRET}"
    spoken = "".join(m.get("text", "") for m in conn.messages if m.get("type") == "Speak")
    assert "table is booked" in spoken
    assert samples > 0 and samples * 2 <= conn.audio_sent  # what played is what the server sent


async def test_elevenlabs_tts_streams_over_its_multi_context_websocket() -> None:
    async with VendorServer() as srv:
        env = {**compatible_stages(srv.url), "TTS_PROVIDER": "elevenlabs", "ELEVEN_API_KEY": SECRET,
               "ELEVENLABS_BASE_URL": f"{srv.url}/v1", "TTS_VOICE": "voice-abc123", "TTS_MODEL": "eleven_flash_v2_5",
               "TTS_LANGUAGE": "en", "VOXPLUG_TTS__OPTIONS": "{encoding: pcm_24000}"}
        tts = ProviderFactory.create_tts(load_config(env=env).tts)
        samples = await asyncio.wait_for(stream_tts(tts, "Hello there, your table is booked."), TIMEOUT)
        await tts.aclose()
    conn = srv.streams.of("elevenlabs")[0]
    assert conn.path == "/v1/text-to-speech/voice-abc123/multi-stream-input"
    assert conn.query["model_id"] == "eleven_flash_v2_5" and conn.query["language_code"] == "en"
    assert conn.headers["xi-api-key"] == SECRET
    assert "table is booked" in "".join(m.get("text", "") for m in conn.messages)
    assert samples > 0


async def test_cartesia_tts_streams_over_its_websocket() -> None:
    async with VendorServer() as srv:
        env = {**compatible_stages(srv.url), "TTS_PROVIDER": "cartesia", "CARTESIA_API_KEY": SECRET,
               "CARTESIA_BASE_URL": srv.url, "TTS_VOICE": "voice-uuid-1", "TTS_MODEL": "sonic-2",
               "TTS_LANGUAGE": "en"}
        tts = ProviderFactory.create_tts(load_config(env=env).tts)
        samples = await asyncio.wait_for(stream_tts(tts, "Hello there, your table is booked."), TIMEOUT)
        await tts.aclose()
    conn = srv.streams.of("cartesia")[0]
    assert conn.path == "/tts/websocket"
    assert conn.headers["x-api-key"] == SECRET
    packet = next(m for m in conn.messages if m.get("transcript", "").strip())
    assert packet["model_id"] == "sonic-2" and packet["language"] == "en"
    assert packet["voice"]["id"] == "voice-uuid-1"
    assert samples > 0
