"""A real LiveKit server and ``voxplug start`` workers on loopback, for tests and benchmarks.

The server binary is built once from the Go module proxy by ``scripts/livekit-server.sh``
(``make livekit-server``); ports are picked free, keys are fixed test keys.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from .client import LiveKitSettings

__all__ = [
    "LiveKitServer",
    "WorkerProcess",
    "free_port",
    "install_livekit_server",
    "run_livekit_server",
    "start_worker",
]

REPO = Path(__file__).resolve().parents[3]
API_KEY = "voxplugtest"
API_SECRET = "voxplug-test-secret-0123456789abcdef0123"  # the server wants 32+ characters


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def install_livekit_server() -> Path:
    """The server binary: ``$LIVEKIT_SERVER_BIN``, else built by ``scripts/livekit-server.sh``."""
    explicit = os.environ.get("LIVEKIT_SERVER_BIN")
    if explicit:
        return Path(explicit)
    script = REPO / "scripts" / "livekit-server.sh"
    if not script.is_file():
        raise RuntimeError(
            "no LiveKit server: set LIVEKIT_SERVER_BIN, or run `make livekit-server` in a voxplug checkout"
        )
    out = subprocess.run([str(script), "install"], capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"installing the LiveKit server failed: {out.stderr.strip()}")
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass
class LiveKitServer:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def settings(self) -> LiveKitSettings:
        return LiveKitSettings(f"ws://127.0.0.1:{self.port}", SecretStr(API_KEY), SecretStr(API_SECRET))

    @property
    def env(self) -> dict[str, str]:
        return {"LIVEKIT_URL": self.settings.url, "LIVEKIT_API_KEY": API_KEY, "LIVEKIT_API_SECRET": API_SECRET}


@contextmanager
def run_livekit_server(workdir: Path, *, redis: str | None = None) -> Iterator[LiveKitServer]:
    binary = install_livekit_server()
    port, tcp_port, udp_port = free_port(), free_port(), free_port(socket.SOCK_DGRAM)
    config = (
        f"port: {port}\n"
        f"rtc:\n  tcp_port: {tcp_port}\n  udp_port: {udp_port}\n  use_external_ip: false\n"
        f"keys:\n  {API_KEY}: {API_SECRET}\n"
        + (f"redis:\n  address: {redis}\n" if redis else "")
    )
    log = workdir / f"livekit-server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), "--bind", "127.0.0.1", "--node-ip", "127.0.0.1", "--config-body", config],
            stdout=out, stderr=subprocess.STDOUT,
        )
    server = LiveKitServer(port, process, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"LiveKit server did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()



@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path
    health_port: int

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def served(self, room: str) -> bool:
        lines = self.text().splitlines()
        return any('"received job request"' in line and f'"room": "{room}"' in line for line in lines)

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.process.kill()

    def stop(self, timeout: float = 60) -> None:
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_worker(workdir: Path, env: dict[str, str], *, name: str = "worker", timeout: float = 90) -> WorkerProcess:
    health_port = free_port()
    log = workdir / f"{name}.log"
    full_env = {
        **os.environ,
        # the test machine's CPU is busy with the test itself: load counts sessions only
        "VOXPLUG_WORKER__CPU_LOAD": "false",
        "VOXPLUG_WORKER__MAX_SESSIONS": "8",
        "VOXPLUG_WORKER__NUM_IDLE_PROCESSES": "1",
        "VOXPLUG_WORKER__HEALTH_PORT": str(health_port),
        "VOXPLUG_TELEMETRY__PROMETHEUS_PORT": str(free_port()),
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "voxplug", "start"], env=full_env,
                                   stdout=out, stderr=subprocess.STDOUT)
    worker = WorkerProcess(process, log, health_port)
    deadline = time.monotonic() + timeout
    while "registered worker" not in worker.text():
        if process.poll() is not None or time.monotonic() > deadline:
            worker.stop(5)
            raise RuntimeError(f"worker did not register: {worker.text()[-3000:]}")
        time.sleep(0.2)
    return worker
