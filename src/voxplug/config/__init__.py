"""Configuration: pydantic models and the YAML + environment loader."""

from .loader import (
    CONFIG_ENV,
    DEFAULT_CONFIG_FILE,
    config_fingerprint,
    load_config,
    redacted_dump,
)
from .models import (
    AgentConfig,
    LLMConfig,
    OverrideConfig,
    RetryConfig,
    SessionConfig,
    StageConfig,
    STTConfig,
    TTSConfig,
    VoxplugConfig,
    WorkerConfig,
)

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_FILE",
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
    "config_fingerprint",
    "load_config",
    "redacted_dump",
]
