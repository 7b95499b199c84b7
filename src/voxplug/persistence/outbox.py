"""The durable local outbox: an SQLite file of events not yet written or delivered.

Two channels: ``db`` holds events the database could not take (down, slow, queue full) and
``backend`` holds every event until the webhook receiver acknowledged it. A third, ``dead``,
keeps events the backend rejected as malformed (never silently dropped).

All access goes through one worker thread per outbox: operations run strictly in the order
they were submitted, which is what keeps the backend's events in order, and the event loop
never waits on disk. Several processes may share the file (WAL, busy timeout); only the one
holding :class:`LeaderLock` replays and delivers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .events import StoreEvent

__all__ = ["CHANNELS", "LeaderLock", "Outbox", "OutboxItem"]

CHANNELS = ("db", "backend", "dead")
R = TypeVar("R")

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS ix_outbox_channel_id ON outbox (channel, id);
"""


@dataclass(frozen=True)
class OutboxItem:
    id: int
    channel: str
    event: StoreEvent
    attempts: int
    last_error: str | None


class Outbox:
    """Append, peek in order, delete. Sync methods run on the worker thread via ``run``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # one thread: FIFO execution is the ordering guarantee, not just a convenience
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="voxplug-outbox")
        self._local = threading.local()
        self._closed = False

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a committed append survives kill -9 of this process
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(SCHEMA)
            self._local.conn = conn
        return conn

    # -- ordered execution -------------------------------------------------------------------
    def submit(self, fn: Callable[..., R], *args: Any) -> concurrent.futures.Future[R]:
        """Queue ``fn`` on the outbox thread without waiting (safe from the event loop)."""
        return self._executor.submit(fn, *args)

    async def run(self, fn: Callable[..., R], *args: Any) -> R:
        return await asyncio.wrap_future(self.submit(fn, *args))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def shut() -> None:
            conn = getattr(self._local, "conn", None)
            if conn is not None:
                conn.close()
                self._local.conn = None

        try:
            self._executor.submit(shut).result(timeout=30)
        finally:
            self._executor.shutdown(wait=True)

    # -- sync operations (outbox thread, or any thread in tools and tests) --------------------
    def append(self, channel: str, events: Iterable[StoreEvent]) -> int:
        rows = [(channel, ev.key, ev.to_json(), time.time()) for ev in events]
        if not rows:
            return 0
        conn = self._conn()
        with _transaction(conn):
            conn.executemany("INSERT INTO outbox (channel, key, body, created_at) VALUES (?, ?, ?, ?)", rows)
        return len(rows)

    def append_many(self, batches: Sequence[tuple[str, Sequence[StoreEvent]]]) -> None:
        """Several channels in one transaction: both copies of an event land, or neither."""
        conn = self._conn()
        now = time.time()
        with _transaction(conn):
            for channel, events in batches:
                conn.executemany(
                    "INSERT INTO outbox (channel, key, body, created_at) VALUES (?, ?, ?, ?)",
                    [(channel, ev.key, ev.to_json(), now) for ev in events],
                )

    def peek(self, channel: str, limit: int = 100) -> list[OutboxItem]:
        cur = self._conn().execute(
            "SELECT id, channel, body, attempts, last_error FROM outbox WHERE channel = ? ORDER BY id LIMIT ?",
            (channel, limit),
        )
        return [
            OutboxItem(id=r[0], channel=r[1], event=StoreEvent.from_json(r[2]), attempts=r[3], last_error=r[4])
            for r in cur.fetchall()
        ]

    def delete(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        conn = self._conn()
        with _transaction(conn):
            conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    def record_failure(self, item_id: int, error: str) -> None:
        self._conn().execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?", (error[:500], item_id)
        )

    def move(self, item_id: int, channel: str, error: str | None = None) -> None:
        self._conn().execute(
            "UPDATE outbox SET channel = ?, last_error = COALESCE(?, last_error) WHERE id = ?",
            (channel, error, item_id),
        )

    def requeue_dead(self) -> int:
        """Give dead-lettered events another delivery attempt (appended at the end, in order)."""
        conn = self._conn()
        with _transaction(conn):
            cur = conn.execute(
                "INSERT INTO outbox (channel, key, body, created_at) "
                "SELECT 'backend', key, body, created_at FROM outbox WHERE channel = 'dead' ORDER BY id"
            )
            conn.execute("DELETE FROM outbox WHERE channel = 'dead'")
        return cur.rowcount

    def counts(self) -> dict[str, int]:
        cur = self._conn().execute("SELECT channel, COUNT(*) FROM outbox GROUP BY channel")
        found = dict(cur.fetchall())
        return {channel: int(found.get(channel, 0)) for channel in CHANNELS}


class _transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        # IMMEDIATE: take the write lock up front, so a busy file waits instead of failing
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


class LeaderLock:
    """An exclusive ``flock`` next to the outbox: one process replays and delivers at a time.

    The kernel drops the lock when its holder dies (kill -9 included), so another process
    takes over without any stale-lease clean-up.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(str(path) + ".lock")
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None and self._fd >= 0:
            os.close(self._fd)  # closing the descriptor releases the flock
        self._fd = None
