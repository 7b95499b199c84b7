"""Migrations create the schema on an empty database, are idempotent, and match the models."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import event, inspect

from voxplug.config.persistence import PersistenceConfig
from voxplug.persistence.database import Database
from voxplug.persistence.schema import Base

TABLES = {"sessions", "turns", "tool_calls", "usage", "errors", "alembic_version"}


async def _check_upgrade(url: str) -> None:
    db = Database(url)
    try:
        assert await db.current_revision() is None
        head = Database.head_revision()
        assert await db.upgrade() == head
        # a second run is a no-op, not an error
        assert await db.upgrade() == head

        def check(connection) -> tuple[set[str], list[object]]:  # type: ignore[no-untyped-def]
            from alembic.autogenerate import compare_metadata
            from alembic.runtime.migration import MigrationContext

            tables = set(inspect(connection).get_table_names())
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            return tables, diff

        async with db.engine.connect() as conn:
            tables, diff = await conn.run_sync(check)
        assert tables >= TABLES
        assert diff == [], f"models and migrations disagree: {diff}"
    finally:
        await db.dispose()


async def test_sqlite_upgrade_empty_and_idempotent(tmp_path: Path) -> None:
    config = PersistenceConfig(data_dir=tmp_path / "nested" / "dir")
    await _check_upgrade(config.url())
    # WAL mode is on for the embedded database
    db = Database(config.url())
    async with db.engine.connect() as conn:
        mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
    await db.dispose()
    assert mode == "wal"


@pytest.mark.parametrize("how", ["cancelled", "failed"])
async def test_sqlite_migration_stopped_midway_leaves_nothing_behind(tmp_path: Path, how: str) -> None:
    # a job's runtime closed while it migrated (a CI run on a loaded machine): pysqlite had
    # committed `CREATE TABLE sessions` on its own, and every later upgrade then failed
    url = PersistenceConfig(data_dir=tmp_path).url()
    db = Database(url)
    upgrade = asyncio.create_task(db.upgrade())

    def stop(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().startswith("CREATE TABLE sessions"):
            if how == "failed":
                raise RuntimeError("the process died here")
            upgrade.cancel()  # delivered at the migration's next await

    event.listen(db.engine.sync_engine, "after_cursor_execute", stop)
    with pytest.raises(asyncio.CancelledError if how == "cancelled" else RuntimeError):
        await upgrade
    await db.dispose()

    fresh = Database(url)
    try:
        async with fresh.engine.connect() as conn:
            left = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert left == set()
        assert await fresh.upgrade() == Database.head_revision()
    finally:
        await fresh.dispose()


async def test_postgres_upgrade_empty_and_idempotent(pg_url: str) -> None:
    await _check_upgrade(pg_url)


async def test_plain_postgres_url_gets_async_driver(pg_url: str) -> None:
    plain = pg_url.replace("postgresql+asyncpg://", "postgresql://")
    config = PersistenceConfig(database_url=SecretStr(plain))
    assert config.url() == pg_url
    assert not config.is_sqlite and not config.should_migrate()
