"""A real Prometheus scrapes a worker endpoint fed by two simulated job processes.

Each job process runs a spoken conversation through a real ``AgentSession`` (fixed-latency
providers, see conversation.py). Then every query of the Grafana dashboard is evaluated
through Prometheus' HTTP API and must return data, the alert rules must load and pass their
unit tests, and ``promtool`` must accept the shipped config.

Needs Debian's ``prometheus`` package, which ``make test`` installs.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from voxplug.room.devserver import free_port
from voxplug.telemetry import (
    METRICS_DIR_ENV,
    MultiProcessCollector,
    instruments_for,
    start_endpoint,
    summary_from_series,
)
from voxplug.telemetry.export import read_snapshots

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "voxplug.json"
PROMETHEUS_YML = DEPLOY / "prometheus" / "prometheus.yml"
ALERTS_YML = DEPLOY / "prometheus" / "alerts.yml"
HERE = Path(__file__).resolve().parent
V2V_QUANTILE = "histogram_quantile({q}, sum by (le) (voxplug_turn_voice_to_voice_latency_seconds_bucket))"

# Debian's prometheus and promtool are installed by `make test`: missing, these tests fail
pytestmark = pytest.mark.slow



def promtool(*args: str) -> str:
    proc = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_promtool_accepts_config_and_rules() -> None:
    assert "SUCCESS" in promtool("check", "config", str(PROMETHEUS_YML))
    assert "6 rules found" in promtool("check", "rules", str(ALERTS_YML))
    assert "SUCCESS" in promtool("test", "rules", str(HERE / "alerts_test.yml"))


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def api(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=15) as resp:
            body = json.loads(resp.read())
        assert body["status"] == "success", body
        return body["data"]

    def instant(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def scalar(self, expr: str) -> float | None:
        result = self.instant(expr)
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expr: str, predicate: Any, timeout: float = 45.0) -> float | None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.scalar(expr)
            if last is not None and predicate(last):
                return last
            time.sleep(0.5)
        raise AssertionError(f"{expr}: last value {last} after {timeout}s")


@pytest.fixture
def worker_endpoint(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The worker's main process: its live reader (worker load) plus job snapshots."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    instruments_for(provider).observe_worker_load(lambda: 0.35)
    endpoint = start_endpoint(MultiProcessCollector(directory, live=[reader]), port=0, host="127.0.0.1")
    try:
        yield f"127.0.0.1:{endpoint.port}", directory
    finally:
        endpoint.close()


@pytest.fixture
def prometheus(tmp_path: Path, worker_endpoint: tuple[str, Path]) -> Iterator[Prometheus]:
    """deploy/prometheus/prometheus.yml, pointed at the test endpoint, scraping every second."""
    target, _ = worker_endpoint
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    config["global"] |= {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(ALERTS_YML)]
    (job,) = config["scrape_configs"]
    job["static_configs"][0]["targets"] = [target]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={path}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    "prometheus did not start:\n" + (tmp_path / "prometheus.log").read_text()
                )
            time.sleep(0.2)
        yield Prometheus(url)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((f"{panel['title']} [{target['refId']}]", target["expr"]))
    return found


def grafana_to_promql(expr: str) -> str:
    # what Grafana substitutes: the agent variable set to All, a rate window of a few scrapes
    return expr.replace('"$agent"', '".*"').replace("$__rate_interval", "10s").replace("$__interval", "2s")


def run_conversations(directory: Path) -> list[dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env[METRICS_DIR_ENV] = str(directory)
    script = str(HERE / "conversation.py")
    jobs = [
        subprocess.Popen(
            [sys.executable, script, "--turns", "3", "--interrupt", "1"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
        subprocess.Popen(
            [sys.executable, script, "--turns", "2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
    ]
    results = []
    for job in jobs:
        out, err = job.communicate(timeout=120)
        assert job.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_dashboard_queries_return_data_from_a_scraped_run(
    prometheus: Prometheus, worker_endpoint: tuple[str, Path]
) -> None:
    _, directory = worker_endpoint
    prometheus.wait_for('up{job="voxplug"}', lambda v: v == 1)
    started = time.time()
    results = run_conversations(directory)
    turns = sum(r["turns"] for r in results)
    assert turns >= 6  # 3 + the interruption's answer, and 2
    # the last snapshots of both (now exited) processes, scraped: the sum, counted once
    assert prometheus.wait_for("sum(voxplug_turns_total)", lambda v: v >= turns) == turns
    time.sleep(2.5)  # a few more scrapes of the archived totals
    assert prometheus.scalar("sum(voxplug_turns_total)") == turns
    assert prometheus.scalar("sum(voxplug_sessions_total)") == 2
    assert prometheus.scalar("sum(voxplug_interruptions_total)") == sum(r["interrupted"] for r in results)
    assert prometheus.scalar("sum(voxplug_turn_voice_to_voice_latency_seconds_count)") == turns
    assert prometheus.scalar("sum(voxplug_errors_total)") == sum(r["errors"] for r in results)
    assert prometheus.scalar("sum(voxplug_cost_usd_total)") == pytest.approx(sum(r["cost"] for r in results))
    # no label carries the room (or any session identity)
    series = prometheus.api("series", **{"match[]": '{__name__=~"voxplug_.+"}'})
    for labels in series:
        assert "room-secret-123" not in labels.values()
        assert not {"room", "room_id", "session_id", "job_id"} & set(labels)

    end = time.time()
    report: dict[str, Any] = {}
    for title, expr in dashboard_queries():
        data = prometheus.api(
            "query_range", query=grafana_to_promql(expr), start=started - 5, end=end, step="1s"
        )
        values = [float(v) for s in data["result"] for _, v in s["values"]]
        finite = [v for v in values if not math.isnan(v)]
        assert data["result"], f"{title}: no data for {expr}"
        assert finite, f"{title}: only NaN for {expr}"
        report[title] = round(max(finite), 6)
    # the dashboard's headline figures are plausible for the fixed latencies
    v2v_p95 = report["Voice-to-voice latency (p50 / p95 / p99) [B]"]
    assert 0.3 < v2v_p95 < 5.0
    assert report["Active sessions [A]"] == 2
    assert report["Worker load [A]"] == 0.35
    switched = prometheus.scalar('sum(voxplug_fallback_switches_total{available="false"})')
    assert switched == sum(r["fallbacks"] for r in results) == 2
    # `voxplug simulate`'s figures, from the same instruments: the same numbers
    summary = summary_from_series(read_snapshots(directory, compact=False))
    assert summary.turns == turns
    assert summary.llm_input_tokens == prometheus.scalar("sum(voxplug_llm_input_tokens_total)")
    assert summary.cost_usd == pytest.approx(prometheus.scalar("sum(voxplug_cost_usd_total)"))
    assert summary.voice_to_voice is not None
    assert summary.voice_to_voice.p95 == pytest.approx(
        prometheus.scalar(
            "histogram_quantile(0.95, sum by (le) (voxplug_turn_voice_to_voice_latency_seconds_bucket))"
        )
    )
    print("\n" + summary.format())
    rules = prometheus.api("rules")
    assert [r["health"] for g in rules["groups"] for r in g["rules"]] == ["ok"] * 6
    print(
        "\nscraped totals:",
        json.dumps(
            {
                "turns": turns,
                "processes": results,
                "prometheus": {
                    q: prometheus.scalar(q)
                    for q in (
                        "sum(voxplug_turns_total)",
                        "sum(voxplug_interruptions_total)",
                        "sum(voxplug_errors_total)",
                        "sum(voxplug_fallback_switches_total)",
                        "sum(voxplug_llm_input_tokens_total)",
                        "sum(voxplug_llm_output_tokens_total)",
                        "sum(voxplug_tts_characters_total)",
                        "sum(voxplug_stt_audio_duration_seconds_total)",
                        "sum(voxplug_cost_usd_total)",
                        V2V_QUANTILE.format(q=0.5),
                        V2V_QUANTILE.format(q=0.95),
                        "sum(lk_agents_usage_llm_input_tokens_total)",
                    )
                },
                "dashboard_max_over_run": report,
            },
            indent=1,
        ),
    )
