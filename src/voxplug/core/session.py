"""Turn a validated config into a LiveKit ``AgentSession`` (and its agent and observers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from livekit.agents import AgentSession, APIConnectOptions, inference, vad
from livekit.agents.voice.agent_session import SessionConnectOptions
from livekit.agents.voice.turn import TurnHandlingOptions

from ..config.loader import config_fingerprint
from ..config.models import SessionConfig, VoxplugConfig
from ..providers.registry import ProviderFactory
from .observers import ObserverHub, SessionInfo, SessionObserver, fallback_chain, provider_label

__all__ = [
    "SessionModels",
    "attach_observers",
    "build_session",
    "load_session_models",
    "session_info",
    "turn_handling_options",
]


@dataclass
class SessionModels:
    """Models shared by every session of a process; load them once (worker prewarm)."""

    vad: vad.VAD | None
    turn_detector: Any | None


def load_session_models(cfg: SessionConfig) -> SessionModels:
    # both run in-process from livekit-local-inference; the end-of-turn model is pinned to
    # "v1-mini" so a set LIVEKIT_API_KEY never switches it to the cloud detector
    return SessionModels(
        vad=inference.VAD(model="silero") if cfg.vad == "silero" else None,
        turn_detector=inference.TurnDetector(version="v1-mini") if cfg.turn_detection == "local" else None,
    )


def turn_handling_options(cfg: SessionConfig, models: SessionModels) -> TurnHandlingOptions:
    detection: Any = models.turn_detector if cfg.turn_detection == "local" else cfg.turn_detection
    return {
        "turn_detection": detection,
        "endpointing": {"min_delay": cfg.min_endpointing_delay, "max_delay": cfg.max_endpointing_delay},
        # "vad" mode: never the adaptive (cloud) interruption model unless asked
        "interruption": {
            "enabled": cfg.allow_interruptions,
            "mode": "vad",
            "min_duration": cfg.min_interruption_duration,
        },
        "preemptive_generation": {"enabled": cfg.preemptive_generation},
    }


def build_session(config: VoxplugConfig, *, models: SessionModels | None = None) -> AgentSession:
    """Build providers through the factory and wire them into an ``AgentSession``."""
    s = config.session
    if models is None:
        models = load_session_models(s)
    retry = APIConnectOptions(
        max_retry=s.retry.max_retry, retry_interval=s.retry.retry_interval, timeout=s.retry.timeout
    )
    return AgentSession(
        stt=ProviderFactory.create_stt(config.stt, vad=models.vad),
        llm=ProviderFactory.create_llm(config.llm, attempt_timeout=s.fallback_attempt_timeout),
        tts=ProviderFactory.create_tts(config.tts),
        vad=models.vad,
        turn_handling=turn_handling_options(s, models),
        max_tool_steps=s.max_tool_steps,
        session_close_transcript_timeout=s.close_transcript_timeout,
        conn_options=SessionConnectOptions(
            stt_conn_options=retry,
            llm_conn_options=retry,
            tts_conn_options=retry,
            max_unrecoverable_errors=s.max_unrecoverable_errors,
        ),
    )


def session_info(
    config: VoxplugConfig, session: AgentSession, *, room: str | None = None, participant: str | None = None
) -> SessionInfo:
    return SessionInfo(
        agent_name=config.worker.agent_name or config.agent.name,
        stt=provider_label(session.stt),
        llm=provider_label(session.llm),
        tts=provider_label(session.tts),
        config_fingerprint=config_fingerprint(config),
        room=room,
        participant=participant,
        fallback_chains={
            stage: chain
            for stage, model in (("stt", session.stt), ("llm", session.llm), ("tts", session.tts))
            if (chain := fallback_chain(model))
        },
    )


def attach_observers(
    session: AgentSession, info: SessionInfo, observers: Sequence[SessionObserver]
) -> ObserverHub:
    hub = ObserverHub(info, observers)
    hub.attach(session)
    return hub
