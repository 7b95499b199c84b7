"""P4 - scale through a real LiveKit server: N concurrent rooms, one worker.

Each room has a WebRTC caller (livekit rtc SDK) that speaks a scripted conversation to a
``voxplug start`` worker; providers are the fixed-latency test providers (STT 100 ms, LLM
first token 200 ms, TTS first byte 100 ms) with real Silero VAD, so what grows with N is
the cost of the framework, WebRTC and the server. Voice-to-voice is measured at the caller:
first loud agent audio frame minus the end of the caller's speech.

    python benchmarks/p4_livekit_scale.py [--sizes 1,2,4,8,16] [--turns 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from _common import environment, markdown_table, ms, write_section

from voxplug.room import LiveKitServer, RoomCaller, dispatch_agent, run_livekit_server, start_worker
from voxplug.simulate.audio import load_wav
from voxplug.simulate.report import percentile

AGENT = "voxplug-bench"
PROVIDERS_SUM = 0.4
UTTERANCES = ("What time is it in Paris?", "Tell me a short fact about the sea.", "Thank you, goodbye.")
PROVIDER_ENV = {
    "STT_PROVIDER": "fixed", "LLM_PROVIDER": "fixed", "TTS_PROVIDER": "fixed",
    "VOXPLUG_STT__OPTIONS": "{latency: 0.1, transcript: 'a question'}",
    "VOXPLUG_LLM__OPTIONS": "{ttft: 0.2, reply: 'Here is a short answer to that.'}",
    "VOXPLUG_TTS__OPTIONS": "{ttfb: 0.1, realtime: true}",
    "VOXPLUG_AGENT__TOOLS": "[]",
}


@dataclass
class RoomResult:
    latencies: list[float] = field(default_factory=list)
    failed: int = 0


async def converse(server: LiveKitServer, room: str, speech: list, turns: int) -> RoomResult:  # type: ignore[type-arg]
    result = RoomResult()
    async with RoomCaller(server.settings, room=room) as caller:
        await dispatch_agent(server.settings, room=room, agent_name=AGENT)
        await asyncio.wait_for(caller.agent_joined.wait(), 120)
        await caller.wait_for_agent_speech(time.monotonic() - 5, timeout=60)  # the greeting
        for index in range(turns):
            pcm, rate = speech[index % len(speech)]
            ended = await caller.speak(pcm, rate)
            await caller.silence(0.3)
            started = await caller.wait_for_agent_speech(ended, quiet=0.8, timeout=30)
            if started is None:
                result.failed += 1
            else:
                result.latencies.append(started - ended)
            await caller.silence(0.5)
    return result


def tree_usage(pid: int) -> tuple[float, int]:
    """CPU seconds and RSS bytes of a process and its children (the worker's job processes)."""
    root = psutil.Process(pid)
    cpu, rss = 0.0, 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            cpu += times.user + times.system
            rss += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return cpu, rss


async def run_size(server: LiveKitServer, worker_pid: int, size: int, speech: list, turns: int) -> dict:  # type: ignore[type-arg]
    cpu0, _ = tree_usage(worker_pid)
    _, idle_rss = tree_usage(worker_pid)
    me = psutil.Process()
    callers0 = sum(me.cpu_times()[:2])
    wall0 = time.monotonic()
    peak_rss = 0

    async def sample() -> None:
        nonlocal peak_rss
        while True:
            peak_rss = max(peak_rss, tree_usage(worker_pid)[1])
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())
    rooms = await asyncio.gather(
        *(converse(server, f"bench-{size}-{i}-{time.time_ns()}", speech, turns) for i in range(size)),
        return_exceptions=True,
    )
    sampler.cancel()
    wall = time.monotonic() - wall0
    cpu1, _ = tree_usage(worker_pid)
    callers_cpu = (sum(me.cpu_times()[:2]) - callers0) / wall
    latencies = [v for r in rooms if isinstance(r, RoomResult) for v in r.latencies]
    failed = sum(r.failed if isinstance(r, RoomResult) else turns for r in rooms)
    return {
        "size": size,
        "turns": len(latencies),
        "failed": failed,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "cpu_cores": (cpu1 - cpu0) / wall,
        # the load generator: N WebRTC callers in this one Python process
        "callers_cpu": callers_cpu,
        "rss_per_session_mb": max(peak_rss - idle_rss, 0) / size / 2**20,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,2,4,8,16")
    parser.add_argument("--turns", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        speech = []
        for i, text in enumerate(UTTERANCES):
            wav = work / f"u{i}.wav"
            subprocess.run(["espeak-ng", "-w", str(wav), text], check=True)
            speech.append(load_wav(wav))
        with run_livekit_server(work) as server:
            env = {**server.env, **PROVIDER_ENV, "VOXPLUG_WORKER__AGENT_NAME": AGENT,
                   "VOXPLUG_WORKER__NUM_IDLE_PROCESSES": str(max(sizes)), "VOXPLUG_WORKER__MAX_SESSIONS": "0",
                   "VOXPLUG_WORKER__LOAD_THRESHOLD": "inf"}
            worker = await asyncio.to_thread(start_worker, work, env, name="bench-worker", timeout=300)
            await asyncio.sleep(5 + max(sizes) * 0.5)  # let the idle job processes finish prewarm
            rows: list[dict] = []  # type: ignore[type-arg]
            try:
                for size in sizes:
                    row = await run_size(server, worker.process.pid, size, speech, args.turns)
                    rows.append(row)
                    print(f"N={size:>3}  turns={row['turns']:>3}  failed={row['failed']}  "
                          f"p50={ms(row['p50'])} ms  p95={ms(row['p95'])} ms  cpu={row['cpu_cores']:.2f} cores  "
                          f"rss/session={row['rss_per_session_mb']:.0f} MB  callers cpu={row['callers_cpu']:.2f}",
                          flush=True)
                    base = rows[0]["p95"] or 0.0
                    if row["failed"] or (row["p95"] or 0.0) > base + 0.5:
                        break  # latency has degraded: larger N would only say so louder
            finally:
                await asyncio.to_thread(worker.stop)

    base_p95 = rows[0]["p95"] or 0.0
    table = [["rooms N", "turns", "failed", "V2V p50 ms", "V2V p95 ms", "p95 vs N=1 ms",
              "worker CPU cores", "CPU per session", "RSS per session MB", "callers' CPU cores"]]
    for r in rows:
        table.append([
            str(r["size"]), str(r["turns"]), str(r["failed"]), ms(r["p50"]), ms(r["p95"]),
            f"{((r['p95'] or 0.0) - base_p95) * 1000:+.0f}", f"{r['cpu_cores']:.2f}",
            f"{r['cpu_cores'] / r['size']:.3f}", f"{r['rss_per_session_mb']:.0f}", f"{r['callers_cpu']:.2f}",
        ])
    print(markdown_table(table))
    write_section("p4", f"""## P4 - scale through a real LiveKit server

`python benchmarks/p4_livekit_scale.py --sizes {args.sizes} --turns {args.turns}`: one `voxplug start`
worker registered with a local LiveKit server (v1.13.5); N rooms at once, each with a WebRTC caller
(livekit rtc SDK) speaking {args.turns} espeak-ng utterances in real time and waiting for each reply.
Providers: fixed-latency test providers (STT 100 ms, LLM first token 200 ms, TTS first byte 100 ms;
sum {PROVIDERS_SUM * 1000:.0f} ms), real Silero VAD, VAD turn detection. Voice-to-voice is measured at the
caller (first loud agent audio frame minus the end of the caller's speech), so it includes WebRTC both
ways, the server, the VAD's end-of-speech lag and the 0.5 s endpointing delay. The server, the callers
and the worker share the same cores; "worker CPU" counts the worker and its job processes only,
"callers' CPU" the load generator (all N WebRTC callers run in one Python process).
A failed turn is one with no loud agent audio within 30 s of the caller's speech; the run stops at the
first N with a failed turn or p95 more than 0.5 s above N=1.

{markdown_table(table)}

Environment: {environment()}.
""")


if __name__ == "__main__":
    asyncio.run(main())
