"""Room/dispatch metadata may change only allowlisted settings, never endpoints or keys."""

from __future__ import annotations

import json

from voxplug.config.loader import load_config
from voxplug.core.overrides import apply_overrides, parse_metadata

ENV = {"STT_PROVIDER": "openai", "LLM_PROVIDER": "openai", "TTS_PROVIDER": "openai",
       "OPENAI_API_KEY": "sk-original", "LLM_MODEL": "gpt-4.1-mini",
       "VOXPLUG_OVERRIDES__ALLOW": "[tts.voice, llm.model, agent.instructions, stt.language]",
       "VOXPLUG_OVERRIDES__LLM_MODELS": "[gpt-4.1]"}


def test_allowed_overrides_apply_from_nested_or_dotted_metadata() -> None:
    cfg = load_config(env=ENV)
    room = json.dumps({"voxplug": {"tts": {"voice": "nova"}, "agent.instructions": "Be terse."}})
    job = json.dumps({"llm.model": "gpt-4.1", "stt": {"language": "fr"}})
    updated, refused = apply_overrides(cfg, parse_metadata(room, job))
    assert refused == []
    assert (updated.tts.voice, updated.llm.model, updated.stt.language) == ("nova", "gpt-4.1", "fr")
    assert updated.agent.instructions == "Be terse."
    assert updated.llm.secret() == "sk-original"


def test_forbidden_and_unlisted_overrides_are_refused_with_reasons() -> None:
    cfg = load_config(env=ENV)
    metadata = json.dumps({
        "llm": {"base_url": "http://evil.example/v1", "api_key": "stolen", "model": "gpt-5-ultra"},
        "tts": {"provider": "elevenlabs"},
        "agent": {"greeting": "unlisted"},
    })
    updated, refused = apply_overrides(cfg, parse_metadata(metadata))
    assert updated.llm.base_url is None and updated.llm.secret() == "sk-original"
    assert updated.tts.provider == "openai" and updated.llm.model == "gpt-4.1-mini"
    assert "llm.base_url: endpoints, providers and credentials cannot be set from metadata" in refused
    assert "llm.api_key: endpoints, providers and credentials cannot be set from metadata" in refused
    assert "tts.provider: endpoints, providers and credentials cannot be set from metadata" in refused
    assert "llm.model: 'gpt-5-ultra' is not in overrides.llm_models" in refused
    assert "agent.greeting: not in overrides.allow" in refused


def test_foreign_or_invalid_metadata_is_ignored_or_rejected() -> None:
    cfg = load_config(env=ENV)
    assert parse_metadata("not json", "[1, 2]", None, "") == {}
    updated, refused = apply_overrides(cfg, {"stt.language": 42})
    assert updated is cfg and refused[-1].endswith("invalid value; overrides ignored")
