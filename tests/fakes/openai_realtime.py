"""The OpenAI Realtime API's WebSocket events, enough for the real plugin in a real session.

Server side of ``wss://.../v1/realtime?model=...``: ``session.created`` on connect,
``session.updated`` for each ``session.update``, ``conversation.item.added`` for each item
the client creates, an energy VAD over ``input_audio_buffer.append`` (24 kHz PCM16) that
emits ``speech_started``/``speech_stopped``, commits a user item with a scripted transcript
and answers; ``response.create`` answers too. An answer is the real event sequence:
``response.created``, the output item, transcript deltas and PCM audio deltas (or text deltas
when the session asked for text only), ``response.done`` with usage.
``fail_code`` answers the first ``session.update`` with that error instead (e.g.
``invalid_api_key``, which the plugin treats as fatal).
"""

from __future__ import annotations

import base64
import json
import math
import re
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

__all__ = ["SPEECH_RMS", "RealtimeFake", "RealtimeRecord", "pcm16_rms"]

RATE = 24000
SPEECH_RMS = 500.0  # PCM16 amplitude: the test tone is ~6000, digital silence 0
SILENCE_TO_END = 0.5  # seconds of quiet that end the user's turn (server VAD)


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def pcm16_rms(pcm: bytes) -> float:
    """Loudness of little-endian PCM16 bytes (0 for digital silence)."""
    count = len(pcm) // 2
    if count == 0:
        return 0.0
    samples = struct.unpack(f"<{count}h", pcm[: count * 2])
    return math.sqrt(sum(s * s for s in samples) / count)


def _tone(seconds: float) -> bytes:
    count = int(seconds * RATE)
    return b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * 330 * i / RATE))) for i in range(count))


@dataclass
class RealtimeRecord:
    """What one connection received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    sessions: list[dict[str, Any]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    audio_bytes: int = 0
    responses: int = 0


class RealtimeFake:
    def __init__(self, *, reply: str, transcript: str, fail_code: str | None = None) -> None:
        self.reply = reply
        self.transcript = transcript
        self.fail_code = fail_code
        self.connections: list[RealtimeRecord] = []

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        rec = RealtimeRecord(request.path, dict(request.query), {k.lower(): v for k, v in request.headers.items()})
        self.connections.append(rec)
        conn = _Connection(self, ws, rec)
        await conn.send("session.created", session={"id": _id("sess"), "model": rec.query.get("model")})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            await conn.on_event(json.loads(msg.data))
        return ws


class _Connection:
    def __init__(self, fake: RealtimeFake, ws: web.WebSocketResponse, rec: RealtimeRecord) -> None:
        self.fake, self.ws, self.rec = fake, ws, rec
        self.session: dict[str, Any] = {}
        self.last_item: str | None = None
        self.speaking = False
        self.quiet = 0.0
        self.user_item: str | None = None

    async def send(self, type_: str, **payload: Any) -> None:
        if not self.ws.closed:
            await self.ws.send_json({"type": type_, "event_id": _id("event"), **payload})

    async def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type", "")
        self.rec.events.append(kind)
        if kind == "session.update":
            if self.fake.fail_code:
                await self.send("error", error={"type": "invalid_request_error", "code": self.fake.fail_code,
                                                "message": "scripted failure", "event_id": event.get("event_id")})
                return
            self.session.update(event.get("session") or {})
            self.rec.sessions.append(event.get("session") or {})
            await self.send("session.updated", session=self.session)
        elif kind == "conversation.item.create":
            item = dict(event["item"])
            item.setdefault("id", _id("item"))
            await self.send("conversation.item.added", item=item,
                            previous_item_id=event.get("previous_item_id") or self.last_item)
            self.last_item = item["id"]
        elif kind == "conversation.item.delete":
            await self.send("conversation.item.deleted", item_id=event["item_id"])
        elif kind == "input_audio_buffer.append":
            await self._audio(base64.b64decode(event["audio"]))
        elif kind == "response.create":
            metadata = (event.get("response") or {}).get("metadata")
            await self._respond(metadata)

    async def _audio(self, pcm: bytes) -> None:
        self.rec.audio_bytes += len(pcm)
        seconds = len(pcm) / 2 / RATE
        loud = pcm16_rms(pcm) > SPEECH_RMS
        if loud and not self.speaking:
            self.speaking, self.quiet = True, 0.0
            self.user_item = _id("item")
            await self.send("input_audio_buffer.speech_started", audio_start_ms=0, item_id=self.user_item)
        elif self.speaking:
            self.quiet = 0.0 if loud else self.quiet + seconds
            if self.quiet >= SILENCE_TO_END:
                await self._end_of_turn()

    async def _end_of_turn(self) -> None:
        self.speaking = False
        item_id = self.user_item or _id("item")
        await self.send("input_audio_buffer.speech_stopped", audio_end_ms=0, item_id=item_id)
        await self.send("input_audio_buffer.committed", item_id=item_id, previous_item_id=self.last_item)
        item = {"id": item_id, "object": "realtime.item", "type": "message", "role": "user", "status": "completed",
                "content": [{"type": "input_audio", "transcript": None}]}
        await self.send("conversation.item.added", item=item, previous_item_id=self.last_item)
        self.last_item = item_id
        await self.send("conversation.item.input_audio_transcription.completed", item_id=item_id,
                        content_index=0, transcript=self.fake.transcript)
        await self._respond(None)

    async def _respond(self, metadata: Any) -> None:
        self.rec.responses += 1
        text_only = self.session.get("output_modalities") == ["text"]
        response_id, item_id = _id("resp"), _id("item")
        response = {"id": response_id, "object": "realtime.response", "status": "in_progress", "output": [],
                    "metadata": metadata}
        await self.send("response.created", response=response)
        item = {"id": item_id, "object": "realtime.item", "type": "message", "role": "assistant",
                "status": "in_progress", "content": []}
        await self.send("response.output_item.added", response_id=response_id, output_index=0, item=item)
        await self.send("conversation.item.added", item=item, previous_item_id=self.last_item)
        self.last_item = item_id
        where = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        reply = self.fake.reply
        part_type = "text" if text_only else "audio"
        await self.send("response.content_part.added", **where, part={"type": part_type, "transcript": ""})
        for word in re.findall(r"\S+\s*", reply):
            kind = "response.output_text.delta" if text_only else "response.output_audio_transcript.delta"
            await self.send(kind, **where, delta=word)
        if text_only:
            await self.send("response.output_text.done", **where, text=reply)
            content = {"type": "output_text", "text": reply}
        else:
            pcm = _tone(min(0.05 * len(reply), 2.0))
            step = RATE // 10 * 2  # 100 ms chunks
            for start in range(0, len(pcm), step):
                await self.send("response.output_audio.delta", **where,
                                delta=base64.b64encode(pcm[start:start + step]).decode())
            await self.send("response.output_audio.done", **where)
            await self.send("response.output_audio_transcript.done", **where, transcript=reply)
            content = {"type": "output_audio", "transcript": reply}
        await self.send("response.content_part.done", **where, part=content)
        done_item = {**item, "status": "completed", "content": [content]}
        await self.send("response.output_item.done", response_id=response_id, output_index=0, item=done_item)
        usage = {"total_tokens": 30, "input_tokens": 18, "output_tokens": 12,
                 "input_token_details": {"text_tokens": 10, "audio_tokens": 8, "cached_tokens": 0},
                 "output_token_details": {"text_tokens": 4, "audio_tokens": 8}}
        await self.send("response.done", response={**response, "status": "completed", "output": [done_item],
                                                   "usage": usage})
