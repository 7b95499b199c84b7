"""voxplug's OpenTelemetry instruments: names, units, buckets, labels.

Names follow OpenTelemetry's semantic style (dots, seconds); Prometheus sees them with
dots turned into underscores and the unit appended (``voxplug.llm.time_to_first_token``,
unit ``s`` → ``voxplug_llm_time_to_first_token_seconds``; counters end in ``_total``).
Labels are bounded: ``agent``, ``stage``, ``provider``, ``model`` (plus ``recoverable``,
``available``, ``tool``, all from small fixed sets). Never a session, room or user id.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from opentelemetry import metrics as metrics_api
from opentelemetry.metrics import CallbackOptions, Observation

from ..version import __version__

__all__ = [
    "COST_BUCKETS",
    "INSTRUMENTS",
    "LATENCY_BUCKETS",
    "METER_NAME",
    "SESSION_COST_BUCKETS",
    "InstrumentSpec",
    "VoxplugInstruments",
    "instruments_for",
    "prometheus_name",
]

METER_NAME = "voxplug"

# seconds: voice pipelines live between 50 ms and a few seconds, tools up to half a minute
LATENCY_BUCKETS: tuple[float, ...] = (
    0.025,
    0.05,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.75,
    1.0,
    1.25,
    1.5,
    2.0,
    2.5,
    3.0,
    4.0,
    5.0,
    7.5,
    10.0,
    15.0,
    30.0,
)
COST_BUCKETS: tuple[float, ...] = (
    0.00001,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
)
SESSION_COST_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


@dataclass(frozen=True)
class InstrumentSpec:
    name: str
    kind: str  # histogram | counter | updown | gauge
    unit: str
    description: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] | None = None

    @property
    def prometheus(self) -> str:
        return prometheus_name(self.name, self.unit, self.kind)


STAGE_LABELS = ("agent", "stage", "provider", "model")

INSTRUMENTS: tuple[InstrumentSpec, ...] = (
    # -- per-turn latencies (recorded when each turn completes) ------------------------------
    InstrumentSpec(
        "voxplug.turn.voice_to_voice_latency",
        "histogram",
        "s",
        "Time from the end of the user's speech to the agent's first audio (e2e latency)",
        ("agent",),
        LATENCY_BUCKETS,
    ),
    InstrumentSpec(
        "voxplug.turn.end_of_turn_delay",
        "histogram",
        "s",
        "Time from the end of the user's speech to the end-of-turn decision",
        STAGE_LABELS,
        LATENCY_BUCKETS,
    ),
    InstrumentSpec(
        "voxplug.turn.transcription_delay",
        "histogram",
        "s",
        "Time from the end of the user's speech to the final transcript",
        STAGE_LABELS,
        LATENCY_BUCKETS,
    ),
    InstrumentSpec(
        "voxplug.llm.time_to_first_token",
        "histogram",
        "s",
        "LLM node time to first token, per turn",
        STAGE_LABELS,
        LATENCY_BUCKETS,
    ),
    InstrumentSpec(
        "voxplug.tts.time_to_first_byte",
        "histogram",
        "s",
        "TTS node time to first audio byte, per turn",
        STAGE_LABELS,
        LATENCY_BUCKETS,
    ),
    # -- per-request durations (recorded as each request finishes) ---------------------------
    InstrumentSpec(
        "voxplug.stt.duration",
        "histogram",
        "s",
        "Duration of one non-streaming STT request",
        STAGE_LABELS,
        LATENCY_BUCKETS,
    ),
    InstrumentSpec(
        "voxplug.llm.duration",
        "histogram",
        "s",
        "Duration of one LLM request, first byte to last token",
        STAGE_LABELS,
        LATENCY_BUCKETS,
    ),
    InstrumentSpec(
        "voxplug.tool.duration",
        "histogram",
        "s",
        "Duration of one function-tool call",
        ("agent", "tool", "error"),
        LATENCY_BUCKETS,
    ),
    # -- counters --------------------------------------------------------------------------
    InstrumentSpec("voxplug.sessions", "counter", "{session}", "Sessions started", ("agent",)),
    InstrumentSpec("voxplug.turns", "counter", "{turn}", "Completed turns (agent replies)", ("agent",)),
    InstrumentSpec(
        "voxplug.interruptions",
        "counter",
        "{interruption}",
        "Agent replies cut short by the user",
        ("agent",),
    ),
    InstrumentSpec(
        "voxplug.errors",
        "counter",
        "{error}",
        "STT/LLM/TTS errors reported by the session",
        (*STAGE_LABELS, "recoverable"),
    ),
    InstrumentSpec(
        "voxplug.fallback.switches",
        "counter",
        "{switch}",
        "Fallback adapter availability changes (available=false: switched away)",
        (*STAGE_LABELS, "available"),
    ),
    InstrumentSpec("voxplug.llm.input_tokens", "counter", "{token}", "LLM prompt tokens", STAGE_LABELS),
    InstrumentSpec("voxplug.llm.output_tokens", "counter", "{token}", "LLM completion tokens", STAGE_LABELS),
    InstrumentSpec(
        "voxplug.tts.characters", "counter", "{character}", "Characters sent to TTS", STAGE_LABELS
    ),
    InstrumentSpec("voxplug.stt.audio_duration", "counter", "s", "Audio sent to STT", STAGE_LABELS),
    InstrumentSpec("voxplug.cost", "counter", "USD", "Estimated spend from the price table", STAGE_LABELS),
    InstrumentSpec(
        "voxplug.turn.cost",
        "histogram",
        "USD",
        "Estimated spend per turn (all stages)",
        ("agent",),
        COST_BUCKETS,
    ),
    InstrumentSpec(
        "voxplug.session.cost",
        "histogram",
        "USD",
        "Estimated spend per session (all stages)",
        ("agent",),
        SESSION_COST_BUCKETS,
    ),
    # -- gauges ----------------------------------------------------------------------------
    InstrumentSpec("voxplug.sessions.active", "updown", "{session}", "Sessions in progress", ("agent",)),
    InstrumentSpec(
        "voxplug.worker.load",
        "gauge",
        "1",
        "Worker load as reported to LiveKit (0..1, the dispatch threshold applies)",
        (),
    ),
)

_UNITS = {"s": "seconds", "ms": "milliseconds", "By": "bytes", "USD": "usd", "1": "ratio"}


def prometheus_name(name: str, unit: str, kind: str) -> str:
    """The Prometheus series name an OTel instrument is exposed as (without ``_bucket``...)."""
    base = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    suffix = "" if unit.startswith("{") else _UNITS.get(unit, unit)
    if unit == "1" and kind != "gauge":
        suffix = ""
    if suffix:
        suffix = "".join(c if c.isalnum() or c == "_" else "_" for c in suffix)
        if not base.endswith("_" + suffix):
            base = f"{base}_{suffix}"
    if kind == "counter":
        base += "_total"
    return base


class VoxplugInstruments:
    """The instruments, created once per meter provider."""

    def __init__(self, meter: metrics_api.Meter) -> None:
        self.meter = meter
        self.by_name: dict[str, object] = {}
        for spec in INSTRUMENTS:
            if spec.kind == "histogram":
                self.by_name[spec.name] = meter.create_histogram(
                    spec.name,
                    unit=spec.unit,
                    description=spec.description,
                    explicit_bucket_boundaries_advisory=list(spec.buckets or LATENCY_BUCKETS),
                )
            elif spec.kind == "counter":
                self.by_name[spec.name] = meter.create_counter(
                    spec.name, unit=spec.unit, description=spec.description
                )
            elif spec.kind == "updown":
                self.by_name[spec.name] = meter.create_up_down_counter(
                    spec.name, unit=spec.unit, description=spec.description
                )
        self._load_sources: list[Callable[[], float | None]] = []
        self._load_lock = threading.Lock()
        self._load_gauge: object | None = None

    def histogram(self, name: str) -> metrics_api.Histogram:
        inst = self.by_name[name]
        assert isinstance(inst, metrics_api.Histogram)
        return inst

    def counter(self, name: str) -> metrics_api.Counter:
        inst = self.by_name[name]
        assert isinstance(inst, metrics_api.Counter)
        return inst

    def updown(self, name: str) -> metrics_api.UpDownCounter:
        inst = self.by_name[name]
        assert isinstance(inst, metrics_api.UpDownCounter)
        return inst

    def observe_worker_load(self, source: Callable[[], float | None]) -> None:
        """Report ``voxplug.worker.load`` from ``source`` (called at each collection)."""
        with self._load_lock:
            self._load_sources.append(source)
            if self._load_gauge is None:
                spec = next(s for s in INSTRUMENTS if s.name == "voxplug.worker.load")
                self._load_gauge = self.meter.create_observable_gauge(
                    spec.name, callbacks=[self._observe_load], unit=spec.unit, description=spec.description
                )

    def _observe_load(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self._load_lock:
            sources = list(self._load_sources)
        for source in sources:
            try:
                value = source()
            except Exception:
                continue
            if value is not None:
                yield Observation(float(value))
                return


_cache: weakref.WeakKeyDictionary[object, VoxplugInstruments] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def instruments_for(meter_provider: metrics_api.MeterProvider | None = None) -> VoxplugInstruments:
    """The instruments on ``meter_provider`` (default: the global one), created on first use."""
    provider = meter_provider if meter_provider is not None else metrics_api.get_meter_provider()
    with _cache_lock:
        found = _cache.get(provider)
        if found is None:
            found = VoxplugInstruments(provider.get_meter(METER_NAME, __version__))
            _cache[provider] = found
        return found
