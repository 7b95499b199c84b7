"""Process-per-job: several job processes, one endpoint, every count once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client.parser import text_string_to_metric_families

from voxplug.telemetry import METRICS_DIR_ENV, MultiProcessCollector, instruments_for, start_endpoint
from voxplug.telemetry.export import MetricPoint, MetricSeries, read_snapshots

# a job process: telemetry set up as the worker's prewarm does, N turns, then either a
# clean end (flush) or, with "hang", an open session until the test kills the process
JOB = textwrap.dedent("""
    import sys, time
    from voxplug.core.observers import SessionInfo, TurnRecord
    from voxplug.telemetry import setup_telemetry
    from voxplug.config.pricing import PricingConfig
    from voxplug.config.telemetry import TelemetryConfig

    turns, mode = int(sys.argv[1]), sys.argv[2]
    runtime = setup_telemetry(TelemetryConfig(snapshot_interval=0.1), role="job")
    obs = runtime.observers(PricingConfig().table())[0]
    obs.on_session_started(SessionInfo(agent_name="mp", stt="a/b", llm="c/d", tts="e/f",
                                       config_fingerprint="x", room="secret-room"))
    for i in range(turns):
        obs.on_turn_completed(TurnRecord(index=i, user_text="u", assistant_text="a", interrupted=False,
                                         created_at=time.time(), e2e_latency=0.5 + i / 10))
    if mode == "hang":
        runtime.flush()
        print("ready", flush=True)
        time.sleep(600)
    obs._end()
    runtime.flush()
    print("done", flush=True)
""")


def run_job(directory: Path, turns: int, mode: str = "end") -> subprocess.Popen[str]:
    env = {**os.environ, METRICS_DIR_ENV: str(directory)}
    for name in list(env):
        if name.startswith("OTEL_"):
            del env[name]
    return subprocess.Popen(
        [sys.executable, "-c", JOB, str(turns), mode], env=env, stdout=subprocess.PIPE, text=True
    )


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def total(samples: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str) -> float:
    return sum(samples.get(name, {}).values())


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[tuple[str, Path, InMemoryMetricReader]]:
    # the worker's main process: a live reader (worker load) plus the job snapshots
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    instruments_for(provider).observe_worker_load(lambda: 0.42)
    collector = MultiProcessCollector(tmp_path, live=[reader])
    ep = start_endpoint(collector, port=0, host="127.0.0.1")
    try:
        yield ep.url, tmp_path, reader
    finally:
        ep.close()


def test_two_job_processes_are_summed_once(endpoint: tuple[str, Path, InMemoryMetricReader]) -> None:
    url, directory, _ = endpoint
    jobs = [run_job(directory, 5), run_job(directory, 7)]
    for job in jobs:
        out, _ = job.communicate(timeout=60)
        assert job.returncode == 0 and "done" in out
    first = scrape(url)
    assert total(first, "voxplug_turns_total") == 12
    assert total(first, "voxplug_sessions_total") == 2
    assert total(first, "voxplug_turn_voice_to_voice_latency_seconds_count") == 12
    assert total(first, "voxplug_sessions_active") == 0
    assert first["voxplug_worker_load_ratio"] == {(): 0.42}
    # the exited processes were folded into the archive: the next scrape shows the same totals
    assert not list(directory.glob("otel-*.json"))
    second = scrape(url)
    assert total(second, "voxplug_turns_total") == 12
    assert total(second, "voxplug_turn_voice_to_voice_latency_seconds_sum") == pytest.approx(
        first["voxplug_turn_voice_to_voice_latency_seconds_sum"][(("agent", "mp"),)]
    )
    # a third process adds to the archived counts
    job = run_job(directory, 3)
    job.communicate(timeout=60)
    assert total(scrape(url), "voxplug_turns_total") == 15
    for samples in (first, second):
        for series in samples.values():
            for labels in series:
                assert "secret-room" not in dict(labels).values()


def test_a_killed_process_keeps_its_counts_but_not_its_sessions(
    endpoint: tuple[str, Path, InMemoryMetricReader],
) -> None:
    url, directory, _ = endpoint
    job = run_job(directory, 4, "hang")
    assert job.stdout is not None
    assert job.stdout.readline().strip() == "ready"
    try:
        live = scrape(url)
        assert total(live, "voxplug_sessions_active") == 1
        assert total(live, "voxplug_turns_total") == 4
    finally:
        job.send_signal(signal.SIGKILL)
        job.wait(timeout=30)
    dead = scrape(url)
    assert total(dead, "voxplug_sessions_active") == 0  # a crashed job holds no session
    assert total(dead, "voxplug_turns_total") == 4  # but what it did still counts


def test_snapshot_merge_rules(tmp_path: Path) -> None:
    def snapshot(pid: int, turns: float, active: float, name: str) -> None:
        counter = MetricSeries("voxplug.turns", "counter", "{turn}")
        counter.points[(("agent", "a"),)] = MetricPoint((("agent", "a"),), value=turns)
        gauge = MetricSeries("voxplug.sessions.active", "updown", "{session}")
        gauge.points[(("agent", "a"),)] = MetricPoint((("agent", "a"),), value=active)
        hist = MetricSeries("voxplug.llm.duration", "histogram", "s")
        hist.points[()] = MetricPoint((), bounds=(1.0, 2.0), counts=[1, 2, 0], sum=3.5, count=3)
        data = {"pid": pid, "create_time": 0.0, "metrics": [s.to_json() for s in (counter, gauge, hist)]}
        (tmp_path / name).write_text(json.dumps(data))

    snapshot(os.getpid(), 3, 1, "otel-live.json")
    snapshot(2**22 + 12345, 4, 1, "otel-dead.json")  # no such process
    merged = read_snapshots(tmp_path)
    assert merged["voxplug.turns"].points[(("agent", "a"),)].value == 7
    assert merged["voxplug.sessions.active"].points[(("agent", "a"),)].value == 1
    hist = merged["voxplug.llm.duration"].points[()]
    assert (hist.counts, hist.sum, hist.count) == ([2, 4, 0], 7.0, 6)
    assert not (tmp_path / "otel-dead.json").exists() and (tmp_path / "archive.json").exists()
    again = read_snapshots(tmp_path)
    assert again["voxplug.turns"].points[(("agent", "a"),)].value == 7


def test_endpoint_serves_prometheus_text(endpoint: tuple[str, Path, InMemoryMetricReader]) -> None:
    url, _, _ = endpoint
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        body = resp.read().decode()
    assert "# TYPE voxplug_worker_load_ratio gauge" in body
    assert time.monotonic() - started < 5
