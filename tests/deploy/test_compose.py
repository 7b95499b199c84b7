"""deploy/compose: validated against the compose specification, rendered by podman-compose,
then brought up with podman and sent one call.

The checks of the file (schema, ``podman-compose --dry-run config``, promtool) need no
podman and no image: they run in ``make test``. The stack test (marker ``image``,
``make test-image``) runs the shipped compose file unchanged; only images and ports differ:
the voxplug image built from the Containerfile, stand-ins for the registry images built
from Debian packages (tests/deploy/stack), free ports from a test .env. Grafana (not
packaged by Debian) and the web page (profile ``web``) are not started: their provisioning
files and the page's command are checked here instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from containers import REPO, Podman, stack_images
from fakes.vendor_server import VendorServer
from voxplug import load_config
from voxplug.cli import build_parser
from voxplug.room.devserver import free_port, install_livekit_server

COMPOSE = REPO / "deploy" / "compose"
REQUIRED = {"LIVEKIT_API_KEY": "voxplugcompose", "LIVEKIT_API_SECRET": "voxplug-compose-secret-0123456789abcdef",
            "LIVEKIT_NODE_IP": "127.0.0.1", "POSTGRES_PASSWORD": "compose-pg-pw", "GRAFANA_ADMIN_PASSWORD": "admin-pw"}
SERVICES = {"redis", "livekit", "postgres", "migrate", "worker-1", "worker-2", "prometheus", "grafana"}
# `up` in the order of the depends_on conditions, one stage at a time: podman 4.3 (Debian 12)
# cannot start a container that requires an exited one (the completed migrate service)
# while that one's own dependency runs ("generating dependency graph ... not found in input
# list"), so `podman-compose up` of the whole stack fails there. Grafana is not packaged.
STAGES = (["redis", "postgres", "prometheus"], ["migrate"], ["livekit", "worker-1", "worker-2"])


def compose(env: dict[str, str], workdir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podman_compose", "--env-file", str(workdir / ".env"), "-f",
         str(workdir / "compose" / "compose.yaml"), *args],
        env=env, capture_output=True, text=True, timeout=timeout, cwd=workdir / "compose",
    )


def deploy_copy(tmp_path: Path, env: dict[str, str], worker_env: dict[str, str] | None = None) -> Path:
    """deploy/ copied (the compose file mounts ../prometheus and ../grafana), with a .env."""
    workdir = tmp_path / "deploy"
    shutil.copytree(REPO / "deploy", workdir)
    (workdir / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    (workdir / "compose" / "voxplug.env").write_text("".join(f"{k}={v}\n" for k, v in (worker_env or {}).items()))
    return workdir


def dry_config(workdir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``podman-compose config``: with --dry-run it renders without podman (make test needs none)."""
    return compose(dict(os.environ), workdir, "--dry-run", *options, "config", timeout=60)


def rendered(workdir: Path, *options: str) -> dict[str, Any]:
    proc = dry_config(workdir, *options)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)  # type: ignore[no-any-return]


def test_compose_file_follows_the_compose_specification() -> None:
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                           str(COMPOSE / "compose.yaml")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rendered_stack_fits_the_worker_config_and_the_shipped_files(tmp_path: Path) -> None:
    workdir = deploy_copy(tmp_path, REQUIRED)
    services = rendered(workdir)["services"]
    assert set(services) == SERVICES
    # the web page only on request; its command line is one `voxplug serve` accepts
    web = rendered(workdir, "--profile", "web")["services"]["web"]
    assert web["network_mode"] == "host" and web["command"][:1] == ["serve"]
    serve = build_parser().parse_args(web["command"])
    assert (serve.host, serve.port, serve.public_livekit_url) == ("0.0.0.0", 8080, "ws://127.0.0.1:7880")
    config = load_config(COMPOSE / "voxplug.yaml", env={"OPENAI_API_KEY": "sk-test"})
    ports = []
    for name in ("worker-1", "worker-2"):
        worker = services[name]
        assert worker["stop_signal"] == "SIGTERM"
        grace = worker["stop_grace_period"]
        assert grace.endswith("s") and int(grace[:-1]) > config.worker.drain_timeout, grace
        assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        env = worker["environment"]
        assert env["VOXPLUG_PERSISTENCE__DATABASE_URL"].startswith("postgresql://voxplug:compose-pg-pw@127.0.0.1:")
        assert env["VOXPLUG_CONFIG"] == "/etc/voxplug/voxplug.yaml"
        ports += [env["VOXPLUG_WORKER__HEALTH_PORT"], env["VOXPLUG_TELEMETRY__PROMETHEUS_PORT"]]
    assert len(set(ports)) == 4  # host network: every port distinct
    # Prometheus scrapes exactly the workers' default metrics ports and loads the shipped rules
    scrape = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    targets = [t for job in scrape["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert targets == [f"127.0.0.1:{port}" for port in ports[1::2]]
    assert scrape["rule_files"] == ["alerts.yml"]
    # every bind mount names a shipped file or directory
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (workdir / "compose" / source).exists(), (name, volume)
    mounts = services["prometheus"]["volumes"] + services["grafana"]["volumes"]
    assert "../prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts
    assert "../grafana/dashboards:/var/lib/grafana/dashboards/voxplug:ro" in mounts
    provider = yaml.safe_load((REPO / "deploy/grafana/provisioning/dashboards/voxplug.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/voxplug"
    datasource = yaml.safe_load((COMPOSE / "grafana" / "datasource.yml").read_text())["datasources"][0]
    assert datasource["type"] == "prometheus" and datasource["url"] == "${PROMETHEUS_URL}"
    assert services["grafana"]["environment"]["PROMETHEUS_URL"] == "http://127.0.0.1:9090"


def test_a_missing_required_setting_is_named(tmp_path: Path) -> None:
    workdir = deploy_copy(tmp_path, {k: v for k, v in REQUIRED.items() if k != "POSTGRES_PASSWORD"})
    proc = dry_config(workdir)
    assert proc.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in proc.stdout + proc.stderr


def test_compose_prometheus_config_and_rules_pass_promtool(tmp_path: Path) -> None:
    # as mounted in the container: the rules file next to the config
    shutil.copy(COMPOSE / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copy(REPO / "deploy" / "prometheus" / "alerts.yml", tmp_path / "alerts.yml")
    proc = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "SUCCESS" in proc.stdout, proc.stdout + proc.stderr


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


async def poll(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await asyncio.to_thread(check)
            if result:
                return result
        except OSError:
            result = None
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(2)


@pytest.mark.image
async def test_compose_stack_comes_up_and_takes_a_call(
    podman: Podman, image: str, base_image: str, vendor: VendorServer, tmp_path: Path
) -> None:
    stand_ins = await asyncio.to_thread(stack_images, podman, base_image, install_livekit_server())
    ports = {name: free_port() for name in (
        "LIVEKIT_PORT", "LIVEKIT_RTC_TCP_PORT", "REDIS_PORT", "POSTGRES_PORT", "PROMETHEUS_PORT", "GRAFANA_PORT",
        "WORKER_1_HEALTH_PORT", "WORKER_1_METRICS_PORT", "WORKER_2_HEALTH_PORT", "WORKER_2_METRICS_PORT",
    )}
    ports["LIVEKIT_RTC_UDP_PORT"] = free_port(socket.SOCK_DGRAM)
    env = {**REQUIRED, **{k: str(v) for k, v in ports.items()}, "LIVEKIT_BIND": "127.0.0.1",
           "VOXPLUG_IMAGE": image, "VOXPLUG_STOP_GRACE_PERIOD": "60s",
           **{f"{name.upper()}_IMAGE": tag for name, tag in stand_ins.items()}}
    worker_env = {"OPENAI_API_KEY": "sk-compose-test", "OPENAI_BASE_URL": f"{vendor.url}/v1",
                  # the test machine's CPU is busy with the test itself: load counts sessions only
                  "VOXPLUG_WORKER__CPU_LOAD": "false", "VOXPLUG_WORKER__NUM_IDLE_PROCESSES": "1",
                  "VOXPLUG_WORKER__DRAIN_TIMEOUT": "30", "VOXPLUG_WORKER__INITIALIZE_PROCESS_TIMEOUT": "90"}
    workdir = deploy_copy(tmp_path, env, worker_env)
    # one turn to check: no greeting, which on busy cores can still be playing when the
    # caller asks (the only change to the shipped voxplug.yaml)
    shipped = workdir / "compose" / "voxplug.yaml"
    text = shipped.read_text()
    shipped.write_text(text.replace("  greeting: Hello! How can I help you today?\n", "  greeting: null\n"))
    assert "greeting: null" in shipped.read_text()
    # the shipped scrape config with this run's worker ports
    scrape = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    for static, worker in zip(scrape["scrape_configs"][0]["static_configs"], ("WORKER_1", "WORKER_2"), strict=True):
        static["targets"] = [f"127.0.0.1:{ports[f'{worker}_METRICS_PORT']}"]
    (workdir / "prometheus-test.yml").write_text(yaml.safe_dump(scrape))
    with (workdir / ".env").open("a") as out:
        out.write(f"PROMETHEUS_CONFIG={workdir / 'prometheus-test.yml'}\n")

    project = f"voxplugtest{os.getpid()}"
    ready = ("exec", f"{project}_postgres_1", "pg_isready", "-h", "127.0.0.1", "-p", str(ports["POSTGRES_PORT"]))
    try:
        for stage in STAGES:
            if stage == ["migrate"]:
                await poll(lambda: podman(*ready, check=False).returncode == 0, 120, "PostgreSQL ready")
            up = await asyncio.to_thread(compose, podman.env, workdir, "-p", project, "up", "-d", "--no-deps", *stage)
            assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
            if stage == ["migrate"]:
                waited = await asyncio.to_thread(podman, "wait", f"{project}_migrate_1", timeout=300)
                assert waited.stdout.strip() == "0", podman.logs(f"{project}_migrate_1")
        workers = [f"{project}_worker-{i}_1" for i in (1, 2)]
        for name in workers:
            await asyncio.to_thread(podman.wait_for_log, name, "registered worker", 240)

        script = tmp_path / "call.yaml"
        script.write_text("turns:\n  - say: What is the answer?\n    expect: forty two\n", encoding="utf-8")
        report = tmp_path / "report.json"
        livekit = {"LIVEKIT_URL": f"ws://127.0.0.1:{ports['LIVEKIT_PORT']}",
                   "LIVEKIT_API_KEY": REQUIRED["LIVEKIT_API_KEY"], "LIVEKIT_API_SECRET": REQUIRED["LIVEKIT_API_SECRET"]}
        sim = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "voxplug", "simulate", str(script), "--room", "--agent-name", "voxplug",
            "--voice", "espeak", "--json", str(report), "--turn-timeout", "120",
            env={**os.environ, **livekit}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(sim.communicate(), 420)
        logs = "".join([await asyncio.to_thread(podman.logs, name) for name in workers])
        assert sim.returncode == 0, out.decode() + logs[-4000:]
        turns = json.loads(report.read_text())["turns"]
        assert [(t["heard"], t["reply"], t["ok"]) for t in turns] == [
            ("what is the answer", "The answer is forty two.", True)
        ]

        # the call is in the stack's PostgreSQL (the migrate service made the schema)
        database = f"postgresql://voxplug:{REQUIRED['POSTGRES_PASSWORD']}@127.0.0.1:{ports['POSTGRES_PORT']}/voxplug"

        def stored() -> list[Any]:
            proc = subprocess.run([sys.executable, "-m", "voxplug", "sessions", "list", "--format", "json"],
                                  env={**os.environ, "VOXPLUG_PERSISTENCE__DATABASE_URL": database},
                                  capture_output=True, text=True, timeout=60, cwd=tmp_path)
            return json.loads(proc.stdout) if proc.returncode == 0 else []

        sessions = await poll(stored, 60, "the call's session row in PostgreSQL")
        assert len(sessions) == 1

        # Prometheus scrapes both workers, loaded the shipped rules, and has the call's turn
        prometheus = f"http://127.0.0.1:{ports['PROMETHEUS_PORT']}/api/v1"

        def scraped() -> bool:
            targets = get_json(f"{prometheus}/targets")["data"]["activeTargets"]
            return len(targets) == 2 and all(t["health"] == "up" for t in targets)

        await poll(scraped, 90, "both workers scraped")
        groups = get_json(f"{prometheus}/rules")["data"]["groups"]
        assert [g["name"] for g in groups] == ["voxplug"] and len(groups[0]["rules"]) >= 6

        def turn_counted() -> bool:
            query = "sum(voxplug_turn_voice_to_voice_latency_seconds_count)"
            result = get_json(f"{prometheus}/query?query={urllib.request.quote(query)}")["data"]["result"]
            return bool(result) and float(result[0]["value"][1]) >= 1

        await poll(turn_counted, 90, "the call's turn in Prometheus")

        # SIGTERM (the compose stop signal): both idle workers drain and exit 0
        stop = await asyncio.to_thread(compose, podman.env, workdir, "-p", project, "stop", "worker-1", "worker-2")
        assert stop.returncode == 0, stop.stderr
        assert [await asyncio.to_thread(podman.exit_code, name) for name in workers] == [0, 0]
    finally:
        await asyncio.to_thread(compose, podman.env, workdir, "-p", project, "down", "-v", "-t", "10")
