"""Alembic environment.

voxplug runs migrations itself (``voxplug db upgrade``, or on start for SQLite) and hands
over an open connection through ``config.attributes["connection"]``. The plain ``alembic``
command also works: ``alembic -x url=postgresql://... upgrade head`` with an ini file whose
``script_location`` points here.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from voxplug.config.persistence import async_url
from voxplug.persistence.schema import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("DATABASE_URL")
    url = url or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set DATABASE_URL")
    return async_url(url)


def _configure(**kwargs: Any) -> None:
    # batch mode: SQLite cannot ALTER most things; Alembic rebuilds the table instead
    context.configure(target_metadata=target_metadata, render_as_batch=True, compare_type=True, **kwargs)


def do_run_migrations(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url())
    async with engine.begin() as conn:
        await conn.run_sync(do_run_migrations)
    await engine.dispose()


if context.is_offline_mode():
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
    else:
        asyncio.run(_run_async())
