"""Session observers that record OpenTelemetry metrics and spans, live, as turns complete."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

from livekit.agents import (
    AgentHandoff,
    ChatMessage,
    CloseEvent,
    ConversationItemAddedEvent,
    ErrorEvent,
    FunctionToolsExecutedEvent,
    SessionUsageUpdatedEvent,
    llm,
    stt,
    tts,
)
from livekit.agents.metrics import LLMMetrics, STTMetrics
from livekit.agents.metrics.usage import LLMModelUsage, STTModelUsage, TTSModelUsage
from opentelemetry import metrics as metrics_api
from opentelemetry import trace as trace_api

from ..config.pricing import PriceTable, PricingConfig
from ..core.observers import AvailabilityChange, SessionInfo, SessionObserver, TurnRecord, provider_label
from ..version import __version__
from .instruments import VoxplugInstruments, instruments_for

__all__ = ["MetricsObserver", "TracingObserver", "split_label"]

logger = logging.getLogger(__name__)

_MAX_LABEL = 64
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_MAX_TOOLS = 32
_known_tools: set[str] = set()
# handoff agents: their ids come from the config, but a Python tool may hand off to any Agent
_MAX_AGENTS = 32
_known_agents: set[str] = set()
_tools_lock = threading.Lock()


def _label(value: Any, default: str = "unknown") -> str:
    text = str(value).strip() if value not in (None, "") else default
    return text[:_MAX_LABEL]


def split_label(label: str) -> tuple[str, str]:
    """``"provider/model"`` (as in :class:`SessionInfo`) → ``(provider, model)``."""
    provider, _, model = label.partition("/")
    return _label(provider), _label(model, "unknown" if provider != "fallback" else "fallback")


def _bounded(name: str, known: set[str], limit: int) -> str:
    """``name`` while fewer than ``limit`` distinct names were seen in this process, else "other"."""
    if not _TOOL_NAME.match(name):
        return "other"
    with _tools_lock:
        if name in known:
            return name
        if len(known) < limit:
            known.add(name)
            return name
    return "other"


def _tool_label(name: str) -> str:
    return _bounded(name, _known_tools, _MAX_TOOLS)


def _agent_label(name: str | None) -> str:
    return _bounded(name, _known_agents, _MAX_AGENTS) if name else "unknown"


def _stage_of(source: Any) -> str:
    if isinstance(source, stt.STT):
        return "stt"
    if isinstance(source, tts.TTS):
        return "tts"
    if isinstance(source, llm.LLM | llm.RealtimeModel):
        return "llm"
    return "other"


class MetricsObserver(SessionObserver):
    """Records voxplug's instruments (see :mod:`voxplug.telemetry.instruments`) for one session.

    Latencies are recorded when each turn completes, usage and cost as the session
    reports it, so a scrape during a call shows the call so far. Labels: agent name,
    stage, provider, model; never a session or room id.

    Call :meth:`bind` with the session to also get per-request STT and LLM durations
    (they come from the models' own ``metrics_collected`` events).
    """

    def __init__(
        self,
        *,
        prices: PriceTable | None = None,
        meter_provider: metrics_api.MeterProvider | None = None,
        flush: Any | None = None,
    ) -> None:
        self.prices = prices if prices is not None else PricingConfig().table()
        self.instruments: VoxplugInstruments = instruments_for(meter_provider)
        self._flush = flush  # called (in a thread) when the session ends, e.g. a snapshot
        self.info: SessionInfo | None = None
        self.agent = "unknown"
        # the agent speaking now (agents: and handoffs): labels turns, stages and tools;
        # session-level series keep the session's agent name
        self.speaker = "unknown"
        self._defaults: dict[str, tuple[str, str]] = {}
        self._turn_models: dict[str, tuple[str, str]] = {}
        self._usage: dict[tuple[str, str, str], dict[str, float]] = {}
        self._active = False
        self.session_cost = 0.0
        self._cost_since_turn = 0.0
        self.turn_costs: list[float] = []
        self.turns = 0

    # -- helpers ---------------------------------------------------------------------------
    def _labels(self, stage: str, provider: str | None = None, model: str | None = None) -> dict[str, str]:
        default = self._defaults.get(stage, ("unknown", "unknown"))
        return {
            "agent": self.speaker,
            "stage": stage,
            "provider": _label(provider or default[0]),
            "model": _label(model or default[1]),
        }

    def _stage_labels_from(self, stage: str, metadata: Mapping[str, Any] | None) -> dict[str, str]:
        if metadata:
            return self._labels(stage, metadata.get("model_provider"), metadata.get("model_name"))
        return self._labels(stage, *self._turn_models.get(stage, (None, None)))

    def _record(self, name: str, value: float | None, labels: Mapping[str, str]) -> None:
        if value is not None and value >= 0:
            self.instruments.histogram(name).record(float(value), attributes=dict(labels))

    # -- session lifecycle -----------------------------------------------------------------
    def on_session_started(self, info: SessionInfo) -> None:
        self.info = info
        self.agent = _label(info.agent_name)
        self.speaker = _agent_label(info.start_agent) if info.start_agent else self.agent
        self._defaults = {
            "stt": split_label(info.stt),
            "llm": split_label(info.llm),
            "tts": split_label(info.tts),
        }
        attrs = {"agent": self.agent}
        self.instruments.counter("voxplug.sessions").add(1, attributes=attrs)
        self.instruments.updown("voxplug.sessions.active").add(1, attributes=attrs)
        self._active = True
        self._prime()
        # the models behind a fallback adapter: their switch counters start at zero
        for stage, chain in info.fallback_chains.items():
            for label in chain:
                provider, name = split_label(label)
                labels = {"agent": self.agent, "stage": stage, "provider": provider, "model": name}
                for available in ("true", "false"):
                    self.instruments.counter("voxplug.fallback.switches").add(
                        0, attributes=labels | {"available": available}
                    )

    def _prime(self) -> None:
        """Create the counters' series at zero, so the first turn, error or token shows in
        ``rate()``/``increase()`` (Prometheus cannot see the increase of a series' first sample)."""
        agent = {"agent": self.speaker}
        for name in ("voxplug.turns", "voxplug.interruptions"):
            self.instruments.counter(name).add(0, attributes=agent)
        usage = {
            "llm": ("voxplug.llm.input_tokens", "voxplug.llm.output_tokens"),
            "tts": ("voxplug.tts.characters",),
            "stt": ("voxplug.stt.audio_duration",),
        }
        for stage, (provider, _model) in self._defaults.items():
            labels = self._labels(stage)
            for recoverable in ("true", "false"):
                self.instruments.counter("voxplug.errors").add(
                    0, attributes=labels | {"recoverable": recoverable}
                )
            if provider == "fallback":  # the models behind it are only known as they answer
                continue
            for name in (*usage[stage], "voxplug.cost"):
                self.instruments.counter(name).add(0, attributes=labels)

    def on_close(self, ev: CloseEvent) -> None:
        self._end()

    def _end(self) -> None:
        if not self._active:
            return
        self._active = False
        attrs = {"agent": self.agent}
        self.instruments.updown("voxplug.sessions.active").add(-1, attributes=attrs)
        self.instruments.histogram("voxplug.session.cost").record(self.session_cost, attributes=attrs)

    async def aclose(self) -> None:
        self._end()
        if self._flush is not None:
            try:
                await asyncio.to_thread(self._flush)
            except Exception:
                logger.exception("metrics flush failed")

    # -- turns -----------------------------------------------------------------------------
    def on_conversation_item_added(self, ev: ConversationItemAddedEvent) -> None:
        item = ev.item
        if isinstance(item, AgentHandoff):
            speaker = _agent_label(item.new_agent_id)
            if speaker != self.speaker:
                self.speaker = speaker
                self._prime()  # the new agent's series start at zero, as the first one's did
            return
        if not isinstance(item, ChatMessage):
            return
        metrics = item.metrics
        keys = (
            (("stt", "stt_metadata"),)
            if item.role == "user"
            else (("llm", "llm_metadata"), ("tts", "tts_metadata"))
        )
        for stage, key in keys:
            meta: Mapping[str, Any] | None = metrics.get(key)  # type: ignore[assignment]  # a TypedDict read by key
            if meta:
                self._turn_models[stage] = (meta.get("model_provider") or "", meta.get("model_name") or "")

    def on_turn_completed(self, turn: TurnRecord) -> None:
        agent = {"agent": _agent_label(turn.agent) if turn.agent else self.speaker}
        self.turns += 1
        self.instruments.counter("voxplug.turns").add(1, attributes=agent)
        if turn.interrupted:
            self.instruments.counter("voxplug.interruptions").add(1, attributes=agent)
        stt_labels = self._stage_labels_from("stt", None)
        self._record("voxplug.turn.voice_to_voice_latency", turn.e2e_latency, agent)
        self._record("voxplug.turn.end_of_turn_delay", turn.end_of_turn_delay, stt_labels)
        self._record("voxplug.turn.transcription_delay", turn.transcription_delay, stt_labels)
        self._record("voxplug.llm.time_to_first_token", turn.llm_ttft, self._stage_labels_from("llm", None))
        self._record("voxplug.tts.time_to_first_byte", turn.tts_ttfb, self._stage_labels_from("tts", None))
        cost, self._cost_since_turn = self._cost_since_turn, 0.0
        self.turn_costs.append(cost)
        self.instruments.histogram("voxplug.turn.cost").record(cost, attributes=agent)

    # -- usage and cost --------------------------------------------------------------------
    def on_session_usage_updated(self, ev: SessionUsageUpdatedEvent) -> None:
        for usage in ev.usage.model_usage:
            fields: dict[str, float]
            if isinstance(usage, LLMModelUsage):
                fields = {
                    "input": usage.input_tokens,
                    "output": usage.output_tokens,
                    "cached": usage.input_cached_tokens,
                }
                stage = "llm"
            elif isinstance(usage, TTSModelUsage):
                fields, stage = {"characters": usage.characters_count}, "tts"
            elif isinstance(usage, STTModelUsage):
                fields, stage = {"audio": usage.audio_duration}, "stt"
            else:
                continue
            key = (stage, usage.provider or "", usage.model or "")
            last = self._usage.setdefault(key, {})
            delta = {k: max(float(v) - last.get(k, 0.0), 0.0) for k, v in fields.items()}
            last.update({k: float(v) for k, v in fields.items()})
            if not any(delta.values()):
                continue
            labels = self._labels(stage, usage.provider, usage.model)
            provider, model = labels["provider"], labels["model"]
            if stage == "llm":
                self.instruments.counter("voxplug.llm.input_tokens").add(delta["input"], attributes=labels)
                self.instruments.counter("voxplug.llm.output_tokens").add(delta["output"], attributes=labels)
                cost = self.prices.cost(
                    stage,
                    provider,
                    model,
                    input_tokens=delta["input"],
                    output_tokens=delta["output"],
                    cached_input_tokens=delta["cached"],
                )
            elif stage == "tts":
                self.instruments.counter("voxplug.tts.characters").add(delta["characters"], attributes=labels)
                cost = self.prices.cost(stage, provider, model, characters=delta["characters"])
            else:
                self.instruments.counter("voxplug.stt.audio_duration").add(delta["audio"], attributes=labels)
                cost = self.prices.cost(stage, provider, model, audio_seconds=delta["audio"])
            if cost:
                self.instruments.counter("voxplug.cost").add(cost, attributes=labels)
                self.session_cost += cost
                self._cost_since_turn += cost

    def on_model_metrics(self, ev: Any) -> None:
        """A model's ``metrics_collected`` event, forwarded by the observer hub."""
        meta = ev.metadata.model_dump() if getattr(ev, "metadata", None) is not None else None
        if isinstance(ev, LLMMetrics) and ev.duration > 0:
            self._record("voxplug.llm.duration", ev.duration, self._stage_labels_from("llm", meta))
        elif isinstance(ev, STTMetrics) and ev.duration > 0:
            self._record("voxplug.stt.duration", ev.duration, self._stage_labels_from("stt", meta))

    # -- tools, errors, fallbacks ----------------------------------------------------------
    def on_function_tools_executed(self, ev: FunctionToolsExecutedEvent) -> None:
        for call, output in ev.zipped():
            if output is None:
                continue
            duration = max(output.created_at - call.created_at, 0.0)
            labels = {
                "agent": self.speaker,
                "tool": _tool_label(call.name),
                "error": str(bool(output.is_error)).lower(),
            }
            self.instruments.histogram("voxplug.tool.duration").record(duration, attributes=labels)

    def on_error(self, ev: ErrorEvent) -> None:
        stage = _stage_of(ev.source)
        provider, model = split_label(provider_label(ev.source))
        labels = (
            self._labels(stage, provider, model)
            if stage != "other"
            else {"agent": self.speaker, "stage": "other", "provider": "unknown", "model": "unknown"}
        )
        recoverable = getattr(ev.error, "recoverable", None)
        labels["recoverable"] = "unknown" if recoverable is None else str(bool(recoverable)).lower()
        self.instruments.counter("voxplug.errors").add(1, attributes=labels)

    def on_availability_changed(self, change: AvailabilityChange) -> None:
        provider, model = split_label(change.provider)
        labels = {
            "agent": self.agent,
            "stage": change.stage,
            "provider": provider,
            "model": model,
            "available": str(change.available).lower(),
        }
        self.instruments.counter("voxplug.fallback.switches").add(1, attributes=labels)


class TracingObserver(SessionObserver):
    """A ``voxplug.session`` span per session and a ``voxplug.turn`` span per turn.

    They sit beside the framework's own spans (agent_session, agent_turn, llm_node,
    tts_node...) on the same tracer provider. Transcripts are attached only with
    ``include_transcripts``, under ``voxplug.pii.*`` keys that the framework's PII filter
    strips again unless the provider allows PII.
    """

    def __init__(
        self, tracer_provider: trace_api.TracerProvider | None = None, *, include_transcripts: bool = False
    ) -> None:
        provider = tracer_provider if tracer_provider is not None else trace_api.get_tracer_provider()
        self.tracer = provider.get_tracer("voxplug", __version__)
        self.include_transcripts = include_transcripts
        self.span: trace_api.Span | None = None
        self.info: SessionInfo | None = None

    def on_session_started(self, info: SessionInfo) -> None:
        self.info = info
        attrs: dict[str, Any] = {
            "voxplug.session_id": info.session_id,
            "voxplug.agent": info.agent_name,
            "voxplug.stt": info.stt,
            "voxplug.llm": info.llm,
            "voxplug.tts": info.tts,
            "voxplug.config_fingerprint": info.config_fingerprint,
        }
        if info.room:
            attrs["voxplug.room"] = info.room
        self.span = self.tracer.start_span("voxplug.session", attributes=attrs)

    def on_turn_completed(self, turn: TurnRecord) -> None:
        ctx = trace_api.set_span_in_context(self.span) if self.span is not None else None
        start = turn.user_stopped_speaking_at or turn.created_at
        attrs: dict[str, Any] = {
            "voxplug.turn.index": turn.index,
            "voxplug.turn.interrupted": turn.interrupted,
        }
        for key in ("e2e_latency", "end_of_turn_delay", "transcription_delay", "llm_ttft", "tts_ttfb"):
            value = getattr(turn, key)
            if value is not None:
                attrs[f"voxplug.turn.{key}"] = float(value)
        if self.include_transcripts:
            attrs["voxplug.pii.user_text"] = turn.user_text
            attrs["voxplug.pii.assistant_text"] = turn.assistant_text
        span = self.tracer.start_span(
            "voxplug.turn", context=ctx, attributes=attrs, start_time=int(start * 1e9)
        )
        span.end(end_time=max(int(time.time() * 1e9), int(start * 1e9)))

    def on_error(self, ev: ErrorEvent) -> None:
        if self.span is not None:
            self.span.add_event(
                "voxplug.error",
                {
                    "voxplug.stage": _stage_of(ev.source),
                    "voxplug.error.type": type(ev.error).__name__,
                    "voxplug.error.recoverable": bool(getattr(ev.error, "recoverable", False)),
                },
            )

    def on_availability_changed(self, change: AvailabilityChange) -> None:
        if self.span is not None:
            self.span.add_event(
                "voxplug.fallback",
                {
                    "voxplug.stage": change.stage,
                    "voxplug.provider": change.provider,
                    "voxplug.available": change.available,
                },
            )

    def on_close(self, ev: CloseEvent) -> None:
        if self.span is not None:
            self.span.set_attribute("voxplug.close_reason", str(ev.reason))
            self.span.end()
            self.span = None

    async def aclose(self) -> None:
        if self.span is not None:
            self.span.end()
            self.span = None
