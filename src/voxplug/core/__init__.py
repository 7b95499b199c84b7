"""The voice session: agent, session builder, observers, tools and metadata overrides."""

from .agent import VoiceAssistantAgent
from .observers import LoggingObserver, ObserverHub, SessionInfo, SessionObserver, TurnRecord
from .session import SessionModels, attach_observers, build_session, load_session_models, session_info

__all__ = [
    "LoggingObserver",
    "ObserverHub",
    "SessionInfo",
    "SessionModels",
    "SessionObserver",
    "TurnRecord",
    "VoiceAssistantAgent",
    "attach_observers",
    "build_session",
    "load_session_models",
    "session_info",
]
