"""Configuration of the conversation store and the backend webhook sink.

Mounted as ``VoxplugConfig.persistence``. The three deployment-specific values come from the
environment, which wins over the file: ``DATABASE_URL``, ``BACKEND_URL`` and
``BACKEND_SECRET``. A database URL may carry a password, so it is a ``SecretStr`` like the
webhook secret: neither is ever logged, dumped or stored.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from sqlalchemy.engine import make_url

from ..errors import ConfigError
from .base import Strict

__all__ = ["BackendConfig", "PersistenceConfig", "async_url", "persistence_problems"]

DEFAULT_DATA_DIR = ".voxplug"
DATABASE_FILE = "voxplug.db"
OUTBOX_FILE = "outbox.db"


class BackendConfig(Strict):
    """Optional webhook sink: every session event is POSTed, signed, to ``url``."""

    url: str | None = None
    secret: SecretStr | None = None
    timeout: float = Field(default=10.0, gt=0.0)
    # exponential backoff between delivery attempts: initial, doubled up to max, with jitter
    initial_backoff: float = Field(default=0.5, gt=0.0)
    max_backoff: float = Field(default=60.0, gt=0.0)
    # transcripts are personal data: the backend may be another party
    include_transcripts: bool = True

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value or None

    @property
    def enabled(self) -> bool:
        return bool(self.url)


class PersistenceConfig(Strict):
    enabled: bool = True
    # None: an embedded SQLite file in data_dir; else an SQLAlchemy URL (postgresql://...)
    database_url: SecretStr | None = None
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    # False: metadata only (timings, counts, usage) — no words of the conversation are kept
    store_transcripts: bool = True
    # sessions that ended more than this many days ago are removed by `voxplug sessions purge`
    retention_days: int | None = Field(default=90, ge=1)
    # events waiting for the database writer; beyond this they spill to the on-disk outbox
    queue_size: int = Field(default=1000, ge=1)
    # None: run migrations on start for SQLite (embedded), never for PostgreSQL (run
    # `voxplug db upgrade` once per deploy instead of racing from every worker)
    auto_migrate: bool | None = None
    # how long a session's close waits for its events to be written before leaving them
    # to the outbox (they are durable either way)
    flush_timeout: float = Field(default=5.0, gt=0.0)
    backend: BackendConfig = Field(default_factory=BackendConfig)

    def url(self) -> str:
        """The async SQLAlchemy URL (clear text: for the engine only, never for logs)."""
        if self.database_url is None:
            return f"sqlite+aiosqlite:///{(self.data_dir / DATABASE_FILE).resolve()}"
        return async_url(self.database_url.get_secret_value())

    @property
    def is_sqlite(self) -> bool:
        return self.url().startswith("sqlite")

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / OUTBOX_FILE

    def should_migrate(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate

    def safe_url(self) -> str:
        """The database URL with any password masked, for messages."""
        try:
            return make_url(self.url()).render_as_string(hide_password=True)
        except Exception:
            return "<invalid database URL>"

    def secret_values(self) -> list[str]:
        """Clear-text secrets of this section, so the store can redact them from text it keeps."""
        values = []
        if self.backend.secret is not None:
            values.append(self.backend.secret.get_secret_value())
        if self.database_url is not None:
            try:
                password = make_url(self.database_url.get_secret_value()).password
            except Exception:
                password = None
            if password:
                values.append(str(password))
        return values

    def with_env(self, env: Mapping[str, str] | None = None) -> PersistenceConfig:
        """A copy with ``DATABASE_URL``, ``BACKEND_URL`` and ``BACKEND_SECRET`` applied (env wins)."""
        env = os.environ if env is None else env
        update: dict[str, Any] = {}
        backend: dict[str, Any] = {}
        if env.get("DATABASE_URL"):
            update["database_url"] = SecretStr(env["DATABASE_URL"])
        if env.get("BACKEND_URL"):
            backend["url"] = env["BACKEND_URL"]
        if env.get("BACKEND_SECRET"):
            backend["secret"] = SecretStr(env["BACKEND_SECRET"])
        if not update and not backend:
            return self
        data = self.model_dump()
        data.update(update)
        data["backend"] = {**data["backend"], **backend}
        try:
            return PersistenceConfig.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(*persistence_problems(exc)) from None

    def check(self) -> None:
        """Cross-field rules, as one-line ConfigErrors."""
        if self.backend.enabled and self.backend.secret is None:
            raise ConfigError(
                "persistence.backend.secret: required when BACKEND_URL is set; "
                "set BACKEND_SECRET (a shared secret for the HMAC signature)"
            )


def async_url(url: str) -> str:
    """Pick the async driver for a plain URL: postgres → asyncpg, sqlite → aiosqlite."""
    for prefix, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgresql+psycopg2://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(prefix):
            return driver + url[len(prefix) :]
    return url


def persistence_problems(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in err["loc"])
        lines.append(f"persistence.{loc}: {err['msg']}")
    return lines
