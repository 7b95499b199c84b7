"""Realtime (speech-to-speech) models by config, through a real ``AgentSession``.

The OpenAI Realtime plugin, built by the factory from ``llm.provider: openai-realtime``, talks
to a local WebSocket server speaking the Realtime API (tests/fakes/openai_realtime.py): spoken
audio in, transcript and audio deltas out. The same simulator that drives ``voxplug simulate``
plays the user's speech; the metrics observer and the conversation store watch the turn.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from livekit.agents import llm
from livekit.agents.utils import http_context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from fakes.vendor_server import VendorServer
from voxplug import load_config
from voxplug.config.models import VoxplugConfig
from voxplug.config.persistence import PersistenceConfig
from voxplug.core.observers import SessionObserver
from voxplug.core.session import build_session, build_stage_models, load_session_models
from voxplug.errors import ConfigError
from voxplug.persistence.database import Database
from voxplug.persistence.store import ConversationStore
from voxplug.simulate.runner import SessionResult, run_conversation
from voxplug.simulate.script import Turn
from voxplug.simulate.voice import prepare_turn_audio
from voxplug.telemetry import MetricsObserver

SECRET = "sk-realtime-0123456789"
TURN_TIMEOUT = 60.0  # generous: a loaded 2-core machine


def realtime_env(url: str, **extra: str) -> dict[str, str]:
    return {"LLM_PROVIDER": "openai-realtime", "OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": f"{url}/v1",
            "LLM_MODEL": "gpt-realtime", "VOXPLUG_LLM__VOICE": "marin", **extra}


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rt") / "question.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "Can you book a table for two tonight?"], check=True)
    return path


async def converse(config: VoxplugConfig, turn: Turn, observers: Sequence[SessionObserver] = ()) -> SessionResult:
    """One spoken turn through the simulator (the code behind ``voxplug simulate``)."""
    return await run_conversation(
        config, [turn], await prepare_turn_audio([turn]), models=load_session_models(config.session),
        turn_timeout=TURN_TIMEOUT, observers=observers,
    )


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                out.setdefault(metric.name, []).extend(metric.data.data_points)
    return out


async def test_a_spoken_realtime_turn_is_measured_and_stored(question_wav: Path, tmp_path: Path) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = MetricsObserver(meter_provider=provider)
    store_config = PersistenceConfig(data_dir=tmp_path / "data")
    db = Database(store_config.url())
    await db.upgrade()
    await db.dispose()
    store = ConversationStore(store_config)
    turn = Turn(wav=question_wav)
    async with VendorServer(reply="Your table for two is booked.", transcript="book a table for two") as srv:
        config = load_config(env=realtime_env(srv.url))
        assert (config.stt.provider, config.tts.provider) == ("none", "none")
        result = await converse(config, turn, [metrics, store])
        await store.aclose()
    [res] = result.turns
    assert res.ok, res.error
    assert res.heard == "book a table for two"  # the model's own transcription of the user
    assert res.reply == "Your table for two is booked."
    assert res.agent_audio is not None and res.agent_audio > 0.3  # the model's audio played
    assert (result.stt, result.tts) == ("none/none", "none/none")
    # no TTS to say() the greeting: the realtime model was asked to speak it
    assert result.greeting == "Your table for two is booked."  # the fake answers every request alike

    # on the wire: the key, the model, the voice and the user's audio
    [conn] = srv.realtime.connections
    assert conn.headers["authorization"] == f"Bearer {SECRET}"
    assert conn.query["model"] == "gpt-realtime"
    assert conn.sessions[0]["audio"]["output"]["voice"] == "marin"
    assert conn.audio_bytes > 24000 * 2  # more than a second of 24 kHz PCM16 reached the model
    assert conn.responses == 2  # the greeting (response.create) and the answer to the user's turn

    # metrics observer: the turn, its latency and the realtime model's tokens
    seen = points(reader)
    assert sum(p.value for p in seen["voxplug.turns"]) == 2  # greeting + answer
    assert sum(p.count for p in seen["voxplug.turn.voice_to_voice_latency"]) >= 1
    tokens = {dict(p.attributes)["model"]: p.value for p in seen["voxplug.llm.output_tokens"]}
    assert tokens.get("gpt-realtime") == 24  # 12 output tokens per response, two responses

    # conversation store: both sides of the turn
    db = Database(store_config.url())
    try:
        [listed] = await db.list_sessions()
        detail = await db.get_session(listed["id"])
    finally:
        await db.dispose()
    texts = [(t["role"], t["text"]) for t in detail.turns]
    assert ("user", "book a table for two") in texts
    assert ("assistant", "Your table for two is booked.") in texts


async def test_a_failing_realtime_model_falls_back_to_the_next(question_wav: Path, tmp_path: Path) -> None:
    turn = Turn(wav=question_wav)
    # no greeting: the first model fails on connect, before anything is said
    quiet = tmp_path / "voxplug.yaml"
    quiet.write_text("agent: {greeting: null}\n")
    async with (
        VendorServer(realtime_fail_code="invalid_api_key") as broken,
        VendorServer(reply="Backup model here.", transcript="book a table") as backup,
    ):
        env = realtime_env(broken.url, VOXPLUG_LLM__FALLBACKS=(
            f"[{{provider: openai-realtime, base_url: '{backup.url}/v1', model: gpt-realtime-mini}}]"
        ))
        config = load_config(quiet, env=env)
        result = await converse(config, turn)
    [res] = result.turns
    assert res.ok, res.error
    assert res.reply == "Backup model here."
    assert result.llm == "fallback"
    assert broken.realtime.connections and broken.realtime.connections[0].responses == 0
    assert backup.realtime.connections[-1].query["model"] == "gpt-realtime-mini"


async def test_half_cascade_asks_for_text_and_speaks_through_the_tts(question_wav: Path) -> None:
    turn = Turn(wav=question_wav)
    async with VendorServer(reply="Text reply, spoken by the TTS.", transcript="book a table") as srv:
        env = realtime_env(srv.url, TTS_PROVIDER="openai-compatible")
        config = load_config(env=env)
        result = await converse(config, turn)
    [res] = result.turns
    assert res.ok, res.error
    assert res.reply == "Text reply, spoken by the TTS."
    assert srv.realtime.connections[0].sessions[0]["output_modalities"] == ["text"]
    # the greeting (say() through the TTS) and the model's text answer, both spoken by the TTS
    assert [r.body["input"] for r in srv.find("/audio/speech")] == [
        config.agent.greeting, "Text reply, spoken by the TTS.",
    ]


async def test_combinations_that_cannot_work_are_config_errors() -> None:
    base = {"OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    cases = [
        ({**base, "LLM_PROVIDER": "openai", "STT_PROVIDER": "none", "TTS_PROVIDER": "openai"},
         r"stt\.provider: 'none' needs a realtime llm\.provider"),
        ({**base, "LLM_PROVIDER": "openai-realtime", "STT_PROVIDER": "openai"},
         r"stt\.provider: 'openai-realtime' transcribes the user itself"),
        ({**base, "LLM_PROVIDER": "openai-realtime", "TTS_PROVIDER": "openai", "XAI_API_KEY": "x" * 12,
          "VOXPLUG_LLM__FALLBACKS": "[{provider: xai-realtime}]"},
         r"tts\.provider: 'xai-realtime' speaks with its own voice"),
        ({**base, "LLM_PROVIDER": "openai-realtime", "VOXPLUG_LLM__FALLBACKS": "[{provider: openai}]"},
         r"llm\.fallbacks\.0\.provider: 'openai' is a text LLM"),
        ({**base, "LLM_PROVIDER": "openai", "VOXPLUG_LLM__FALLBACKS": "[{provider: openai-realtime}]"},
         r"llm\.provider: 'openai-realtime' is a realtime model"),
        ({**base, "LLM_PROVIDER": "openai-realtime", "VOXPLUG_SESSION__TURN_DETECTION": "stt"},
         r"session\.turn_detection: 'stt' needs a separate STT"),
    ]
    async with http_context.open():
        for env, message in cases:
            config = load_config(env=env)
            with pytest.raises(ConfigError, match=message):
                build_stage_models(config)


async def test_realtime_session_is_built_with_the_model_in_the_llm_slot() -> None:
    async with http_context.open():
        config = load_config(env=realtime_env("http://127.0.0.1:9"))
        session = build_session(config, models=load_session_models(config.session))
        assert isinstance(session.llm, llm.RealtimeModel)
        assert session.stt is None and session.tts is None


async def test_voxplug_simulate_runs_a_realtime_conversation(question_wav: Path, tmp_path: Path) -> None:
    """The command a user runs, as a subprocess, against the local Realtime fake."""
    config = tmp_path / "voxplug.yaml"
    script = tmp_path / "script.yaml"
    report = tmp_path / "report.json"
    script.write_text(f"turns:\n  - wav: {question_wav}\n    expect: booked\n")
    async with VendorServer(reply="Your table is booked.", transcript="book a table") as srv:
        config.write_text(
            "agent: {greeting: null}\n"
            f"llm: {{provider: openai-realtime, model: gpt-realtime, voice: marin, base_url: '{srv.url}/v1'}}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_PROVIDER"))}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "voxplug", "simulate", "--config", str(config), str(script),
            "--json", str(report), env={**env, "OPENAI_API_KEY": SECRET},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 240)
    assert proc.returncode == 0, (out.decode()[-2000:], err.decode()[-2000:])
    data = json.loads(report.read_text())
    [turn] = data["turns"]
    assert turn["ok"] and turn["heard"] == "book a table" and turn["reply"] == "Your table is booked."
    assert "1/1 turns ok" in out.decode()
    assert SECRET not in out.decode() + err.decode()
    assert srv.realtime.connections[0].headers["authorization"] == f"Bearer {SECRET}"


def test_the_realtime_example_config_is_valid() -> None:
    example = Path(__file__).parents[2] / "examples" / "realtime.yaml"
    config = load_config(example, env={"OPENAI_API_KEY": SECRET, "GOOGLE_API_KEY": "g" * 20})
    assert config.llm.provider == "openai-realtime" and config.llm.fallbacks[0].provider == "google-realtime"
    assert (config.stt.provider, config.tts.provider) == ("none", "none")
