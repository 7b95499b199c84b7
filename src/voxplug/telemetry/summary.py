"""The dashboard's figures, computed in Python from the same instruments.

``voxplug simulate`` (or anything that ran sessions in-process) calls
:func:`summary_from_reader` with the ``InMemoryMetricReader`` of its
:class:`~voxplug.telemetry.setup.TelemetryRuntime` and prints :meth:`Summary.format`.
Percentiles are estimated from the histogram buckets exactly as Prometheus'
``histogram_quantile`` does, so the numbers match the Grafana panels for the same data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .export import MetricSeries, from_metrics_data, merge_series, read_snapshots

__all__ = [
    "STAGE_LATENCIES",
    "LatencyStats",
    "Summary",
    "histogram_quantile",
    "summary_from_reader",
    "summary_from_series",
]

# (instrument, title) of the per-stage latency panels, in dashboard order
STAGE_LATENCIES: tuple[tuple[str, str], ...] = (
    ("voxplug.turn.end_of_turn_delay", "end-of-turn delay"),
    ("voxplug.turn.transcription_delay", "transcription delay"),
    ("voxplug.llm.time_to_first_token", "LLM time to first token"),
    ("voxplug.tts.time_to_first_byte", "TTS time to first byte"),
    ("voxplug.stt.duration", "STT request duration"),
    ("voxplug.llm.duration", "LLM request duration"),
    ("voxplug.tool.duration", "tool call duration"),
)


def histogram_quantile(q: float, bounds: Iterable[float], counts: Iterable[float]) -> float:
    """Prometheus' ``histogram_quantile`` over one histogram (per-bucket, not cumulative counts)."""
    uppers = [*bounds, math.inf]
    cumulative: list[float] = []
    total = 0.0
    for c in counts:
        total += c
        cumulative.append(total)
    if not cumulative or total <= 0 or len(cumulative) != len(uppers):
        return math.nan
    rank = q * total
    for i, cum in enumerate(cumulative):
        if cum >= rank:
            upper = uppers[i]
            if math.isinf(upper):
                return uppers[-2] if len(uppers) > 1 else math.nan
            lower = uppers[i - 1] if i > 0 else 0.0
            if i == 0 and upper <= 0:
                return upper
            before = cumulative[i - 1] if i > 0 else 0.0
            inside = cum - before
            return lower + (upper - lower) * ((rank - before) / inside if inside > 0 else 1.0)
    return uppers[-2] if len(uppers) > 1 else math.nan


@dataclass
class LatencyStats:
    count: int
    mean: float
    p50: float
    p95: float
    p99: float

    def format(self) -> str:
        return (
            f"p50 {_s(self.p50)}  p95 {_s(self.p95)}  p99 {_s(self.p99)}  "
            f"mean {_s(self.mean)}  n={self.count}"
        )


def _s(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}s"


def _stats(points: Iterable[Any]) -> LatencyStats | None:
    bounds: tuple[float, ...] | None = None
    counts: list[float] = []
    total_sum = total_count = 0.0
    for p in points:
        if bounds is None:
            bounds, counts = tuple(p.bounds), list(p.counts)
        elif tuple(p.bounds) == bounds:
            counts = [a + b for a, b in zip(counts, p.counts, strict=True)]
        else:
            continue
        total_sum += p.sum
        total_count += p.count
    if bounds is None or total_count <= 0:
        return None
    return LatencyStats(
        count=int(total_count),
        mean=total_sum / total_count,
        p50=histogram_quantile(0.5, bounds, counts),
        p95=histogram_quantile(0.95, bounds, counts),
        p99=histogram_quantile(0.99, bounds, counts),
    )


@dataclass
class Summary:
    """What the Grafana dashboard shows, as numbers (totals over the run)."""

    elapsed: float | None
    voice_to_voice: LatencyStats | None
    stage_latency: dict[str, dict[str, LatencyStats]] = field(default_factory=dict)  # title → provider/model
    sessions: float = 0.0
    active_sessions: float = 0.0
    turns: float = 0.0
    interruptions: float = 0.0
    errors: dict[str, float] = field(default_factory=dict)  # "stage provider (recoverable=x)" → n
    fallback_switches: dict[str, float] = field(default_factory=dict)
    llm_input_tokens: float = 0.0
    llm_output_tokens: float = 0.0
    tts_characters: float = 0.0
    stt_audio_seconds: float = 0.0
    cost_usd: float = 0.0
    cost_by_stage: dict[str, float] = field(default_factory=dict)
    cost_per_turn: LatencyStats | None = None
    worker_load: float | None = None

    @property
    def turns_per_minute(self) -> float | None:
        return self.turns / (self.elapsed / 60.0) if self.elapsed else None

    @property
    def cost_per_hour(self) -> float | None:
        return self.cost_usd / (self.elapsed / 3600.0) if self.elapsed else None

    def as_dict(self) -> dict[str, Any]:
        def stats(s: LatencyStats | None) -> dict[str, float] | None:
            return (
                None
                if s is None
                else {"count": s.count, "mean": s.mean, "p50": s.p50, "p95": s.p95, "p99": s.p99}
            )

        return {
            "elapsed_s": self.elapsed,
            "voice_to_voice_s": stats(self.voice_to_voice),
            "stage_latency_s": {
                t: {k: stats(v) for k, v in by.items()} for t, by in self.stage_latency.items()
            },
            "sessions": self.sessions,
            "active_sessions": self.active_sessions,
            "turns": self.turns,
            "turns_per_minute": self.turns_per_minute,
            "interruptions": self.interruptions,
            "errors": self.errors,
            "fallback_switches": self.fallback_switches,
            "llm_input_tokens": self.llm_input_tokens,
            "llm_output_tokens": self.llm_output_tokens,
            "tts_characters": self.tts_characters,
            "stt_audio_seconds": self.stt_audio_seconds,
            "cost_usd": self.cost_usd,
            "cost_by_stage_usd": self.cost_by_stage,
            "cost_per_hour_usd": self.cost_per_hour,
            "worker_load": self.worker_load,
        }

    def format(self) -> str:
        """The dashboard, as text."""
        lines = ["== voxplug metrics (as on the Grafana dashboard) =="]
        v2v = self.voice_to_voice
        lines.append(f"voice-to-voice latency   {v2v.format() if v2v else 'no data'}")
        for title, by_provider in self.stage_latency.items():
            for provider, st in sorted(by_provider.items()):
                lines.append(f"{title:<24} {provider:<28} {st.format()}")
        tpm = self.turns_per_minute
        lines.append(
            f"turns {self.turns:g}"
            + (f" ({tpm:.1f}/min)" if tpm is not None else "")
            + f", interruptions {self.interruptions:g}, sessions {self.sessions:g} "
            f"(active {self.active_sessions:g})"
        )
        lines.append(
            "errors: " + (", ".join(f"{k}: {v:g}" for k, v in sorted(self.errors.items())) or "none")
        )
        lines.append(
            "fallback switches: "
            + (", ".join(f"{k}: {v:g}" for k, v in sorted(self.fallback_switches.items())) or "none")
        )
        lines.append(
            f"usage: LLM tokens in {self.llm_input_tokens:g} / out {self.llm_output_tokens:g}, "
            f"TTS characters {self.tts_characters:g}, STT audio {self.stt_audio_seconds:.1f}s"
        )
        cph = self.cost_per_hour
        per_turn = self.cost_per_turn
        lines.append(
            f"estimated cost ${self.cost_usd:.6f}"
            + (f" (${cph:.4f}/hour)" if cph is not None else "")
            + (f", per turn mean ${per_turn.mean:.6f}" if per_turn else "")
            + (
                "; " + ", ".join(f"{k} ${v:.6f}" for k, v in sorted(self.cost_by_stage.items()))
                if self.cost_by_stage
                else ""
            )
        )
        if self.worker_load is not None:
            lines.append(f"worker load {self.worker_load:.2f}")
        return "\n".join(lines)


def _total(series: Mapping[str, MetricSeries], name: str) -> float:
    s = series.get(name)
    return sum(p.value for p in s.points.values()) if s else 0.0


def _by(series: Mapping[str, MetricSeries], name: str, keys: Iterable[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    s = series.get(name)
    if s is None:
        return out
    keys = list(keys)
    for p in s.points.values():
        attrs = dict(p.attrs)
        label = " ".join(f"{k}={attrs.get(k, '')}" for k in keys)
        out[label] = out.get(label, 0.0) + p.value
    return {k: v for k, v in out.items() if v}


def summary_from_series(series: Mapping[str, MetricSeries], *, elapsed: float | None = None) -> Summary:
    """The dashboard's figures from merged series (one process or a whole worker)."""
    v2v = series.get("voxplug.turn.voice_to_voice_latency")
    stage_latency: dict[str, dict[str, LatencyStats]] = {}
    for name, title in STAGE_LATENCIES:
        s = series.get(name)
        if s is None:
            continue
        groups: dict[str, list[Any]] = {}
        for p in s.points.values():
            attrs = dict(p.attrs)
            key = (
                attrs.get("tool")
                if name == "voxplug.tool.duration"
                else (f"{attrs.get('provider', '?')}/{attrs.get('model', '?')}")
            )
            groups.setdefault(str(key), []).append(p)
        found = {k: st for k, pts in groups.items() if (st := _stats(pts)) is not None}
        if found:
            stage_latency[title] = found
    load = series.get("voxplug.worker.load")
    turn_cost = series.get("voxplug.turn.cost")
    return Summary(
        elapsed=elapsed,
        voice_to_voice=_stats(v2v.points.values()) if v2v else None,
        stage_latency=stage_latency,
        sessions=_total(series, "voxplug.sessions"),
        active_sessions=_total(series, "voxplug.sessions.active"),
        turns=_total(series, "voxplug.turns"),
        interruptions=_total(series, "voxplug.interruptions"),
        errors=_by(series, "voxplug.errors", ("stage", "provider", "recoverable")),
        fallback_switches=_by(
            series, "voxplug.fallback.switches", ("stage", "provider", "model", "available")
        ),
        llm_input_tokens=_total(series, "voxplug.llm.input_tokens"),
        llm_output_tokens=_total(series, "voxplug.llm.output_tokens"),
        tts_characters=_total(series, "voxplug.tts.characters"),
        stt_audio_seconds=_total(series, "voxplug.stt.audio_duration"),
        cost_usd=_total(series, "voxplug.cost"),
        cost_by_stage={
            k.removeprefix("stage="): v for k, v in _by(series, "voxplug.cost", ("stage",)).items()
        },
        cost_per_turn=_stats(turn_cost.points.values()) if turn_cost else None,
        worker_load=max((p.value for p in load.points.values()), default=None) if load else None,
    )


def summary_from_reader(
    reader: Any, *, elapsed: float | None = None, metrics_dir: str | None = None
) -> Summary:
    """The dashboard's figures from an ``InMemoryMetricReader`` (and, for a worker, the
    snapshots of its job processes in ``metrics_dir``).

    Reading collects from the reader: take it once, at the end of the run.
    """
    series = read_snapshots(metrics_dir, compact=False) if metrics_dir else {}
    merge_series(series, from_metrics_data(reader.get_metrics_data()).values())
    return summary_from_series(series, elapsed=elapsed)
