"""A failing primary LLM (HTTP 500, a hang, a stall after the headers) hands the turn to the
fallback: nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fakes.vendor_server import VendorServer
from voxplug import load_config
from voxplug.core.agent import VoiceAssistantAgent
from voxplug.core.agents import AgentFactory
from voxplug.core.observers import AvailabilityChange, SessionObserver
from voxplug.core.session import attach_observers, build_session, session_info
from voxplug.providers.fallback import FirstTokenFallbackAdapter


class AvailabilityRecorder(SessionObserver):
    def __init__(self) -> None:
        self.changes: list[AvailabilityChange] = []

    def on_availability_changed(self, change: AvailabilityChange) -> None:
        self.changes.append(change)


def write_config(tmp_path: Path, primary: str, fallback: str) -> Path:
    stage = {"provider": "openai-compatible", "base_url": f"{primary}/v1", "model": "primary-model",
             "fallbacks": [{"provider": "openai-compatible", "base_url": f"{fallback}/v1", "model": "backup-model"}]}
    data = {
        "agent": {"greeting": None, "tools": []},
        "stt": {"provider": "openai-compatible", "base_url": f"{fallback}/v1"},
        "llm": stage,
        "tts": {"provider": "openai-compatible", "base_url": f"{fallback}/v1"},
        # no per-request retries, a short attempt timeout: the fallback is what is under test
        "session": {"retry": {"max_retry": 0, "timeout": 5.0}, "fallback_attempt_timeout": 1.5},
    }
    path = tmp_path / "voxplug.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "failure", [{"fail_with": 500}, {"hang": True}, {"stall": True}], ids=["http500", "timeout", "stall"]
)
async def test_llm_fallback_answers_when_primary_fails(tmp_path: Path, failure: dict) -> None:
    async with VendorServer(**failure) as primary, VendorServer(reply="Backup answering.") as backup:
        cfg = load_config(write_config(tmp_path, primary.url, backup.url), env={})
        session = build_session(cfg)
        recorder = AvailabilityRecorder()
        attach_observers(session, session_info(cfg, session), [recorder])
        await session.start(VoiceAssistantAgent(cfg.agent))
        try:
            result = await session.run(user_input="Are you there?")
            msg = result.expect.next_event().is_message(role="assistant")
            assert msg.event().item.text_content == "Backup answering."
        finally:
            await session.aclose()
    assert primary.find("/chat/completions"), "the primary was tried first"
    assert backup.find("/chat/completions")[0].body["model"] == "backup-model"
    # the plugin labels a custom base_url by its host
    down = [c for c in recorder.changes if c.stage == "llm" and not c.available]
    assert [c.provider for c in down] == [f"127.0.0.1:{primary.port}/primary-model"]


def first_token_config(tmp_path: Path, primary: str, backup: str, *, first_token: float) -> Path:
    path = write_config(tmp_path, primary, backup)
    data = yaml.safe_load(path.read_text())
    # an attempt timeout far above the first-token deadline: only the deadline can switch in time
    data["session"] |= {"fallback_attempt_timeout": 60.0, "fallback_first_token_timeout": first_token}
    path.write_text(yaml.safe_dump(data))
    return path


async def ask(cfg_path: Path, question: str = "Are you there?") -> str:
    cfg = load_config(cfg_path, env={})
    session = build_session(cfg)
    await session.start(VoiceAssistantAgent(cfg.agent))
    try:
        result = await session.run(user_input=question)
        return str(result.expect.next_event().is_message(role="assistant").event().item.text_content)
    finally:
        await session.aclose()


async def test_stalled_primary_fails_over_on_the_first_token_deadline(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with VendorServer(stall=True) as primary, VendorServer(reply="Backup answering.") as backup:
        with caplog.at_level("WARNING", logger="voxplug.providers"):
            text = await ask(first_token_config(tmp_path, primary.url, backup.url, first_token=0.5))
    assert text == "Backup answering."
    assert primary.find("/chat/completions") and backup.find("/chat/completions")
    assert "sent no token within 0.5s, switching to the next LLM" in caplog.text


async def test_the_last_llm_of_the_chain_gets_no_first_token_deadline(tmp_path: Path) -> None:
    # the backup is slower to its first token than the deadline: with nobody after it, it is waited for
    async with (
        VendorServer(stall=True) as primary,
        VendorServer(reply="Slow backup answering.", first_chunk_delay=1.0) as backup,
    ):
        text = await ask(first_token_config(tmp_path, primary.url, backup.url, first_token=0.2))
    assert text == "Slow backup answering."


async def test_healthy_primary_streams_its_whole_reply_past_the_deadline(tmp_path: Path) -> None:
    reply = "One two three four five six seven eight nine ten."
    async with VendorServer(reply=reply) as primary, VendorServer(reply="Backup answering.") as backup:
        text = await ask(first_token_config(tmp_path, primary.url, backup.url, first_token=30.0))
    assert text == reply  # every chunk after the first passes through
    assert not backup.find("/chat/completions")


def test_an_agents_own_llm_chain_gets_the_sessions_deadlines(tmp_path: Path) -> None:
    path = first_token_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9", first_token=0.7)
    data = yaml.safe_load(path.read_text())
    data["agents"] = {"billing": {"instructions": "You are billing.",
                                  "llm": {"provider": "fixed", "fallbacks": [{"provider": "fixed"}]}}}
    path.write_text(yaml.safe_dump(data))
    built = AgentFactory(load_config(path, env={})).create("billing").llm
    assert isinstance(built, FirstTokenFallbackAdapter) and len(built._llm_instances) == 2
    assert built.first_token_timeout == 0.7 and built._attempt_timeout == 60.0


def test_an_agents_keyless_fallback_gets_the_default_key_like_the_sessions(tmp_path: Path) -> None:
    path = first_token_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9", first_token=0.7)
    data = yaml.safe_load(path.read_text())
    keyless = {"provider": "openai-compatible", "model": "m", "base_url": "http://127.0.0.1:9/v1"}
    data["agents"] = {"billing": {"instructions": "You are billing.",
                                  "llm": {"provider": "fixed", "fallbacks": [keyless]}}}
    path.write_text(yaml.safe_dump(data))
    config = load_config(path, env={})
    fallback = config.agents["billing"].llm["fallbacks"][0]  # the raw override mapping
    assert fallback["api_key"] == "not-needed"
    built = AgentFactory(config).create("billing").llm  # built without the SDK's "missing credentials"
    assert isinstance(built, FirstTokenFallbackAdapter) and len(built._llm_instances) == 2
