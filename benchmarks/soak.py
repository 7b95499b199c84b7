"""Soak: one worker under steady load for M minutes; does anything leak or drift?

N rooms at once (default 2: on the 2-core test machine 4 calls already fill the cores in P4,
so 2 is steady load with headroom, not overload), each a loop of calls:
a WebRTC caller joins, hears the greeting, speaks three turns, hangs up, and the next call
starts in a fresh room, until M minutes are over. Providers and callers are P4's (fixed
latency, callers spread over processes; see benchmarks/p4_livekit_scale.py). Reports turns,
failed turns (each checked against the worker's store), and the worker tree's RSS, PSS and
open file descriptors idle before the first call and idle after the last (the idle pool
refilled both times), plus PSS with all N calls up early and late in the run.

    python benchmarks/soak.py --minutes 60 [--rooms 2] [--executor process] [--no-doc]

Not part of ``make test``: it runs for as long as it is told to.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from _common import environment, markdown_table, ms, write_section
from p4_livekit_scale import (
    AGENT,
    PROVIDER_ENV,
    collect,
    logged_turns,
    settle,
    start_callers,
    store_turns,
    tree,
    tree_memory,
    utterance_wavs,
    verdict,
    workdir,
)

from voxplug.room import run_livekit_server, start_worker
from voxplug.simulate.report import percentile

SAMPLE_EVERY = 10.0  # seconds between memory samples during the run


def tree_rss_fds(pid: int) -> tuple[int, int]:
    rss = fds = 0
    for proc in tree(pid):
        try:
            rss += proc.memory_info().rss
            fds += proc.num_fds()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return rss, fds


def growth(start: float, end: float) -> str:
    return f"{(end - start) / start * 100:+.1f} %" if start else "-"


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--rooms", type=int, default=2)
    parser.add_argument("--executor", default="process", choices=["process", "thread"])
    parser.add_argument("--rooms-per-process", type=int, default=2)
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--workdir", type=Path, help="keep the worker's and the server's logs and the store here")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with workdir(args.workdir) as work:
        speech = utterance_wavs(work)
        with run_livekit_server(work) as server:
            data = work / "data"
            env = {**server.env, **PROVIDER_ENV, "VOXPLUG_WORKER__AGENT_NAME": AGENT,
                   "VOXPLUG_WORKER__EXECUTOR": args.executor,
                   "VOXPLUG_WORKER__NUM_IDLE_PROCESSES": str(args.rooms), "VOXPLUG_WORKER__MAX_SESSIONS": "0",
                   "VOXPLUG_WORKER__LOAD_THRESHOLD": "inf", "VOXPLUG_PERSISTENCE__DATA_DIR": str(data)}
            worker = await asyncio.to_thread(start_worker, work, env, name="soak-worker", timeout=300)
            pid = worker.process.pid
            try:
                idle0 = await settle(pid)
                rss0, fds0 = tree_rss_fds(pid)
                began = time.monotonic()
                until = time.time() + args.minutes * 60
                rooms = [f"soak-{i}" for i in range(args.rooms)]
                callers = await start_callers(server, rooms, speech, 3, args.rooms_per_process, until=until)
                busy: list[tuple[float, int]] = []  # (minutes into the run, PSS) with the calls up

                async def sample() -> None:
                    while True:
                        await asyncio.sleep(SAMPLE_EVERY)
                        busy.append(((time.monotonic() - began) / 60, tree_memory(pid)[0]))
                        print(f"  {busy[-1][0]:5.1f} min: worker PSS {busy[-1][1] / 2**20:.0f} MB, "
                              f"load {os.getloadavg()[0]:.1f}", flush=True)

                sampler = asyncio.create_task(sample())
                seen, errors, _ = await collect(callers)
                sampler.cancel()
                minutes = (time.monotonic() - began) / 60
                await asyncio.sleep(5)  # the last sessions close
                idle1 = await settle(pid)
                rss1, fds1 = tree_rss_fds(pid)
                rooms_seen = {t.room for t in seen}
                stored = store_turns(data / "voxplug.db", rooms_seen)
                logged = logged_turns(worker.log, rooms_seen)
            finally:
                await asyncio.to_thread(worker.stop)
    failed = [(t, verdict(t, stored[t.room], logged[t.room])) for t in seen if t.v2v is None]
    latencies = [t.v2v for t in seen if t.v2v is not None]
    # PSS with the calls up: early (the second tenth of the run, past call start) and late (the last tenth)
    tenth = max(len(busy) // 10, 1)
    early = statistics.median(p for _, p in busy[tenth:2 * tenth] or busy) if busy else 0
    late = statistics.median(p for _, p in busy[-tenth:]) if busy else 0
    rows = [
        ["measure", "start", "end", "growth"],
        ["worker PSS idle, MB", f"{idle0[0] / 2**20:.0f}", f"{idle1[0] / 2**20:.0f}", growth(idle0[0], idle1[0])],
        ["worker RSS idle, MB", f"{rss0 / 2**20:.0f}", f"{rss1 / 2**20:.0f}", growth(rss0, rss1)],
        [f"worker PSS, {args.rooms} calls up, MB", f"{early / 2**20:.0f}", f"{late / 2**20:.0f}", growth(early, late)],
        ["open file descriptors (worker tree, idle)", str(fds0), str(fds1), f"{fds1 - fds0:+d}"],
        ["processes (worker tree, idle)", str(idle0[2]), str(idle1[2]), f"{idle1[2] - idle0[2]:+d}"],
    ]
    summary = (f"{minutes:.1f} min, {args.rooms} rooms in a loop, executor {args.executor}: "
               f"{len(seen)} turns, {len(failed)} failed, caller errors {len(errors)}; "
               f"V2V p50 {ms(percentile(latencies, 50))} ms, p95 {ms(percentile(latencies, 95))} ms")
    table = markdown_table(rows)
    print(summary)
    print(table)
    for turn, why in failed:
        print(f"  failed: {turn.room} turn {turn.index}: {why}")
    if args.no_doc:
        return
    failures = "\n".join(f"- {t.room} turn {t.index}: {why}" for t, why in failed) or "No failed turns."
    write_section("soak", f"""## Soak - a worker under steady load

`python benchmarks/soak.py --minutes {args.minutes:g} --rooms {args.rooms} --executor {args.executor}`:
{args.rooms} rooms at once, each a loop of three-turn calls (a new room per call) against one worker, P4's
providers and callers. Memory and descriptors are summed over the worker's process tree; "idle" is
before the first and after the last call, once the idle pool has refilled. Targets: 0 failed turns,
memory growth under 5 %.

{summary}.

{table}

{failures}

Environment: {environment()}; load average {"/".join(f"{x:.1f}" for x in load_before)} before the run.
""")


if __name__ == "__main__":
    asyncio.run(main())
