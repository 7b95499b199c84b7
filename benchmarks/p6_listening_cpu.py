"""P6 - the CPU of a call that is only listening: N callers in N rooms, one worker, silence.

What a call costs before anyone speaks: the caller's audio arrives at 100 frames/s through
the rtc SDK, LiveKit's input stream and gain control, the resampler and Silero VAD, on each
job's event loop. Providers are P4's fixed test providers, so nothing else runs. After the
greetings are over, the CPU (user + system, from /proc) of the worker's whole process tree
is read over ``--seconds`` and divided by the number of calls, per executor
(``worker.executor``).

    python benchmarks/p6_listening_cpu.py [--calls 4] [--seconds 30] [--executors process,thread] [--no-doc]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from pathlib import Path

from _common import environment, markdown_table, write_section
from p4_livekit_scale import PROVIDER_ENV, cpu_seconds, tree

from voxplug.room import RoomCaller, dispatch_agent
from voxplug.room.devserver import run_livekit_server, start_worker

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

AGENT = "p6-listening"
BASE_ENV = {
    **PROVIDER_ENV,  # P4's fixed providers
    "VOXPLUG_CALL__SILENCE_TIMEOUT": "0", "VOXPLUG_WORKER__AGENT_NAME": AGENT,
    "VOXPLUG_WORKER__NUM_IDLE_PROCESSES": "1", "VOXPLUG_PERSISTENCE__ENABLED": "false",
}
EXECUTORS = ("process", "thread")


async def measure(work: Path, executor: str, calls: int, seconds: float) -> dict[str, float]:
    with run_livekit_server(work) as server:
        env = {**server.env, **BASE_ENV, "VOXPLUG_WORKER__EXECUTOR": executor}
        worker = await asyncio.to_thread(start_worker, work, env, name=f"p6-{executor}")
        try:
            async with contextlib.AsyncExitStack() as stack:
                callers = []
                for index in range(calls):
                    caller = await stack.enter_async_context(
                        RoomCaller(server.settings, room=f"p6-{executor}-{index}", identity=f"caller-{index}")
                    )
                    await dispatch_agent(server.settings, room=caller.room_name, agent_name=AGENT)
                    callers.append(caller)
                for caller in callers:
                    await asyncio.wait_for(caller.agent_joined.wait(), 60)
                await asyncio.sleep(8)  # the greetings are over, every call is listening
                procs = tree(worker.process.pid)
                before, began = cpu_seconds(procs), time.monotonic()
                await asyncio.sleep(seconds)
                after, wall = cpu_seconds(procs), time.monotonic() - began
                used = {pid: (after[pid] - before.get(pid, 0.0)) / wall for pid in after}
                return {
                    "per call": sum(used.values()) / calls,
                    "worker tree": sum(used.values()),
                    "busiest process": max(used.values(), default=0.0),
                    "load": os.getloadavg()[0],
                }
        finally:
            await asyncio.to_thread(worker.stop)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--executors", default=",".join(EXECUTORS))
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    executors = args.executors.split(",")
    unknown = set(executors) - set(EXECUTORS)
    if unknown:
        parser.error(f"unknown executor(s): {', '.join(sorted(unknown))}; known: {', '.join(EXECUTORS)}")
    rows = [["executor", "calls", "CPU per listening call (cores)", "worker tree", "busiest process", "load (1 min)"]]
    for executor in executors:
        with tempfile.TemporaryDirectory() as tmp:
            got = await measure(Path(tmp), executor, args.calls, args.seconds)
        print(f"{executor}: {got}", flush=True)
        rows.append([executor, str(args.calls), f"{got['per call']:.3f}", f"{got['worker tree']:.3f}",
                     f"{got['busiest process']:.3f}", f"{got['load']:.2f}"])
    table = markdown_table(rows)
    print(table)
    if not args.no_doc:
        command = f"python benchmarks/p6_listening_cpu.py --calls {args.calls} --seconds {args.seconds:g}"
        write_section("p6", f"""## P6: CPU of a listening call

`{command}`: {args.calls} silent callers, one worker (fixed providers, no store), the CPU of
the worker's whole process tree over {args.seconds:g} s once the greetings are over, divided by
the calls. A call costs this much before anyone says a word; everything a turn adds (STT, LLM,
TTS) comes on top, and so do the callers and the LiveKit server when they share the machine.
{environment()}.

{table}
""")


if __name__ == "__main__":
    asyncio.run(main())
