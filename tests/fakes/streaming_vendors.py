"""WebSocket protocols of Deepgram (STT ``/v1/listen``, TTS ``/v1/speak``), ElevenLabs
(``/v1/text-to-speech/{voice}/multi-stream-input``) and Cartesia (``/tts/websocket``): enough
of each for the real plugin to stream a transcript or audio back.

Every connection is recorded (path, query, headers, JSON messages received, audio bytes), so
a test asserts that the configured model, voice, language and key went over the wire.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .openai_realtime import SPEECH_RMS, pcm16_rms

__all__ = ["StreamRecord", "StreamingFakes"]

STT_RATE = 16000
QUIET_TO_FINAL = 0.3  # seconds of silence after speech: Deepgram's endpoint (speech_final)


def _tone(seconds: float, rate: int) -> bytes:
    count = int(seconds * rate)
    return b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * 260 * i / rate))) for i in range(count))


@dataclass
class StreamRecord:
    vendor: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    messages: list[dict[str, Any]] = field(default_factory=list)
    audio_bytes: int = 0
    audio_sent: int = 0


class StreamingFakes:
    def __init__(self, *, transcript: str) -> None:
        self.transcript = transcript
        self.connections: list[StreamRecord] = []

    def of(self, vendor: str) -> list[StreamRecord]:
        return [c for c in self.connections if c.vendor == vendor]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.endswith("/listen"):
            vendor, run = "deepgram-stt", self._deepgram_stt
        elif path.endswith("/speak"):
            vendor, run = "deepgram-tts", self._deepgram_tts
        elif path.endswith("stream-input"):
            vendor, run = "elevenlabs", self._elevenlabs
        elif path.endswith("/tts/websocket"):
            vendor, run = "cartesia", self._cartesia
        else:
            return web.json_response({"error": f"no websocket route {path}"}, status=404)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        rec = StreamRecord(vendor, path, dict(request.query), {k.lower(): v for k, v in request.headers.items()})
        self.connections.append(rec)
        await run(ws, rec)
        return ws

    # -- Deepgram STT: binary PCM in, Results out ------------------------------------------
    async def _deepgram_stt(self, ws: web.WebSocketResponse, rec: StreamRecord) -> None:
        rate = int(rec.query.get("sample_rate", STT_RATE))
        speaking, quiet, heard = False, 0.0, 0.0

        async def final() -> None:
            words = self.transcript.split()
            step = max(heard, 0.1) / max(len(words), 1)
            await ws.send_json({
                "type": "Results", "is_final": True, "speech_final": True, "start": 0.0, "duration": heard,
                "metadata": {"request_id": "dg-fake-request"},
                "channel": {"alternatives": [{
                    "transcript": self.transcript, "confidence": 0.98,
                    "words": [{"word": w, "punctuated_word": w, "start": i * step, "end": (i + 1) * step,
                               "confidence": 0.98} for i, w in enumerate(words)],
                }]},
            })

        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                rec.audio_bytes += len(msg.data)
                seconds = len(msg.data) / 2 / rate
                loud = pcm16_rms(msg.data) > SPEECH_RMS
                if loud and not speaking:
                    speaking, quiet, heard = True, 0.0, 0.0
                    await ws.send_json({"type": "SpeechStarted", "channel": [0], "timestamp": 0.0})
                if speaking:
                    heard += seconds
                    quiet = 0.0 if loud else quiet + seconds
                    if quiet >= QUIET_TO_FINAL:
                        speaking = False
                        await final()
            elif msg.type == WSMsgType.TEXT:
                data = json.loads(msg.data)
                rec.messages.append(data)
                if data.get("type") == "Finalize" and speaking:
                    speaking = False
                    await final()
                elif data.get("type") == "CloseStream":
                    await ws.close()

    # -- Deepgram TTS: Speak/Flush in, PCM + Flushed out -----------------------------------
    async def _deepgram_tts(self, ws: web.WebSocketResponse, rec: StreamRecord) -> None:
        rate = int(rec.query.get("sample_rate", 24000))
        text = ""
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            rec.messages.append(data)
            if data.get("type") == "Speak":
                text += data.get("text", "")
            elif data.get("type") == "Flush":
                pcm = _tone(min(0.05 * max(len(text), 4), 2.0), rate)
                rec.audio_sent += len(pcm)
                await ws.send_bytes(pcm)
                await ws.send_json({"type": "Flushed", "sequence_id": 0})
                text = ""
            elif data.get("type") == "Close":
                await ws.close()

    # -- ElevenLabs multi-context input: text in, base64 audio + isFinal out ---------------
    async def _elevenlabs(self, ws: web.WebSocketResponse, rec: StreamRecord) -> None:
        rate = int(rec.query.get("output_format", "pcm_24000").split("_")[-1])
        pending: dict[str, str] = {}
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            rec.messages.append(data)
            context = data.get("context_id", "")
            pending[context] = pending.get(context, "") + data.get("text", "")
            if data.get("flush") or data.get("close_context"):
                text = pending.pop(context, "").strip()
                if text:
                    pcm = _tone(min(0.05 * len(text), 2.0), rate)
                    rec.audio_sent += len(pcm)
                    await ws.send_json({"audio": base64.b64encode(pcm).decode(), "contextId": context})
            if data.get("close_context"):
                await ws.send_json({"isFinal": True, "contextId": context})

    # -- Cartesia: transcript packets in, chunk + done out ---------------------------------
    async def _cartesia(self, ws: web.WebSocketResponse, rec: StreamRecord) -> None:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            rec.messages.append(data)
            context = data.get("context_id")
            rate = int((data.get("output_format") or {}).get("sample_rate", 24000))
            text = data.get("transcript", "").strip()
            if text:
                pcm = _tone(min(0.05 * len(text), 2.0), rate)
                rec.audio_sent += len(pcm)
                await ws.send_json({"type": "chunk", "context_id": context, "done": False,
                                    "data": base64.b64encode(pcm).decode()})
            if data.get("continue") is False:
                await ws.send_json({"type": "done", "context_id": context, "done": True})
