"""One Prometheus endpoint for a worker whose jobs run in separate processes.

LiveKit runs every job in a process of its own (spawn/forkserver). OpenTelemetry's
in-process Prometheus exporter would therefore show one process at a time, and
``prometheus_client``'s multiprocess mode only knows its own metric classes. So:

* each job process exports its cumulative OpenTelemetry data every ``snapshot_interval``
  seconds (and when a session ends) to ``<dir>/otel-<pid>-<token>.json``, written
  atomically: :class:`SnapshotExporter`;
* the worker's main process serves ``/metrics``: it reads every snapshot plus its own
  live data, adds counters and histograms over processes (a process that exited keeps
  its last counts, folded into ``archive.json``; nothing is counted twice because each
  file holds only its own process's totals), sums up-down counters and takes the largest
  gauge over *living* processes only: :class:`MultiProcessCollector`, :func:`start_endpoint`.

With ``worker.executor: thread`` none of this is needed: every job is a thread of the
worker process and records into its one meter provider, so the endpoint serves that
provider's live reader and no snapshot directory exists (``setup_telemetry(...,
snapshots=False)``). The snapshot machinery stays for process mode, the default.

The framework's own ``prometheus_client`` metrics (``lk_agents_active_job_count``, ...)
are served on the same endpoint (through its multiprocess collector when
``PROMETHEUS_MULTIPROC_DIR`` is set).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    HistogramDataPoint,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    Sum,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from .instruments import prometheus_name

__all__ = [
    "METRICS_DIR_ENV",
    "MetricPoint",
    "MetricSeries",
    "MetricsEndpoint",
    "MultiProcessCollector",
    "SnapshotExporter",
    "from_metrics_data",
    "merge_series",
    "read_snapshots",
    "start_endpoint",
]

logger = logging.getLogger(__name__)

METRICS_DIR_ENV = "VOXPLUG_METRICS_DIR"
ARCHIVE = "archive.json"
CUMULATIVE: dict[type, AggregationTemporality] = {
    Counter: AggregationTemporality.CUMULATIVE,
    UpDownCounter: AggregationTemporality.CUMULATIVE,
    Histogram: AggregationTemporality.CUMULATIVE,
    ObservableCounter: AggregationTemporality.CUMULATIVE,
    ObservableUpDownCounter: AggregationTemporality.CUMULATIVE,
    ObservableGauge: AggregationTemporality.CUMULATIVE,
}

Attrs = tuple[tuple[str, str], ...]


@dataclass
class MetricPoint:
    attrs: Attrs
    value: float = 0.0
    # histograms only
    bounds: tuple[float, ...] = ()
    counts: list[float] = field(default_factory=list)
    sum: float = 0.0
    count: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"attrs": dict(self.attrs)}
        if self.bounds or self.counts:
            data |= {"bounds": list(self.bounds), "counts": self.counts, "sum": self.sum, "count": self.count}
        else:
            data["value"] = self.value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MetricPoint:
        attrs = tuple(sorted((str(k), str(v)) for k, v in data.get("attrs", {}).items()))
        if "counts" in data:
            return cls(
                attrs,
                bounds=tuple(data["bounds"]),
                counts=list(data["counts"]),
                sum=float(data["sum"]),
                count=float(data["count"]),
            )
        return cls(attrs, value=float(data["value"]))


@dataclass
class MetricSeries:
    """One metric with its data points, in a form that survives JSON and merging."""

    name: str
    kind: str  # counter | updown | gauge | histogram
    unit: str = ""
    description: str = ""
    points: dict[Attrs, MetricPoint] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "unit": self.unit,
            "description": self.description,
            "points": [p.to_json() for p in self.points.values()],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MetricSeries:
        series = cls(data["name"], data["kind"], data.get("unit", ""), data.get("description", ""))
        for raw in data.get("points", []):
            point = MetricPoint.from_json(raw)
            series.points[point.attrs] = point
        return series

    def copy(self) -> MetricSeries:
        return MetricSeries.from_json(self.to_json())


def _attrs(attributes: Mapping[str, Any] | None) -> Attrs:
    return tuple(sorted((str(k), str(v)) for k, v in (attributes or {}).items()))


def from_metrics_data(data: MetricsData | None) -> dict[str, MetricSeries]:
    """OpenTelemetry SDK data (cumulative) → series by name, scopes merged."""
    out: dict[str, MetricSeries] = {}
    if data is None:
        return out
    for resource_metrics in data.resource_metrics:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                body = metric.data
                if isinstance(body, Sum):
                    kind = "counter" if body.is_monotonic else "updown"
                elif isinstance(body, Gauge):
                    kind = "gauge"
                elif isinstance(body, HistogramData):
                    kind = "histogram"
                else:  # exponential histograms are not used here
                    continue
                incoming = MetricSeries(metric.name, kind, metric.unit or "", metric.description or "")
                for dp in body.data_points:
                    attrs = _attrs(dp.attributes)
                    if isinstance(dp, HistogramDataPoint):
                        incoming.points[attrs] = MetricPoint(
                            attrs,
                            bounds=tuple(dp.explicit_bounds),
                            counts=[float(c) for c in dp.bucket_counts],
                            sum=float(dp.sum),
                            count=float(dp.count),
                        )
                    elif isinstance(dp, NumberDataPoint):
                        incoming.points[attrs] = MetricPoint(attrs, value=float(dp.value))
                merge_series(out, [incoming], gauges="max")
    return out


def merge_series(
    target: dict[str, MetricSeries], incoming: Iterable[MetricSeries], *, gauges: str = "max"
) -> dict[str, MetricSeries]:
    """Add ``incoming`` into ``target``: counters, up-down counters and histograms add up,
    gauges keep the largest value (``gauges="max"``)."""
    for series in incoming:
        mine = target.get(series.name)
        if mine is None:
            target[series.name] = series.copy()
            continue
        if mine.kind != series.kind:
            logger.warning(
                "metric %s has kinds %s and %s; keeping the first", series.name, mine.kind, series.kind
            )
            continue
        for attrs, point in series.points.items():
            have = mine.points.get(attrs)
            if have is None:
                mine.points[attrs] = MetricPoint.from_json(point.to_json())
            elif series.kind == "histogram":
                if tuple(have.bounds) != tuple(point.bounds):
                    logger.warning("metric %s: bucket bounds differ between processes; skipped", series.name)
                    continue
                have.counts = [a + b for a, b in zip(have.counts, point.counts, strict=True)]
                have.sum += point.sum
                have.count += point.count
            elif series.kind == "gauge" and gauges == "max":
                have.value = max(have.value, point.value)
            else:
                have.value += point.value
    return target


# -- job processes: snapshots ---------------------------------------------------------------
def _process_create_time(pid: int) -> float:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return 0.0


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class SnapshotExporter(MetricExporter):
    """Writes this process's cumulative metrics to one JSON file in ``directory``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        super().__init__(preferred_temporality=dict(CUMULATIVE))
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._pid = -1
        self._path = self.directory / "unset"
        self._create_time = 0.0

    @property
    def path(self) -> Path:
        self._identity()
        return self._path

    def _identity(self) -> None:
        pid = os.getpid()
        if pid != self._pid:  # first export, or a fork: a new file, never the parent's
            self._pid = pid
            self._create_time = _process_create_time(pid)
            self._path = self.directory / f"otel-{pid}-{uuid.uuid4().hex[:12]}.json"

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        try:
            series = from_metrics_data(metrics_data)
            with self._lock:
                self._identity()
                payload = {
                    "pid": self._pid,
                    "create_time": self._create_time,
                    "written_at": time.time(),
                    "metrics": [s.to_json() for s in series.values()],
                }
                self.directory.mkdir(parents=True, exist_ok=True)
                _write_atomic(self._path, json.dumps(payload, separators=(",", ":")))
        except Exception:
            logger.exception("cannot write metrics snapshot to %s", self.directory)
            return MetricExportResult.FAILURE
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


def _alive(pid: int, create_time: float) -> bool:
    if pid == os.getpid():
        return True
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time == 0.0 or abs(proc.create_time() - create_time) < 1.0
    except (psutil.Error, OSError):
        return False


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        logger.warning("unreadable metrics snapshot %s; skipped", path)
        return None
    return data if isinstance(data, dict) else None


def _series_of(data: Mapping[str, Any]) -> list[MetricSeries]:
    return [MetricSeries.from_json(m) for m in data.get("metrics", [])]


_compact_lock = threading.Lock()


def read_snapshots(directory: str | os.PathLike[str], *, compact: bool = True) -> dict[str, MetricSeries]:
    """Merge every process's snapshot in ``directory``.

    Living processes count in full; exited ones keep their counters and histograms (their
    up-down counters and gauges are dropped). With ``compact``, exited processes are
    folded into ``archive.json`` and their files removed, so the directory stays small
    however many jobs ran.
    """
    root = Path(directory)
    merged: dict[str, MetricSeries] = {}
    if not root.is_dir():
        return merged
    with _compact_lock:
        archive_path = root / ARCHIVE
        archive_data = _load(archive_path)
        archive: dict[str, MetricSeries] = {s.name: s for s in _series_of(archive_data or {})}
        dead: list[Path] = []
        for path in sorted(root.glob("otel-*.json")):
            data = _load(path)
            if data is None:
                continue
            if _alive(int(data.get("pid", -1)), float(data.get("create_time", 0.0))):
                merge_series(merged, _series_of(data))
            else:
                # read again now that the process is known to be gone: its last write may
                # have landed between the first read and the liveness check
                final = _load(path) or data
                kept = [s for s in _series_of(final) if s.kind in ("counter", "histogram")]
                merge_series(archive, kept)
                dead.append(path)
        if compact and dead:
            _write_atomic(archive_path, json.dumps({"metrics": [s.to_json() for s in archive.values()]}))
            for path in dead:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        merge_series(merged, archive.values())
    return merged


# -- main process: the collector and the endpoint ---------------------------------------------
def _label_name(key: str) -> str:
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in key)
    if not name or name[0].isdigit():
        name = "_" + name
    return name


def to_prometheus(series: Mapping[str, MetricSeries]) -> Iterator[Metric]:
    """Prometheus metric families for merged series (names as :func:`prometheus_name`)."""
    for s in sorted(series.values(), key=lambda x: x.name):
        if not s.points:
            continue
        name = prometheus_name(s.name, s.unit, s.kind)
        keys = sorted({k for attrs in s.points for k, _ in attrs})
        labels = [_label_name(k) for k in keys]
        if len(set(labels)) != len(labels):
            continue

        def values(attrs: Attrs, keys: Sequence[str] = keys) -> list[str]:
            d = dict(attrs)
            return [d.get(k, "") for k in keys]

        doc = s.description or s.name
        family: Metric
        if s.kind == "counter":
            family = CounterMetricFamily(name, doc, labels=labels)
            for attrs, p in s.points.items():
                family.add_metric(values(attrs), p.value)
        elif s.kind in ("updown", "gauge"):
            family = GaugeMetricFamily(name, doc, labels=labels)
            for attrs, p in s.points.items():
                family.add_metric(values(attrs), p.value)
        else:
            family = HistogramMetricFamily(name, doc, labels=labels)
            for attrs, p in s.points.items():
                cumulative, buckets = 0.0, []
                for bound, count in zip([*p.bounds, math.inf], p.counts, strict=False):
                    cumulative += count
                    buckets.append((floatToGoString(bound), cumulative))  # type: ignore[no-untyped-call]  # untyped in prometheus_client
                if not buckets or buckets[-1][0] != "+Inf":
                    buckets.append(("+Inf", p.count))
                family.add_metric(values(attrs), buckets, p.sum)
        yield family


class MultiProcessCollector(Collector):
    """A ``prometheus_client`` collector over every job process's snapshot plus live readers."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None,
        *,
        live: Sequence[Any] = (),
        include_framework: bool = True,
    ) -> None:
        self.directory = directory
        self.live = list(live)  # InMemoryMetricReader-like: get_metrics_data()
        self.include_framework = include_framework

    def series(self) -> dict[str, MetricSeries]:
        merged = read_snapshots(self.directory) if self.directory else {}
        for reader in self.live:
            merge_series(merged, from_metrics_data(reader.get_metrics_data()).values())
        return merged

    def collect(self) -> Iterator[Metric]:
        yield from to_prometheus(self.series())
        if self.include_framework:
            yield from _framework_metrics()


def _framework_metrics() -> Iterator[Metric]:
    """What the framework's own ``/metrics`` would show (lk_agents_* and process metrics)."""
    multiproc = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    try:
        if multiproc and os.path.isdir(multiproc):
            registry = CollectorRegistry(auto_describe=True)
            multiprocess.MultiProcessCollector(registry, path=multiproc)  # type: ignore[no-untyped-call]  # untyped upstream
            yield from registry.collect()
        else:
            yield from REGISTRY.collect()
    except Exception:
        logger.exception("cannot collect the framework's prometheus metrics")


@dataclass
class MetricsEndpoint:
    """A running ``/metrics`` HTTP server (a daemon thread)."""

    host: str
    port: int
    collector: MultiProcessCollector
    _server: Any
    _thread: threading.Thread

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_endpoint(collector: MultiProcessCollector, *, port: int, host: str = "0.0.0.0") -> MetricsEndpoint:
    """Serve ``collector`` on ``http://host:port/metrics`` (port 0: any free port)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsEndpoint(host, int(server.server_port), collector, server, thread)
