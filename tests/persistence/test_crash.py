"""kill -9 of a worker after N completed turns: those N turns are in the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from voxplug.config.persistence import PersistenceConfig
from voxplug.persistence.database import Database

from .conftest import create_pg_database

DRIVER = Path(__file__).with_name("driver.py")
KILL_AFTER = 4


WATCHDOG = 300.0  # a hung driver is killed (and the test fails) instead of hanging CI


def start_driver(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(DRIVER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})},
    )
    timer = threading.Timer(WATCHDOG, proc.kill)
    timer.daemon = True
    timer.start()
    return proc


def read_until(proc: subprocess.Popen[str], prefix: str) -> list[str]:
    """Lines up to and including the first that starts with ``prefix`` (no timing assumptions:
    the process's own timeouts end it if it hangs)."""
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line.strip())
        if line.startswith(prefix):
            return lines
    err = proc.stderr.read() if proc.stderr else ""
    raise AssertionError(f"driver ended before {prefix!r}: {lines}\n{err[-3000:]}")


def kill9(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_kill_9_after_n_turns_keeps_them(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    data = tmp_path / "data"
    config = PersistenceConfig(data_dir=data)
    args = ["--data-dir", str(data), "--turns", "1000"]
    if kind == "postgres":
        url = await create_pg_database(request.getfixturevalue("postgres"))
        db = Database(url)
        await db.upgrade()
        await db.dispose()
        config = PersistenceConfig(data_dir=data, database_url=SecretStr(url))
        args += ["--database-url", url]

    proc = start_driver(*args)
    try:
        lines = read_until(proc, f"persisted {KILL_AFTER}")
    finally:
        # killed right after the acknowledgement, while the next turn is already under way
        kill9(proc)
    session_id = lines[0].split()[1]

    db = Database(config.url())
    try:
        detail = await db.get_session(session_id)
    finally:
        await db.dispose()
    users = [t for t in detail.turns if t["role"] == "user"]
    replies = [t for t in detail.turns if t["role"] == "assistant"]
    print(
        f"\n[kill -9 {kind}] acknowledged turns: {KILL_AFTER}; in database: {len(users)} user messages, "
        f"{len(replies)} replies, {len(detail.tool_calls)} tool calls; session status {detail.session['status']}"
    )
    assert len(replies) >= KILL_AFTER
    expected = ["where is my order?" if i % 3 == 0 else f"turn {i}" for i in range(1, KILL_AFTER + 1)]
    assert [t["text"] for t in users[:KILL_AFTER]] == expected
    assert all(r["text"] for r in replies[:KILL_AFTER])
    assert detail.session["status"] == "active"  # it never closed: the record says so honestly


async def test_outbox_survives_kill_9_and_is_delivered_by_the_next_process(
    tmp_path: Path, receiver_factory: Any
) -> None:
    """Backend down, worker killed: its undelivered events wait on disk; the next process
    (`voxplug db flush`) delivers every one of them, in order, once the backend is back."""
    from .conftest import SECRET

    receiver = receiver_factory()  # not started: the backend is down
    data = tmp_path / "data"
    proc = start_driver(
        "--data-dir", str(data), "--turns", "1000", "--backend-url", receiver.url, env={"BACKEND_SECRET": SECRET}
    )
    try:
        lines = read_until(proc, "persisted 3")
    finally:
        kill9(proc)
    session_id = lines[0].split()[1]

    receiver.start()
    config_file = tmp_path / "voxplug.yaml"
    config_file.write_text(
        f"persistence:\n  data_dir: {data}\n  backend:\n    url: {receiver.url}\n"
        "    initial_backoff: 0.1\n    max_backoff: 0.5\n"
    )
    # a new process, as after a restart: `voxplug db flush`
    flush = subprocess.run(
        [sys.executable, "-m", "voxplug", "db", "flush", "--config", str(config_file),
         "--timeout", "120"],
        env={**os.environ, "BACKEND_SECRET": SECRET}, capture_output=True, text=True, timeout=300, check=False,
    )
    assert flush.returncode == 0, flush.stderr
    events = receiver.store().events(session_id)
    seqs = [e["seq"] for e in events]
    stats = receiver.store().stats()
    print(f"\n[kill -9 + backend down] events delivered after restart: {len(events)}; receiver stats {stats}")
    assert seqs == list(range(1, len(seqs) + 1)), "in order, no gap, no duplicate"
    turns = [e for e in events if e["type"] == "turn" and e["data"]["role"] == "assistant"]
    assert len(turns) >= 3
    assert stats["stored"] == len(events)
