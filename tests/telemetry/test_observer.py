"""The metrics and tracing observers against OpenTelemetry's in-memory reader/exporter.

Driven with the framework's own event objects (no session), so every value is exact.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from livekit.agents import (
    APIStatusError,
    ChatMessage,
    CloseEvent,
    ConversationItemAddedEvent,
    ErrorEvent,
    FunctionToolsExecutedEvent,
    SessionUsageUpdatedEvent,
    llm,
    tts,
)
from livekit.agents.metrics import LLMMetrics, STTMetrics
from livekit.agents.metrics.base import Metadata
from livekit.agents.metrics.usage import AgentSessionUsage, LLMModelUsage, STTModelUsage, TTSModelUsage
from livekit.agents.voice.events import CloseReason
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from voxplug.config.pricing import Price, PricingConfig
from voxplug.config.telemetry import TelemetryConfig
from voxplug.core.observers import AvailabilityChange, SessionInfo, TurnRecord
from voxplug.telemetry import (
    INSTRUMENTS,
    MetricsObserver,
    TracingObserver,
    histogram_quantile,
    prometheus_name,
    summary_from_reader,
)
from voxplug.telemetry.setup import framework_views
from voxplug.testing import FixedLatencyTTS

SESSION_ID = "sess-0123456789abcdef"
ROOM = "room-private-42"


def info(**kw: Any) -> SessionInfo:
    base: dict[str, Any] = dict(
        agent_name="support",
        stt="deepgram/nova-3",
        llm="api.openai.com/gpt-4o-mini",
        tts="cartesia/sonic-2",
        config_fingerprint="abc",
        room=ROOM,
        participant="alice",
        session_id=SESSION_ID,
    )
    return SessionInfo(**(base | kw))


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def observer(reader: InMemoryMetricReader) -> MetricsObserver:
    provider = MeterProvider(metric_readers=[reader])
    obs = MetricsObserver(prices=PricingConfig().table(), meter_provider=provider)
    obs.on_session_started(info())
    return obs


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    out: dict[str, list[Any]] = {}
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out.setdefault(m.name, []).extend(m.data.data_points)
    return out


def value(pts: dict[str, list[Any]], name: str, **labels: str) -> float:
    found = [p for p in pts.get(name, []) if all(p.attributes.get(k) == v for k, v in labels.items())]
    if found and isinstance(found[0], HistogramDataPoint):
        return float(sum(p.sum for p in found))
    return float(sum(p.value for p in found))


def hist(pts: dict[str, list[Any]], name: str) -> HistogramDataPoint:
    found = pts[name]
    assert len(found) == 1, found
    assert isinstance(found[0], HistogramDataPoint)
    return found[0]


def user_item(**metrics: Any) -> ConversationItemAddedEvent:
    msg = ChatMessage(role="user", content=["what time is it"])
    msg.metrics.update(metrics)  # type: ignore[typeddict-item]
    return ConversationItemAddedEvent(item=msg)


def assistant_item(interrupted: bool = False, **metrics: Any) -> ConversationItemAddedEvent:
    msg = ChatMessage(role="assistant", content=["It is noon."], interrupted=interrupted)
    msg.metrics.update(metrics)  # type: ignore[typeddict-item]
    return ConversationItemAddedEvent(item=msg)


def turn(index: int = 0, **kw: Any) -> TurnRecord:
    base: dict[str, Any] = dict(
        index=index,
        user_text="what time is it",
        assistant_text="It is noon.",
        interrupted=False,
        created_at=time.time(),
        end_of_turn_delay=0.4,
        transcription_delay=0.3,
        llm_ttft=0.5,
        tts_ttfb=0.2,
        e2e_latency=1.25,
    )
    return TurnRecord(**(base | kw))


def all_attribute_values(reader: InMemoryMetricReader) -> set[str]:
    return {str(v) for pts in points(reader).values() for p in pts for v in p.attributes.values()}


def test_turn_latencies_are_recorded_when_the_turn_completes(
    observer: MetricsObserver, reader: InMemoryMetricReader
) -> None:
    observer.on_conversation_item_added(
        user_item(stt_metadata={"model_name": "nova-3", "model_provider": "Deepgram"})
    )
    observer.on_conversation_item_added(
        assistant_item(
            llm_metadata={"model_name": "gpt-4o-mini", "model_provider": "api.openai.com"},
            tts_metadata={"model_name": "sonic-2", "model_provider": "Cartesia"},
        )
    )
    observer.on_turn_completed(turn())
    pts = points(reader)  # no session end: live values
    v2v = hist(pts, "voxplug.turn.voice_to_voice_latency")
    assert (v2v.count, v2v.sum) == (1, 1.25)
    assert dict(v2v.attributes or {}) == {"agent": "support"}
    ttft = hist(pts, "voxplug.llm.time_to_first_token")
    assert ttft.sum == 0.5
    assert dict(ttft.attributes or {}) == {
        "agent": "support",
        "stage": "llm",
        "provider": "api.openai.com",
        "model": "gpt-4o-mini",
    }
    assert dict(hist(pts, "voxplug.tts.time_to_first_byte").attributes or {})["provider"] == "Cartesia"
    eot = hist(pts, "voxplug.turn.end_of_turn_delay")
    assert (eot.sum, dict(eot.attributes or {})["provider"], dict(eot.attributes or {})["stage"]) == (
        0.4,
        "Deepgram",
        "stt",
    )
    assert hist(pts, "voxplug.turn.transcription_delay").sum == 0.3
    # the buckets are in seconds: 1.25 s lands in (1.0, 1.25]
    bounds = list(v2v.explicit_bounds)
    assert v2v.bucket_counts[bounds.index(1.25)] == 1
    assert value(pts, "voxplug.turns") == 1
    assert value(pts, "voxplug.interruptions") == 0
    assert value(pts, "voxplug.sessions.active") == 1


def test_labels_are_bounded_and_never_identify_a_session(
    observer: MetricsObserver, reader: InMemoryMetricReader
) -> None:
    observer.on_turn_completed(turn())
    observer.on_session_usage_updated(
        SessionUsageUpdatedEvent(
            usage=AgentSessionUsage(
                model_usage=[
                    LLMModelUsage(
                        provider="api.openai.com", model="gpt-4o-mini", input_tokens=10, output_tokens=5
                    )
                ]
            )
        )
    )
    observer.on_error(
        ErrorEvent(
            error=tts.TTSError(
                timestamp=time.time(), label="x", error=APIStatusError("boom"), recoverable=True
            ),
            source=FixedLatencyTTS(),
        )
    )
    allowed = {"agent", "stage", "provider", "model", "recoverable", "available", "tool", "error"}
    for name, pts in points(reader).items():
        for p in pts:
            assert set(p.attributes) <= allowed, (name, p.attributes)
    values = all_attribute_values(reader)
    assert not values & {SESSION_ID, ROOM, "alice", "abc"}
    # every instrument's declared labels are within the allowed set too
    for spec in INSTRUMENTS:
        assert set(spec.labels) <= allowed


def test_interruptions_errors_fallbacks_and_tools(
    observer: MetricsObserver, reader: InMemoryMetricReader
) -> None:
    observer.on_turn_completed(turn(interrupted=True))
    observer.on_turn_completed(turn(index=1))
    err = tts.TTSError(timestamp=time.time(), label="fixed", error=APIStatusError("boom"), recoverable=True)
    observer.on_error(ErrorEvent(error=err, source=FixedLatencyTTS()))
    fatal = llm.LLMError(timestamp=time.time(), label="x", error=APIStatusError("no"), recoverable=False)
    observer.on_error(ErrorEvent(error=fatal, source=llm.FallbackAdapter([_StubLLM(), _StubLLM()])))
    observer.on_availability_changed(AvailabilityChange("llm", "api.openai.com/gpt-4o-mini", False))
    call = llm.FunctionCall(call_id="c1", name="current_time", arguments="{}", created_at=100.0)
    out = llm.FunctionCallOutput(
        call_id="c1", name="current_time", output="noon", is_error=False, created_at=100.25
    )
    bad = llm.FunctionCall(call_id="c2", name="weird name!", arguments="{}", created_at=100.0)
    bad_out = llm.FunctionCallOutput(
        call_id="c2", name="weird name!", output="x", is_error=True, created_at=100.5
    )
    observer.on_function_tools_executed(
        FunctionToolsExecutedEvent(function_calls=[call, bad], function_call_outputs=[out, bad_out])
    )
    pts = points(reader)
    assert value(pts, "voxplug.turns") == 2
    assert value(pts, "voxplug.interruptions") == 1
    assert value(pts, "voxplug.errors", stage="tts", provider="fixed", model="fixed", recoverable="true") == 1
    assert value(pts, "voxplug.errors", stage="llm", provider="fallback", recoverable="false") == 1
    assert value(pts, "voxplug.errors") == 2  # the primed zero series add nothing
    assert (
        value(
            pts,
            "voxplug.fallback.switches",
            stage="llm",
            provider="api.openai.com",
            model="gpt-4o-mini",
            available="false",
        )
        == 1
    )
    assert value(pts, "voxplug.tool.duration", tool="current_time", error="false") == pytest.approx(0.25)
    assert value(pts, "voxplug.tool.duration", tool="other", error="true") == pytest.approx(0.5)


class _StubLLM(llm.LLM):
    def chat(self, **kwargs: Any) -> llm.LLMStream:
        raise NotImplementedError


def test_usage_is_counted_from_cumulative_updates_without_double_counting(
    observer: MetricsObserver, reader: InMemoryMetricReader
) -> None:
    def update(inp: int, out: int, chars: int, audio: float) -> None:
        observer.on_session_usage_updated(
            SessionUsageUpdatedEvent(
                usage=AgentSessionUsage(
                    model_usage=[
                        LLMModelUsage(
                            provider="api.openai.com",
                            model="gpt-4o-mini",
                            input_tokens=inp,
                            output_tokens=out,
                        ),
                        TTSModelUsage(provider="Cartesia", model="sonic-2", characters_count=chars),
                        STTModelUsage(provider="Deepgram", model="nova-3", audio_duration=audio),
                    ]
                )
            )
        )

    update(1000, 100, 50, 30.0)
    update(1000, 100, 50, 30.0)  # repeated totals: nothing new
    observer.on_turn_completed(turn())
    update(3000, 300, 150, 90.0)
    observer.on_turn_completed(turn(index=1))
    pts = points(reader)
    llm_labels = {"provider": "api.openai.com", "model": "gpt-4o-mini", "stage": "llm"}
    assert value(pts, "voxplug.llm.input_tokens", **llm_labels) == 3000
    assert value(pts, "voxplug.llm.output_tokens", **llm_labels) == 300
    assert value(pts, "voxplug.tts.characters", provider="Cartesia") == 150
    assert value(pts, "voxplug.stt.audio_duration", provider="Deepgram") == 90.0
    # default prices: gpt-4o-mini 0.00015/0.0006 per 1K, cartesia 0.00004/char, nova-3 0.0077/min
    llm_cost = 3 * 0.00015 + 0.3 * 0.0006
    expected = llm_cost + 150 * 0.00004 + 1.5 * 0.0077
    assert value(pts, "voxplug.cost") == pytest.approx(expected)
    assert value(pts, "voxplug.cost", stage="llm") == pytest.approx(llm_cost)
    assert observer.session_cost == pytest.approx(expected)
    # cost per turn: what was reported since the previous turn
    assert observer.turn_costs == pytest.approx([expected / 3, expected * 2 / 3])
    turn_cost = hist(pts, "voxplug.turn.cost")
    assert (turn_cost.count, turn_cost.sum) == (2, pytest.approx(expected))


def test_session_end_records_cost_and_releases_the_active_gauge(
    observer: MetricsObserver, reader: InMemoryMetricReader
) -> None:
    assert value(points(reader), "voxplug.sessions.active") == 1
    observer.on_close(CloseEvent(reason=CloseReason.USER_INITIATED))
    observer.on_close(CloseEvent(reason=CloseReason.USER_INITIATED))  # once only
    pts = points(reader)
    assert value(pts, "voxplug.sessions.active") == 0
    assert value(pts, "voxplug.sessions") == 1
    assert hist(pts, "voxplug.session.cost").count == 1


async def test_aclose_flushes(reader: InMemoryMetricReader) -> None:
    flushed: list[bool] = []
    obs = MetricsObserver(
        meter_provider=MeterProvider(metric_readers=[reader]), flush=lambda: flushed.append(True)
    )
    obs.on_session_started(info())
    await obs.aclose()
    assert flushed == [True]
    assert value(points(reader), "voxplug.sessions.active") == 0


def test_request_durations_come_from_model_metrics(
    observer: MetricsObserver, reader: InMemoryMetricReader
) -> None:
    meta = Metadata(model_name="gpt-4o-mini", model_provider="api.openai.com")
    observer.on_model_metrics(
        LLMMetrics(
            label="l",
            request_id="r",
            timestamp=0,
            duration=0.8,
            ttft=0.3,
            cancelled=False,
            completion_tokens=1,
            prompt_tokens=1,
            prompt_cached_tokens=0,
            total_tokens=2,
            tokens_per_second=1.0,
            metadata=meta,
        )
    )
    observer.on_model_metrics(
        STTMetrics(label="s", request_id="r", timestamp=0, duration=0.0, audio_duration=1, streamed=True)
    )  # streaming: no request duration
    observer.on_model_metrics(
        STTMetrics(label="s", request_id="r", timestamp=0, duration=0.6, audio_duration=1, streamed=False)
    )
    pts = points(reader)
    assert hist(pts, "voxplug.llm.duration").sum == 0.8
    stt_dur = hist(pts, "voxplug.stt.duration")
    assert (stt_dur.count, stt_dur.sum, dict(stt_dur.attributes or {})["provider"]) == (1, 0.6, "deepgram")


def test_fallback_sessions_get_models_from_each_turn(reader: InMemoryMetricReader) -> None:
    obs = MetricsObserver(meter_provider=MeterProvider(metric_readers=[reader]))
    obs.on_session_started(info(llm="fallback"))
    obs.on_turn_completed(turn())  # nothing known yet
    obs.on_conversation_item_added(assistant_item(llm_metadata={"model_name": "m2", "model_provider": "p2"}))
    obs.on_turn_completed(turn(index=1))
    attrs = [dict(p.attributes) for p in points(reader)["voxplug.llm.time_to_first_token"]]
    assert sorted((a["provider"], a["model"]) for a in attrs) == [("fallback", "fallback"), ("p2", "m2")]


# -- prices ------------------------------------------------------------------------------------
def test_price_table_first_match_wins_and_unknown_is_unpriced() -> None:
    mine = Price(
        stage="llm", provider="api.openai.com", model="gpt-4o-mini",
        input_per_million_tokens=1000.0, output_per_million_tokens=2000.0,
    )
    table = PricingConfig(prices=[mine]).table()
    assert table.cost("llm", "api.openai.com", "gpt-4o-mini", input_tokens=1000, output_tokens=500) == 2.0
    assert table.cost("llm", "API.OPENAI.COM", "gpt-4o-2024-08-06", input_tokens=1000) == 0.0025
    assert table.cost("llm", "localhost:8080", "qwen", input_tokens=1e6, output_tokens=1e6) is None
    assert table.cost("stt", "Deepgram", "nova-3", audio_seconds=120) == pytest.approx(0.0154)
    assert table.cost("tts", "ElevenLabs", "eleven_flash_v2_5", characters=1000) == pytest.approx(0.11)
    assert PricingConfig(use_defaults=False).table().cost("stt", "Deepgram", "nova-3", audio_seconds=60) is None
    cached = Price(stage="llm", input_per_million_tokens=1000.0, cached_input_per_million_tokens=100.0)
    assert PricingConfig(prices=[cached]).table().cost(
        "llm", "x", "y", input_tokens=1000, cached_input_tokens=500
    ) == pytest.approx(0.55)


def test_config_rejects_typos() -> None:
    with pytest.raises(ValueError, match="extra"):
        TelemetryConfig.model_validate({"prometheus_prot": 1})
    with pytest.raises(ValueError):
        Price.model_validate({"stage": "llm", "input_per_million_tokens": -1})


# -- names, quantiles, views -------------------------------------------------------------------
def test_prometheus_names() -> None:
    names = {s.name: s.prometheus for s in INSTRUMENTS}
    assert names["voxplug.turn.voice_to_voice_latency"] == "voxplug_turn_voice_to_voice_latency_seconds"
    assert names["voxplug.turns"] == "voxplug_turns_total"
    assert names["voxplug.llm.input_tokens"] == "voxplug_llm_input_tokens_total"
    assert names["voxplug.stt.audio_duration"] == "voxplug_stt_audio_duration_seconds_total"
    assert names["voxplug.cost"] == "voxplug_cost_usd_total"
    assert names["voxplug.sessions.active"] == "voxplug_sessions_active"
    assert names["voxplug.worker.load"] == "voxplug_worker_load_ratio"
    assert (
        prometheus_name("lk.agents.turn.e2e_latency", "s", "histogram")
        == "lk_agents_turn_e2e_latency_seconds"
    )
    assert not any("_ms" in s.prometheus for s in INSTRUMENTS)


def test_histogram_quantile_matches_prometheus_interpolation() -> None:
    # 10 observations in (0.5, 1], 10 in (1, 2]: the median is the top of the first bucket
    assert histogram_quantile(0.5, [0.5, 1.0, 2.0], [0, 10, 10, 0]) == 1.0
    assert histogram_quantile(0.75, [0.5, 1.0, 2.0], [0, 10, 10, 0]) == 1.5
    assert histogram_quantile(0.99, [1.0], [0, 5]) == 1.0  # +Inf bucket: largest finite bound
    assert math.isnan(histogram_quantile(0.5, [1.0], [0, 0]))


def test_framework_meter_keeps_only_bounded_attributes() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], views=framework_views())
    meter = provider.get_meter("livekit-agents")
    job = {
        "room_id": "RM_x",
        "job_id": "AJ_y",
        "lk.session_id": "s",
        "model_name": "gpt",
        "model_provider": "oai",
    }
    meter.create_histogram("lk.agents.turn.e2e_latency", unit="s").record(1.3, attributes=job)
    meter.create_counter("lk.agents.usage.llm_input_tokens").add(7, attributes=job)
    pts = points(reader)
    for name in ("lk.agents.turn.e2e_latency", "lk.agents.usage.llm_input_tokens"):
        assert [dict(p.attributes) for p in pts[name]] == [{"model_name": "gpt", "model_provider": "oai"}]
    assert 1.5 in hist(pts, "lk.agents.turn.e2e_latency").explicit_bounds  # seconds buckets


def test_summary_from_reader(observer: MetricsObserver, reader: InMemoryMetricReader) -> None:
    for i, e2e in enumerate((0.8, 1.2, 1.4, 2.2)):
        observer.on_turn_completed(turn(index=i, e2e_latency=e2e, interrupted=i == 3))
    observer.on_session_usage_updated(
        SessionUsageUpdatedEvent(
            usage=AgentSessionUsage(
                model_usage=[
                    LLMModelUsage(
                        provider="api.openai.com", model="gpt-4o-mini", input_tokens=2000, output_tokens=500
                    )
                ]
            )
        )
    )
    summary = summary_from_reader(reader, elapsed=120.0)
    assert summary.turns == 4 and summary.interruptions == 1
    assert summary.turns_per_minute == 2.0
    assert summary.voice_to_voice is not None and summary.voice_to_voice.count == 4
    assert summary.voice_to_voice.p50 == 1.25  # Prometheus' interpolation over the buckets
    assert summary.llm_input_tokens == 2000
    assert summary.cost_usd == pytest.approx(2 * 0.00015 + 0.5 * 0.0006)
    assert summary.cost_per_hour == pytest.approx(summary.cost_usd * 30)
    text = summary.format()
    assert "voice-to-voice latency" in text and "p95" in text and "LLM time to first token" in text
    assert summary.as_dict()["turns"] == 4


# -- traces ------------------------------------------------------------------------------------
@pytest.mark.parametrize("include", [False, True])
def test_tracing_observer_spans_and_pii(include: bool) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    obs = TracingObserver(provider, include_transcripts=include)
    obs.on_session_started(info())
    obs.on_turn_completed(turn(user_stopped_speaking_at=time.time() - 1.0))
    obs.on_close(CloseEvent(reason=CloseReason.USER_INITIATED))
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"voxplug.session", "voxplug.turn"}
    turn_span = spans["voxplug.turn"]
    assert (
        turn_span.parent is not None and turn_span.parent.span_id == spans["voxplug.session"].context.span_id
    )
    attrs = dict(turn_span.attributes or {})
    assert attrs["voxplug.turn.e2e_latency"] == 1.25
    texts = {v for s in spans.values() for v in (s.attributes or {}).values()}
    assert ("what time is it" in texts) is include
    assert ("It is noon." in texts) is include
