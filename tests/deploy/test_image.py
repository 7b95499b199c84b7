"""The voxplug image: built from the Containerfile, run with podman against real servers
(marker ``image``: ``make test-image``; the Containerfile itself is checked without a build
in test_containerfile.py).

A containerised ``voxplug start`` worker (official OpenAI plugins pointed at the fake vendor
server) registers with the session's LiveKit server, answers ``voxplug simulate --room``
through a real WebRTC room, serves its health and metrics ports, and drains on the stop
signal the image declares.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from containers import REPO, Podman
from fakes.vendor_server import VendorServer, compatible_stages
from voxplug.room import LiveKitServer
from voxplug.room.devserver import free_port

pytestmark = pytest.mark.image

AGENT = "voxplug-container"
SHIPPED_CONFIG = REPO / "deploy" / "compose" / "voxplug.yaml"


def inspect(podman: Podman, image: str) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(podman("image", "inspect", image).stdout)[0]
    return info


def test_image_declares_entrypoint_user_ports_stop_signal_and_health_check(podman: Podman, image: str) -> None:
    info = inspect(podman, image)
    config = info["Config"]
    assert config["Entrypoint"] == ["/usr/bin/tini", "--", "voxplug"] and config["Cmd"] == ["start"]
    assert config["User"] == "10001:10001"
    assert "ORT_DISABLE_TELEMETRY=1" in config["Env"]
    assert set(config["ExposedPorts"]) == {"8081/tcp", "9464/tcp"}
    assert config["StopSignal"] == "SIGTERM"
    check = info["Healthcheck"]  # podman keeps it beside the OCI config (docker image format)
    assert check["Test"][0] == "CMD" and "VOXPLUG_WORKER__HEALTH_PORT" in check["Test"][-1]
    assert config["Labels"]["org.voxplug.extras"] == "all" and config["Labels"]["org.voxplug.local-models"] == "0"


def test_final_stage_runs_as_non_root_without_compilers(podman: Podman, image: str) -> None:
    probe = "id -u; for tool in gcc cc g++ c++ make cmake apt-get; do command -v $tool || true; done"
    proc = podman("run", "--rm", "--entrypoint", "sh", image, "-c", probe)
    lines = proc.stdout.split()
    assert lines[0] == "10001"
    # apt-get stays (the base image's), compilers and build tools do not
    assert lines[1:] == ["/usr/bin/apt-get"], proc.stdout
    # every vendor extra is importable in the image (the default EXTRAS=all), except those
    # whose SDK needs a newer Python than the base's 3.11, and the local models (LOCAL_MODELS=0)
    proc = podman("run", "--rm", image, "providers", "list")
    states = install_states(proc.stdout)
    missing = {row: state for row, state in states.items() if state != "yes" and not state.startswith("needs Python")}
    assert missing == {("stt", "local"): "no", ("llm", "local"): "no", ("tts", "local"): "no"}, proc.stdout
    assert sum(state == "yes" for state in states.values()) > 50, proc.stdout


def install_states(table: str) -> dict[tuple[str, str], str]:
    """The INSTALLED column of ``voxplug providers list``, by (stage, provider)."""
    header, *rows = table.splitlines()
    start, end = header.index("INSTALLED"), header.index("CREDENTIALS")
    return {
        (line.split()[0], line.split()[1]): line[start:end].strip()
        for line in rows if line.strip() and not line.startswith("#")
    }


def test_config_check_passes_inside_the_image(podman: Podman, image: str, tmp_path: Path) -> None:
    mount = f"--volume={SHIPPED_CONFIG}:/etc/voxplug/voxplug.yaml:ro"
    env = ["--env=VOXPLUG_CONFIG=/etc/voxplug/voxplug.yaml", "--env=OPENAI_API_KEY=sk-test-key",
           "--env=VOXPLUG_PERSISTENCE__DATABASE_URL=postgresql://voxplug:pw@127.0.0.1:5432/voxplug"]
    proc = podman("run", "--rm", mount, *env, image, "config", "check", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "config ok: stt=openai llm=openai tts=openai" in proc.stdout
    # a missing key is one line per problem and exit 2, not a traceback
    proc = podman("run", "--rm", mount, *env[:1], image, "config", "check", check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "OPENAI_API_KEY" in proc.stderr and "Traceback" not in proc.stderr


async def test_container_worker_registers_answers_a_simulated_call_and_drains(
    podman: Podman, image: str, livekit: LiveKitServer, vendor: VendorServer, tmp_path: Path
) -> None:
    health, metrics = free_port(), free_port()
    env = {
        **livekit.env, **compatible_stages(vendor.url),
        "VOXPLUG_WORKER__AGENT_NAME": AGENT,
        "VOXPLUG_WORKER__HEALTH_PORT": str(health),
        "VOXPLUG_TELEMETRY__PROMETHEUS_PORT": str(metrics),
        # the test machine's CPU is busy with the test itself: load counts sessions only
        "VOXPLUG_WORKER__CPU_LOAD": "false",
        "VOXPLUG_WORKER__MAX_SESSIONS": "4",
        "VOXPLUG_WORKER__NUM_IDLE_PROCESSES": "1",
        "VOXPLUG_WORKER__DRAIN_TIMEOUT": "60",
        "VOXPLUG_WORKER__INITIALIZE_PROCESS_TIMEOUT": "90",
        "VOXPLUG_CONFIG": "/etc/voxplug/voxplug.yaml",
    }
    # one turn to check: no greeting, which on busy cores can still be playing when the caller asks
    config = tmp_path / "voxplug.yaml"
    config.write_text("agent:\n  greeting: null\n", encoding="utf-8")
    config.chmod(0o644)
    # as the Kubernetes manifests run it: read-only root, writable /tmp and /var/lib/voxplug
    options = (f"--volume={config}:/etc/voxplug/voxplug.yaml:ro", "--read-only",
               "--tmpfs=/var/lib/voxplug:rw,mode=1777")
    name = await asyncio.to_thread(podman.start, image, env=env, options=options, name="voxplug-worker")
    await asyncio.to_thread(podman.wait_for_log, name, "registered worker", 180)

    # the image's own HEALTHCHECK, run against the live worker
    assert (await asyncio.to_thread(podman, "healthcheck", "run", name, check=False)).returncode == 0

    script = tmp_path / "call.yaml"
    script.write_text("turns:\n  - say: What is the answer?\n    expect: forty two\n", encoding="utf-8")
    report = tmp_path / "report.json"
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voxplug", "simulate", str(script), "--room", "--agent-name", AGENT,
        "--voice", "espeak", "--json", str(report), "--turn-timeout", "120",
        env={**os.environ, **livekit.env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(sim.communicate(), 420)
    logs = await asyncio.to_thread(podman.logs, name)
    assert sim.returncode == 0, out.decode() + logs[-4000:]
    turns = json.loads(report.read_text())["turns"]
    assert [(t["heard"], t["reply"], t["ok"]) for t in turns] == [
        ("what is the answer", "The answer is forty two.", True)
    ]
    # the worker in the container called the vendor through the OpenAI plugin
    assert vendor.find("/chat/completions") and vendor.find("/audio/speech")
    assert vendor.find("/audio/transcriptions")

    with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10) as resp:
        assert "voxplug_" in resp.read().decode()

    # `podman stop` sends the image's STOPSIGNAL (SIGTERM): the worker drains and exits 0
    await asyncio.to_thread(podman, "stop", "--time", "90", name, timeout=120)
    logs = await asyncio.to_thread(podman.logs, name)
    assert "draining worker" in logs, logs[-3000:]
    assert await asyncio.to_thread(podman.exit_code, name) == 0, logs[-3000:]
