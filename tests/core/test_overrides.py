"""Room/dispatch metadata may change only allowlisted settings, never endpoints or keys, and
no metadata at all can break a job (hypothesis: 500 hostile payloads)."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voxplug import load_config
from voxplug.config.models import VoxplugConfig
from voxplug.core.overrides import apply_overrides, overrides_from_metadata, parse_metadata
from voxplug.worker import job_config

ENV = {"STT_PROVIDER": "openai", "LLM_PROVIDER": "openai", "TTS_PROVIDER": "openai",
       "OPENAI_API_KEY": "sk-original-0123456789abcdef", "LLM_MODEL": "gpt-4.1-mini",
       "VOXPLUG_OVERRIDES__ALLOW": "[tts.voice, llm.model, agent.instructions, agent.greeting, stt.language, "
                                   "llm.temperature]",
       "VOXPLUG_OVERRIDES__LLM_MODELS": "[gpt-4.1]"}
SECRET = "sk-proj-PLANTEDsecret0123456789abcdefXYZ"


@pytest.fixture(scope="module")
def cfg() -> VoxplugConfig:
    return load_config(env=ENV)


def test_allowed_overrides_apply_from_nested_or_dotted_metadata(cfg: VoxplugConfig) -> None:
    room = json.dumps({"voxplug": {"tts": {"voice": "nova"}, "agent.instructions": "Be terse."}})
    job = json.dumps({"llm.model": "gpt-4.1", "stt": {"language": "fr"}, "llm.temperature": 0.3})
    updated, refused = overrides_from_metadata(cfg, room, job)
    assert refused == []
    assert (updated.tts.voice, updated.llm.model, updated.stt.language) == ("nova", "gpt-4.1", "fr")
    assert updated.agent.instructions == "Be terse." and updated.llm.temperature == 0.3
    assert updated.llm.secret() == "sk-original-0123456789abcdef"


def test_forbidden_and_unlisted_overrides_are_refused_with_reasons(cfg: VoxplugConfig) -> None:
    metadata = json.dumps({
        "llm": {"base_url": "http://evil.example/v1", "api_key": "stolen", "model": "gpt-5-ultra"},
        "tts": {"provider": "elevenlabs"},
        "worker": {"agent_name": "other"},
    })
    updated, refused = overrides_from_metadata(cfg, metadata)
    assert updated.llm.base_url is None and updated.llm.secret() == "sk-original-0123456789abcdef"
    assert updated.tts.provider == "openai" and updated.llm.model == "gpt-4.1-mini"
    assert "llm.base_url: endpoints, providers and credentials cannot be set from metadata" in refused
    assert "llm.api_key: endpoints, providers and credentials cannot be set from metadata" in refused
    assert "tts.provider: endpoints, providers and credentials cannot be set from metadata" in refused
    assert "llm.model: 'gpt-5-ultra' is not in overrides.llm_models" in refused
    assert "worker.agent_name: not in overrides.allow" in refused


def test_foreign_metadata_is_ignored_and_bad_values_refused_one_by_one(cfg: VoxplugConfig) -> None:
    assert parse_metadata("not json", "[1, 2]", None, "") == ({}, [])
    updated, refused = apply_overrides(cfg, {"stt.language": 42, "tts.voice": "nova", "llm.temperature": 9})
    # the good key applies; each bad one is refused alone
    assert updated.tts.voice == "nova" and updated.stt.language is None and updated.llm.temperature is None
    assert refused == ["stt.language: must be text, not int", "llm.temperature: invalid value"]


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ("[" * 200_000 + "]" * 200_000, "over overrides.max_metadata_bytes (65536)"),
        ("[" * 30_000 + "]" * 30_000, "JSON nested too deeply"),
        (json.dumps({"agent": {"instructions": "x" * 1_000_000}}), "over overrides.max_metadata_bytes"),
        (json.dumps({"agent": {"instructions": "x" * 4001}}), "over overrides.max_instructions_chars (4000)"),
        (json.dumps({"agent": {"greeting": "x" * 501}}), "over overrides.max_greeting_chars (500)"),
        (json.dumps({"tts": {"voice": "v" * 201}}), "over overrides.max_value_chars (200)"),
        ('{"tts": {"voice": "\\ud800"}}', "tts.voice: not valid UTF-8"),
        ('{"tts": "\ud800"}', "not valid UTF-8; ignored"),
        (json.dumps({"tts": {"voice": {"deep": {"er": 1}}}}), "nested too deeply"),
        (json.dumps({"voxplug": 7}), "'voxplug' must be an object of settings"),
        (json.dumps({f"k{i}": 1 for i in range(65)}), "more than 64 keys"),
        (json.dumps({"llm": {"temperature": True}}), "llm.temperature: must be a number"),
        (json.dumps({"agent": {"instructions": ["a", "list"]}}), "agent.instructions: must be text, not list"),
    ],
)
def test_hostile_metadata_is_refused_with_a_reason(cfg: VoxplugConfig, metadata: str, reason: str) -> None:
    updated, refused = overrides_from_metadata(cfg, metadata)
    assert any(reason in line for line in refused), refused
    assert updated.agent.instructions == cfg.agent.instructions
    assert updated.tts.voice == cfg.tts.voice


def test_limits_are_configurable(cfg: VoxplugConfig) -> None:
    roomy = cfg.model_copy(update={"overrides": cfg.overrides.model_copy(update={"max_instructions_chars": 10_000})})
    updated, refused = overrides_from_metadata(roomy, json.dumps({"agent.instructions": "y" * 5000}))
    assert refused == [] and len(updated.agent.instructions) == 5000


def test_refusals_never_echo_a_secret_or_a_long_key(cfg: VoxplugConfig, caplog: pytest.LogCaptureFixture) -> None:
    metadata = json.dumps({"llm": {"model": SECRET, "api_key": SECRET}, "x" * 10_000: SECRET, SECRET: 1})
    with caplog.at_level(logging.WARNING):
        job_config(cfg, "room-" + "r" * 5000, metadata)
    logged = caplog.text
    assert "metadata override refused" in logged
    assert SECRET not in logged and "x" * 100 not in logged and "r" * 100 not in logged


# -- property-based: no payload breaks the metadata path ------------------------------------------
_text = st.text(st.characters(codec="utf-8"), max_size=300)
_secret = st.sampled_from([SECRET, "gsk_0123456789abcdefghij", "AKIAABCDEFGHIJKLMNOP", "Bearer abc.def.ghi-xyz"])
_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), _text, _secret,
    st.text(min_size=4_000, max_size=6_000),  # oversized text
    st.just("\ud800"),  # a lone surrogate: not UTF-8
)
_keys = st.one_of(
    st.sampled_from(["agent.instructions", "agent.greeting", "tts.voice", "llm.model", "llm.api_key",
                     "llm.base_url", "stt.language", "llm.temperature", "voxplug", "tts", "llm", "agent"]),
    _text, _secret,
)
_json = st.recursive(_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                    st.dictionaries(_keys, inner, max_size=5)), max_leaves=30)


def _deep(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


_payload = st.one_of(
    _json.map(lambda v: json.dumps(v, ensure_ascii=False, allow_nan=True) if not _has_surrogate(v) else json.dumps(v)),
    st.integers(min_value=1, max_value=100_000).map(_deep),  # deep nesting
    st.integers(min_value=1, max_value=200_000).map(lambda n: "[" * n),  # unbalanced, deep
    _text,  # not JSON at all
    st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape")),  # not UTF-8
)


def _has_surrogate(value: object) -> bool:
    return "\ud800" in json.dumps(value)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(room=st.one_of(st.none(), _payload), job=st.one_of(st.none(), _payload))
def test_no_metadata_breaks_the_job_or_leaks_a_secret(cfg: VoxplugConfig, room: str | None, job: str | None) -> None:
    logger = logging.getLogger("voxplug.worker")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        updated = job_config(cfg, "room-1", room, job)  # never raises
    finally:
        logger.removeHandler(handler)
    assert isinstance(updated, VoxplugConfig)
    # the operator's endpoints, providers and keys are untouched
    assert updated.llm.secret() == cfg.llm.secret() and updated.llm.base_url == cfg.llm.base_url
    assert (updated.stt.provider, updated.llm.provider, updated.tts.provider) == ("openai",) * 3
    assert len(updated.agent.instructions) <= max(cfg.overrides.max_instructions_chars, len(cfg.agent.instructions))
    for record in records:
        line = record.getMessage()
        assert "\n" not in line and len(line) < 600
        for secret in (SECRET, "gsk_0123456789abcdefghij", "AKIAABCDEFGHIJKLMNOP"):
            assert secret not in line
