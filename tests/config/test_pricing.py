"""One price table for metrics and the store: units, matching, documented defaults, moved keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from voxplug import load_config
from voxplug.config.loader import load_persistence_config
from voxplug.config.pricing import DEFAULT_PRICES, Price, PricingConfig
from voxplug.errors import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
FIXED = {"STT_PROVIDER": "fixed", "LLM_PROVIDER": "fixed", "TTS_PROVIDER": "fixed"}


def test_defaults_are_documented_row_by_row() -> None:
    rows = re.findall(r"^\| (stt|llm|tts) \| `([^`]+)` \| `([^`]+)` \| (.+) \|$", DOCS.read_text(), re.M)
    assert len(rows) == len(DEFAULT_PRICES)
    for (stage, provider, model, price), entry in zip(rows, DEFAULT_PRICES, strict=True):
        assert (stage, provider, model) == (entry.stage, entry.provider, entry.model)
        numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?(?:e-?\d+)?", price)]
        expected = {
            "llm": [entry.input_per_million_tokens, entry.output_per_million_tokens],
            "stt": [entry.per_audio_minute],
            "tts": [entry.per_million_characters],
        }[stage]
        assert numbers == pytest.approx(expected), (stage, provider, model)


def test_one_unit_convention() -> None:
    table = PricingConfig(use_defaults=False, prices=[
        Price(stage="llm", input_per_million_tokens=2.0, output_per_million_tokens=8.0),
        Price(stage="tts", per_million_characters=30.0),
        Price(stage="stt", per_audio_minute=0.006),
    ]).table()
    assert table.cost("llm", "p", "m", input_tokens=1_000_000, output_tokens=500_000) == pytest.approx(6.0)
    assert table.cost("tts", "p", "m", characters=2_000) == pytest.approx(0.06)
    assert table.cost("stt", "p", "m", audio_seconds=90) == pytest.approx(0.009)


@pytest.mark.parametrize(("yaml_text", "line"), [
    ("telemetry:\n  prices: []\n", "telemetry.prices: moved to pricing.prices"),
    ("telemetry:\n  use_default_prices: false\n", "telemetry.use_default_prices: moved to pricing.use_defaults"),
    ("persistence:\n  prices: {}\n", "persistence.prices: moved to pricing.prices"),
    ("persistence:\n  currency: EUR\n", "persistence.currency: moved to pricing.currency"),
])
def test_old_price_keys_say_where_they_moved(tmp_path: Path, yaml_text: str, line: str) -> None:
    path = tmp_path / "voxplug.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as exc:
        load_config(path, env=FIXED)
    assert any(p.startswith(line) and "docs/configuration.md#pricing" in p for p in exc.value.problems)
    if yaml_text.startswith("persistence"):
        with pytest.raises(ConfigError, match=re.escape(line)):
            load_persistence_config(path, env={})


def test_pricing_section_loads_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "voxplug.yaml"
    path.write_text("pricing:\n  currency: EUR\n  use_defaults: false\n  prices:\n"
                    "    - {stage: llm, provider: fixed, input_per_million_tokens: 1.5}\n")
    pricing = load_config(path, env=FIXED).pricing
    assert pricing.currency == "EUR" and pricing.table().cost("llm", "fixed", "x", input_tokens=2e6) == 3.0
    assert pricing.table().cost("stt", "deepgram", "nova-3", audio_seconds=60) is None
