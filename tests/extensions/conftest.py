"""Fixtures for tools, agents, call control and audio filters.

The backend is the appointment example's real server (examples/appointments/server.py), a
separate process on a free port: its REST endpoint answers the HTTP tools and its MCP
server (streamable HTTP, or stdio when spawned by the agent) answers the MCP tools. It
writes one JSON line per request, which the tests read back.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from livekit.agents import AgentSession

from voxplug import load_config
from voxplug.config.models import VoxplugConfig
from voxplug.core.agents import build_agent
from voxplug.core.observers import ObserverHub, SessionObserver
from voxplug.core.session import attach_observers, build_session, session_info
from voxplug.room.devserver import free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "appointments"
SERVER = EXAMPLE / "server.py"
TOKEN = "tok-" + "x" * 20
SIGNING_SECRET = "sig-secret-0123456789abcdef"


class Backend:
    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log
        self.url = f"http://127.0.0.1:{port}"

    def requests(self, kind: str | None = None) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        rows = [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines() if line]
        return [r for r in rows if kind is None or r["kind"] == kind]


@contextlib.contextmanager
def run_backend(folder: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Backend]:
    port = free_port()
    backend = Backend(port, folder / f"backend-{port}.jsonl")
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--port", str(port), "--log", str(backend.log), *args],
        env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 180  # generous: a loaded 2-core machine imports slowly
        while True:
            try:
                with urllib.request.urlopen(f"{backend.url}/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"backend exited: {proc.stderr.read().decode()[-2000:]}") from None  # type: ignore[union-attr]
                if time.monotonic() > deadline:
                    raise TimeoutError("backend did not start") from None
                time.sleep(0.2)
        yield backend
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """The example backend, requiring a bearer token and voxplug's signature."""
    env = {"APPOINTMENTS_TOKEN": TOKEN, "APPOINTMENTS_SIGNING_SECRET": SIGNING_SECRET}
    with run_backend(tmp_path_factory.mktemp("backend"), env=env) as b:
        yield b


@pytest.fixture(scope="session")
def slow_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """The example backend answering availability after 2.5 s."""
    with run_backend(tmp_path_factory.mktemp("slow"), "--delay", "2.5") as b:
        yield b


def write_config(tmp_path: Path, text: str, name: str = "voxplug.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_from(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> VoxplugConfig:
    return load_config(write_config(tmp_path, text), env=env or {})


FIXED_STAGES = {
    "stt": {"provider": "fixed", "options": {"latency": 0.05}},
    "tts": {"provider": "fixed", "options": {"ttfb": 0.02, "chars_per_second": 200}},
}


def fixed_yaml(llm_options: dict[str, Any], **sections: Any) -> str:
    """A config on the fixed providers: the scripted LLM's options, then other sections."""
    data: dict[str, Any] = {
        "agent": {"greeting": None},
        **FIXED_STAGES,
        "llm": {"provider": "fixed", "options": {"ttft": 0.02, **llm_options}},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return yaml.safe_dump(data, sort_keys=False)


@contextlib.asynccontextmanager
async def text_session(
    config: VoxplugConfig, observers: Sequence[SessionObserver] = ()
) -> AsyncIterator[tuple[AgentSession, ObserverHub]]:
    """A started text-mode session (no audio) of the agent the config describes."""
    session = build_session(config)
    hub = attach_observers(session, session_info(config, session), observers)
    await session.start(build_agent(config))
    try:
        yield session, hub
    finally:
        await session.aclose()
        await hub.aclose()
