"""The ``telemetry`` section: exporters and the PII switch (prices: the ``pricing`` section).

Every field can come from the YAML file or from ``VOXPLUG_TELEMETRY__<FIELD>`` variables
(the loader's nested-env rule). OTLP endpoints are *not* here: they are read from the
standard ``OTEL_EXPORTER_OTLP_*`` variables, as every OpenTelemetry SDK does.
"""

from __future__ import annotations

from pydantic import Field

from .base import Strict

__all__ = ["TelemetryConfig"]


class TelemetryConfig(Strict):
    """Metrics and traces (see docs/observability.md)."""

    enabled: bool = True
    # the worker's Prometheus scrape endpoint (main process; sums every job process);
    # 0 = no endpoint (OTLP push only)
    prometheus_port: int = Field(default=9464, ge=0, le=65535)
    prometheus_host: str = "0.0.0.0"
    # where job processes leave their metric snapshots for the endpoint; empty = a fresh
    # temporary directory per worker. Never share one directory between two workers.
    metrics_dir: str = ""
    # how often each job process refreshes its snapshot (seconds)
    snapshot_interval: float = Field(default=1.0, gt=0.0, le=60.0)
    # transcripts (user and agent text, tool arguments) on spans: personal data, off by default
    traces_include_transcripts: bool = False
