"""The database side: engine set-up, migrations, idempotent event writes, and the queries the
CLI needs. SQLAlchemy 2 async; SQLite (aiosqlite, WAL) or PostgreSQL (asyncpg)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Table, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ..errors import UsageError
from .events import ERROR, SESSION_ATTRIBUTES, SESSION_CLOSED, SESSION_STARTED, TOOL_CALL, TURN, USAGE, StoreEvent
from .schema import AttributeRow, Base, ErrorRow, SessionRow, ToolCallRow, TurnRow, UsageRow

__all__ = ["Database", "SessionDetail", "as_datetime", "migrations_dir"]

logger = logging.getLogger(__name__)

# the Table objects (Core statements are simpler for upserts than ORM sessions)
def _table(row: type[Base]) -> Table:
    table = row.__table__
    assert isinstance(table, Table)  # declarative classes map to one Table each
    return table


S, T, C, U, E, A = (_table(row) for row in (SessionRow, TurnRow, ToolCallRow, UsageRow, ErrorRow, AttributeRow))


def migrations_dir() -> Path:
    # shipped inside the package, so `voxplug db upgrade` works from an installed wheel
    return Path(__file__).parent / "migrations"


def as_datetime(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite keeps no offset: every timestamp is written in UTC, so a naive one read back is UTC
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _clip(value: Any, limit: int) -> Any:
    """Fit a label into its column: a replayed batch must never fail on data (it would block
    the outbox behind it), and PostgreSQL rejects NUL characters in text."""
    if not isinstance(value, str):
        return value
    value = value.replace("\x00", "")
    return value[:limit]


def _text(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) else value


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    # WAL: readers (the CLI) never block the writer; NORMAL sync in WAL mode keeps every
    # committed transaction through a process crash (kill -9), at a fraction of FULL's cost
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # several job processes share one file: wait for the lock instead of failing
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


@dataclass
class SessionDetail:
    session: dict[str, Any]
    turns: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "session": self.session, "turns": self.turns, "tool_calls": self.tool_calls,
            "usage": self.usage, "errors": self.errors, "attributes": self.attributes,
        }


def _row(mapping: Any) -> dict[str, Any]:
    return {k: (_aware(v) if isinstance(v, datetime) else v) for k, v in dict(mapping).items()}


class Database:
    """One engine per process and event loop; every write is one transaction per batch."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if self.dialect == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs = {}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    async def dispose(self) -> None:
        await self.engine.dispose()

    # -- migrations ------------------------------------------------------------------------
    @staticmethod
    def alembic_config() -> Any:
        cfg = Config()
        cfg.set_main_option("script_location", str(migrations_dir()))
        return cfg

    @classmethod
    def head_revision(cls) -> str | None:
        return ScriptDirectory.from_config(cls.alembic_config()).get_current_head()

    async def upgrade(self, revision: str = "head") -> str | None:
        """Apply migrations up to ``revision``; a database already there is left untouched."""
        def run(connection: Any) -> None:
            cfg = self.alembic_config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)

        async with self.engine.begin() as conn:
            if self.dialect == "sqlite":
                # pysqlite commits each DDL statement on its own; one transaction makes a
                # migration all or nothing. A job that ended mid-migration (its runtime cancelled
                # on close, on a loaded machine) had left `sessions` created without
                # `alembic_version`, and every later upgrade failed "table sessions already exists"
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            await conn.run_sync(run)
        return await self.current_revision()

    async def current_revision(self) -> str | None:
        def read(connection: Any) -> str | None:
            return MigrationContext.configure(connection).get_current_revision()

        async with self.engine.connect() as conn:
            return await conn.run_sync(read)

    async def create_all(self) -> None:
        """Tables straight from the models, without Alembic; for throwaway databases only."""
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)

    # -- writes ----------------------------------------------------------------------------
    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    async def apply(self, events: Sequence[StoreEvent]) -> None:
        """Write a batch in one transaction. Idempotent: replaying any event changes nothing."""
        if not events:
            return
        async with self.engine.begin() as conn:
            for ev in events:
                await self._apply_one(conn, ev)

    async def _ensure_session(self, conn: AsyncConnection, session_id: str) -> None:
        # a child row may be replayed before its session.started (outbox order across
        # batches): a stub row keeps the foreign key satisfied until the real one fills it
        await conn.execute(
            self._insert(S).values(id=session_id, status="active").on_conflict_do_nothing(index_elements=["id"])
        )

    async def _apply_one(self, conn: AsyncConnection, ev: StoreEvent) -> None:
        d = ev.data
        sid = ev.session_id
        if ev.type == SESSION_STARTED:
            values = {
                "agent_name": _clip(d.get("agent_name"), 200), "room": _clip(d.get("room"), 255),
                "participant": _clip(d.get("participant"), 255),
                "stt": _clip(d.get("stt"), 200), "llm": _clip(d.get("llm"), 200), "tts": _clip(d.get("tts"), 200),
                "config_fingerprint": _clip(d.get("config_fingerprint"), 64),
                "started_at": as_datetime(d.get("started_at")),
                "transcripts_stored": bool(d.get("transcripts_stored", True)),
            }
            stmt = self._insert(S).values(id=sid, status="active", **values)
            # never touch status/ended_at here: the close may have been written first
            await conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values))
            return
        await self._ensure_session(conn, sid)
        if ev.type == TURN:
            await conn.execute(
                self._insert(T).values(
                    session_id=sid, seq=ev.seq, role=_clip(d["role"], 16), text=_text(d.get("text")),
                    agent=_clip(d["agent"], 64) if d.get("agent") else None,
                    interrupted=bool(d.get("interrupted")),
                    created_at=as_datetime(d.get("created_at") or ev.occurred_at),
                    started_speaking_at=as_datetime(d.get("started_speaking_at")),
                    stopped_speaking_at=as_datetime(d.get("stopped_speaking_at")),
                    transcription_delay=d.get("transcription_delay"),
                    end_of_turn_delay=d.get("end_of_turn_delay"),
                    llm_ttft=d.get("llm_ttft"), tts_ttfb=d.get("tts_ttfb"), e2e_latency=d.get("e2e_latency"),
                ).on_conflict_do_nothing(index_elements=["session_id", "seq"])
            )
        elif ev.type == TOOL_CALL:
            await conn.execute(
                self._insert(C).values(
                    session_id=sid, seq=ev.seq, call_id=_clip(d["call_id"], 200), name=_clip(d["name"], 200),
                    arguments=_text(d.get("arguments")), result=_text(d.get("result")),
                    is_error=bool(d.get("is_error")),
                    created_at=as_datetime(d.get("created_at") or ev.occurred_at), duration=d.get("duration"),
                ).on_conflict_do_nothing(index_elements=["session_id", "seq", "call_id"])
            )
        elif ev.type == USAGE:
            for m in d.get("models", []):
                values = {
                    "seq": ev.seq, "input_tokens": m["input_tokens"],
                    "cached_input_tokens": m["cached_input_tokens"], "output_tokens": m["output_tokens"],
                    "characters": m["characters"], "audio_seconds": m["audio_seconds"],
                    "requests": m["requests"], "cost": m.get("cost"), "currency": _clip(m.get("currency"), 8),
                    "updated_at": as_datetime(ev.occurred_at),
                }
                stmt = self._insert(U).values(
                    session_id=sid, kind=_clip(m["kind"], 16), provider=_clip(m["provider"], 100),
                    model=_clip(m["model"], 200), **values,
                )
                # usage is cumulative: only a later snapshot may replace an earlier one
                await conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["session_id", "kind", "provider", "model"],
                        set_={k: stmt.excluded[k] for k in values},
                        where=U.c.seq < stmt.excluded.seq,
                    )
                )
        elif ev.type == ERROR:
            await conn.execute(
                self._insert(E).values(
                    session_id=sid, seq=ev.seq, created_at=as_datetime(ev.occurred_at),
                    source=_clip(d.get("source"), 200), error_type=_clip(d.get("error_type") or "Error", 200),
                    message=_text(d.get("message")), recoverable=d.get("recoverable"),
                ).on_conflict_do_nothing(index_elements=["session_id", "seq"])
            )
        elif ev.type == SESSION_CLOSED:
            await conn.execute(
                update(S).where(S.c.id == sid).values(
                    ended_at=as_datetime(d.get("ended_at") or ev.occurred_at),
                    close_reason=_clip(d.get("reason"), 64), status=_clip(d.get("status") or "completed", 16),
                )
            )
        elif ev.type == SESSION_ATTRIBUTES:
            for key, value in (d.get("attributes") or {}).items():
                stmt = self._insert(A).values(
                    session_id=sid, seq=ev.seq, key=_clip(key, 64), value=_clip(value, 256)
                )
                # a later value of the same key wins, whatever order the events arrive in
                await conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["session_id", "key"],
                        set_={"seq": stmt.excluded.seq, "value": stmt.excluded.value},
                        where=A.c.seq < stmt.excluded.seq,
                    )
                )
        else:
            logger.warning("unknown store event type %r skipped", ev.type)

    # -- reads -----------------------------------------------------------------------------
    async def list_sessions(
        self,
        *,
        since: datetime | None = None,
        agent: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        turns = (
            select(func.count()).select_from(T)
            .where(T.c.session_id == S.c.id, T.c.role == "user").scalar_subquery()
        )
        errors = select(func.count()).select_from(E).where(E.c.session_id == S.c.id).scalar_subquery()
        stmt = select(S, turns.label("user_turns"), errors.label("error_count"))
        if since is not None:
            stmt = stmt.where(S.c.started_at >= since)
        if agent:
            stmt = stmt.where(S.c.agent_name == agent)
        if status:
            stmt = stmt.where(S.c.status == status)
        stmt = stmt.order_by(S.c.started_at.desc().nulls_last(), S.c.id).limit(limit)
        async with self.engine.connect() as conn:
            result = await conn.execute(stmt)
            return [_row(r._mapping) for r in result]

    async def resolve_id(self, conn: AsyncConnection, prefix: str) -> str:
        prefix = prefix.strip()
        if not prefix:
            raise UsageError("sessions: give a session id (or a unique prefix of one)")
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = (await conn.execute(
            select(S.c.id).where(S.c.id.like(escaped + "%", escape="\\")).limit(2)
        )).scalars().all()
        if not rows:
            raise UsageError(f"sessions: no session with id {prefix!r}; see `voxplug sessions list`")
        if len(rows) > 1:
            raise UsageError(f"sessions: {prefix!r} matches several sessions; give more of the id")
        return str(rows[0])

    async def get_session(self, session_id: str) -> SessionDetail:
        async with self.engine.connect() as conn:
            sid = await self.resolve_id(conn, session_id)
            session = _row((await conn.execute(select(S).where(S.c.id == sid))).one()._mapping)

            async def rows(table: Any, *order: Any) -> list[dict[str, Any]]:
                result = await conn.execute(select(table).where(table.c.session_id == sid).order_by(*order))
                return [_row(r._mapping) for r in result]

            return SessionDetail(
                session=session,
                turns=await rows(T, T.c.seq),
                tool_calls=await rows(C, C.c.seq, C.c.id),
                usage=await rows(U, U.c.kind, U.c.provider, U.c.model),
                errors=await rows(E, E.c.seq),
                attributes={r["key"]: r["value"] for r in await rows(A, A.c.key)},
            )

    async def purge(self, before: datetime) -> int:
        """Delete sessions that ended before ``before`` (children go with them); returns the count."""
        async with self.engine.begin() as conn:
            ids = (await conn.execute(select(S.c.id).where(S.c.ended_at < before))).scalars().all()
            # explicit child deletes: SQLite only cascades with foreign_keys=ON on every
            # connection, and a database touched by another tool may not have had it
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                for table in (T, C, U, E, A):
                    await conn.execute(table.delete().where(table.c.session_id.in_(chunk)))
                await conn.execute(S.delete().where(S.c.id.in_(chunk)))
            return len(ids)
