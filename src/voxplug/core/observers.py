"""Session observers: the seam where metrics, persistence and logs plug in.

An :class:`ObserverHub` subscribes once to an ``AgentSession``'s events and fans each one
out to every observer. Observers run on the event loop and must not block: anything slow
(database, network) goes through a queue of the observer's own. One failing observer is
logged and skipped; it never breaks the call or the other observers.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from livekit.agents import (
    AgentSession,
    AgentStateChangedEvent,
    ChatMessage,
    CloseEvent,
    ConversationItemAddedEvent,
    ErrorEvent,
    FunctionToolsExecutedEvent,
    SessionUsageUpdatedEvent,
    UserInputTranscribedEvent,
    UserStateChangedEvent,
    llm,
    stt,
    tts,
)
from livekit.agents.llm import AgentHandoff
from livekit.agents.metrics import RealtimeModelMetrics
from livekit.agents.voice.events import EventTypes

__all__ = [
    "AvailabilityChange",
    "LoggingObserver",
    "ObserverHub",
    "SessionInfo",
    "SessionObserver",
    "TurnRecord",
    "fallback_chain",
    "provider_label",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionInfo:
    """What identifies one conversation. Labels (stage providers/models) are bounded."""

    agent_name: str
    stt: str
    llm: str
    tts: str
    config_fingerprint: str
    room: str | None = None
    participant: str | None = None
    # stage -> labels of the models behind its fallback adapter, in order (empty: no fallbacks)
    fallback_chains: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # the agent that answers (an agents: name); None: agent_name
    start_agent: str | None = None
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class TurnRecord:
    """One completed exchange: the user's words and the agent's reply, with latencies (s)."""

    index: int
    user_text: str
    assistant_text: str
    interrupted: bool
    created_at: float
    end_of_turn_delay: float | None = None
    transcription_delay: float | None = None
    llm_ttft: float | None = None
    tts_ttfb: float | None = None
    e2e_latency: float | None = None
    user_started_speaking_at: float | None = None
    user_stopped_speaking_at: float | None = None
    # the id of the agent that spoke the reply (an agents: name; with one agent, its name)
    agent: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AvailabilityChange:
    """A fallback adapter switched a provider off (or back on)."""

    stage: str
    provider: str
    available: bool


class SessionObserver:
    """Base class with a no-op for each event; override what you need."""

    def on_session_started(self, info: SessionInfo) -> None: ...
    def on_user_state_changed(self, ev: UserStateChangedEvent) -> None: ...
    def on_agent_state_changed(self, ev: AgentStateChangedEvent) -> None: ...
    def on_user_input_transcribed(self, ev: UserInputTranscribedEvent) -> None: ...
    def on_conversation_item_added(self, ev: ConversationItemAddedEvent) -> None: ...
    def on_turn_completed(self, turn: TurnRecord) -> None: ...
    def on_model_metrics(self, ev: Any) -> None:
        """Per-request metrics (``STTMetrics``, ``LLMMetrics``, ``TTSMetrics``) of the session's models."""
    def on_function_tools_executed(self, ev: FunctionToolsExecutedEvent) -> None: ...
    def on_session_usage_updated(self, ev: SessionUsageUpdatedEvent) -> None: ...
    def on_availability_changed(self, change: AvailabilityChange) -> None: ...
    def on_error(self, ev: ErrorEvent) -> None: ...
    def on_close(self, ev: CloseEvent) -> None: ...
    def on_attributes_updated(self, attributes: Mapping[str, str]) -> None:
        """Facts learnt during the session (a phone call's numbers, how it ended), key -> text."""

    async def aclose(self) -> None:
        """Flush and release resources; called once after the session closed."""


FALLBACK_ADAPTERS: dict[str, type] = {
    "stt": stt.FallbackAdapter,
    "llm": llm.FallbackAdapter,
    "tts": tts.FallbackAdapter,
}


def fallback_chain(model: Any) -> tuple[str, ...]:
    """Labels of the models behind a fallback adapter, in order; empty for a plain model."""
    if isinstance(model, llm.RealtimeModelFallbackAdapter):
        return tuple(provider_label(m) for m in getattr(model, "_models", ()))
    for stage, adapter in FALLBACK_ADAPTERS.items():
        if isinstance(model, adapter):
            # the adapters keep their chain as _<stage>_instances (livekit-agents 1.8)
            return tuple(provider_label(m) for m in getattr(model, f"_{stage}_instances", ()))
    return ()


def provider_label(model: Any) -> str:
    """``provider/model`` of a LiveKit STT, LLM, TTS or realtime model, for labels and logs."""
    if model is None:  # no separate STT or TTS next to a realtime model
        return "none/none"
    if isinstance(model, (*FALLBACK_ADAPTERS.values(), llm.RealtimeModelFallbackAdapter)):
        return "fallback"
    provider = getattr(model, "provider", None) or "unknown"
    name = getattr(model, "model", None) or "unknown"
    return f"{provider}/{name}"


SESSION_EVENTS: tuple[EventTypes, ...] = (
    "user_state_changed",
    "agent_state_changed",
    "user_input_transcribed",
    "conversation_item_added",
    "function_tools_executed",
    "session_usage_updated",
    "error",
    "close",
)


class ObserverHub:
    """Subscribes to a session's events and dispatches them to observers."""

    def __init__(self, info: SessionInfo, observers: Sequence[SessionObserver]) -> None:
        self.info = info
        self.observers = list(observers)
        self.turns: list[TurnRecord] = []
        self._last_user: ChatMessage | None = None
        # the active agent, from the handoff items LiveKit adds (the first one at start)
        self.agent: str | None = None

    def attach(self, session: AgentSession[Any]) -> None:
        for name in SESSION_EVENTS:
            session.on(name, self._handler(name))
        session.on("conversation_item_added", self._track_turn)
        if isinstance(session.llm, llm.RealtimeModel):
            # a realtime model's request metrics reach the session, not the model object
            session.on("metrics_collected", self._realtime_metrics)
            if isinstance(session.llm, llm.RealtimeModelFallbackAdapter):
                self._watch_fallbacks("realtime", session.llm)
        for stage, model in (("stt", session.stt), ("llm", session.llm), ("tts", session.tts)):
            if not isinstance(model, stt.STT | llm.LLM | tts.TTS):
                continue  # absent, or a realtime model
            # request-level metrics come from the models themselves, not the session
            model.on("metrics_collected", self._handler("model_metrics"))
            if isinstance(model, FALLBACK_ADAPTERS[stage]):
                self._watch_fallbacks(stage, model)
        self._dispatch("on_session_started", self.info)

    def _realtime_metrics(self, ev: Any) -> None:
        metrics = getattr(ev, "metrics", None)
        if isinstance(metrics, RealtimeModelMetrics):
            self._dispatch("on_model_metrics", metrics)

    def _watch_fallbacks(self, stage: str, adapter: Any) -> None:
        def changed(ev: Any) -> None:
            # the event names its model after the stage (realtime: ``realtime_model``)
            provider = getattr(ev, "realtime_model" if stage == "realtime" else stage)
            change = AvailabilityChange(stage, provider_label(provider), ev.available)
            self._dispatch("on_availability_changed", change)

        adapter.on(f"{stage}_availability_changed", changed)

    def _handler(self, name: str) -> Any:
        method = f"on_{name}"

        def handle(ev: Any) -> None:
            self._dispatch(method, ev)

        return handle

    def _dispatch(self, method: str, payload: Any) -> None:
        for observer in self.observers:
            try:
                getattr(observer, method)(payload)
            except Exception:
                logger.exception("observer %s failed in %s", type(observer).__name__, method)

    def update_attributes(self, attributes: Mapping[str, str]) -> None:
        """Tell every observer about new or changed session attributes (later values win)."""
        if attributes:
            self._dispatch("on_attributes_updated", dict(attributes))

    def _track_turn(self, ev: ConversationItemAddedEvent) -> None:
        item = ev.item
        if isinstance(item, AgentHandoff):
            self.agent = item.new_agent_id
            return
        if not isinstance(item, ChatMessage):
            return
        if item.role == "user":
            self._last_user = item
            return
        if item.role != "assistant":
            return
        user = self._last_user
        self._last_user = None
        um = user.metrics if user else {}
        am = item.metrics
        turn = TurnRecord(
            index=len(self.turns),
            user_text=(user.text_content or "") if user else "",
            assistant_text=item.text_content or "",
            interrupted=item.interrupted,
            created_at=item.created_at,
            end_of_turn_delay=um.get("end_of_turn_delay"),
            transcription_delay=um.get("transcription_delay"),
            llm_ttft=am.get("llm_node_ttft"),
            tts_ttfb=am.get("tts_node_ttfb"),
            e2e_latency=am.get("e2e_latency"),
            user_started_speaking_at=um.get("started_speaking_at"),
            user_stopped_speaking_at=um.get("stopped_speaking_at"),
            agent=self.agent,
        )
        self.turns.append(turn)
        self._dispatch("on_turn_completed", turn)

    async def aclose(self) -> None:
        for observer in self.observers:
            try:
                await observer.aclose()
            except Exception:
                logger.exception("observer %s failed to close", type(observer).__name__)


class LoggingObserver(SessionObserver):
    """Structured log lines for each turn, tool call, error and the session's end.

    Transcripts are personal data: they are logged only with ``include_transcripts``.
    """

    def __init__(self, *, include_transcripts: bool = False, log: logging.Logger = logger) -> None:
        self.include_transcripts = include_transcripts
        self.log = log
        self.info: SessionInfo | None = None

    def _extra(self, **fields: Any) -> dict[str, Any]:
        base = {"session_id": self.info.session_id} if self.info else {}
        return {"voxplug": base | fields}

    def on_session_started(self, info: SessionInfo) -> None:
        self.info = info
        self.log.info(
            "session started (stt=%s llm=%s tts=%s)", info.stt, info.llm, info.tts,
            extra=self._extra(event="session_started", room=info.room),
        )

    def on_turn_completed(self, turn: TurnRecord) -> None:
        fields = {
            k: v for k, v in turn.as_dict().items()
            if self.include_transcripts or k not in ("user_text", "assistant_text")
        }
        self.log.info(
            "turn %d: e2e=%s llm_ttft=%s tts_ttfb=%s", turn.index,
            _seconds(turn.e2e_latency), _seconds(turn.llm_ttft), _seconds(turn.tts_ttfb),
            extra=self._extra(event="turn_completed", **fields),
        )

    def on_function_tools_executed(self, ev: FunctionToolsExecutedEvent) -> None:
        for call, output in ev.zipped():
            failed = bool(output and output.is_error)
            self.log.info(
                "tool %s %s", call.name, "failed" if failed else "ok",
                extra=self._extra(event="tool_call", tool=call.name, error=failed),
            )

    def on_availability_changed(self, change: AvailabilityChange) -> None:
        self.log.warning(
            "%s provider %s is now %s", change.stage, change.provider,
            "available" if change.available else "unavailable",
            extra=self._extra(event="availability_changed", **asdict(change)),
        )

    def on_error(self, ev: ErrorEvent) -> None:
        self.log.warning(
            "%s error (recoverable=%s): %s", type(ev.source).__name__,
            getattr(ev.error, "recoverable", None), type(ev.error).__name__,
            extra=self._extra(event="error"),
        )

    def on_attributes_updated(self, attributes: Mapping[str, str]) -> None:
        # names only: the values (phone numbers, headers) are personal data
        self.log.info(
            "session attributes: %s", ", ".join(sorted(attributes)),
            extra=self._extra(event="attributes", keys=sorted(attributes)),
        )

    def on_close(self, ev: CloseEvent) -> None:
        self.log.info("session closed: %s", ev.reason, extra=self._extra(event="close", reason=str(ev.reason)))


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}s"
