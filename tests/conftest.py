"""Shared fixtures. Every test runs offline: vendor APIs are local servers on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import wave
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import numpy as np
import pytest

from voxplug.providers.catalog import iter_rows

if TYPE_CHECKING:
    from fakes.vendor_server import VendorServer
    from voxplug.room import LiveKitServer

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

# vendor keys from a developer's shell must not leak into config tests
VENDOR_ENV = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "AZURE_API_KEY", "AZURE_OPENAI_ENDPOINT",
    "OPENAI_API_VERSION", "DEEPGRAM_API_KEY", "ELEVEN_API_KEY", "ANTHROPIC_API_KEY", "CARTESIA_API_KEY",
    "GROQ_API_KEY", "AZURE_SPEECH_KEY", "AZURE_SPEECH_REGION", "STT_PROVIDER", "LLM_PROVIDER",
    "TTS_PROVIDER", "STT_MODEL", "LLM_MODEL", "TTS_MODEL", "TTS_VOICE", "VOXPLUG_CONFIG",
    # every credential variable of the vendor catalog (GOOGLE_API_KEY, AWS_ACCESS_KEY_ID, ...)
    *sorted({env for vendor, row in iter_rows() for cred in vendor.row_credentials(row) for env in cred.env}),
)

# what the developer's shell had, before each test cleans it: the live vendor tests use it
REAL_VENDOR_ENV = {name: os.environ[name] for name in VENDOR_ENV if os.environ.get(name)}


def _group(item: pytest.Item) -> str:
    return "realtime" if item.get_closest_marker("realtime") else item.nodeid.split("::")[0]


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (``make test`` runs --dist loadgroup)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One xdist group per file, and one for every ``realtime`` test.

    Live calls through a LiveKit server need real-time audio: each call costs about 0.15 cores
    even when the caller is silent (benchmarks/p6_listening_cpu.py), the callers ~0.08 each. Two
    or three such tests at once on the 2 cores starved each other: a job's VAD fell 35 s behind
    the audio and calls went unanswered (9 of 12 full runs had such a failure). One at a time,
    in one xdist worker, while the other workers run everything else file by file.
    """
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Refuse to run a test whose ``--dist loadgroup`` group was lost.

    pytest 9.2 made node ids structured and xdist 3.8's group suffix a silent no-op: nothing
    failed, the live calls just ran three at once, and a CI run lost four calls to starvation
    (a job's VAD 30-38 s behind its audio). An upgrade that breaks the groups again stops here.
    """
    if item.config.getoption("loadgroup", default=False) and not item.nodeid.endswith(f"@{_group(item)}"):
        pytest.fail(
            "--dist loadgroup lost this test's xdist group: this pytest and pytest-xdist do not work "
            "together (see the pytest pin in pyproject.toml)", pytrace=False,
        )


@pytest.fixture(autouse=True)
def _clean_vendor_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in VENDOR_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _fresh_telemetry_runtime() -> Iterator[None]:
    """Forget the process's telemetry runtime after a test that set one up.

    ``setup_telemetry`` is once per process (the first role wins), which is right for a worker
    or a job but not for a pytest process that runs both: a prewarm test left a ``role="job"``
    runtime, without the live reader, and a later ``simulate`` in the same xdist worker then
    reported no metrics (a CI failure that depended on how the tests were spread).
    """
    yield
    from voxplug.telemetry import current_runtime
    from voxplug.telemetry.setup import reset_for_tests

    if current_runtime() is not None:
        reset_for_tests()


@pytest.fixture(scope="session")
def livekit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveKitServer]:
    """One real LiveKit server for the whole run; tests use their own rooms and agent names."""
    from voxplug.room import run_livekit_server

    with run_livekit_server(tmp_path_factory.mktemp("livekit")) as server:
        yield server


@pytest.fixture
async def vendor() -> AsyncIterator[VendorServer]:
    """A local server speaking the OpenAI API with a fixed transcript and reply."""
    from fakes.vendor_server import VendorServer

    async with VendorServer(reply="The answer is forty two.", transcript="what is the answer") as srv:
        yield srv


@pytest.fixture(scope="session")
def question_speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, int]:
    """A spoken question (espeak-ng): mono int16 samples and the sample rate."""
    path = tmp_path_factory.mktemp("speech") / "question.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "What is the answer to everything?"], check=True)
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16), w.getframerate()
