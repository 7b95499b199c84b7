"""Stalled vendor - a stalled primary LLM: how long until the backup's first token?

The primary is a local OpenAI-compatible server that sends the stream's headers and then
nothing (a stalled vendor); the backup is the same fake server answering at once. Both go
through voxplug's factory and the official OpenAI plugin, as a configured
``llm.fallbacks`` chain does. Each request uses a fresh adapter, so each one is the first
request to find the primary stalled (later ones go straight to the backup until LiveKit's
recovery probe brings the primary back). Measured: request start to the first text chunk.

    python benchmarks/stalled_fallback.py [--runs 5] [--no-doc]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' fake vendor server
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from _common import environment, markdown_table, ms, write_section
from livekit.agents import llm

from fakes.vendor_server import VendorServer
from voxplug.config.models import LLMConfig, SessionConfig
from voxplug.providers.registry import ProviderFactory
from voxplug.simulate.report import percentile

TARGET = 1.5  # seconds to the backup's first token (issue 15)


async def first_token(model: llm.LLM) -> float:
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content="Are you there?")
    began = time.monotonic()
    async with model.chat(chat_ctx=ctx) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                return time.monotonic() - began
    raise RuntimeError("no text came back")


def stage(url: str, model: str, fallbacks: list[LLMConfig] | None = None) -> LLMConfig:
    return LLMConfig(provider="openai-compatible", base_url=f"{url}/v1", model=model, api_key="not-needed",
                     fallbacks=fallbacks or [])


def chain(primary: str, backup: str) -> LLMConfig:
    return stage(primary, "primary", [stage(backup, "backup")])


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    defaults = SessionConfig()
    deadline = defaults.fallback_first_token_timeout
    variants = {
        f"first-token deadline {deadline} s (default)": deadline,
        "no first-token deadline (attempt timeout only)": None,
    }
    rows = [["fallback", "runs", "to backup's first token p50 ms", "max ms", f"< {TARGET} s"]]
    async with VendorServer(stall=True) as stalled, VendorServer(reply="Backup answering.") as backup:
        alone = ProviderFactory.create_llm(stage(backup.url, "backup"))
        await first_token(alone)  # warm-up: plugin import, connection pool
        direct = [await first_token(alone) for _ in range(args.runs)]
        rows.append(["none needed: the backup asked directly", str(args.runs), ms(percentile(direct, 50)),
                     ms(max(direct)), "-"])
        for name, first in variants.items():
            times = []
            for _ in range(args.runs):
                model = ProviderFactory.create_llm(
                    chain(stalled.url, backup.url),
                    attempt_timeout=defaults.fallback_attempt_timeout,
                    first_token_timeout=first,
                )
                times.append(await first_token(model))
                await model.aclose()
            rows.append([name, str(args.runs), ms(percentile(times, 50)), ms(max(times)),
                         "yes" if max(times) < TARGET else "no"])
            print(f"{name}: {[round(t, 3) for t in times]}", flush=True)
    table = markdown_table(rows)
    print(table)
    if args.no_doc:
        return
    write_section("stalled-fallback", f"""## Stalled vendor - fallback speed on a stalled LLM

`python benchmarks/stalled_fallback.py --runs {args.runs}`: the primary LLM is a local
OpenAI-compatible server that sends the streaming response's headers and then nothing; the backup
answers at once. Both through the factory and the official OpenAI plugin (`llm.fallbacks`), attempt
timeout {defaults.fallback_attempt_timeout} s (`session.fallback_attempt_timeout`). Each run is the first
request to meet the stalled primary (a fresh adapter). Time = request start to the first text chunk.
Target: under {TARGET} s.

{table}

Environment: {environment()}.
""")


if __name__ == "__main__":
    asyncio.run(main())
