"""The clinic's backend for the appointment example: a REST endpoint and an MCP server.

    python examples/appointments/server.py --port 8787          # HTTP: REST + MCP at /mcp (and /sse)
    python examples/appointments/server.py --stdio              # MCP over stdio only

REST (the ``check_availability`` HTTP tool): ``GET /v1/availability/{day}?service=...``
answers ``{"day": ..., "slots": [...], "message": "..."}``. When ``APPOINTMENTS_TOKEN`` is
set it requires ``Authorization: Bearer <token>``; when ``APPOINTMENTS_SIGNING_SECRET`` is
set it checks voxplug's HMAC signature (``X-Voxplug-Signature``, ``X-Voxplug-Timestamp``).

MCP (the ``calendar`` server): ``book_appointment(day, time, name)`` and ``list_services()``.

``--log FILE`` appends one JSON line per request or tool call (what the tests read);
``--delay SECONDS`` makes the availability answer slow (the agent's "one moment" message).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
SLOTS = {day: [f"{9 + (i + j) % 7}:{'00' if j % 2 == 0 else '30'}" for j in range(3)] for i, day in enumerate(DAYS)}


class Backend:
    def __init__(self, log: Path | None, delay: float) -> None:
        self.log = log
        self.delay = delay
        self.token = os.environ.get("APPOINTMENTS_TOKEN")
        self.secret = os.environ.get("APPOINTMENTS_SIGNING_SECRET")

    def signed(self, request: Request, target: str) -> bool | None:
        """voxplug's signature (docs/tools-and-agents.md): ``v1=`` + hex HMAC-SHA256 of
        ``"{timestamp}.{payload}"``; a GET has no body, so the payload is the request target.
        None when no secret is configured. (A backend checks it with a few lines of any language.)"""
        if not self.secret:
            return None
        timestamp = request.headers.get("x-voxplug-timestamp", "")
        signature = request.headers.get("x-voxplug-signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return False  # missing, or too old: a replay
        mac = hmac.new(self.secret.encode(), f"{timestamp}.{target}".encode(), hashlib.sha256).hexdigest()
        return any(hmac.compare_digest(f"v1={mac}", part.strip()) for part in signature.split(","))

    def record(self, kind: str, **fields: Any) -> None:
        if self.log is not None:
            with self.log.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"kind": kind, "at": time.time(), **fields}) + "\n")

    async def availability(self, request: Request) -> JSONResponse:
        day = request.path_params["day"].lower()
        # the request target exactly as sent (still percent-encoded): what voxplug signed
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string") or b""
        target = (raw_path + (b"?" + query if query else b"")).decode("latin-1")
        signed = self.signed(request, target)
        self.record("availability", day=day, query=dict(request.query_params), target=target,
                    authorized=request.headers.get("authorization") == f"Bearer {self.token}" if self.token else None,
                    signed=signed)
        if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if self.secret and not signed:
            return JSONResponse({"error": "bad signature"}, status_code=401)
        if self.delay:
            await asyncio.sleep(self.delay)
        slots = SLOTS.get(day)
        if slots is None:
            return JSONResponse({"day": day, "slots": [], "message": f"The clinic is closed on {day}."})
        return JSONResponse({"day": day, "slots": slots,
                             "message": f"On {day.capitalize()} we have {', '.join(slots[:-1])} and {slots[-1]} free."})


def build(backend: Backend) -> MCPServer:
    server = MCPServer("clinic-calendar", instructions="Books appointments at the clinic.")

    @server.tool()
    def book_appointment(day: str, time: str, name: str) -> str:
        """Book an appointment on a weekday at a time for a patient; returns a confirmation code."""
        code = hashlib.sha256(f"{day}|{time}|{name}".lower().encode()).hexdigest()[:6].upper()
        backend.record("book_appointment", day=day, time=time, name=name, code=code)
        if day.lower() not in DAYS:
            raise ValueError(f"the clinic is closed on {day}")
        return f"Booked {name} on {day.capitalize()} at {time}. The confirmation code is {code}."

    @server.tool()
    def list_services() -> str:
        """The services the clinic offers."""
        backend.record("list_services")
        return "Check-ups, vaccinations and blood tests."

    @server.custom_route("/v1/availability/{day}", methods=["GET"])
    async def availability(request: Request) -> JSONResponse:
        return await backend.availability(request)

    @server.custom_route("/health", methods=["GET"])
    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--stdio", action="store_true", help="serve MCP over stdin/stdout only")
    parser.add_argument("--sse", action="store_true", help="serve MCP over SSE (/sse) instead of /mcp")
    parser.add_argument("--log", type=Path, help="append one JSON line per request here")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before availability answers")
    args = parser.parse_args(argv)
    server = build(Backend(args.log, args.delay))
    if args.stdio:
        server.run("stdio")
    elif args.sse:
        server.run("sse", host="127.0.0.1", port=args.port)
    else:
        server.run("streamable-http", host="127.0.0.1", port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
