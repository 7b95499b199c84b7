"""A local HTTP server on 127.0.0.1 that speaks the OpenAI, Azure OpenAI and Anthropic wire
protocols, so the real vendor plugins built by the factory can be tested offline.

It records every request (path, query, headers, JSON body or multipart fields) and answers
with scripted replies: streamed chat completions (text or a tool call), transcriptions, PCM
speech, Anthropic streamed messages. ``fail_with`` makes it answer HTTP errors, ``hang``
never answer, ``stall`` send a chat stream's headers and then nothing (a stalled vendor).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .openai_realtime import RealtimeFake
from .streaming_vendors import StreamingFakes

__all__ = ["RecordedRequest", "VendorServer", "compatible_stages"]

PCM_RATE = 24000


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


def compatible_stages(url: str) -> dict[str, str]:
    """Env putting every stage on the openai-compatible provider at ``url``; tests change one."""
    return {
        "STT_PROVIDER": "openai-compatible", "LLM_PROVIDER": "openai-compatible",
        "TTS_PROVIDER": "openai-compatible", "OPENAI_BASE_URL": f"{url}/v1",
    }


def tone_pcm(seconds: float, rate: int = PCM_RATE, freq: float = 220.0) -> bytes:
    count = int(seconds * rate)
    return b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / rate))) for i in range(count)
    )


class VendorServer:
    """Scripted fake of several vendor APIs. Use as ``async with VendorServer() as srv``."""

    def __init__(
        self,
        *,
        reply: str = "Hello from the test server.",
        transcript: str = "what time is it",
        tool_call: tuple[str, dict[str, Any]] | None = None,
        fail_with: int | None = None,
        hang: bool = False,
        realtime_fail_code: str | None = None,
        stall: bool = False,
        first_chunk_delay: float = 0.0,
    ) -> None:
        self.reply = reply
        self.transcript = transcript
        # when set, the first chat request that offers this tool gets a call to it
        self.tool_call = tool_call
        self.fail_with = fail_with
        self.hang = hang
        self.stall = stall
        self.first_chunk_delay = first_chunk_delay  # seconds between the headers and the first chunk
        self.requests: list[RecordedRequest] = []
        # WebSocket vendors: OpenAI Realtime (see openai_realtime), Deepgram, ElevenLabs, Cartesia
        self.realtime = RealtimeFake(reply=reply, transcript=transcript, fail_code=realtime_fail_code)
        self.streams = StreamingFakes(transcript=transcript)
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------
    async def __aenter__(self) -> VendorServer:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paths(self, method: str = "POST") -> list[str]:
        return [r.path for r in self.requests if r.method == method]

    def find(self, suffix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith(suffix)]

    # -- routing ------------------------------------------------------------------------
    async def _record(self, request: web.Request) -> RecordedRequest:
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
        )
        if request.content_type == "application/json":
            rec.body = await request.json()
        elif request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()  # type: ignore[union-attr]
                if part.filename:  # type: ignore[union-attr]
                    rec.files[part.name or "file"] = bytes(data)  # type: ignore[union-attr]
                else:
                    rec.body[part.name or ""] = bytes(data).decode()  # type: ignore[union-attr]
        self.requests.append(rec)
        return rec

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if request.path.endswith("/realtime"):
                return await self.realtime.handle(request)
            return await self.streams.handle(request)
        rec = await self._record(request)
        if request.method == "GET" and rec.path.endswith("/models"):
            return web.json_response({"object": "list", "data": [{"id": "test-model", "object": "model"}]})
        if self.hang:  # until the server closes, so tear-down does not wait on it
            await self._closing.wait()
            return web.Response(status=503)
        if self.fail_with is not None:
            return web.json_response({"error": {"message": "scripted failure"}}, status=self.fail_with)
        if rec.path.endswith("/chat/completions"):
            return await self._chat(request, rec)
        if rec.path.endswith("/audio/transcriptions"):
            return web.json_response({"text": self.transcript})
        if rec.path.endswith("/audio/speech"):
            return self._speech(rec)
        if rec.path.endswith("/v1/messages"):
            return await self._anthropic(request, rec)
        return web.json_response({"error": {"message": f"no route {rec.path}"}}, status=404)

    # -- OpenAI chat completions (SSE) --------------------------------------------------
    def _wants_tool(self, body: dict[str, Any]) -> bool:
        if self.tool_call is None:
            return False
        offered = {t.get("function", {}).get("name") for t in body.get("tools") or []}
        if self.tool_call[0] not in offered:
            return False
        # only once per conversation: after the tool result comes back, answer with text
        return not any(m.get("role") == "tool" for m in body.get("messages", []))

    async def _chat(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        if self.stall:  # headers are out: the client waits for a first chunk that never comes
            await self._closing.wait()
            return resp
        await asyncio.sleep(self.first_chunk_delay)
        created = int(time.time())
        model = rec.body.get("model", "test-model")

        async def send(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> None:
            chunk: dict[str, Any] = {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if delta or finish else [],
            }
            if usage is not None:
                chunk["usage"] = usage
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())

        if self._wants_tool(rec.body):
            assert self.tool_call is not None
            name, args = self.tool_call
            await send({
                "role": "assistant",
                "tool_calls": [{
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }],
            })
            await send({}, finish="tool_calls")
        else:
            words = re.findall(r"\S+\s*", self.reply)
            await send({"role": "assistant", "content": ""})
            for word in words:
                await send({"content": word})
            await send({}, finish="stop")
        await send({}, usage={"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17})
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    # -- OpenAI speech ------------------------------------------------------------------
    def _speech(self, rec: RecordedRequest) -> web.Response:
        text = str(rec.body.get("input", ""))
        pcm = tone_pcm(min(0.06 * max(len(text), 5), 3.0))
        return web.Response(body=pcm, content_type="audio/pcm")

    # -- Anthropic messages (SSE) -------------------------------------------------------
    async def _anthropic(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        model = rec.body.get("model", "claude-test")

        async def event(name: str, data: dict[str, Any]) -> None:
            await resp.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

        await event("message_start", {
            "type": "message_start",
            "message": {
                "id": "msg_test", "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 1},
            },
        })
        await event("content_block_start", {
            "type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""},
        })
        for word in re.findall(r"\S+\s*", self.reply):
            await event("content_block_delta", {
                "type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word},
            })
        await event("content_block_stop", {"type": "content_block_stop", "index": 0})
        await event("message_delta", {
            "type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 5},
        })
        await event("message_stop", {"type": "message_stop"})
        await resp.write_eof()
        return resp
