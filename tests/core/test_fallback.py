"""A failing primary LLM (HTTP 500 or a hang) hands the turn to the fallback: nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fakes.vendor_server import VendorServer
from voxplug.config.loader import load_config
from voxplug.core.agent import VoiceAssistantAgent
from voxplug.core.observers import AvailabilityChange, SessionObserver
from voxplug.core.session import attach_observers, build_session, session_info


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


@pytest.mark.parametrize("failure", [{"fail_with": 500}, {"hang": True}], ids=["http500", "timeout"])
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
