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
    "RedisServer",
    "WorkerProcess",
    "free_port",
    "install_binary",
    "install_livekit_server",
    "run_livekit_server",
    "run_redis",
    "start_worker",
    "stop_process",
]

REPO = Path(__file__).resolve().parents[3]
API_KEY = "voxplugtest"
API_SECRET = "voxplug-test-secret-0123456789abcdef0123"  # the server wants 32+ characters


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def install_binary(name: str, env_var: str) -> Path:
    """A LiveKit binary: ``$<env_var>``, else built once by ``scripts/<name>.sh install`` (``make <name>``)."""
    explicit = os.environ.get(env_var)
    if explicit:
        return Path(explicit)
    script = REPO / "scripts" / f"{name}.sh"
    if not script.is_file():
        raise RuntimeError(f"no {name}: set {env_var}, or run `make {name}` in a voxplug checkout")
    out = subprocess.run([str(script), "install"], capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"installing {name} failed: {out.stderr.strip()[-2000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


def install_livekit_server() -> Path:
    """The server binary: ``$LIVEKIT_SERVER_BIN``, else built by ``scripts/livekit-server.sh``."""
    return install_binary("livekit-server", "LIVEKIT_SERVER_BIN")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def run_redis(workdir: Path) -> Iterator[RedisServer]:
    """Debian's ``redis-server`` on a free loopback port, in memory only (no RDB/AOF files)."""
    port = free_port()
    log = workdir / f"redis-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(workdir)],
            stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield RedisServer(port, process, log)
    finally:
        stop_process(process)


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
        stop_process(process)



@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path
    health_port: int

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def job_requests(self) -> list[str]:
        """The log lines of the jobs the server sent this worker, in order."""
        return [line for line in self.text().splitlines() if '"received job request"' in line]

    def served(self, room: str) -> bool:
        return any(f'"room": "{room}"' in line for line in self.job_requests())

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
