"""Helpers shared by the benchmarks: environment facts and docs/benchmarks.md sections."""

from __future__ import annotations

import os
import platform
import re
import time
from importlib.metadata import version
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
DOC_HEADER = """# Benchmarks

Each section is written by the script named in it (`python benchmarks/<name>.py`) between
its `<!-- name:start -->` / `<!-- name:end -->` markers; rerunning a script replaces only
its own section. Numbers come from the machine named in each section and are only
comparable within a section.
"""


def environment() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {psutil.cpu_count()} CPU cores "
        f"(load average {load} at the end, shared with other work); Python {platform.python_version()}, "
        f"livekit-agents {version('livekit-agents')}"
    )


def write_section(name: str, body: str, path: Path = DOC) -> None:
    """Replace (or append) the text between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else DOC_HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    found = pattern.search(text)
    text = pattern.sub(lambda _: block, text) if found else text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def markdown_table(rows: list[list[str]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(head))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)
