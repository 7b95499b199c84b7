"""Observability: OpenTelemetry metrics and traces, a Prometheus endpoint, cost estimates.

* :class:`MetricsObserver` records voxplug's instruments as each turn completes;
  :class:`TracingObserver` adds ``voxplug.session``/``voxplug.turn`` spans.
* :func:`setup_telemetry` sets up a process (worker, job or standalone): meter and tracer
  providers, OTLP exporters from the standard ``OTEL_*`` variables, and the worker's
  Prometheus endpoint that sums every job process.
* :func:`summary_from_reader` gives the dashboard's figures for ``voxplug simulate``.

The ``telemetry`` and ``pricing`` config sections live in :mod:`voxplug.config`.
See docs/observability.md.
"""

from .export import METRICS_DIR_ENV, MetricsEndpoint, MultiProcessCollector, SnapshotExporter, start_endpoint
from .instruments import INSTRUMENTS, InstrumentSpec, instruments_for, prometheus_name
from .observer import MetricsObserver, TracingObserver
from .setup import TelemetryRuntime, current_runtime, setup_telemetry
from .summary import Summary, histogram_quantile, summary_from_reader, summary_from_series

__all__ = [
    "INSTRUMENTS",
    "METRICS_DIR_ENV",
    "InstrumentSpec",
    "MetricsEndpoint",
    "MetricsObserver",
    "MultiProcessCollector",
    "SnapshotExporter",
    "Summary",
    "TelemetryRuntime",
    "TracingObserver",
    "current_runtime",
    "histogram_quantile",
    "instruments_for",
    "prometheus_name",
    "setup_telemetry",
    "start_endpoint",
    "summary_from_reader",
    "summary_from_series",
]
