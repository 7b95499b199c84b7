"""A real AgentSession (text mode) lands completely in SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from livekit.agents import ChatMessage, ConversationItemAddedEvent
from pydantic import SecretStr

from voxplug.config.persistence import PersistenceConfig
from voxplug.config.pricing import Price, PricingConfig
from voxplug.persistence.database import Database
from voxplug.persistence.runtime import PersistenceRuntime
from voxplug.persistence.store import ConversationStore

from .conftest import create_pg_database
from .fakes import SECRET_IN_TOOL, make_info, run_conversation

INPUTS = ["hello there", "where is my order?", "boom", "thanks, bye"]


async def _detail(config: PersistenceConfig, session_id: str) -> Any:
    db = Database(config.url())
    try:
        return await db.get_session(session_id)
    finally:
        await db.dispose()


async def test_conversation_lands_completely(db_config: PersistenceConfig) -> None:
    config = db_config
    price = Price(stage="llm", provider="fake", model="script-1", input_per_million_tokens=1.0,
                  output_per_million_tokens=2.0)
    store = ConversationStore(config, secrets=[SECRET_IN_TOOL], pricing=PricingConfig(prices=[price]))
    info = await run_conversation([store], INPUTS)
    assert store.pending == 0
    assert store.stats.spilled == 0

    detail = await _detail(config, info.session_id)
    s = detail.session
    assert (s["agent_name"], s["room"], s["participant"]) == ("shop", "room-1", "caller-1")
    assert s["config_fingerprint"] == "0123456789abcdef"
    assert s["llm"] == "fake/script-1"
    assert s["status"] == "completed" and s["close_reason"] == "user_initiated"
    assert s["started_at"] is not None and s["ended_at"] >= s["started_at"]

    users = [t["text"] for t in detail.turns if t["role"] == "user"]
    assistants = [t for t in detail.turns if t["role"] == "assistant"]
    assert users == INPUTS
    # "boom" made the LLM fail: three replies for four inputs
    assert [t["text"] for t in assistants] == [
        "You said: hello there",
        "Your order status: order A-17 shipped (token **********).",
        "You said: thanks, bye",
    ]
    assert all(t["llm_ttft"] is not None and t["llm_ttft"] >= 0 for t in assistants)
    assert all(not t["interrupted"] for t in detail.turns)
    seqs = [t["seq"] for t in detail.turns]
    assert seqs == sorted(seqs)

    (call,) = detail.tool_calls
    assert call["name"] == "lookup_order" and call["arguments"] == '{"order_id": "A-17"}'
    assert call["result"] == "order A-17 shipped (token **********)"
    assert not call["is_error"] and call["duration"] is not None and call["duration"] >= 0

    (error,) = detail.errors
    assert error["error_type"] == "APIStatusError" and error["source"] == "fake/script-1"
    assert SECRET_IN_TOOL not in error["message"] and "**********" in error["message"]

    (usage,) = detail.usage
    assert (usage["kind"], usage["provider"], usage["model"]) == ("llm", "fake", "script-1")
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    # no cached-input price given: cached tokens cost as much as the others
    expected = (usage["input_tokens"] * 1.0 + usage["output_tokens"] * 2.0) / 1e6
    assert usage["cost"] == pytest.approx(expected) and usage["currency"] == "USD"


async def test_metadata_only_keeps_no_words(tmp_path: Path) -> None:
    config = PersistenceConfig(data_dir=tmp_path, store_transcripts=False)
    store = ConversationStore(config)
    info = await run_conversation([store], ["my card number is 4111 1111", "where is my order?"])
    detail = await _detail(config, info.session_id)
    assert detail.session["transcripts_stored"] is False
    assert len(detail.turns) == 4
    assert all(t["text"] is None for t in detail.turns)
    assert detail.tool_calls[0]["arguments"] is None and detail.tool_calls[0]["result"] is None
    assert detail.tool_calls[0]["name"] == "lookup_order"
    raw = (tmp_path / "voxplug.db").read_bytes() + (tmp_path / "voxplug.db-wal").read_bytes()
    assert b"4111" not in raw and b"A-17" not in raw


async def test_no_secret_is_stored(tmp_path: Path) -> None:
    """Secrets from the config (here: the backend secret) and vendor keys never reach the files."""
    config = PersistenceConfig(data_dir=tmp_path)
    config.backend.secret = SecretStr(SECRET_IN_TOOL)  # one of the config's own secrets
    store = ConversationStore(config)
    await run_conversation([store], ["where is my order?", "boom"])
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert SECRET_IN_TOOL.encode() not in raw
    assert b"**********" in raw


def _message(text: str, role: str = "user") -> ConversationItemAddedEvent:
    return ConversationItemAddedEvent(item=ChatMessage(role=role, content=[text]))  # type: ignore[arg-type]


async def test_slow_database_spills_to_outbox_and_nothing_is_lost(tmp_path: Path) -> None:
    config = PersistenceConfig(data_dir=tmp_path, queue_size=4)
    store = ConversationStore(config)
    info = make_info()
    store.on_session_started(info)
    runtime = store.runtime
    assert runtime is not None
    original = runtime.database.apply

    async def slow_apply(events: Any) -> None:
        await asyncio.sleep(0.3)  # a database that cannot keep up with the conversation
        await original(events)

    runtime.database.apply = slow_apply  # type: ignore[method-assign]
    for i in range(40):
        store.on_conversation_item_added(_message(f"message {i}", "user" if i % 2 == 0 else "assistant"))
        if i % 10 == 0:
            await asyncio.sleep(0)  # let the writer take a batch now and then
    assert await store.flush(timeout=60)
    assert store.stats.spilled > 0, "the queue should have overflowed"
    assert await runtime.drain(timeout=60)
    detail = await _detail(config, info.session_id)
    assert [t["text"] for t in detail.turns] == [f"message {i}" for i in range(40)]
    assert store.stats.parked + store.stats.written == store.stats.events


async def test_database_down_then_up_replays_the_outbox(postgres: Any, tmp_path: Path) -> None:
    """PostgreSQL without the schema (as a database that is not there yet): events park in the
    outbox; once `db upgrade` ran, the outbox replays and the conversation is complete."""
    url = await create_pg_database(postgres)
    config = PersistenceConfig(data_dir=tmp_path, database_url=SecretStr(url))
    store = ConversationStore(config)
    info = await run_conversation([store], ["hello", "where is my order?"])
    runtime = PersistenceRuntime.for_config(config)
    counts = await runtime.pending()
    assert counts["db"] == store.stats.events and store.stats.parked == store.stats.events
    db = Database(url)
    await db.upgrade()
    await db.dispose()
    assert await runtime.drain(timeout=90)
    detail = await _detail(config, info.session_id)
    assert [t["role"] for t in detail.turns] == ["user", "assistant", "user", "assistant"]
    assert detail.session["status"] == "completed" and len(detail.tool_calls) == 1
    with contextlib.suppress(Exception):
        await runtime.aclose()


async def test_odd_data_never_blocks_a_batch(db_config: PersistenceConfig) -> None:
    """Over-long labels and NUL characters (PostgreSQL rejects them in text) are written, not
    refused: a refused batch would sit in the outbox forever, ahead of everything else."""
    from voxplug.persistence.events import StoreEvent

    events = [
        StoreEvent("odd", 1, "session.started", 1.0, {"agent_name": "a" * 500, "room": "r\x00oom", "stt": "s" * 300}),
        StoreEvent("odd", 2, "turn", 2.0, {"role": "user", "text": "nul\x00byte", "interrupted": False}),
        StoreEvent("odd", 3, "error", 3.0, {"source": "x" * 400, "error_type": "E" * 300, "message": "m\x00"}),
        StoreEvent("odd", 4, "session.closed", 4.0, {"reason": "r" * 100, "status": "completed"}),
    ]
    db = Database(db_config.url())
    try:
        await db.apply(events)
        await db.apply(events)  # replayed: still one copy of everything
        detail = await db.get_session("odd")
    finally:
        await db.dispose()
    assert detail.session["agent_name"] == "a" * 200 and detail.session["room"] == "room"
    assert [t["text"] for t in detail.turns] == ["nulbyte"] and len(detail.errors) == 1
