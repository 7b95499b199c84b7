"""The worker's wiring, without a LiveKit server: executors, the shared prewarm, what prewarm
imports so that no call's event loop has to."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from livekit.agents import ChatMessage, ConversationItemAddedEvent, JobExecutorType

from voxplug import load_config, worker
from voxplug.config.persistence import PersistenceConfig
from voxplug.core.observers import ObserverHub, SessionInfo
from voxplug.errors import ConfigError
from voxplug.persistence.database import Database
from voxplug.persistence.runtime import PersistenceRuntime
from voxplug.persistence.store import ConversationStore

FIXED = {
    "STT_PROVIDER": "fixed", "LLM_PROVIDER": "fixed", "TTS_PROVIDER": "fixed",
    "VOXPLUG_TELEMETRY__ENABLED": "false",
}


@pytest.fixture
def fresh_prewarm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(worker, "_prewarmed", None)
    for name, value in {**FIXED, "VOXPLUG_PERSISTENCE__DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(("executor", "expected"), [("process", JobExecutorType.PROCESS),
                                                    ("thread", JobExecutorType.THREAD)])
def test_executor_and_initialize_process_timeout_reach_the_agent_server(
    fresh_prewarm: None, monkeypatch: pytest.MonkeyPatch, executor: str, expected: JobExecutorType
) -> None:
    monkeypatch.setenv("VOXPLUG_WORKER__EXECUTOR", executor)
    monkeypatch.setenv("VOXPLUG_WORKER__INITIALIZE_PROCESS_TIMEOUT", "42")
    server = worker.build_server(load_config(env=dict(os.environ)))
    assert server._job_executor_type == expected
    assert server._initialize_process_timeout == 42
    # thread mode prewarms once, on the main thread (LiveKit plugins register there only)
    assert (worker._prewarmed is not None) == (executor == "thread")


@pytest.mark.parametrize(("max_sessions", "warned"), [("0", True), ("8", True), ("4", False)])
def test_thread_executor_warns_above_the_measured_session_count(
    fresh_prewarm: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    max_sessions: str, warned: bool,
) -> None:
    monkeypatch.setenv("VOXPLUG_WORKER__EXECUTOR", "thread")
    monkeypatch.setenv("VOXPLUG_WORKER__MAX_SESSIONS", max_sessions)
    with caplog.at_level("WARNING", logger="voxplug"):
        worker.build_server(load_config(env=dict(os.environ)))
    said = [r.getMessage() for r in caplog.records if "executor: thread with worker.max_sessions" in r.getMessage()]
    assert bool(said) == warned, said


def test_job_threads_share_one_prewarm(fresh_prewarm: None) -> None:
    first, second = SimpleNamespace(userdata={}), SimpleNamespace(userdata={})
    worker.prewarm(first)  # type: ignore[arg-type]
    worker.prewarm(second)  # type: ignore[arg-type]
    assert first.userdata["models"] is second.userdata["models"]
    assert first.userdata["models"].vad is not None  # the Silero VAD, loaded once
    assert first.userdata["config"] is second.userdata["config"]


def test_unknown_executor_is_a_one_line_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**FIXED, "VOXPLUG_WORKER__EXECUTOR": "fork"}
    with pytest.raises(ConfigError) as caught:
        load_config(env=env)
    assert "worker.executor" in str(caught.value) and "\n" not in str(caught.value).strip()


PROBE = """
import json, sys
from types import SimpleNamespace
from voxplug import worker
worker.prewarm(SimpleNamespace(userdata={}))
print(json.dumps({m: m in sys.modules for m in ("alembic.command", "mako.template", "aiosqlite")}))
"""


@pytest.mark.parametrize("persistence", [True, False], ids=["store", "no-store"])
def test_prewarm_imports_what_the_stores_first_migration_needs(tmp_path: Path, persistence: bool) -> None:
    # a fresh interpreter: what prewarm imported, nothing else did
    env = {**os.environ, **FIXED, "VOXPLUG_PERSISTENCE__DATA_DIR": str(tmp_path / "data"),
           "VOXPLUG_PERSISTENCE__ENABLED": str(persistence).lower()}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    imported = json.loads(out.stdout.strip().splitlines()[-1])
    # Alembic (and the Mako it imports) comes with the worker module itself (persistence.database
    # imports it at the top); the database driver only when there is a store to write to
    assert imported == {"alembic.command": True, "mako.template": True, "aiosqlite": persistence}


async def test_job_shutdown_parks_a_batch_in_flight_before_the_runtime_closes(tmp_path: Path) -> None:
    # a database too slow for the store's flush deadline: at the job's end the writer is
    # cancelled mid-write and parks its batch in the outbox, which must still be open then
    # (closing the two concurrently, as two shutdown callbacks are, raised "cannot schedule
    # new futures after shutdown" here and the batch was lost)
    config = PersistenceConfig(data_dir=tmp_path, flush_timeout=0.2)
    store = ConversationStore(config)
    info = SessionInfo(agent_name="shop", stt="none/none", llm="none/none", tts="none/none",
                       config_fingerprint="0123456789abcdef", room="room-1")
    store.on_session_started(info)
    runtime = store.runtime
    assert runtime is not None
    original = runtime.database.apply

    async def slow_apply(events: Any) -> None:
        await asyncio.sleep(5)
        await original(events)

    runtime.database.apply = slow_apply  # type: ignore[method-assign]
    texts = [f"message {i}" for i in range(6)]
    for i, text in enumerate(texts):
        message = ChatMessage(role="user" if i % 2 == 0 else "assistant", content=[text])
        store.on_conversation_item_added(ConversationItemAddedEvent(item=message))
    await asyncio.sleep(0.1)  # the writer has taken the batch into the slow write
    await worker.close_observers(ObserverHub(info, [store]))
    assert runtime.closed and store.pending == 0

    # the next process replays the outbox: every message reaches the database
    replay = PersistenceRuntime.for_config(config)
    assert await replay.drain(timeout=60)
    db = Database(config.url())
    try:
        detail = await db.get_session(info.session_id)
    finally:
        await db.dispose()
    assert [t["text"] for t in detail.turns] == texts
