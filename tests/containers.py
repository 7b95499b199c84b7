"""podman for the deployment tests (tests/deploy), with the settings this machine needs.

``scripts/podman.sh --conf`` names the containers.conf that podman and podman-compose
need here (runc on hybrid cgroups, ulimits within the host's); containers run on the host
network, so they reach servers the tests start on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BUILD_TIMEOUT", "REPO", "SCRIPTS", "Podman", "podman_env", "stack_images"]


REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"
# a cold image build: the base from Debian packages, then pip from the warm cache
BUILD_TIMEOUT = 3600


def podman_env() -> dict[str, str]:
    """The environment for podman and podman-compose: this machine's containers.conf."""
    conf = subprocess.run([str(SCRIPTS / "podman.sh"), "--conf"], capture_output=True, text=True, check=True)
    env = dict(os.environ)
    if conf.stdout.strip():
        env["CONTAINERS_CONF"] = conf.stdout.strip()
    return env


@dataclass
class Podman:
    env: dict[str, str]
    containers: list[str] = field(default_factory=list)

    def __call__(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
        return proc

    def start(self, image: str, *command: str, env: dict[str, str], options: tuple[str, ...] = (),
              name: str = "voxplug-test") -> str:
        """A detached container on the host network; removed at the end of the test."""
        name = f"{name}-{uuid.uuid4().hex[:8]}"
        flags = [f"--env={key}={value}" for key, value in env.items()]
        # no health check timer (it needs systemd); tests run the check with `healthcheck run`
        self("run", "--detach", "--name", name, "--network", "host", "--health-interval", "disable",
             *flags, *options, image, *command, timeout=120)
        self.containers.append(name)
        return name

    def logs(self, name: str) -> str:
        proc = self("logs", name, check=False)
        return proc.stdout + proc.stderr

    def wait_for_log(self, name: str, text: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while True:
            logs = self.logs(name)
            if text in logs:
                return logs
            state = self("inspect", name, "--format", "{{.State.Status}}", check=False).stdout.strip()
            if state not in ("running", "created", "configured") or time.monotonic() > deadline:
                raise AssertionError(f"{name} ({state}) never logged {text!r}:\n{logs[-4000:]}")
            time.sleep(0.5)

    def exit_code(self, name: str) -> int:
        return int(self("inspect", name, "--format", "{{.State.ExitCode}}").stdout.strip())

    def remove_all(self) -> None:
        for name in self.containers:
            self("rm", "--force", "--time", "5", name, check=False, timeout=60)


STACK = REPO / "tests" / "deploy" / "stack"
STACK_TARGETS = ("redis", "postgres", "prometheus", "livekit")


def stack_images(podman: Podman, base: str, livekit_server: Path) -> dict[str, str]:
    """The compose stack's stand-in images (tests/deploy/stack/Containerfile), by service.

    Built once per set of inputs (the Containerfile, the postgres entrypoint, the LiveKit
    server binary, the base image): each image carries the inputs' hash as a label.
    """
    digest = hashlib.sha256(podman("image", "inspect", base, "--format", "{{.Id}}").stdout.encode())
    for path in (STACK / "Containerfile", STACK / "postgres-entrypoint.sh", livekit_server):
        digest.update(path.read_bytes())
    key = digest.hexdigest()[:16]
    images = {target: f"localhost/voxplug-stack-{target}:test" for target in STACK_TARGETS}
    stale = [
        target for target, tag in images.items()
        if podman("image", "inspect", tag, "--format", '{{index .Labels "org.voxplug.inputs"}}',
                  check=False).stdout.strip() != key
    ]
    if stale:
        with tempfile.TemporaryDirectory(prefix="voxplug-stack-") as tmp:
            context = Path(tmp)
            for path in (STACK / "Containerfile", STACK / "postgres-entrypoint.sh"):
                shutil.copy2(path, context / path.name)
            shutil.copy2(livekit_server, context / "livekit-server")
            for target in stale:
                podman("build", "--format", "docker", "--network", "host", "--target", target,
                       "--build-arg", f"BASE_IMAGE={base}", "--label", f"org.voxplug.inputs={key}",
                       "--tag", images[target], str(context), timeout=BUILD_TIMEOUT)
    return images
