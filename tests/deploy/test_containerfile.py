"""The Containerfile, checked without building it (``make test``; the built image is
checked by tests/deploy/test_image.py under ``make test-image``).

hadolint lints both Containerfiles; ``problems`` checks what issue 17 asks of the image
against the worker's own defaults: a builder and a final stage on a base image that is a
build argument, a non-root user, SIGTERM as the stop signal, a health check on the health
port, the health and metrics ports exposed, ``ORT_DISABLE_TELEMETRY=1``, and no compiler
or package installation in the final stage.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from containers import REPO
from voxplug.config.models import WorkerConfig
from voxplug.config.telemetry import TelemetryConfig

CONTAINERFILE = REPO / "Containerfile"
HEALTH_PORT = WorkerConfig().health_port
METRICS_PORT = TelemetryConfig().prometheus_port
# build tools that must stay in the builder stage
COMPILERS = re.compile(r"\b(build-essential|gcc|g\+\+|clang|cmake|make|cc|c\+\+)\b")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(text: str) -> tuple[list[tuple[str, str]], list[Stage]]:
    """The instructions before the first FROM, and the stages (continuations joined,
    comments dropped, as the builder reads them)."""
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue  # a comment inside a continued instruction does not end it
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "the last instruction ends in a backslash"
    preamble: list[tuple[str, str]] = []
    stages: list[Stage] = []
    for instruction in logical:
        keyword, _, args = instruction.strip().partition(" ")
        keyword, args = keyword.upper(), " ".join(args.split())
        if keyword == "FROM":
            base, _, name = args.partition(" AS ")
            stages.append(Stage(base.strip(), name.strip() or None))
        elif stages:
            stages[-1].instructions.append((keyword, args))
        else:
            preamble.append((keyword, args))
    return preamble, stages


def problems(text: str) -> list[str]:
    """What the Containerfile lacks of the issue's image, one line each."""
    preamble, stages = parse(text)
    out = []
    if len(stages) < 2 or stages[0].name is None:
        return ["not multi-stage: a named builder stage and a final stage are needed"]
    builder, final = stages[0], stages[-1]
    if not any(args.startswith("BASE_IMAGE=") for kw, args in preamble if kw == "ARG"):
        out.append("the base image is not a build argument (ARG BASE_IMAGE=... before the first FROM)")
    if any(stage.base != "${BASE_IMAGE}" for stage in stages):
        out.append("a stage does not start FROM ${BASE_IMAGE}")
    if not any(args.startswith(f"--from={builder.name} ") for args in final.args("COPY")):
        out.append("the final stage copies nothing from the builder")
    users = final.args("USER")
    if not users or users[-1].split(":")[0] in ("0", "root"):
        out.append("the final stage runs as root (USER)")
    if final.args("STOPSIGNAL") != ["SIGTERM"]:
        out.append("STOPSIGNAL is not SIGTERM")
    checks = final.args("HEALTHCHECK")
    if not checks or " CMD " not in f" {checks[-1]} ":
        out.append("no HEALTHCHECK CMD")
    elif "VOXPLUG_WORKER__HEALTH_PORT" not in checks[-1] or f"'{HEALTH_PORT}'" not in checks[-1]:
        out.append(f"the HEALTHCHECK does not probe VOXPLUG_WORKER__HEALTH_PORT (default {HEALTH_PORT})")
    exposed = {port.split("/")[0] for args in final.args("EXPOSE") for port in args.split()}
    for port, what in ((HEALTH_PORT, "health"), (METRICS_PORT, "metrics")):
        if str(port) not in exposed:
            out.append(f"the {what} port {port} is not exposed")
    env = " ".join(final.args("ENV"))
    if not re.search(r"(^| )ORT_DISABLE_TELEMETRY=1( |$)", env):
        out.append("ORT_DISABLE_TELEMETRY=1 is not set in the final stage")
    for args in final.args("RUN"):
        if re.search(r"\b(apt-get|apt|dpkg|pip) +install\b", args) or COMPILERS.search(args):
            out.append(f"the final stage installs packages or runs a build tool: RUN {args[:80]}")
    if not COMPILERS.search(" ".join(builder.args("RUN"))):
        out.append("the builder installs no compiler (llama-cpp-python builds from source)")
    entrypoint = " ".join(final.args("ENTRYPOINT"))
    if '"voxplug"' not in entrypoint or final.args("CMD") != ['["start"]']:
        out.append("the entrypoint is not `voxplug start`")
    build_args = {args.split("=")[0] for kw, args in builder.instructions if kw == "ARG"}
    for name in ("EXTRAS", "LOCAL_MODELS"):
        if name not in build_args:
            out.append(f"no build argument {name}")
    return out


def test_shipped_containerfile_has_what_the_image_needs() -> None:
    assert problems(CONTAINERFILE.read_text()) == []


@pytest.mark.parametrize(("edit", "problem"), [
    (lambda t: t.replace("USER 10001:10001", "USER root"), "runs as root"),
    (lambda t: t.replace("STOPSIGNAL SIGTERM", "STOPSIGNAL SIGINT"), "STOPSIGNAL"),
    (lambda t: t.replace("EXPOSE 8081 9464", "EXPOSE 8081"), "metrics port 9464"),
    (lambda t: t.replace("ORT_DISABLE_TELEMETRY=1", "ORT_DISABLE_TELEMETRY=0"), "ORT_DISABLE_TELEMETRY"),
    (lambda t: t.replace("'8081'", "'8080'"), "HEALTHCHECK"),
    (lambda t: t.replace("FROM ${BASE_IMAGE}\n", "FROM debian:bookworm\n"), "FROM ${BASE_IMAGE}"),
    (lambda t: t.replace("WORKDIR /var/lib/voxplug\n",
                         "WORKDIR /var/lib/voxplug\nRUN apt-get update && apt-get install -y gcc\n"),
     "installs packages"),
    (lambda t: t.replace(" AS builder", "").replace("--from=builder", "--from=0"), "multi-stage"),
])
def test_the_check_finds_what_is_missing(edit: Callable[[str], str], problem: str) -> None:
    text = CONTAINERFILE.read_text()
    edited = edit(text)
    assert edited != text
    assert any(problem in line for line in problems(edited)), problems(edited)


def test_containerfiles_pass_hadolint() -> None:
    files = [CONTAINERFILE, REPO / "tests" / "deploy" / "stack" / "Containerfile"]
    proc = subprocess.run([str(Path(sys.executable).parent / "hadolint"), *map(str, files)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
