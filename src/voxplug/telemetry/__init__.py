"""Observability: OpenTelemetry metrics and traces, a Prometheus endpoint, cost estimates.

* :class:`MetricsObserver` records voxplug's instruments as each turn completes;
  :class:`TracingObserver` adds ``voxplug.session``/``voxplug.turn`` spans.
* :func:`setup_telemetry` sets up a process (worker, job or standalone): meter and tracer
  providers, OTLP exporters from the standard ``OTEL_*`` variables, and the worker's
  Prometheus endpoint that sums every job process.
* :class:`TelemetryConfig` is the ``telemetry`` config section, price table included.
* :func:`summary_from_reader` gives the dashboard's figures for ``voxplug simulate``.

See docs/observability.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import DEFAULT_PRICES, Price, PriceTable, TelemetryConfig
    from .export import (
        METRICS_DIR_ENV,
        MetricsEndpoint,
        MultiProcessCollector,
        SnapshotExporter,
        start_endpoint,
    )
    from .instruments import INSTRUMENTS, InstrumentSpec, instruments_for, prometheus_name
    from .observer import MetricsObserver, TracingObserver
    from .setup import TelemetryRuntime, current_runtime, setup_telemetry
    from .summary import Summary, histogram_quantile, summary_from_reader, summary_from_series

# lazy: ``voxplug.config.models`` imports ``voxplug.telemetry.config`` while ``voxplug.core``
# (which the observers import) is still loading; the rest comes in on first use
_EXPORTS = {
    "DEFAULT_PRICES": "config", "Price": "config", "PriceTable": "config", "TelemetryConfig": "config",
    "METRICS_DIR_ENV": "export", "MetricsEndpoint": "export", "MultiProcessCollector": "export",
    "SnapshotExporter": "export", "start_endpoint": "export",
    "INSTRUMENTS": "instruments", "InstrumentSpec": "instruments", "instruments_for": "instruments",
    "prometheus_name": "instruments",
    "MetricsObserver": "observer", "TracingObserver": "observer",
    "TelemetryRuntime": "setup", "current_runtime": "setup", "setup_telemetry": "setup",
    "Summary": "summary", "histogram_quantile": "summary", "summary_from_reader": "summary",
    "summary_from_series": "summary",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_PRICES",
    "INSTRUMENTS",
    "METRICS_DIR_ENV",
    "InstrumentSpec",
    "MetricsEndpoint",
    "MetricsObserver",
    "MultiProcessCollector",
    "Price",
    "PriceTable",
    "SnapshotExporter",
    "Summary",
    "TelemetryConfig",
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
