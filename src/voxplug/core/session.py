"""Turn a validated config into a LiveKit ``AgentSession`` (and its agent and observers)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from livekit.agents import AgentSession, APIConnectOptions, inference, llm, stt, tts, vad
from livekit.agents.types import NOT_GIVEN
from livekit.agents.voice.agent_session import SessionConnectOptions
from livekit.agents.voice.turn import TurnHandlingOptions

from ..config.directory import NO_PROVIDER
from ..config.loader import config_fingerprint
from ..config.models import SessionConfig, VoxplugConfig
from ..errors import ConfigError
from ..providers.registry import ProviderFactory
from .agents import start_agent_id
from .audio_filters import build_filters, install_audio_filters
from .call_control import CallControl
from .early_stt import EarlyTranscriptAdapter
from .observers import ObserverHub, SessionInfo, SessionObserver, fallback_chain, provider_label

__all__ = [
    "SessionModels",
    "StageModels",
    "attach_observers",
    "build_session",
    "build_stage_models",
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
    v = cfg.vad_options
    silero = inference.VAD(
        model="silero",
        activation_threshold=v.activation_threshold,
        deactivation_threshold=v.deactivation_threshold if v.deactivation_threshold is not None else NOT_GIVEN,
        min_speech_duration=v.min_speech_duration,
        min_silence_duration=v.min_silence_duration,
        prefix_padding_duration=v.prefix_padding_duration,
        max_buffered_speech=v.max_buffered_speech,
    ) if cfg.vad == "silero" else None
    return SessionModels(
        vad=silero,
        turn_detector=inference.TurnDetector(version="v1-mini") if cfg.turn_detection == "local" else None,
    )


logger = logging.getLogger(__name__)


@dataclass
class StageModels:
    """The session's models: an STT, LLM and TTS, or a realtime model with an optional TTS/STT."""

    stt: stt.STT[Any] | None
    llm: llm.LLM[Any] | llm.RealtimeModel
    tts: tts.TTS[Any] | None

    @property
    def realtime(self) -> bool:
        return isinstance(self.llm, llm.RealtimeModel)


def build_stage_models(config: VoxplugConfig, *, vad: vad.VAD | None = None) -> StageModels:
    """Build the stages through the factory; reject combinations that cannot work, one line each.

    A realtime ``llm.provider`` hears and speaks itself: ``stt``/``tts`` are ``none`` unless
    set. A TTS next to it makes a half-cascade (the model answers in text, the TTS speaks).
    """
    s = config.session
    if not ProviderFactory.is_realtime(config.llm.provider):
        problems = [
            f"{stage}.provider: 'none' needs a realtime llm.provider (e.g. openai-realtime); "
            f"set a {stage.upper()} provider"
            for stage, section in (("stt", config.stt), ("tts", config.tts))
            if section.provider == NO_PROVIDER
        ]
        if problems:
            raise ConfigError(*problems)
        return StageModels(
            stt=ProviderFactory.create_stt(config.stt, vad=vad),
            llm=ProviderFactory.create_llm(
                config.llm,
                attempt_timeout=s.fallback_attempt_timeout,
                first_token_timeout=s.fallback_first_token_timeout,
            ),
            tts=ProviderFactory.create_tts(config.tts),
        )
    half_cascade = config.tts.provider != NO_PROVIDER
    model = ProviderFactory.create_realtime(config.llm, text_only=half_cascade)
    caps = model.capabilities
    problems = []
    if half_cascade and caps.audio_output:
        problems.append(
            f"tts.provider: {config.llm.provider!r} still answers in audio, so the TTS would never speak; "
            "set tts.provider: none, or pass the plugin's text-only keyword in llm.options"
        )
    if config.stt.provider != NO_PROVIDER and caps.user_transcription:
        problems.append(
            f"stt.provider: {config.llm.provider!r} transcribes the user itself, so a separate STT would "
            "never run; set stt.provider: none"
        )
    if s.turn_detection == "stt":
        problems.append(
            "session.turn_detection: 'stt' needs a separate STT; with a realtime model use vad "
            "(the model's own turn detection is used when it has one)"
        )
    if problems:
        raise ConfigError(*problems)
    if config.stt.provider == NO_PROVIDER and not caps.user_transcription:
        logger.warning(
            "llm %s does not transcribe the user and stt.provider is none: user turns are stored without text",
            config.llm.provider,
        )
    return StageModels(
        stt=ProviderFactory.create_stt(config.stt, vad=vad) if config.stt.provider != NO_PROVIDER else None,
        llm=model,
        tts=ProviderFactory.create_tts(config.tts) if half_cascade else None,
    )


def turn_handling_options(
    cfg: SessionConfig, models: SessionModels, *, realtime_turns: bool = False
) -> TurnHandlingOptions:
    """``realtime_turns``: a realtime model detects turns server-side; the session follows it."""
    detection: Any = models.turn_detector if cfg.turn_detection == "local" else cfg.turn_detection
    if realtime_turns:
        detection = "realtime_llm"
    return {
        "turn_detection": detection,
        "endpointing": {"min_delay": cfg.min_endpointing_delay, "max_delay": cfg.max_endpointing_delay},
        # "vad" mode: never the adaptive (cloud) interruption model unless asked
        "interruption": {
            "enabled": cfg.allow_interruptions,
            "mode": "vad",
            "min_duration": cfg.min_interruption_duration,
        },
        "preemptive_generation": {"enabled": cfg.preemptive_generation, "preemptive_tts": cfg.preemptive_tts},
    }


def build_session(config: VoxplugConfig, *, models: SessionModels | None = None) -> AgentSession[Any]:
    """Build providers through the factory and wire them into an ``AgentSession``.

    The session also gets the ``call:`` controls (maximum duration, silence timeout) and the
    ``session.audio_filters``, applied to its audio input once it starts.
    """
    s = config.session
    if models is None:
        models = load_session_models(s)
    retry = APIConnectOptions(
        max_retry=s.retry.max_retry, retry_interval=s.retry.retry_interval, timeout=s.retry.timeout
    )
    stages = build_stage_models(config, vad=models.vad)
    # only the local STT: a dropped early request is CPU here, but a billed request at a vendor
    # (and a scripted test STT would hand out one of its transcripts to it)
    if (
        config.stt.provider == "local" and stages.stt is not None and models.vad is not None
        and not stages.stt.capabilities.streaming
        and s.early_transcript is not None and s.early_transcript < s.vad_options.min_silence_duration
    ):
        stages.stt = EarlyTranscriptAdapter(stt=stages.stt, vad=models.vad, after=s.early_transcript)
    optional: dict[str, Any] = {
        name: model for name, model in (("stt", stages.stt), ("tts", stages.tts)) if model is not None
    }
    realtime_turns = isinstance(stages.llm, llm.RealtimeModel) and stages.llm.capabilities.turn_detection
    filters = build_filters(s.audio_filters)
    session: AgentSession[Any] = AgentSession(
        **optional,
        llm=stages.llm,
        vad=models.vad,
        turn_handling=turn_handling_options(s, models, realtime_turns=realtime_turns),
        max_tool_steps=s.max_tool_steps,
        session_close_transcript_timeout=s.close_transcript_timeout,
        conn_options=SessionConnectOptions(
            stt_conn_options=retry,
            llm_conn_options=retry,
            tts_conn_options=retry,
            max_unrecoverable_errors=s.max_unrecoverable_errors,
        ),
        # "away" after this much silence on both sides: CallControl asks, then ends the call
        user_away_timeout=config.call.silence_timeout or None,
    )
    CallControl(config.call).attach(session)
    install_audio_filters(session, filters)
    return session


def session_info(
    config: VoxplugConfig, session: AgentSession[Any], *, room: str | None = None, participant: str | None = None
) -> SessionInfo:
    return SessionInfo(
        agent_name=config.worker.agent_name or config.agent.name,
        stt=provider_label(session.stt),
        llm=provider_label(session.llm),
        tts=provider_label(session.tts),
        config_fingerprint=config_fingerprint(config),
        room=room,
        participant=participant,
        start_agent=start_agent_id(config),
        fallback_chains={
            stage: chain
            for stage, model in (("stt", session.stt), ("llm", session.llm), ("tts", session.tts))
            if (chain := fallback_chain(model))
        },
    )


def attach_observers(
    session: AgentSession[Any], info: SessionInfo, observers: Sequence[SessionObserver]
) -> ObserverHub:
    hub = ObserverHub(info, observers)
    hub.attach(session)
    return hub
