"""``voxplug sessions ...`` and ``voxplug db ...``: read, export and purge stored
conversations; migrate the database; flush the outbox."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from ..config.loader import load_persistence_config
from ..config.persistence import PersistenceConfig
from ..errors import EXIT_OK, EXIT_RUNTIME, UsageError, VoxplugError
from ..persistence.database import Database, SessionDetail
from ..persistence.outbox import Outbox
from ..persistence.runtime import PersistenceRuntime
from .contract import Subparsers, WithConfig

__all__ = ["add_commands", "format_transcript", "parse_since"]

STATUSES = ("active", "completed", "failed")
T = TypeVar("T")


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``7d``, ``12h``, ``30m`` (ago) or an ISO date/time (UTC unless it has an offset)."""
    now = now or datetime.now(UTC)
    match = re.fullmatch(r"\s*(\d+)\s*([dhm])\s*", text)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[unit]: amount})
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"sessions list: --since {text!r} is not a duration (7d, 12h, 30m) or an ISO date (2026-11-01)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _config(args: argparse.Namespace) -> PersistenceConfig:
    return load_persistence_config(getattr(args, "config", None))


def _run(config: PersistenceConfig, work: Callable[[Database], Coroutine[Any, Any, T]]) -> T:
    async def main() -> T:
        db = Database(config.url())
        try:
            return await work(db)
        except VoxplugError:
            raise
        except Exception as exc:
            raise VoxplugError(_db_error(config, exc)) from None
        finally:
            await db.dispose()

    return asyncio.run(main())


def _db_error(config: PersistenceConfig, exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    for secret in config.secret_values():
        text = text.replace(secret, "**********")
    hint = ""
    if "no such table" in text or "does not exist" in text:
        hint = "; run `voxplug db upgrade` first"
    return f"database {config.safe_url()}: {type(exc).__name__}: {text[:200]}{hint}"


def _ts(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return value.astimezone(UTC).strftime(fmt) if value else "-"


def _sec(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _duration(session: dict[str, Any]) -> str:
    start, end = session.get("started_at"), session.get("ended_at")
    if not start or not end:
        return "-"
    return f"{(end - start).total_seconds():.1f}s"


# -- sessions ------------------------------------------------------------------------------
def cmd_sessions_list(args: argparse.Namespace) -> int:
    config = _config(args)
    since = parse_since(args.since) if args.since else None
    rows = _run(
        config, lambda db: db.list_sessions(since=since, agent=args.agent, status=args.status, limit=args.limit)
    )
    if args.format == "json":
        print(json.dumps(rows, default=_json_default, indent=2))
        return EXIT_OK
    if not rows:
        print("no sessions")
        return EXIT_OK
    table = [("ID", "STARTED (UTC)", "AGENT", "STATUS", "TURNS", "ERRORS", "DURATION", "ROOM")]
    for r in rows:
        table.append((
            r["id"][:12], _ts(r["started_at"]), r["agent_name"] or "-", r["status"],
            str(r["user_turns"]), str(r["error_count"]), _duration(r), r["room"] or "-",
        ))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def format_transcript(detail: SessionDetail) -> str:
    """The human-readable transcript: one line per message with its latencies, tools inline."""
    s = detail.session
    lines = [
        f"session {s['id']}  agent={s['agent_name'] or '-'}  status={s['status']}  "
        f"reason={s['close_reason'] or '-'}",
        f"started {_ts(s['started_at'])} UTC  ended {_ts(s['ended_at'])} UTC  duration {_duration(s)}  "
        f"room={s['room'] or '-'}  participant={s['participant'] or '-'}",
        f"stt={s['stt'] or '-'}  llm={s['llm'] or '-'}  tts={s['tts'] or '-'}  config={s['config_fingerprint'] or '-'}",
    ]
    calls = {k: v for k, v in detail.attributes.items() if k.startswith("call.")}
    if calls:
        lines.append("  ".join(f"{k.removeprefix('call.')}={v}" for k, v in sorted(calls.items())))
    lines.append("")
    if not s.get("transcripts_stored", True):
        lines.append("(transcripts were not stored for this session: metadata only)")
    entries: list[tuple[int, str]] = []
    for t in detail.turns:
        if t["role"] == "user":
            latency = f"stt={_sec(t['transcription_delay'])} eou={_sec(t['end_of_turn_delay'])}"
        else:
            latency = f"ttft={_sec(t['llm_ttft'])} ttfb={_sec(t['tts_ttfb'])} e2e={_sec(t['e2e_latency'])}"
        text = t["text"] if t["text"] is not None else "…"
        flag = " [interrupted]" if t["interrupted"] else ""
        if t["role"] == "assistant" and t.get("agent"):
            flag += f" ({t['agent']})"
        entries.append((t["seq"], f"[{_ts(t['created_at'], '%H:%M:%S')}] {t['role']:<9} {latency:<34} {text}{flag}"))
    for c in detail.tool_calls:
        outcome = "error" if c["is_error"] else "ok"
        args = c["arguments"] if c["arguments"] is not None else "…"
        result = f" -> {c['result']}" if c["result"] is not None else ""
        entries.append((
            c["seq"],
            f"[{_ts(c['created_at'], '%H:%M:%S')}] {'tool':<9} {'took=' + _sec(c['duration']):<34} "
            f"{c['name']}({args}) {outcome}{result}",
        ))
    for e in detail.errors:
        entries.append((
            e["seq"],
            f"[{_ts(e['created_at'], '%H:%M:%S')}] {'error':<9} {'recoverable=' + str(e['recoverable']):<34} "
            f"{e['source'] or '-'}: {e['error_type']}: {e['message'] or ''}",
        ))
    lines += [text for _, text in sorted(entries, key=lambda entry: entry[0])]
    if detail.usage:
        lines.append("")
        lines.append("usage:")
        for u in detail.usage:
            parts = [f"{u['kind']} {u['provider']}/{u['model']}"]
            if u["input_tokens"] or u["output_tokens"]:
                parts.append(
                    f"tokens in={u['input_tokens']} (cached {u['cached_input_tokens']}) out={u['output_tokens']}"
                )
            if u["characters"]:
                parts.append(f"characters={u['characters']}")
            if u["audio_seconds"]:
                parts.append(f"audio={u['audio_seconds']:.1f}s")
            if u["cost"] is not None:
                parts.append(f"cost={u['cost']:.6f} {u['currency'] or ''}".rstrip())
            lines.append("  " + "  ".join(parts))
    return "\n".join(lines)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    raise TypeError(type(value).__name__)


def cmd_sessions_show(args: argparse.Namespace) -> int:
    detail = _run(_config(args), lambda db: db.get_session(args.id))
    print(format_transcript(detail))
    return EXIT_OK


def cmd_sessions_export(args: argparse.Namespace) -> int:
    detail = _run(_config(args), lambda db: db.get_session(args.id))
    if args.format == "json":
        text = json.dumps(detail.as_dict(), default=_json_default, indent=2, ensure_ascii=False)
    else:
        text = format_transcript(detail)
    if args.output:
        try:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise VoxplugError(f"sessions export: cannot write {args.output}: {exc.strerror}") from None
        print(f"exported session {detail.session['id']} to {args.output}", file=sys.stderr)
    else:
        print(text)
    return EXIT_OK


def cmd_sessions_purge(args: argparse.Namespace) -> int:
    config = _config(args)
    days = args.older_than if args.older_than is not None else config.retention_days
    if days is None:
        raise UsageError(
            "sessions purge: no retention period; pass --older-than DAYS or set persistence.retention_days"
        )
    cutoff = datetime.now(UTC) - timedelta(days=days)
    count = _run(config, lambda db: db.purge(cutoff))
    print(f"purged {count} session(s) that ended before {_ts(cutoff)} UTC ({days} days)")
    return EXIT_OK


# -- db ------------------------------------------------------------------------------------
def cmd_db_upgrade(args: argparse.Namespace) -> int:
    config = _config(args)

    async def work(db: Database) -> tuple[str | None, str | None]:
        before = await db.current_revision()
        after = await db.upgrade(args.revision)
        return before, after

    before, after = _run(config, work)
    if before == after:
        print(f"database {config.safe_url()} already at revision {after}")
    else:
        print(f"database {config.safe_url()} upgraded {before or '(empty)'} -> {after}")
    return EXIT_OK


def cmd_db_status(args: argparse.Namespace) -> int:
    config = _config(args)

    async def work(db: Database) -> str | None:
        return await db.current_revision()

    current = _run(config, work)
    head = Database.head_revision()
    print(f"database: {config.safe_url()}")
    print(f"revision: {current or '(empty)'}  head: {head}{'' if current == head else '  (run: voxplug db upgrade)'}")
    if config.outbox_path.exists():
        outbox = Outbox(config.outbox_path)
        try:
            counts = outbox.submit(outbox.counts).result()
        finally:
            outbox.close()
        print(f"outbox: {config.outbox_path}  " + "  ".join(f"{k}={v}" for k, v in counts.items()))
    else:
        print(f"outbox: {config.outbox_path} (empty)")
    print(f"backend: {config.backend.url or 'not configured'}")
    return EXIT_OK


def cmd_db_flush(args: argparse.Namespace) -> int:
    config = _config(args)

    async def main() -> tuple[bool, bool, dict[str, int]]:
        runtime = PersistenceRuntime.for_config(config)
        try:
            if args.retry_dead:
                await runtime.outbox.run(runtime.outbox.requeue_dead)
            done = await runtime.drain(args.timeout)
            return done, runtime.lock.held, await runtime.pending()
        finally:
            await runtime.aclose()

    done, leader, counts = asyncio.run(main())
    summary = "  ".join(f"{k}={v}" for k, v in counts.items())
    if done:
        print(f"outbox flushed ({summary})")
        return EXIT_OK
    if not leader:
        print(f"another process (a running worker) is delivering the outbox; pending: {summary}", file=sys.stderr)
    else:
        print(
            f"outbox not empty after {args.timeout:g}s: {summary} (database or backend unreachable?)",
            file=sys.stderr,
        )
    return EXIT_RUNTIME


# -- parser --------------------------------------------------------------------------------
def add_commands(sub: Subparsers, with_config: WithConfig) -> None:
    """Add ``sessions`` and ``db`` to the main parser's subcommands."""
    sessions = sub.add_parser("sessions", help="stored conversations")
    ssub = sessions.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = with_config(ssub.add_parser("list", help="recent sessions, newest first"))
    p.add_argument("--since", metavar="WHEN", help="7d, 12h, 30m or an ISO date/time (UTC)")
    p.add_argument("--agent", metavar="NAME", help="only this agent")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_sessions_list)

    p = with_config(ssub.add_parser("show", help="a session's transcript with per-turn latency"))
    p.add_argument("id", help="session id, or a unique prefix of it")
    p.set_defaults(func=cmd_sessions_show)

    p = with_config(ssub.add_parser("export", help="a session as JSON or text"))
    p.add_argument("id", help="session id, or a unique prefix of it")
    p.add_argument("--format", choices=("json", "txt"), default="json")
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=cmd_sessions_export)

    p = with_config(ssub.add_parser("purge", help="delete sessions older than the retention period"))
    p.add_argument("--older-than", type=int, metavar="DAYS", help="default: persistence.retention_days")
    p.set_defaults(func=cmd_sessions_purge)

    db = sub.add_parser("db", help="the conversation database")
    dsub = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = with_config(dsub.add_parser("upgrade", help="create or migrate the schema (idempotent)"))
    p.add_argument("--revision", default="head", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_db_upgrade)
    p = with_config(dsub.add_parser("status", help="schema revision and outbox backlog"))
    p.set_defaults(func=cmd_db_status)
    p = with_config(dsub.add_parser("flush", help="write parked events and deliver the backend backlog now"))
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS")
    p.add_argument("--retry-dead", action="store_true", help="also resend events the backend rejected")
    p.set_defaults(func=cmd_db_flush)

