"""The LiveKit SIP service on loopback, beside a LiveKit server that shares its Redis (tests, benchmarks).

The binary is built once by ``scripts/livekit-sip.sh`` (Go with CGO, cached under
``~/.cache/voxplug``); signalling and media stay on 127.0.0.1.
"""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..room.devserver import API_KEY, API_SECRET, LiveKitServer, free_port, install_binary, stop_process

__all__ = ["SipService", "install_livekit_sip", "run_livekit_sip"]

# RTP ports per service: each call takes one, and a closed call's port drains for a while
RTP_PORTS = 200


def install_livekit_sip() -> Path:
    """The SIP service binary: ``$LIVEKIT_SIP_BIN``, else built by ``scripts/livekit-sip.sh``."""
    return install_binary("livekit-sip", "LIVEKIT_SIP_BIN")


@dataclass
class SipService:
    sip_port: int
    rtp_ports: tuple[int, int]
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    def uri(self, number: str) -> str:
        """The SIP URI a phone dials to reach ``number`` through this service."""
        return f"sip:{number}@{self.host}"

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def _free_sip_port() -> int:
    """A port free for both UDP and TCP: the service listens on both."""
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")


@contextmanager
def run_livekit_sip(workdir: Path, *, livekit: LiveKitServer, redis: str) -> Iterator[SipService]:
    """Start ``livekit-sip`` for ``livekit`` (which must run with ``redis=``) and stop it after."""
    binary = install_livekit_sip()
    sip_port = _free_sip_port()
    # the service binds any free port of its range: a random window keeps parallel runs apart
    start = random.randrange(30000, 60000 - RTP_PORTS, 2)
    config = (
        f"api_key: {API_KEY}\napi_secret: {API_SECRET}\nws_url: {livekit.settings.url}\n"
        f"redis:\n  address: {redis}\n"
        f"sip_port: {sip_port}\nrtp_port: {start}-{start + RTP_PORTS}\n"
        # the service refuses outbound calls while CPU use is above this share; a loaded 2-core
        # test machine sits at 100 % for seconds at a time, so never refuse here
        "max_cpu_utilization: 1.0\n"
        # loopback only: listen there and announce it in SIP and SDP (no STUN, no public IP)
        "listen_ip: 127.0.0.1\nnat_1_to_1_ip: 127.0.0.1\n"
        "logging:\n  level: debug\n"
    )
    log = workdir / f"livekit-sip-{sip_port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), "--config-body", config], stdout=out, stderr=subprocess.STDOUT, cwd=workdir
        )
    service = SipService(sip_port, (start, start + RTP_PORTS), process, log)
    try:
        deadline = time.monotonic() + 30
        # its health port would listen on every interface: the log says when it is ready instead
        while "service ready" not in service.text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"livekit-sip did not start: {service.text()[-3000:]}")
            time.sleep(0.1)
        yield service
    finally:
        stop_process(process)
