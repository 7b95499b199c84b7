"""A tiny reference receiver for the backend webhook (FastAPI). It shows the contract:

1. verify the HMAC signature over ``"{timestamp}.{raw body}"`` and the timestamp's freshness,
   and answer 401 otherwise;
2. store the event under its ``Idempotency-Key``: a key seen before is acknowledged (200,
   ``"duplicate": true``) and not stored again;
3. acknowledge with 2xx only after the event is stored (the sender retries anything else).

Run it::

    BACKEND_SECRET=... python -m voxplug.persistence.receiver --port 8900 --db events.db

and point voxplug at it with ``BACKEND_URL=http://127.0.0.1:8900/events``. Needs
``fastapi`` and ``uvicorn`` (``pip install 'voxplug[receiver]'``).
"""

# no `from __future__ import annotations` here: FastAPI reads the handlers' annotations at
# run time, and `Request` is imported inside create_app (fastapi is an optional extra)
import argparse
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ..signing import DEFAULT_TOLERANCE, verify
from .webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER

__all__ = ["ReceiverStore", "create_app", "main"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    session_id TEXT,
    seq INTEGER,
    type TEXT,
    body TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class ReceiverStore:
    """Events in arrival order, deduplicated by key; counts every delivery and rejection."""

    def __init__(self, path: str | Path) -> None:
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(SCHEMA)
        self._lock = threading.Lock()

    def _bump(self, name: str) -> None:
        self._conn.execute(
            "INSERT INTO counters (name, value) VALUES (?, 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1", (name,)
        )

    def add(self, key: str, payload: dict[str, Any], body: bytes) -> bool:
        """Store the event; True if the key was already there (a duplicate delivery)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._bump("deliveries")
                cur = self._conn.execute(
                    "INSERT OR IGNORE INTO events (key, session_id, seq, type, body, received_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (key, payload.get("session_id"), payload.get("seq"), payload.get("type"),
                     body.decode(), time.time()),
                )
                duplicate = cur.rowcount == 0
                if duplicate:
                    self._bump("duplicates")
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return duplicate

    def reject(self) -> None:
        with self._lock:
            self._bump("rejected")

    def events(self, session_id: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT body FROM events"
        params: tuple[Any, ...] = ()
        if session_id:
            query += " WHERE session_id = ?"
            params = (session_id,)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY position", params).fetchall()
        return [json.loads(r[0]) for r in rows]

    def stats(self) -> dict[str, int]:
        with self._lock:
            counters = dict(self._conn.execute("SELECT name, value FROM counters").fetchall())
            stored = self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        return {
            "stored": int(stored),
            "deliveries": int(counters.get("deliveries", 0)),
            "duplicates": int(counters.get("duplicates", 0)),
            "rejected": int(counters.get("rejected", 0)),
        }


def create_app(
    secret: str,
    db_path: str | Path,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    lose_first_acks: int = 0,
) -> Any:
    """The FastAPI app. ``lose_first_acks``: store the first N events but answer 503, as if the
    acknowledgement were lost on the way back (a test aid for duplicate deliveries)."""
    # the `receiver` extra: a reference server, never needed by the agent itself
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    store = ReceiverStore(db_path)
    app = FastAPI(title="voxplug reference webhook receiver")
    app.state.store = store
    lost = {"left": lose_first_acks}

    @app.post("/events")
    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        headers = request.headers
        if not verify(
            secret, body, headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER), tolerance=tolerance
        ):
            store.reject()
            return JSONResponse({"error": "invalid or stale signature"}, status_code=401)
        key = headers.get(IDEMPOTENCY_HEADER)
        try:
            payload = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        if not key or not isinstance(payload, dict) or payload.get("id") != key:
            return JSONResponse({"error": "Idempotency-Key missing or not the event id"}, status_code=400)
        duplicate = store.add(key, payload, body)
        if lost["left"] > 0:
            lost["left"] -= 1
            return JSONResponse({"error": "acknowledgement lost (test aid)"}, status_code=503)
        return JSONResponse({"ok": True, "duplicate": duplicate})

    @app.get("/events")
    async def list_events(session_id: str | None = None) -> JSONResponse:
        return JSONResponse(store.events(session_id))

    @app.get("/stats")
    async def stats() -> JSONResponse:
        return JSONResponse(store.stats())

    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse({"ok": True})

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voxplug.persistence.receiver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--db", default="webhook-events.db", help="SQLite file for received events")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, help="max signature age (s)")
    parser.add_argument("--lose-first-acks", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # the secret comes from the environment only: a command line is visible to every user (ps)
    secret = os.environ.get("BACKEND_SECRET")
    if not secret:
        parser.error("set BACKEND_SECRET to the secret shared with voxplug")
    import uvicorn  # the `receiver` extra, as above

    app = create_app(secret, args.db, tolerance=args.tolerance, lose_first_acks=args.lose_first_acks)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
