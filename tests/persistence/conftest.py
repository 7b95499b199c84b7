"""Fixtures: a real PostgreSQL server, per-test databases, SQLite configs, the webhook receiver."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from voxplug.config.persistence import PersistenceConfig
from voxplug.persistence.database import Database
from voxplug.room.devserver import free_port

from .pg import INSTALL_HINT, PostgresServer, find_bindir

SECRET = "whsec-test-0123456789abcdef"
ENV_NAMES = ("DATABASE_URL", "BACKEND_URL", "BACKEND_SECRET", "VOXPLUG_CONFIG")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # the developer's own DATABASE_URL must never be the target of a test
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
async def _close_runtimes() -> AsyncIterator[None]:
    yield
    from voxplug.persistence.runtime import close_all_runtimes

    await close_all_runtimes()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        pytest.fail(f"PostgreSQL server binaries not found: {INSTALL_HINT}", pytrace=False)
    server = PostgresServer(bindir)
    try:
        server.start()
    except (RuntimeError, OSError) as exc:
        pytest.fail(f"PostgreSQL did not start: {exc}", pytrace=False)
    yield server
    server.stop()


async def create_pg_database(server: PostgresServer) -> str:
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server.url(driver="postgresql"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server.url(name)


@pytest.fixture
async def pg_url(postgres: PostgresServer) -> str:
    return await create_pg_database(postgres)


@pytest.fixture(params=["sqlite", "postgres"])
async def db_config(request: pytest.FixtureRequest, tmp_path: Path) -> PersistenceConfig:
    """A migrated database of each kind, as `voxplug db upgrade` leaves it."""
    if request.param == "sqlite":
        config = PersistenceConfig(data_dir=tmp_path / "data")
    else:
        server = request.getfixturevalue("postgres")
        url = await create_pg_database(server)
        from pydantic import SecretStr

        config = PersistenceConfig(data_dir=tmp_path / "data", database_url=SecretStr(url))
    db = Database(config.url())
    await db.upgrade()
    await db.dispose()
    return config


class Receiver:
    """The reference receiver in its own process; stop/start to simulate an outage."""

    def __init__(self, root: Path, port: int | None = None, lose_first_acks: int = 0) -> None:
        self.port = port or free_port()
        self.db = root / "receiver.db"
        self.lose_first_acks = lose_first_acks
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def start(self) -> None:
        env = {**os.environ, "BACKEND_SECRET": SECRET}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voxplug.persistence.receiver", "--port", str(self.port), "--db", str(self.db),
             "--lose-first-acks", str(self.lose_first_acks)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        import urllib.request

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"receiver exited: {err[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("receiver did not come up within 60 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def store(self):  # type: ignore[no-untyped-def]
        from voxplug.persistence.receiver import ReceiverStore

        return ReceiverStore(self.db)


@pytest.fixture
def receiver_factory(tmp_path: Path) -> Iterator[type[Receiver]]:
    made: list[Receiver] = []

    class _Factory(Receiver):
        def __init__(self, port: int | None = None, lose_first_acks: int = 0) -> None:
            super().__init__(tmp_path, port, lose_first_acks)
            made.append(self)

    yield _Factory
    for receiver in made:
        receiver.stop()
