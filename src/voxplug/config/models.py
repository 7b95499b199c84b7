"""Validated configuration models.

The YAML file and the environment are merged into one plain dict (see ``loader``) and
validated here. Provider names are checked against the live registry, so third-party
providers registered through entry points are accepted like built-ins.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ..persistence.config import PersistenceConfig
from ..telemetry.config import TelemetryConfig

__all__ = [
    "AgentConfig",
    "LLMConfig",
    "OverrideConfig",
    "RetryConfig",
    "STTConfig",
    "SessionConfig",
    "StageConfig",
    "TTSConfig",
    "VoxplugConfig",
    "WorkerConfig",
]


class _Strict(BaseModel):
    # unknown keys are typos far more often than intent: reject them with the field path
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class StageConfig(_Strict):
    """What every stage (STT, LLM, TTS) shares: vendor, model, credentials, endpoint."""

    provider: str
    model: str | None = None
    api_key: SecretStr | None = None
    base_url: str | None = None
    # Azure OpenAI / Azure AI Speech
    endpoint: str | None = None
    deployment: str | None = None
    api_version: str | None = None
    region: str | None = None
    # anything else the vendor plugin's constructor accepts, passed through as keywords
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("provider")
    @classmethod
    def _normalise_provider(cls, value: str) -> str:
        return value.strip().lower().replace("_", "-")

    def secret(self) -> str | None:
        """The API key in clear text, for handing to a vendor SDK only."""
        return self.api_key.get_secret_value() if self.api_key else None


class STTConfig(StageConfig):
    language: str | None = None
    fallbacks: list[STTConfig] = Field(default_factory=list)


class LLMConfig(StageConfig):
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    fallbacks: list[LLMConfig] = Field(default_factory=list)


class TTSConfig(StageConfig):
    voice: str | None = None
    language: str | None = None
    fallbacks: list[TTSConfig] = Field(default_factory=list)


class AgentConfig(_Strict):
    name: str = "voxplug"
    instructions: str = (
        "You are a helpful voice assistant. Answer briefly, in one or two short sentences, "
        "in plain spoken language without lists or markdown."
    )
    greeting: str | None = "Hello! How can I help you today?"
    tools: list[str] = Field(default_factory=lambda: ["current_time"])


class RetryConfig(_Strict):
    """Per-request retry policy for each stage (LiveKit's ``APIConnectOptions``)."""

    max_retry: int = Field(default=3, ge=0, le=10)
    retry_interval: float = Field(default=2.0, ge=0.0)
    timeout: float = Field(default=10.0, gt=0.0)


TurnDetection = Literal["vad", "stt", "local", "manual"]


class SessionConfig(_Strict):
    vad: Literal["silero", "none"] = "silero"
    # "local" is LiveKit's audio end-of-turn model v1-mini, run in-process; cloud turn
    # detectors are never chosen implicitly
    turn_detection: TurnDetection = "vad"
    allow_interruptions: bool = True
    min_interruption_duration: float = Field(default=0.5, ge=0.0)
    min_endpointing_delay: float = Field(default=0.5, ge=0.0)
    max_endpointing_delay: float = Field(default=3.0, gt=0.0)
    preemptive_generation: bool = False
    noise_cancellation: bool = False
    max_tool_steps: int = Field(default=3, ge=0)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    max_unrecoverable_errors: int = Field(default=3, ge=1)
    fallback_attempt_timeout: float = Field(default=5.0, gt=0.0)
    # on close, how long to wait for a user transcript still in flight
    close_transcript_timeout: float = Field(default=2.0, ge=0.0)


class WorkerConfig(_Strict):
    # non-empty = explicit dispatch (the agent only joins rooms it is dispatched to)
    agent_name: str = ""
    # above this load (0-1) the worker takes no new jobs; "inf" never refuses
    load_threshold: float = Field(default=0.7, gt=0.0)
    # load = max(CPU use, active sessions / max_sessions); 0 = no session cap
    max_sessions: int = Field(default=0, ge=0)
    cpu_load: bool = True
    job_memory_limit_mb: float = Field(default=0.0, ge=0.0)
    drain_timeout: int = Field(default=1800, ge=0)
    health_port: int = Field(default=8081, ge=0, le=65535)
    num_idle_processes: int | None = Field(default=None, ge=0)


OverridableField = Literal[
    "agent.instructions", "agent.greeting", "llm.model", "llm.temperature", "stt.language",
    "tts.voice", "tts.language",
]


DEFAULT_OVERRIDES: tuple[OverridableField, ...] = ("agent.instructions", "agent.greeting", "tts.voice", "stt.language")


class OverrideConfig(_Strict):
    """Which settings a job's dispatch or room metadata may change.

    Endpoints, base URLs, providers and credentials are never on this list: metadata comes
    from whoever can create a room, not from the operator.
    """

    allow: list[OverridableField] = Field(default_factory=lambda: list(DEFAULT_OVERRIDES))
    # for llm.model: the models a room may pick; empty = only the configured model
    llm_models: list[str] = Field(default_factory=list)


class VoxplugConfig(_Strict):
    agent: AgentConfig = Field(default_factory=AgentConfig)
    stt: STTConfig
    llm: LLMConfig
    tts: TTSConfig
    session: SessionConfig = Field(default_factory=SessionConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    overrides: OverrideConfig = Field(default_factory=OverrideConfig)
    persistence: PersistenceConfig = Field(default_factory=PersistenceConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)

    def stage_configs(self) -> Iterator[tuple[Literal["stt", "llm", "tts"], StageConfig]]:
        """Every provider section: each stage's primary, then its fallbacks in order."""
        stages: tuple[tuple[Literal["stt", "llm", "tts"], STTConfig | LLMConfig | TTSConfig], ...] = (
            ("stt", self.stt), ("llm", self.llm), ("tts", self.tts),
        )
        for name, primary in stages:
            yield name, primary
            for fallback in primary.fallbacks:
                yield name, fallback
