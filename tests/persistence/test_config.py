"""PersistenceConfig: environment, secrets, and building the store from a VoxplugConfig."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from voxplug.config.loader import load_persistence_config
from voxplug.config.models import VoxplugConfig
from voxplug.config.persistence import PersistenceConfig
from voxplug.errors import ConfigError
from voxplug.persistence.store import ConversationStore
from voxplug.redaction import Redactor, collect_secrets

from .fakes import SECRET_IN_TOOL, run_conversation


def test_env_wins_and_secrets_stay_secret() -> None:
    env = {
        "DATABASE_URL": "postgres://app:pw-12345@db.internal:5432/voxplug",
        "BACKEND_URL": "https://api.example.com/events",
        "BACKEND_SECRET": "whsec-abcdef",
    }
    config = PersistenceConfig().with_env(env)
    assert config.url() == "postgresql+asyncpg://app:pw-12345@db.internal:5432/voxplug"
    assert config.safe_url() == "postgresql+asyncpg://app:***@db.internal:5432/voxplug"
    assert config.backend.enabled and config.backend.url == env["BACKEND_URL"]
    dumped = config.model_dump_json()
    assert "pw-12345" not in dumped and "whsec-abcdef" not in dumped
    assert sorted(config.secret_values()) == ["pw-12345", "whsec-abcdef"]
    assert not config.should_migrate()


def test_backend_needs_a_secret_and_a_real_url() -> None:
    with pytest.raises(ConfigError, match="BACKEND_SECRET"):
        PersistenceConfig().with_env({"BACKEND_URL": "https://api.example.com/events"}).check()
    with pytest.raises(ConfigError, match=r"persistence\.backend\.url"):
        PersistenceConfig().with_env({"BACKEND_URL": "api.example.com/events"})


def test_file_section_and_env(tmp_path: Path) -> None:
    file = tmp_path / "voxplug.yaml"
    file.write_text("persistence:\n  store_transcripts: false\n  retention_days: 7\n")
    config = load_persistence_config(file, env={"VOXPLUG_PERSISTENCE__QUEUE_SIZE": "5"})
    assert (config.store_transcripts, config.retention_days, config.queue_size) == (False, 7, 5)
    assert config.is_sqlite and config.should_migrate()


def test_redactor() -> None:
    redact = Redactor(["abc", "sk-long-secret", "sk-long"])
    assert redact("key sk-long-secret and sk-long, abc") == "key ********** and **********, abc"
    assert redact("x" * 50, limit=10) == "x" * 10 + "…"


async def test_store_from_voxplug_config_redacts_vendor_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full = VoxplugConfig.model_validate({
        "stt": {"provider": "deepgram"},
        "llm": {"provider": "openai", "api_key": SECRET_IN_TOOL},
        "tts": {"provider": "cartesia"},
    })
    assert SECRET_IN_TOOL in collect_secrets(full)
    monkeypatch.chdir(tmp_path)  # default data_dir .voxplug lands here
    store = ConversationStore.from_config(full)
    assert store is not None
    await run_conversation([store], ["where is my order?", "boom"])
    raw = b"".join(p.read_bytes() for p in (tmp_path / ".voxplug").iterdir() if p.is_file())
    assert SECRET_IN_TOOL.encode() not in raw and b"lookup_order" in raw


def test_disabled_store_is_none() -> None:
    class Holder:
        persistence = PersistenceConfig(enabled=False)

    assert ConversationStore.from_config(Holder()) is None
    assert PersistenceConfig(database_url=SecretStr("sqlite:///x.db")).url() == "sqlite+aiosqlite:///x.db"
