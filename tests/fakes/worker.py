"""``voxplug start`` as a subprocess, the way an operator runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fakes.livekit_server import free_port

__all__ = ["WorkerProcess", "start_worker"]


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
