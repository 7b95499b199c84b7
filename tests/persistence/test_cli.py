"""`sessions list/show/export/purge` and `db upgrade/status` against a stored conversation."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from voxplug.cli import main
from voxplug.cli.sessions import add_commands, parse_since
from voxplug.config.persistence import PersistenceConfig
from voxplug.errors import VoxplugError
from voxplug.persistence.runtime import close_all_runtimes
from voxplug.persistence.store import ConversationStore

from .fakes import make_info, run_conversation


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, list[str]]:
    """Two sessions (agents "shop" and "desk") in an SQLite file, and a config file for it."""
    data = tmp_path / "data"
    config = PersistenceConfig(data_dir=data)

    async def record() -> list[str]:
        ids = []
        for agent, inputs in (("shop", ["hello", "where is my order?"]), ("desk", ["boom"])):
            info = await run_conversation([ConversationStore(config)], inputs, info=make_info(agent=agent))
            ids.append(info.session_id)
        await close_all_runtimes()
        return ids

    ids = asyncio.run(record())
    config_file = tmp_path / "voxplug.yaml"
    config_file.write_text(f"persistence:\n  data_dir: {data}\n  retention_days: 30\n")
    return config_file, ids


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_with_filters(stored: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    cfg, (shop, desk) = stored
    code, out, _ = run(capsys, "sessions", "list", "--config", str(cfg))
    assert code == 0 and shop[:12] in out and desk[:12] in out and "completed" in out
    code, out, _ = run(capsys, "sessions", "list", "--config", str(cfg), "--agent", "desk", "--format", "json")
    rows = json.loads(out)
    assert [r["id"] for r in rows] == [desk] and rows[0]["error_count"] == 1 and rows[0]["user_turns"] == 1
    _, out, _ = run(capsys, "sessions", "list", "--config", str(cfg), "--status", "active")
    assert out.strip() == "no sessions"
    _, out, _ = run(capsys, "sessions", "list", "--config", str(cfg), "--since", "1h", "--format", "json")
    assert len(json.loads(out)) == 2
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    _, out, _ = run(capsys, "sessions", "list", "--config", str(cfg), "--since", tomorrow)
    assert out.strip() == "no sessions"


def test_show_and_export(stored: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg, (shop, _) = stored
    code, out, _ = run(capsys, "sessions", "show", shop[:8], "--config", str(cfg))
    assert code == 0
    assert "user      stt=- eou=-" in out and "hello" in out
    assert "assistant ttft=" in out and "You said: hello" in out
    assert "lookup_order" in out and "usage:" in out
    code, out, _ = run(capsys, "sessions", "export", shop, "--format", "json", "--config", str(cfg))
    data = json.loads(out)
    assert data["session"]["id"] == shop and len(data["turns"]) == 4 and len(data["tool_calls"]) == 1
    target = tmp_path / "t.txt"
    code, _, err = run(capsys, "sessions", "export", shop, "--format", "txt", "-o", str(target), "--config", str(cfg))
    assert code == 0 and "exported" in err and "You said: hello" in target.read_text()


def test_user_errors_are_one_line(stored: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    cfg, _ = stored
    code, _, err = run(capsys, "sessions", "show", "nope", "--config", str(cfg))
    assert code == 2 and err.count("\n") == 1 and "no session with id 'nope'" in err
    code, _, err = run(capsys, "sessions", "list", "--since", "last tuesday", "--config", str(cfg))
    assert code == 2 and "--since" in err
    bad = cfg.parent / "bad.yaml"
    bad.write_text("persistence:\n  retention_dayz: 3\n")
    code, _, err = run(capsys, "sessions", "list", "--config", str(bad))
    assert code == 2 and "persistence.retention_dayz" in err
    # a database without the schema: a runtime failure, one line, with the fix
    empty = cfg.parent / "empty.yaml"
    empty.write_text(f"persistence:\n  data_dir: {cfg.parent / 'empty'}\n")
    code, _, err = run(capsys, "sessions", "list", "--config", str(empty))
    assert code == 1 and "voxplug db upgrade" in err and err.count("\n") == 1


def test_backend_url_without_secret_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "v.yaml"
    cfg.write_text(f"persistence:\n  data_dir: {tmp_path}\n  backend:\n    url: http://127.0.0.1:9/events\n")
    code, _, err = run(capsys, "db", "flush", "--config", str(cfg))
    assert code == 2 and "BACKEND_SECRET" in err


def test_purge_respects_retention(stored: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    cfg, _ = stored
    code, out, _ = run(capsys, "sessions", "purge", "--config", str(cfg))
    assert code == 0 and "purged 0 session(s)" in out and "(30 days)" in out

    async def age_everything() -> None:
        from sqlalchemy import update

        from voxplug.persistence.database import Database, S

        db = Database(PersistenceConfig(data_dir=cfg.parent / "data").url())
        async with db.engine.begin() as conn:
            await conn.execute(update(S).values(ended_at=datetime.now(UTC) - timedelta(days=40)))
        await db.dispose()

    asyncio.run(age_everything())
    code, out, _ = run(capsys, "sessions", "purge", "--config", str(cfg))
    assert "purged 2 session(s)" in out
    _, out, _ = run(capsys, "sessions", "list", "--config", str(cfg))
    assert out.strip() == "no sessions"


def test_db_upgrade_and_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "v.yaml"
    cfg.write_text(f"persistence:\n  data_dir: {tmp_path / 'fresh'}\n")
    code, out, _ = run(capsys, "db", "upgrade", "--config", str(cfg))
    assert code == 0 and "upgraded (empty) -> 0003" in out
    code, out, _ = run(capsys, "db", "upgrade", "--config", str(cfg))
    assert code == 0 and "already at revision 0003" in out
    code, out, _ = run(capsys, "db", "status", "--config", str(cfg))
    assert "revision: 0003  head: 0003" in out and "backend: not configured" in out


def test_postgres_upgrade_from_env(pg_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                   tmp_path: Path) -> None:
    # DATABASE_URL as operators set it (no driver): the password-free URL is shown, never a secret
    # (the test server trusts local connections: the password is accepted and ignored)
    url = pg_url.replace("+asyncpg", "").replace("postgres@", "postgres:hunter2-pw@")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "db", "upgrade")
    assert code == 0 and "postgresql+asyncpg://postgres:***@127.0.0.1" in out and "-> 0003" in out
    assert "hunter2" not in out + err


def test_parse_since() -> None:
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    assert parse_since("7d", now=now) == now - timedelta(days=7)
    assert parse_since("30m", now=now) == now - timedelta(minutes=30)
    assert parse_since("2026-11-01", now=now) == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(VoxplugError):
        parse_since("soon")


def test_commands_attach_to_any_parser() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    add_commands(sub, lambda p: p)
    args = parser.parse_args(["sessions", "export", "abc", "--format", "txt"])
    assert callable(args.func) and args.format == "txt"
