"""voxplug: a LiveKit voice agent whose STT, LLM and TTS vendors are chosen by configuration."""

import os as _os

# onnxruntime (Silero VAD, the end-of-turn model) phones home unless told not to; this must
# be set before it is first imported
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from .config import LLMConfig, STTConfig, TTSConfig, VoxplugConfig
from .core.agent import VoiceAssistantAgent
from .providers import ProviderFactory, ProviderType, load_config
from .version import __version__

__all__ = [
    "LLMConfig",
    "ProviderFactory",
    "ProviderType",
    "STTConfig",
    "TTSConfig",
    "VoiceAssistantAgent",
    "VoxplugConfig",
    "__version__",
    "load_config",
]
