"""The settings parser and the rate limiter, including property-based tests for the parsers."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxplug import load_config
from voxplug.config.models import OverridableField, VoxplugConfig
from voxplug.core.overrides import apply_overrides, parse_metadata
from voxplug.errors import ConfigError
from voxplug.web import SETTINGS, RateLimit, RateLimiter, page_settings, parse_settings
from voxplug.web.security import MAX_CLIENTS, is_loopback

ALLOWED = ["agent.greeting", "tts.voice", "stt.language", "llm.model", "llm.temperature"]


def config(allow: list[str] = ALLOWED, models: str = "[small, large]") -> VoxplugConfig:
    return load_config(env={
        "STT_PROVIDER": "fixed", "LLM_PROVIDER": "fixed", "TTS_PROVIDER": "fixed", "LLM_MODEL": "small",
        "VOXPLUG_OVERRIDES__ALLOW": "[" + ", ".join(allow) + "]", "VOXPLUG_OVERRIDES__LLM_MODELS": models,
    })


CONFIG = config()


def test_every_overridable_field_has_a_panel_row() -> None:
    assert set(SETTINGS) == set(get_args(OverridableField))


def test_the_panel_offers_exactly_the_allowlist_and_hides_the_system_prompt() -> None:
    rows = page_settings(config(["agent.instructions", "llm.model"]))
    assert [r["key"] for r in rows] == ["agent.instructions", "llm.model"]
    assert rows[0]["placeholder"] == ""  # the configured prompt is not shown to visitors
    assert rows[1]["choices"] == ["small", "large"]
    assert page_settings(config([])) == []


def test_the_prompt_and_greeting_limits_are_the_workers_own() -> None:
    # the page bounds what the worker would refuse anyway, by the same configured figures
    tight = load_config(env={
        "STT_PROVIDER": "fixed", "LLM_PROVIDER": "fixed", "TTS_PROVIDER": "fixed",
        "VOXPLUG_OVERRIDES__ALLOW": "[agent.instructions, agent.greeting]",
        "VOXPLUG_OVERRIDES__MAX_INSTRUCTIONS_CHARS": "50", "VOXPLUG_OVERRIDES__MAX_GREETING_CHARS": "20",
    })
    assert [r["max_length"] for r in page_settings(tight)] == [50, 20]
    assert parse_settings({"agent.greeting": "x" * 20}, tight) == {"agent.greeting": "x" * 20}
    with pytest.raises(ConfigError, match=r"settings\.agent\.greeting: at most 20 characters"):
        parse_settings({"agent.greeting": "x" * 21}, tight)
    assert [r["max_length"] for r in page_settings(config(["agent.instructions", "agent.greeting"]))] == [
        CONFIG.overrides.max_instructions_chars, CONFIG.overrides.max_greeting_chars]


def test_a_model_outside_the_offered_choices_is_refused() -> None:
    assert parse_settings({"llm.model": "large"}, CONFIG) == {"llm.model": "large"}
    with pytest.raises(ConfigError, match=r"settings\.llm\.model: not one of the offered choices"):
        parse_settings({"llm.model": "gpt-expensive"}, CONFIG)


def test_every_refused_field_gets_its_own_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"llm.api_key": "sk-stolen", "stt.language": "??", "agent.greeting": 3}, CONFIG)
    assert len(caught.value.problems) == 3
    assert "sk-stolen" not in str(caught.value)


setting_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=400),
    st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
setting_keys = st.one_of(st.sampled_from(sorted(SETTINGS)), st.sampled_from(["llm.base_url", "provider"]), st.text())


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(setting_keys, setting_values, max_size=8))
def test_parsed_settings_are_allowed_bounded_and_accepted_by_the_worker(raw: dict[str, Any]) -> None:
    try:
        chosen = parse_settings(raw, CONFIG)
    except ConfigError as exc:
        # one short line per refused field; values never come back
        assert 1 <= len(exc.problems) <= len(SETTINGS) + 1
        assert all(line.startswith("settings") and len(line) < 200 for line in exc.problems)
        return
    assert set(chosen) <= set(ALLOWED)
    for key, value in chosen.items():
        if isinstance(value, str):
            assert 0 < len(value) <= SETTINGS[key].max_length_for(CONFIG) and value == value.strip()
    # what the page sends, the worker takes whole: the same dispatch metadata, no refusals
    overrides, unparsed = parse_metadata(json.dumps({"voxplug": chosen}))
    updated, refused = apply_overrides(CONFIG, overrides)
    assert unparsed == [] and refused == []
    for key, value in chosen.items():
        section, field = key.split(".")
        assert getattr(getattr(updated, section), field) == value


@given(st.text(max_size=40))
def test_rate_limit_option_parses_or_says_what_is_wrong(text: str) -> None:
    try:
        limit = RateLimit.parse(text, "--rate-limit")
    except ConfigError as exc:
        assert str(exc).startswith("--rate-limit: ")
        return
    assert limit.per_minute >= 0 and limit.burst >= 1
    assert RateLimit.parse(str(limit), "--rate-limit") == limit


def test_rate_limit_option_examples() -> None:
    assert RateLimit.parse("6/min,burst=3", "x") == RateLimit(6, 3)
    assert RateLimit.parse("10/min", "x") == RateLimit(10, 10)
    assert not RateLimit.parse("0", "x").enabled


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_gets_its_burst_then_one_token_per_interval() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(per_minute=6, burst=3), RateLimit(0, 1), clock=clock)
    assert [limiter.check("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.check("a")
    assert wait == pytest.approx(10.0)  # 6 a minute: one every 10 s
    assert limiter.check("b") == 0.0  # another client has its own bucket
    clock.now += 10.0
    assert limiter.check("a") == 0.0
    assert limiter.check("a") > 0


def test_the_overall_limit_counts_every_client() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(0, 1), RateLimit(per_minute=60, burst=2), clock=clock)
    assert [limiter.check(f"c{i}") for i in range(3)] == [0.0, 0.0, pytest.approx(1.0)]


def test_the_limiter_remembers_a_bounded_number_of_clients() -> None:
    limiter = RateLimiter(RateLimit(per_minute=1, burst=1), RateLimit(0, 1), clock=Clock())
    for i in range(MAX_CLIENTS + 50):
        limiter.check(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert len(limiter._clients) == MAX_CLIENTS


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("192.168.1.10", False), ("example.com", False), ("", False),
])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
