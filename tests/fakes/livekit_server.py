"""Runs a real LiveKit server (installed by scripts/livekit-server.sh) on free loopback ports."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from voxplug.room import LiveKitSettings

__all__ = ["LiveKitServer", "free_port", "install_livekit_server", "run_livekit_server"]

REPO = Path(__file__).resolve().parents[2]
API_KEY = "voxplugtest"
API_SECRET = "voxplug-test-secret-0123456789abcdef0123"  # the server wants 32+ characters


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def install_livekit_server() -> Path:
    out = subprocess.run(
        [str(REPO / "scripts" / "livekit-server.sh"), "install"], capture_output=True, text=True, timeout=1800
    )
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
