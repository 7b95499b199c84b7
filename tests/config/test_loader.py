"""Configuration: YAML + env precedence, credentials from vendor env names, every error path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from voxplug import load_config
from voxplug.config.loader import config_fingerprint, redacted_dump
from voxplug.errors import ConfigError

SECRET = "sk-super-secret-value-42"
COMPAT = {"STT_PROVIDER": "openai-compatible", "LLM_PROVIDER": "openai-compatible",
          "TTS_PROVIDER": "openai-compatible", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}


def write(tmp_path: Path, data: object, name: str = "voxplug.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def problems(path: Path | None = None, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    return info.value.problems


def test_env_wins_over_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, {
        "llm": {"provider": "openai", "model": "gpt-4o-mini", "api_key": "from-yaml"},
        "tts": {"provider": "openai", "voice": "alloy", "api_key": "from-yaml"},
        "stt": {"provider": "openai", "api_key": "from-yaml"},
    })
    cfg = load_config(path, env={"LLM_MODEL": "gpt-4.1", "TTS_VOICE": "nova", "OPENAI_API_KEY": "from-env"})
    assert cfg.llm.model == "gpt-4.1"
    assert cfg.tts.voice == "nova"
    # a key written in the file is explicit: the vendor env name only fills what is missing
    assert cfg.llm.secret() == "from-yaml"
    cfg = load_config(path, env={"VOXPLUG_LLM__API_KEY": "nested-env"})
    assert cfg.llm.secret() == "nested-env"


def test_vendor_key_names_and_aliases() -> None:
    cfg = load_config(env={**COMPAT, "LLM_PROVIDER": "azure", "AZURE_API_KEY": SECRET,
                           "AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com"})
    assert cfg.llm.secret() == SECRET
    assert cfg.llm.api_version == "2024-10-21"  # documented default when OPENAI_API_VERSION is unset
    cfg = load_config(env={**COMPAT, "LLM_PROVIDER": "azure", "AZURE_OPENAI_API_KEY": "primary",
                           "AZURE_API_KEY": "alias", "AZURE_OPENAI_ENDPOINT": "https://x", "OPENAI_API_VERSION": "v9"})
    assert cfg.llm.secret() == "primary"
    assert cfg.llm.api_version == "v9"


def test_nested_env_values_and_lists() -> None:
    cfg = load_config(env={**COMPAT, "VOXPLUG_SESSION__TURN_DETECTION": "stt",
                           "VOXPLUG_SESSION__MIN_ENDPOINTING_DELAY": "0.3",
                           "VOXPLUG_AGENT__TOOLS": "[current_time, calculate]",
                           "VOXPLUG_SESSION__ALLOW_INTERRUPTIONS": "false"})
    assert cfg.session.turn_detection == "stt"
    assert cfg.session.min_endpointing_delay == 0.3
    assert cfg.agent.tools == ["current_time", "calculate"]
    assert cfg.session.allow_interruptions is False


def test_unknown_provider_lists_known_ones() -> None:
    [line] = problems(env={**COMPAT, "LLM_PROVIDER": "openia"})
    assert line.startswith("llm.provider: unknown provider 'openia'; known: ")
    assert "anthropic" in line and "openai-compatible" in line


def test_missing_key_names_the_env_var() -> None:
    [line] = problems(env={**COMPAT, "TTS_PROVIDER": "elevenlabs"})
    assert line == ("tts.api_key: missing for provider 'elevenlabs'; set ELEVEN_API_KEY or "
                    "ELEVENLABS_API_KEY or tts.api_key in voxplug.yaml")


def test_fallback_credentials_are_resolved_and_checked(tmp_path: Path) -> None:
    path = write(tmp_path, {"llm": {"provider": "openai-compatible", "base_url": "http://a/v1",
                                    "fallbacks": [{"provider": "anthropic"}, {"provider": "nope"}]}})
    lines = problems(path, env={"STT_PROVIDER": "openai-compatible", "TTS_PROVIDER": "openai-compatible",
                                "OPENAI_BASE_URL": "http://b/v1"})
    assert any(line.startswith("llm.fallbacks.0.api_key: missing for provider 'anthropic'; set ANTHROPIC_API_KEY")
               for line in lines)
    assert any(line.startswith("llm.fallbacks.1.provider: unknown provider 'nope'") for line in lines)
    cfg = load_config(path, env={"STT_PROVIDER": "openai-compatible", "TTS_PROVIDER": "openai-compatible",
                                 "OPENAI_BASE_URL": "http://b/v1", "ANTHROPIC_API_KEY": SECRET,
                                 "VOXPLUG_LLM__FALLBACKS": "[{provider: anthropic}]"})
    assert cfg.llm.fallbacks[0].secret() == SECRET


def test_bad_values_name_the_field_path(tmp_path: Path) -> None:
    path = write(tmp_path, {"session": {"turn_detection": "cloud", "min_endpointing_delay": -1},
                            "llm": {"provider": "openai-compatible", "temperature": "hot"},
                            "agent": {"instructionz": "typo"}})
    lines = problems(path, env=COMPAT)
    assert "session.turn_detection: Input should be 'vad', 'stt', 'local' or 'manual' (got 'cloud')" in lines
    assert any(line.startswith("session.min_endpointing_delay: Input should be greater than or equal to 0")
               for line in lines)
    assert any(line.startswith("llm.temperature: ") for line in lines)
    assert "agent.instructionz: unknown setting; check the spelling against docs/configuration.md" in lines


def test_file_errors_are_one_line(tmp_path: Path) -> None:
    [line] = problems(tmp_path / "absent.yaml")
    assert "not found" in line and "--config" in line
    [line] = problems(write(tmp_path, "llm:\n  provider: [unclosed\n"))
    assert line.startswith("config: ") and "line" in line
    [line] = problems(write(tmp_path, "- just\n- a list\n"))
    assert "must hold a mapping" in line
    no_llm_env = {k: v for k, v in COMPAT.items() if k != "LLM_PROVIDER"}
    lines = problems(write(tmp_path, {"llm": "openai"}), env=no_llm_env)
    assert "llm: must be a mapping with at least 'provider'" in lines
    assert all(line.startswith("llm") for line in lines)


def test_secrets_never_appear_in_errors_or_dumps(tmp_path: Path) -> None:
    path = write(tmp_path, {"llm": {"provider": "openai", "api_key": SECRET, "temperature": 9},
                            "stt": {"provider": "openai", "api_key": {"nested": SECRET}}})
    lines = problems(path, env=COMPAT | {"OPENAI_API_KEY": SECRET})
    assert lines and not any(SECRET in line for line in lines)
    cfg = load_config(env={**COMPAT, "LLM_PROVIDER": "openai", "OPENAI_API_KEY": SECRET})
    dumped = str(redacted_dump(cfg)) + repr(cfg) + str(cfg)
    assert SECRET not in dumped
    assert redacted_dump(cfg)["llm"]["api_key"] == "**********"


def test_fingerprint_ignores_secrets_and_tracks_settings() -> None:
    base = {**COMPAT, "LLM_PROVIDER": "openai"}
    one = config_fingerprint(load_config(env={**base, "OPENAI_API_KEY": "key-one"}))
    two = config_fingerprint(load_config(env={**base, "OPENAI_API_KEY": "key-two"}))
    other = config_fingerprint(load_config(env={**base, "OPENAI_API_KEY": "key-one", "LLM_MODEL": "gpt-4o"}))
    assert one == two != other


def test_config_file_from_env_and_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, {"agent": {"name": "from-file"}})
    assert load_config(env={**COMPAT, "VOXPLUG_CONFIG": str(path)}).agent.name == "from-file"
    monkeypatch.chdir(tmp_path)
    assert load_config(env=COMPAT).agent.name == "from-file"
