"""Per-process OpenTelemetry setup: meter and tracer providers, readers, exporters, endpoint.

Three roles:

``worker``
    the LiveKit worker's main process (``voxplug start``): makes the snapshot directory
    (exported to job processes as ``$VOXPLUG_METRICS_DIR``), reports ``voxplug.worker.load``,
    serves ``/metrics`` for every process on ``telemetry.prometheus_port``.
``job``
    a job process (the worker's prewarm): records sessions and leaves snapshots for the
    endpoint; pushes to OTLP when configured.
``standalone``
    one process that runs sessions itself (``voxplug simulate``, tests): an in-memory
    reader for :func:`~voxplug.telemetry.summary.summary_from_reader`, OTLP when configured,
    and ``/metrics`` only if asked for with ``serve=True``.

OTLP is configured by the standard variables: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the
``_METRICS_``/``_TRACES_`` variants), ``OTEL_EXPORTER_OTLP_PROTOCOL`` (``http/protobuf``,
the default, or ``grpc``), ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_METRIC_EXPORT_INTERVAL``,
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``; ``OTEL_METRICS_EXPORTER=none`` /
``OTEL_TRACES_EXPORTER=none`` turn a signal off.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import socket
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from livekit.agents import telemetry as lk_telemetry
from livekit.agents.telemetry import metrics as lk_metrics
from opentelemetry import metrics as metrics_api
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, ObservableGauge, UpDownCounter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from ..config.pricing import PriceTable
from ..config.telemetry import TelemetryConfig
from ..core.observers import SessionObserver
from ..version import __version__
from .export import METRICS_DIR_ENV, MetricsEndpoint, MultiProcessCollector, SnapshotExporter, start_endpoint
from .instruments import LATENCY_BUCKETS, instruments_for
from .observer import MetricsObserver, TracingObserver

__all__ = [
    "FRAMEWORK_ATTRIBUTES",
    "Role",
    "TelemetryRuntime",
    "current_runtime",
    "framework_views",
    "otlp_enabled",
    "reset_for_tests",
    "setup_telemetry",
]

logger = logging.getLogger(__name__)

Role = Literal["worker", "job", "standalone"]

# the framework's meter stamps job identity (room, job, session ids) on every measurement;
# only these bounded attributes are kept
FRAMEWORK_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "model_name",
        "model_provider",
        "connection_reused",
        "severity",
        "error.type",
        "gen_ai.operation.name",
        "gen_ai.provider.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.token.type",
        "gen_ai.tool.name",
        "gen_ai.agent.name",
    }
)
TOKEN_BUCKETS = (1, 4, 16, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)


def framework_views() -> list[View]:
    """Views that bound the labels of LiveKit's ``livekit-agents`` meter and give its
    second-valued histograms buckets in seconds."""
    keys = set(FRAMEWORK_ATTRIBUTES)
    meter = "livekit-agents"
    return [
        View(
            meter_name=meter,
            instrument_type=Histogram,
            instrument_unit="s",
            attribute_keys=keys,
            aggregation=ExplicitBucketHistogramAggregation(list(LATENCY_BUCKETS)),
        ),
        View(
            meter_name=meter,
            instrument_type=Histogram,
            instrument_unit="{token}",
            attribute_keys=keys,
            aggregation=ExplicitBucketHistogramAggregation([float(b) for b in TOKEN_BUCKETS]),
        ),
        View(meter_name=meter, instrument_type=Counter, attribute_keys=keys),
        View(meter_name=meter, instrument_type=UpDownCounter, attribute_keys=keys),
        View(meter_name=meter, instrument_type=ObservableGauge, attribute_keys=keys),
    ]


def otlp_enabled(signal: Literal["metrics", "traces"], env: dict[str, str] | None = None) -> bool:
    env = dict(os.environ) if env is None else env
    if env.get(f"OTEL_{signal.upper()}_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    )


def _protocol(signal: str) -> str:
    value = (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    return value.strip().lower()


def _otlp_metric_reader() -> MetricReader:
    exporter = GrpcMetricExporter() if _protocol("metrics") == "grpc" else HttpMetricExporter()
    return PeriodicExportingMetricReader(exporter)  # OTEL_METRIC_EXPORT_INTERVAL, default 60 s


def _otlp_span_exporter() -> GrpcSpanExporter | HttpSpanExporter:
    return GrpcSpanExporter() if _protocol("traces") == "grpc" else HttpSpanExporter()


def _resource(role: Role) -> Resource:
    attrs: dict[str, Any] = {
        "service.version": __version__,
        # one series per process in OTLP backends: job processes push their own totals
        "service.instance.id": f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        "voxplug.process.role": role,
    }
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attrs["service.name"] = "voxplug"
    return Resource.create(attrs)


def _framework_worker_load() -> float | None:
    """The load the worker last reported to LiveKit (the framework's own gauge)."""
    for family in lk_metrics.CPU_LOAD_GAUGE.collect():
        for sample in family.samples:
            return float(sample.value)
    return None


@dataclass
class TelemetryRuntime:
    """What :func:`setup_telemetry` set up in this process."""

    role: Role
    config: TelemetryConfig
    meter_provider: MeterProvider
    tracer_provider: TracerProvider | None = None
    reader: InMemoryMetricReader | None = None
    metrics_dir: str | None = None
    endpoint: MetricsEndpoint | None = None
    readers: list[MetricReader] = field(default_factory=list)
    owns_dir: bool = False
    _closed: bool = field(default=False, repr=False)

    def observers(self, prices: PriceTable) -> list[SessionObserver]:
        """The observers for one session (add them to ``session_observers``)."""
        found: list[SessionObserver] = [
            MetricsObserver(prices=prices, meter_provider=self.meter_provider, flush=self.flush)
        ]
        if self.tracer_provider is not None:
            found.append(
                TracingObserver(
                    self.tracer_provider, include_transcripts=self.config.traces_include_transcripts
                )
            )
        return found

    def flush(self) -> None:
        """Export now: the job process's snapshot is current when this returns."""
        self.meter_provider.force_flush(timeout_millis=5_000)
        if self.tracer_provider is not None:
            self.tracer_provider.force_flush(timeout_millis=5_000)

    def shutdown(self) -> None:
        """Stop the endpoint, flush and stop the providers, remove an owned directory. Once."""
        if self._closed:
            return
        self._closed = True
        if self.endpoint is not None:
            self.endpoint.close()
            self.endpoint = None
        self.meter_provider.shutdown(timeout_millis=5_000)
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.owns_dir and self.metrics_dir:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)


_runtime: TelemetryRuntime | None = None
_lock = threading.Lock()


def current_runtime() -> TelemetryRuntime | None:
    return _runtime


def _prepare_dir(config: TelemetryConfig) -> tuple[str, bool]:
    if config.metrics_dir:
        path = Path(config.metrics_dir)
        path.mkdir(parents=True, exist_ok=True)
        owns = False
    else:
        path = Path(tempfile.mkdtemp(prefix="voxplug-metrics-"))
        owns = True
    # a restarted worker starts from zero, as Prometheus expects after a restart
    for stale in (*path.glob("otel-*.json"), *path.glob("archive.json"), *path.glob(".otel-*.tmp")):
        stale.unlink(missing_ok=True)
    return str(path), owns


def setup_telemetry(
    config: TelemetryConfig | None = None,
    *,
    role: Role,
    serve: bool | None = None,
    set_global: bool = True,
    snapshots: bool = True,
) -> TelemetryRuntime:
    """Set up metrics and traces for this process; idempotent (the first call wins).

    ``snapshots=False`` (role ``worker`` with ``worker.executor: thread``): the jobs are
    threads of this process, so their ``role="job"`` call returns this runtime and they record
    into this meter provider, which ``/metrics`` reads live: no snapshot directory is made.

    Call it in the worker's main process (``build_server``), in each job process (the
    worker's prewarm / setup function), or once in a standalone run. Never at import time:
    a provider made before a fork would be inherited, and counted twice.
    """
    global _runtime
    config = config or TelemetryConfig()
    with _lock:
        if _runtime is not None:
            return _runtime
        readers: list[MetricReader] = []
        live: InMemoryMetricReader | None = None
        metrics_dir: str | None = None
        owns = False
        if role in ("worker", "standalone"):
            live = InMemoryMetricReader()
            readers.append(live)
        if role == "worker" and config.enabled and snapshots:
            metrics_dir, owns = _prepare_dir(config)
            os.environ[METRICS_DIR_ENV] = metrics_dir  # inherited by the job processes
        if role == "job" and config.enabled and os.environ.get(METRICS_DIR_ENV):
            metrics_dir = os.environ[METRICS_DIR_ENV]
            readers.append(
                PeriodicExportingMetricReader(
                    SnapshotExporter(metrics_dir), export_interval_millis=config.snapshot_interval * 1000
                )
            )
        if config.enabled and otlp_enabled("metrics"):
            readers.append(_otlp_metric_reader())
        resource = _resource(role)
        provider = MeterProvider(resource=resource, metric_readers=readers, views=framework_views())
        if set_global:
            metrics_api.set_meter_provider(provider)
            if metrics_api.get_meter_provider() is not provider:
                logger.warning(
                    "a global meter provider was already set: lk.agents.* metrics go there, not here"
                )

        tracer_provider: TracerProvider | None = None
        if config.enabled and otlp_enabled("traces"):
            tracer_provider = TracerProvider(resource=resource)
            tracer_provider.add_span_processor(BatchSpanProcessor(_otlp_span_exporter()))
            lk_telemetry.set_tracer_provider(
                tracer_provider,
                allow_pii=config.traces_include_transcripts,
                metadata={"service.name": str(resource.attributes.get("service.name", "voxplug"))},
            )
            if set_global:
                trace_api.set_tracer_provider(tracer_provider)

        runtime = TelemetryRuntime(
            role=role,
            config=config,
            meter_provider=provider,
            tracer_provider=tracer_provider,
            reader=live,
            metrics_dir=metrics_dir,
            readers=readers,
            owns_dir=owns,
        )
        if role == "worker":
            instruments_for(provider).observe_worker_load(_framework_worker_load)
        want_endpoint = serve if serve is not None else role == "worker"
        if want_endpoint and config.enabled and config.prometheus_port:
            collector = MultiProcessCollector(metrics_dir, live=[live] if live is not None else [])
            runtime.endpoint = start_endpoint(
                collector, port=config.prometheus_port, host=config.prometheus_host
            )
            logger.info("Prometheus metrics at %s", runtime.endpoint.url)
        if owns and metrics_dir:
            atexit.register(shutil.rmtree, metrics_dir, True)
        _runtime = runtime
        return runtime


def reset_for_tests() -> None:
    """Forget this process's runtime (tests only; the global OTel providers stay set)."""
    global _runtime
    with _lock:
        if _runtime is not None:
            _runtime.shutdown()
        _runtime = None
