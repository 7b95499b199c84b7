"""Validated configuration models.

The YAML file and the environment are merged into one plain dict (see ``loader``) and
validated here. Provider names are checked by the loader against the provider directory
it is given (the live registry), so third-party providers are accepted like built-ins.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal, get_args

from pydantic import ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from ..redaction import looks_like_secret, safe_repr
from .agents import AGENT_NAME, AgentProfile, handoff_tool_name, merge_stage_data
from .audio import AudioFilterConfig, VADOptions
from .base import Strict, field_path, validation_problems
from .call import CallConfig
from .directory import CREDENTIAL_FIELDS, CredentialField, Stage
from .persistence import PersistenceConfig
from .pricing import PricingConfig
from .telemetry import TelemetryConfig
from .telephony import TelephonyConfig
from .tools import TOOL_NAME, ToolSpec

__all__ = [
    "COMMON_FIELDS",
    "AgentConfig",
    "CommonField",
    "JobExecutor",
    "LLMConfig",
    "OverrideConfig",
    "PluginRef",
    "RetryConfig",
    "STTConfig",
    "SessionConfig",
    "StageConfig",
    "TTSConfig",
    "VoxplugConfig",
    "WorkerConfig",
]


# every field a provider may map onto its plugin's constructor keywords
CommonField = Literal[
    "model", "voice", "language", "temperature",
    "api_key", "api_secret", "base_url", "endpoint", "deployment", "api_version", "region",
    "credentials_file", "project", "location",
]
COMMON_FIELDS: tuple[CommonField, ...] = get_args(CommonField)
_DOTTED_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class PluginRef(Strict):
    """Any installed LiveKit plugin class, for provider ``plugin`` (docs/adding-a-provider.md)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True,
                              serialize_by_alias=True)

    # importable module, e.g. livekit.plugins.acme
    module: str = Field(max_length=200, pattern=_DOTTED_NAME)
    # attribute path in the module: a class (TTS) or a constructor (TTS.with_fast)
    class_: str = Field(alias="class", max_length=200, pattern=_DOTTED_NAME)
    # voxplug field -> constructor keyword; fields not listed are passed under their own name
    args: dict[CommonField, Annotated[str, Field(max_length=100, pattern=_IDENTIFIER)]] = Field(
        default_factory=dict, max_length=len(COMMON_FIELDS)
    )
    # credential field -> environment variable it is read from (missing = a config error)
    env: dict[CredentialField, Annotated[str, Field(max_length=100, pattern=_ENV_NAME)]] = Field(
        default_factory=dict, max_length=len(CREDENTIAL_FIELDS)
    )


class StageConfig(Strict):
    """What every stage (STT, LLM, TTS) shares: vendor, model, credentials, endpoint."""

    provider: str
    model: str | None = None
    api_key: SecretStr | None = None
    # a second secret: AWS secret access key, a client secret
    api_secret: SecretStr | None = None
    base_url: str | None = None
    # Azure OpenAI / Azure AI Speech
    endpoint: str | None = None
    deployment: str | None = None
    api_version: str | None = None
    region: str | None = None
    # Google Cloud: service-account JSON file, project and location (Vertex AI)
    credentials_file: str | None = None
    project: str | None = None
    location: str | None = None
    # provider "plugin": the installed plugin class to build
    plugin: PluginRef | None = None
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
    # realtime (speech-to-speech) providers only: the model's own voice and language
    voice: str | None = None
    language: str | None = None
    fallbacks: list[LLMConfig] = Field(default_factory=list)


class TTSConfig(StageConfig):
    voice: str | None = None
    language: str | None = None
    fallbacks: list[TTSConfig] = Field(default_factory=list)


class AgentConfig(Strict):
    name: str = "voxplug"
    instructions: str = (
        "You are a helpful voice assistant. Answer briefly, in one or two short sentences, "
        "in plain spoken language without lists or markdown."
    )
    greeting: str | None = "Hello! How can I help you today?"
    # names: built-ins (current_time, calculate, end_call), the tools: section, voxplug.tools entry points
    tools: list[str] = Field(default_factory=lambda: ["current_time"])


class RetryConfig(Strict):
    """Per-request retry policy for each stage (LiveKit's ``APIConnectOptions``)."""

    max_retry: int = Field(default=3, ge=0, le=10)
    retry_interval: float = Field(default=2.0, ge=0.0)
    timeout: float = Field(default=10.0, gt=0.0)


TurnDetection = Literal["vad", "stt", "local", "manual"]


class SessionConfig(Strict):
    vad: Literal["silero", "none"] = "silero"
    vad_options: VADOptions = Field(default_factory=VADOptions)
    # applied in order to the user's audio before VAD and STT
    audio_filters: list[AudioFilterConfig] = Field(default_factory=list)
    # "local" is LiveKit's audio end-of-turn model v1-mini, run in-process; cloud turn
    # detectors are never chosen implicitly
    turn_detection: TurnDetection = "vad"
    allow_interruptions: bool = True
    min_interruption_duration: float = Field(default=0.5, ge=0.0)
    min_endpointing_delay: float = Field(default=0.5, ge=0.0)
    max_endpointing_delay: float = Field(default=3.0, gt=0.0)
    # start the reply on the final transcript, before the end of turn is confirmed (LiveKit's
    # default too): with the early transcript the local stack's V2V p50 fell 1.32 -> 1.11 s (P3)
    preemptive_generation: bool = True
    # with preemptive generation, also synthesize the reply before the turn is confirmed
    preemptive_tts: bool = False
    # the local STT starts transcribing after this many seconds of silence rather than at the
    # VAD's end of speech (vad_options.min_silence_duration); dropped if the user speaks again
    # (core/early_stt.py). None: wait for the VAD
    early_transcript: float | None = Field(default=0.064, ge=0.0)
    noise_cancellation: bool = False
    max_tool_steps: int = Field(default=3, ge=0)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    max_unrecoverable_errors: int = Field(default=3, ge=1)
    fallback_attempt_timeout: float = Field(default=5.0, gt=0.0)
    # with LLM fallbacks: a model that has sent no text or tool call this long after the
    # request is abandoned for the next one (a stalled vendor: headers sent, then silence);
    # the attempt timeout above still bounds the whole request. None: no first-token deadline
    fallback_first_token_timeout: float | None = Field(default=1.0, gt=0.0)
    # on close, how long to wait for a user transcript still in flight
    close_transcript_timeout: float = Field(default=2.0, ge=0.0)


JobExecutor = Literal["process", "thread"]


class WorkerConfig(Strict):
    # non-empty = explicit dispatch (the agent only joins rooms it is dispatched to)
    agent_name: str = ""
    # how calls run (LiveKit's job_executor_type): "process" = one process per call
    # (isolated: a crash or leak ends one call), "thread" = calls share the worker process
    # and its models (less memory per call, but job threads hung at 8 calls at once: keep
    # max_sessions <= 4 there; see docs/deployment.md for the figures)
    executor: JobExecutor = "process"
    # above this load (0-1) the worker takes no new jobs; "inf" never refuses
    load_threshold: float = Field(default=0.7, gt=0.0)
    # load = max(CPU use, active sessions / max_sessions); 0 = no session cap
    max_sessions: int = Field(default=0, ge=0)
    cpu_load: bool = True
    job_memory_limit_mb: float = Field(default=0.0, ge=0.0)
    drain_timeout: int = Field(default=1800, ge=0)
    health_port: int = Field(default=8081, ge=0, le=65535)
    num_idle_processes: int | None = Field(default=None, ge=0)
    # seconds a new job process (or thread) gets for prewarm before it is killed and
    # replaced; the framework's 10 s killed every process loading the keyless models
    # (Whisper, the GGUF, Piper) on 2 busy cores, and under load (load average 35 on 2
    # cores: 153 kills in 15 min, each replacement adding to the load that caused the kill)
    initialize_process_timeout: float = Field(default=60.0, gt=0.0)


OverridableField = Literal[
    "agent.instructions", "agent.greeting", "llm.model", "llm.temperature", "stt.language",
    "tts.voice", "tts.language",
]


DEFAULT_OVERRIDES: tuple[OverridableField, ...] = ("agent.instructions", "agent.greeting", "tts.voice", "stt.language")


class OverrideConfig(Strict):
    """Which settings a job's dispatch or room metadata may change, and how much text it may carry.

    Endpoints, base URLs, providers and credentials are never on this list: metadata comes
    from whoever can create a room, not from the operator.
    """

    allow: list[OverridableField] = Field(default_factory=lambda: list(DEFAULT_OVERRIDES))
    # for llm.model: the models a room may pick; empty = only the configured model
    llm_models: list[str] = Field(default_factory=list)
    # each metadata string (room, dispatch) above this size is ignored whole
    max_metadata_bytes: int = Field(default=65_536, ge=256, le=1_048_576)
    # every LLM call of the call carries the instructions: bound their cost and latency
    max_instructions_chars: int = Field(default=4_000, ge=1, le=100_000)
    max_greeting_chars: int = Field(default=500, ge=1, le=10_000)
    # any other text override (voice, language, model)
    max_value_chars: int = Field(default=200, ge=1, le=10_000)


class VoxplugConfig(Strict):
    agent: AgentConfig = Field(default_factory=AgentConfig)
    stt: STTConfig
    llm: LLMConfig
    tts: TTSConfig
    session: SessionConfig = Field(default_factory=SessionConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    overrides: OverrideConfig = Field(default_factory=OverrideConfig)
    persistence: PersistenceConfig = Field(default_factory=PersistenceConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    pricing: PricingConfig = Field(default_factory=PricingConfig)
    telephony: TelephonyConfig = Field(default_factory=TelephonyConfig)
    tools: dict[str, ToolSpec] = Field(default_factory=dict)
    agents: dict[str, AgentProfile] = Field(default_factory=dict)
    # the agent that answers; default: the first of agents
    start_agent: str | None = None
    call: CallConfig = Field(default_factory=CallConfig)

    def stage_configs(self) -> Iterator[tuple[Stage, StageConfig]]:
        """Every provider section: each stage's primary, then its fallbacks in order, then the
        sections agents override."""
        stages: tuple[tuple[Stage, STTConfig | LLMConfig | TTSConfig], ...] = (
            ("stt", self.stt), ("llm", self.llm), ("tts", self.tts),
        )
        for name, primary in stages:
            yield name, primary
            for fallback in primary.fallbacks:
                yield name, fallback
        for agent in self.agents:
            for name, _ in stages:
                section = self.agent_stage(agent, name)
                if section is not None:
                    yield name, section

    # -- agents ------------------------------------------------------------------------------
    @property
    def start_agent_name(self) -> str:
        """The agent that answers: ``start_agent``, the first of ``agents``, or ``agent.name``."""
        return self.start_agent or next(iter(self.agents), None) or self.agent.name

    def agent_config(self, name: str) -> AgentConfig:
        """Instructions, greeting and tools of a named agent, unset fields taken from ``agent:``."""
        if not self.agents:
            return self.agent
        profile = self.agents[name]
        own = ("instructions", "greeting", "tools")
        # greeting: null means no greeting; a null instructions or tools is not set at all
        inherited = {
            f: getattr(profile, f) for f in own
            if f in profile.model_fields_set and (f == "greeting" or getattr(profile, f) is not None)
        }
        return self.agent.model_copy(update={"name": name, **inherited})

    def agent_stage(self, name: str, stage: Stage) -> STTConfig | LLMConfig | TTSConfig | None:
        """The agent's own section for ``stage``, or None when it uses the session's."""
        override = self.agents[name].stage_override(stage)
        if override is None:
            return None
        base: STTConfig | LLMConfig | TTSConfig = getattr(self, stage)
        merged = merge_stage_data(base.model_dump(), override)
        return STAGE_MODELS[stage].model_validate(merged)

    @model_validator(mode="after")
    def _references(self) -> VoxplugConfig:
        """Names that point elsewhere in the config: one line per problem, each with its path."""
        problems = [
            f"{field_path(('tools', name))}: a tool name is letters, digits and _ (starting with a letter), at most 64"
            for name in self.tools if not TOOL_NAME.match(name)
        ]
        # only well-formed names are listed back (the others get their own line), never a key
        names = [n for n in self.agents if AGENT_NAME.match(n) and not looks_like_secret(n)]
        known = ", ".join(names[:10]) + (", …" if len(names) > 10 else "") or "none"
        for name, profile in self.agents.items():
            where = field_path(("agents", name))
            if not AGENT_NAME.match(name):
                problems.append(f"{where}: an agent name is letters, digits and _ (starting with a letter), at most 40")
            for i, handoff in enumerate(profile.handoff_configs()):
                if handoff.agent not in self.agents:
                    unknown = safe_repr(handoff.agent, 40)
                    problems.append(f"{where}.handoffs.{i}: unknown agent {unknown}; known: {known}")
                elif handoff.agent == name:
                    problems.append(f"{where}.handoffs.{i}: an agent cannot hand off to itself")
            if handoff_tool_name(name) in self.tools:
                tool = handoff_tool_name(name)
                problems.append(f"tools.{tool}: clashes with the handoff tool of agent {safe_repr(name, 40)}")
            for stage in STAGE_MODELS:
                try:
                    self.agent_stage(name, stage)
                except ValidationError as exc:
                    problems += validation_problems(exc, prefix=f"{where}.{stage}.", secret_fields=("api_key",))
        if self.start_agent is not None and self.start_agent not in self.agents:
            fix = f"one of {known}" if self.agents else "define agents: or remove start_agent"
            problems.append(f"start_agent: unknown agent {safe_repr(self.start_agent, 40)}; {fix}")
        if problems:
            raise ValueError("\n".join(problems))
        return self


STAGE_MODELS: dict[Stage, type[STTConfig] | type[LLMConfig] | type[TTSConfig]] = {
    "stt": STTConfig, "llm": LLMConfig, "tts": TTSConfig,
}
