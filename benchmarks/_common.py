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


# the keyless defaults before issue 13 (template prompt with every tool, no grammar, no reply
# filter), as environment overrides: the "v0" variant of P3 and Q1
OLD_DEFAULTS_ENV = {
    "VOXPLUG_LLM__OPTIONS": "{prompt: template, tool_filter: all, grammar: false, reply_filter: false}",
    "STT_MODEL": "base",
    "VOXPLUG_STT__OPTIONS": "{window: 30}",
    "VOXPLUG_TTS__OPTIONS": "{early_clause: false}",
    "VOXPLUG_SESSION__EARLY_TRANSCRIPT": "1",  # >= the VAD's silence: off
    "VOXPLUG_SESSION__PREEMPTIVE_GENERATION": "false",
}


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, e.g. "0.52, 0.61, 0.70"."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def environment() -> str:
    load = load_average()
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
