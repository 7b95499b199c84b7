"""Process setup: the worker role's endpoint and OTLP push from the standard variables.

Each case runs in a fresh interpreter: OpenTelemetry's global providers are set once per
process, exactly as in a worker or job process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


def run(code: str, env: dict[str, str], timeout: float = 90) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "VOXPLUG_"))}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


class Collector(ThreadingHTTPServer):
    """A minimal OTLP/HTTP receiver."""

    def __init__(self) -> None:
        self.metrics: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self.traces: list[trace_service_pb2.ExportTraceServiceRequest] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/metrics":
            req: Any = metrics_service_pb2.ExportMetricsServiceRequest()
            req.ParseFromString(body)
            self.server.metrics.append(req)
        elif self.path == "/v1/traces":
            req = trace_service_pb2.ExportTraceServiceRequest()
            req.ParseFromString(body)
            self.server.traces.append(req)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


SESSION = """
    import asyncio, time
    from livekit.agents.telemetry import tracer
    from voxplug.core.observers import SessionInfo, TurnRecord
    from voxplug.telemetry import setup_telemetry
    from voxplug.config.pricing import PricingConfig
    from voxplug.config.telemetry import TelemetryConfig

    runtime = setup_telemetry(TelemetryConfig(traces_include_transcripts={pii}), role="job")
    observers = runtime.observers(PricingConfig().table())
    info = SessionInfo(agent_name="otlp", stt="a/b", llm="c/d", tts="e/f", config_fingerprint="x",
                       room="room-otlp", session_id="sess-otlp")
    for o in observers:
        o.on_session_started(info)
    for i in range(3):
        for o in observers:
            o.on_turn_completed(TurnRecord(index=i, user_text="my secret words", assistant_text="reply text",
                                           interrupted=False, created_at=time.time(), e2e_latency=0.9))
    # a framework span carrying PII the LiveKit way
    probe = {{"lk.pii.user_input": "my secret words"}}
    with tracer.start_as_current_span("framework_probe", attributes=probe):
        pass
    for o in observers:
        asyncio.run(o.aclose())
    runtime.flush()
    runtime.shutdown()
    print("ok")
"""


def exported(collector: Collector) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    metrics: dict[str, Any] = {}
    for req in collector.metrics:
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    metrics[m.name] = m
    spans: dict[str, dict[str, Any]] = {}
    for treq in collector.traces:
        for rs in treq.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    spans[span.name] = {a.key: a.value.string_value or a.value for a in span.attributes}
    return metrics, spans


@pytest.mark.parametrize("pii", [False, True])
def test_otlp_push_of_metrics_and_traces(collector: Collector, pii: bool) -> None:
    out = run(
        SESSION.format(pii=pii),
        {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_SERVICE_NAME": "voxplug-test"},
    )
    assert "ok" in out
    metrics, spans = exported(collector)
    turns = metrics["voxplug.turns"]
    assert sum(dp.as_int or dp.as_double for dp in turns.sum.data_points) == 3
    assert metrics["voxplug.turn.voice_to_voice_latency"].histogram.data_points[0].count == 3
    resource = {
        a.key: a.value.string_value for a in collector.metrics[0].resource_metrics[0].resource.attributes
    }
    assert resource["service.name"] == "voxplug-test"
    assert resource["voxplug.process.role"] == "job"
    assert resource["service.instance.id"]
    assert {"voxplug.session", "voxplug.turn", "framework_probe"} <= set(spans)
    texts = json.dumps({k: {a: str(v) for a, v in s.items()} for k, s in spans.items()})
    assert ("my secret words" in texts) is pii
    assert "voxplug.pii.user_text" in spans["voxplug.turn"] if pii else "voxplug.pii.user_text" not in texts


def test_otlp_off_unless_configured(collector: Collector) -> None:
    code = """
        from voxplug.telemetry import setup_telemetry
        rt = setup_telemetry(role="job")
        print(rt.tracer_provider is None, len(rt.readers))
    """
    assert run(code, {}).split() == ["True", "0"]
    assert run(
        code,
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_TRACES_EXPORTER": "none",
        },
    ).split() == ["True", "0"]


def test_worker_role_serves_the_endpoint_and_reports_load(tmp_path: Path) -> None:
    code = f"""
        import os, socket, urllib.request
        from livekit.agents import telemetry as lk
        from voxplug.telemetry import setup_telemetry, METRICS_DIR_ENV
        from voxplug.config.pricing import PricingConfig
        from voxplug.config.telemetry import TelemetryConfig

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
        rt = setup_telemetry(TelemetryConfig(prometheus_port=port, prometheus_host="127.0.0.1",
                                             metrics_dir={str(tmp_path / "m")!r}), role="worker")
        assert setup_telemetry(role="job") is rt  # thread executor: jobs share the worker's runtime
        assert os.environ[METRICS_DIR_ENV] == rt.metrics_dir
        lk.metrics._update_worker_load(0.61)
        body = urllib.request.urlopen(rt.endpoint.url, timeout=10).read().decode()
        print([l for l in body.splitlines() if l.startswith("voxplug_worker_load_ratio")][0])
        print("lk_agents_worker_load" in body)
        rt.shutdown()
    """
    lines = run(code, {}).splitlines()
    assert lines[0] == "voxplug_worker_load_ratio 0.61"
    assert lines[1] == "True"  # the framework's own prometheus metrics on the same endpoint
