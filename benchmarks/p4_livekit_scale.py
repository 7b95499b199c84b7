"""P4 - scale through a real LiveKit server: N concurrent rooms, one worker, per executor.

Each room has a WebRTC caller (livekit rtc SDK) that speaks a scripted conversation to a
``voxplug start`` worker; providers are the fixed-latency test providers (STT 100 ms, LLM
first token 200 ms, TTS first byte 100 ms) with real Silero VAD, so what grows with N is
the cost of the framework, WebRTC and the server. Voice-to-voice is measured at the caller:
first loud agent audio frame minus the end of the caller's speech.

The callers run in their own processes, ``--rooms-per-process`` rooms each (default 2):
many ``rtc.Room``s in one Python process is what lost turns in earlier versions of this
benchmark (see docs/benchmarks.md, P4). ``--rooms-per-process 0`` puts every caller in one
process again, to show it. Every turn counted as failed is checked against the worker's own
records (its conversation store and its log lines for that room) and reported as "the agent
never heard it", "heard, never answered" or "answered, the caller heard nothing".

Memory per call is PSS (proportional set size: shared pages split between the processes
that map them), summed over the worker's process tree: (PSS at N calls - PSS at 0 calls) / N.

    python benchmarks/p4_livekit_scale.py [--sizes 1,4,8,16] [--turns 3] [--executors process,thread]
                                          [--rooms-per-process 2] [--no-doc]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from _common import environment, markdown_table, ms, write_section

from voxplug.pcm import load_wav
from voxplug.room import LiveKitServer, LiveKitSettings, RoomCaller, dispatch_agent, run_livekit_server, start_worker
from voxplug.room.devserver import free_port
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
TURN_TIMEOUT = 30.0  # no loud agent audio this long after the caller's speech: a failed turn
P95_STOP = 0.5  # stop growing N once p95 is this far above N=1 (larger N only says it louder)


# -- the callers ---------------------------------------------------------------------------------
@dataclass
class TurnSeen:
    """One turn as its caller saw it (wall-clock times, to compare with the worker's records)."""

    room: str
    index: int
    spoke_at: float
    ended_at: float
    v2v: float | None  # None: no loud agent audio within TURN_TIMEOUT
    late: float  # how far behind real time the caller finished sending its speech (s)
    packets: int  # RTP packets the caller's WebRTC publisher sent for the utterance
    reconnected: bool = False  # the caller's SDK lost the server and reconnected during the turn


async def _packets_sent(caller: RoomCaller) -> int:
    stats = await caller.room.get_rtc_stats()
    return sum(s.outbound_rtp.sent.packets_sent for s in stats.publisher_stats if s.HasField("outbound_rtp"))


async def converse(settings: LiveKitSettings, room: str, speech: list[tuple[Any, int]], turns: int) -> list[TurnSeen]:
    seen: list[TurnSeen] = []
    async with RoomCaller(settings, room=room) as caller:
        await dispatch_agent(settings, room=room, agent_name=AGENT)
        await asyncio.wait_for(caller.agent_joined.wait(), 120)
        await caller.wait_for_agent_speech(time.monotonic() - 5, timeout=60)  # the greeting
        for index in range(turns):
            pcm, rate = speech[index % len(speech)]
            sent0 = await _packets_sent(caller)
            spoke_at, began = time.time(), time.monotonic()
            ended = await caller.speak(pcm, rate)
            ended_at = time.time()
            late = (ended - began) - len(pcm) / rate
            await caller.silence(0.3)
            packets = await _packets_sent(caller) - sent0
            started = await caller.wait_for_agent_speech(ended, quiet=0.8, timeout=TURN_TIMEOUT)
            reconnected = any(began - 1 <= at <= time.monotonic() for at in caller.reconnects)
            seen.append(TurnSeen(room, index, spoke_at, ended_at, None if started is None else started - ended,
                                 late, packets, reconnected))
            await caller.silence(0.5)
    return seen


async def _calls(settings: LiveKitSettings, slot: str, speech: list[tuple[Any, int]], turns: int,
                 until: float | None) -> list[TurnSeen]:
    """One call in room ``slot``; with ``until`` (wall clock), call after call (rooms ``slot-1``,
    ``slot-2``, ...) until then: the soak's steady load."""
    if until is None:
        return await converse(settings, slot, speech, turns)
    seen: list[TurnSeen] = []
    count = 0
    while time.time() < until:
        count += 1
        seen += await converse(settings, f"{slot}-{count}", speech, turns)
    return seen


def _count_ffi_events() -> dict[str, float]:
    """Count the events the rtc SDK's FFI callback hands to Python in this process, how many
    subscriber queues each is offered to (every room, audio stream and pending call subscribes),
    and the time the SDK's threads spend in that callback: they are the SDK's tokio runtime
    threads, which run nothing else (signalling, media) while they wait for Python."""
    from livekit.rtc._ffi_client import FfiClient

    queue = FfiClient.instance.queue
    counts = {"events": 0.0, "offered": 0.0, "busy": 0.0}
    put = queue.put

    def counting_put(item: Any) -> None:
        began = time.perf_counter()
        counts["events"] += 1
        counts["offered"] += len(queue._subscribers)
        put(item)
        counts["busy"] += time.perf_counter() - began

    queue.put = counting_put  # type: ignore[method-assign]
    return counts


async def _loop_lag(worst: list[float]) -> None:
    """How late this process's event loop wakes up for a 20 ms sleep (the caller's frame pace)."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(0.02)
        worst[0] = max(worst[0], time.monotonic() - before - 0.02)


async def _shard(spec: dict[str, Any]) -> None:
    """A caller process: its rooms at once; prints its turns and its own costs as JSON."""
    settings = LiveKitSettings.from_env(spec["env"])
    speech = [load_wav(p) for p in spec["speech"]]
    ffi = _count_ffi_events()
    lag = [0.0]
    lag_task = asyncio.create_task(_loop_lag(lag))
    began = time.monotonic()
    results = await asyncio.gather(
        *(_calls(settings, r, speech, spec["turns"], spec.get("until")) for r in spec["rooms"]),
        return_exceptions=True,
    )
    lag_task.cancel()
    wall = time.monotonic() - began
    turns = [asdict(t) for r in results if isinstance(r, list) for t in r]
    errors = {room: repr(r) for room, r in zip(spec["rooms"], results, strict=True) if isinstance(r, BaseException)}
    print(json.dumps({"turns": turns, "errors": errors, "cpu": time.process_time(), "wall": wall,
                      "ffi_events": ffi["events"], "ffi_offered": ffi["offered"], "ffi_busy": ffi["busy"],
                      "loop_lag": lag[0]}), flush=True)


@dataclass
class CallerProcess:
    rooms: list[str]
    process: asyncio.subprocess.Process


async def start_callers(server: LiveKitServer, rooms: list[str], speech: list[Path], turns: int,
                        per_process: int, until: float | None = None) -> list[CallerProcess]:
    """Caller processes with ``per_process`` rooms each (0: all rooms in one process)."""
    size = per_process or len(rooms)
    shards = [rooms[i:i + size] for i in range(0, len(rooms), size)]
    started = []
    for shard in shards:
        spec = {"env": server.env, "rooms": shard, "speech": [str(p) for p in speech], "turns": turns,
                "until": until}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--shard", json.dumps(spec),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        started.append(CallerProcess(shard, proc))
    return started


@dataclass
class CallerCosts:
    """What the caller processes cost: CPU seconds, and per process the FFI event rate and the
    worst event-loop lag (the load generator's own health)."""

    cpu: float = 0.0
    events_per_s: list[float] = field(default_factory=list)
    offered_per_s: list[float] = field(default_factory=list)
    callback_busy: list[float] = field(default_factory=list)  # SDK thread-seconds in the callback per second
    loop_lag: list[float] = field(default_factory=list)


async def collect(callers: list[CallerProcess]) -> tuple[list[TurnSeen], dict[str, str], CallerCosts]:
    turns: list[TurnSeen] = []
    errors: dict[str, str] = {}
    costs = CallerCosts()
    for caller in callers:
        out, _ = await caller.process.communicate()
        try:
            data = json.loads(out.decode().strip().splitlines()[-1])
        except (IndexError, ValueError):
            errors |= {room: f"caller process exited {caller.process.returncode}" for room in caller.rooms}
            continue
        turns += [TurnSeen(**t) for t in data["turns"]]
        errors |= data["errors"]
        costs.cpu += data["cpu"]
        costs.events_per_s.append(data["ffi_events"] / data["wall"])
        costs.offered_per_s.append(data["ffi_offered"] / data["wall"])
        costs.callback_busy.append(data["ffi_busy"] / data["wall"])
        costs.loop_lag.append(data["loop_lag"])
    return turns, errors, costs


# -- the worker's own records ------------------------------------------------------------------------
def store_turns(db: Path, rooms: set[str]) -> dict[str, list[tuple[str, float]]]:
    """(role, time) of every turn the worker stored, by room (the store writes UTC datetimes)."""
    found: dict[str, list[tuple[str, float]]] = {r: [] for r in rooms}
    if not db.exists():
        return found
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select s.room, t.role, coalesce(t.started_speaking_at, t.created_at) "
            "from turns t join sessions s on s.id = t.session_id"
        ).fetchall()
    for room, role, at in rows:
        if room in found:
            found[room].append((role, datetime.fromisoformat(at).replace(tzinfo=UTC).timestamp()))
    return found


def worker_metric(metrics_port: int, name: str) -> float:
    """A sample summed over labels from the worker's own /metrics endpoint (``voxplug_turns_total``:
    turns completed, greetings and replies; ``voxplug_sessions_active``)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    except OSError:
        return math.nan
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name)


def log_lines(log: Path, room: str) -> list[str]:
    """The worker's warnings and errors for ``room`` (its job process logs carry the room)."""
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        if f'"room": "{room}"' not in line or '"level": "INFO"' in line or '"level": "DEBUG"' in line:
            continue
        try:
            lines.append(json.loads(line)["message"][:160])
        except (ValueError, KeyError):
            lines.append(line[:160])
    return lines


def logged_turns(log: Path, rooms: set[str]) -> dict[str, list[float]]:
    """When the user began each turn the worker completed, by room, from its log: every job's
    ``turn N`` line (voxplug's LoggingObserver) carries the room and the turn's timings."""
    found: dict[str, list[float]] = {r: [] for r in rooms}
    for line in log.read_text(errors="replace").splitlines():
        if '"turn_completed"' not in line:
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        started = (data.get("voxplug") or {}).get("user_started_speaking_at")
        if data.get("room") in found and started is not None:
            found[data["room"]].append(float(started))
    return found


def verdict(turn: TurnSeen, stored: list[tuple[str, float]], logged: list[float]) -> str:
    """What the worker's own records say about a turn the caller counted as failed: its log
    (a ``turn`` line per completed reply, with when the user began) and its conversation store."""
    window = (turn.spoke_at - 0.5, turn.ended_at + TURN_TIMEOUT)
    in_window = [at for at in logged if window[0] <= at <= window[1]]
    heard = [at for role, at in stored if role == "user" and window[0] <= at <= window[1]]
    if in_window:
        return "answered (worker log), the caller heard nothing" + ("" if heard else "; the store has no row for it")
    if heard:
        return "heard (store), never answered"
    return "the agent never heard it (no turn in the worker's log or store)"


# -- the worker's processes ------------------------------------------------------------------------
def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def tree_memory(pid: int) -> tuple[int, int, int]:
    """Summed PSS, USS (bytes) and the number of processes of the worker's tree."""
    pss = uss = count = 0
    for proc in tree(pid):
        try:
            info = proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        pss, uss, count = pss + info.pss, uss + info.uss, count + 1
    return pss, uss, count


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    out = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
            out[proc.pid] = times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return out


async def settle(pid: int, timeout: float = 120) -> tuple[int, int, int]:
    """Worker memory once its process count has been stable for 5 s (the idle pool refilled)."""
    deadline = time.monotonic() + timeout
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        memory = tree_memory(pid)
        if memory[2] != last:
            last, stable_since = memory[2], time.monotonic()
        elif time.monotonic() - stable_since > 5:
            return memory
        await asyncio.sleep(1)
    return tree_memory(pid)


# -- one level -------------------------------------------------------------------------------------------
@dataclass
class Level:
    executor: str
    size: int
    load: tuple[float, float, float]
    latencies: list[float] = field(default_factory=list)
    failed: list[tuple[TurnSeen, str, list[str]]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # cores, by role
    pss_per_call: float = 0.0
    uss_per_call: float = 0.0
    late_max: float = 0.0
    packets_min: int = 0
    reconnected_turns: int = 0
    worker_turns: float = 0.0  # greetings and replies the worker's /metrics counted in the level
    costs: CallerCosts = field(default_factory=CallerCosts)

    @property
    def turns(self) -> int:
        return len(self.latencies) + len(self.failed)


async def run_level(server: LiveKitServer, worker_pid: int, worker_log: Path, db: Path, metrics_port: int,
                    executor: str, size: int, speech: list[Path], turns: int, per_process: int) -> Level:
    idle_pss, idle_uss, _ = await settle(worker_pid)
    turns0 = worker_metric(metrics_port, "voxplug_turns_total")
    rooms = [f"p4-{executor}-{size}-{i}-{time.time_ns() % 10**8}" for i in range(size)]
    worker0 = cpu_seconds(tree(worker_pid))
    server0 = cpu_seconds([psutil.Process(server.process.pid)])
    machine0, wall0 = psutil.cpu_times(), time.monotonic()
    callers = await start_callers(server, rooms, speech, turns, per_process)
    samples: list[tuple[int, int]] = []
    peak_tree: list[psutil.Process] = []

    async def sample() -> None:
        await asyncio.sleep(15)  # past call start: every call joined, the idle pool refilled
        while True:
            pss, uss, _ = tree_memory(worker_pid)
            samples.append((pss, uss))
            peak_tree[:] = tree(worker_pid)
            await asyncio.sleep(2)

    sampler = asyncio.create_task(sample())
    seen, errors, costs = await collect(callers)
    sampler.cancel()
    wall = time.monotonic() - wall0
    machine1 = psutil.cpu_times()
    worker1 = cpu_seconds(tree(worker_pid) + peak_tree)
    server1 = cpu_seconds([psutil.Process(server.process.pid)])
    job_cpu = {pid: worker1[pid] - worker0.get(pid, 0.0) for pid in worker1 if pid != worker_pid}
    busy = (sum(machine1) - machine1.idle) - (sum(machine0) - machine0.idle)
    level = Level(executor, size, os.getloadavg(), errors=errors, costs=costs)
    level.cpu = {
        "worker main": (worker1.get(worker_pid, 0.0) - worker0.get(worker_pid, 0.0)) / wall,
        "job processes": sum(job_cpu.values()) / wall,
        "busiest job process": max(job_cpu.values(), default=0.0) / wall,
        "livekit-server": (server1[server.process.pid] - server0[server.process.pid]) / wall,
        "callers": costs.cpu / wall,
        "machine": busy / wall,
    }
    if samples:
        level.pss_per_call = max(statistics.median(s[0] for s in samples) - idle_pss, 0) / size
        level.uss_per_call = max(statistics.median(s[1] for s in samples) - idle_uss, 0) / size
    # the callers hung up: wait for the sessions to end (their last metrics, log lines, store rows)
    deadline = time.monotonic() + 60
    while worker_metric(metrics_port, "voxplug_sessions_active") > 0 and time.monotonic() < deadline:
        await asyncio.sleep(1)
    level.worker_turns = worker_metric(metrics_port, "voxplug_turns_total") - turns0
    stored = store_turns(db, set(rooms))
    logged = logged_turns(worker_log, set(rooms))
    for turn in seen:
        if turn.v2v is None:
            level.failed.append(
                (turn, verdict(turn, stored[turn.room], logged[turn.room]), log_lines(worker_log, turn.room)[-3:])
            )
        else:
            level.latencies.append(turn.v2v)
    missing = size * turns - len(seen)
    for room, error in errors.items():
        level.failed.append((TurnSeen(room, -1, 0, 0, None, 0, 0), f"caller error: {error}", []))
    level.failed += [(TurnSeen("?", -1, 0, 0, None, 0, 0), "not played", [])] * max(missing - len(errors) * turns, 0)
    level.late_max = max((t.late for t in seen), default=0.0)
    level.packets_min = min((t.packets for t in seen), default=0)
    level.reconnected_turns = sum(t.reconnected for t in seen)
    return level


def print_level(level: Level) -> None:
    cpu = "  ".join(f"{k}={v:.2f}" for k, v in level.cpu.items())
    print(f"[{level.executor}] N={level.size:>3} turns={level.turns:>3} failed={len(level.failed)} "
          f"p50={ms(percentile(level.latencies, 50))} ms p95={ms(percentile(level.latencies, 95))} ms "
          f"PSS/call={level.pss_per_call / 2**20:.0f} MB USS/call={level.uss_per_call / 2**20:.0f} MB  "
          f"cpu cores: {cpu}  load={_load(level.load)}", flush=True)
    c = level.costs
    print(f"    callers: {len(c.loop_lag)} processes, FFI events/s per process max "
          f"{max(c.events_per_s, default=0):.0f} "
          f"(offered to {max(c.offered_per_s, default=0):.0f} subscriber queues/s; the SDK's threads spent "
          f"{max(c.callback_busy, default=0):.2f} thread-s/s in the callback), event-loop lag max "
          f"{max(c.loop_lag, default=0) * 1000:.0f} ms, speech sent late max {level.late_max * 1000:.0f} ms, "
          f"turns with a caller reconnect {level.reconnected_turns}; the worker's /metrics counted "
          f"{level.worker_turns:.0f} agent turns (greetings and replies; {level.size + level.turns} expected)",
          flush=True)
    for turn, why, lines in level.failed:
        print(f"    failed: {turn.room} turn {turn.index} (packets sent {turn.packets}, sent {turn.late * 1000:.0f} ms "
              f"late{', caller reconnected' if turn.reconnected else ''}): {why}"
              + (f"; worker log: {lines}" if lines else ""), flush=True)


def _load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.1f}" for x in load)


async def run_executor(work: Path, executor: str, sizes: list[int], speech: list[Path], turns: int,
                       per_process: int) -> list[Level]:
    with run_livekit_server(work) as server:
        data = work / f"data-{executor}"
        metrics_port = free_port()
        env = {**server.env, **PROVIDER_ENV, "VOXPLUG_WORKER__AGENT_NAME": AGENT,
               "VOXPLUG_WORKER__EXECUTOR": executor,
               "VOXPLUG_WORKER__NUM_IDLE_PROCESSES": str(max(sizes)), "VOXPLUG_WORKER__MAX_SESSIONS": "0",
               "VOXPLUG_WORKER__LOAD_THRESHOLD": "inf", "VOXPLUG_PERSISTENCE__DATA_DIR": str(data),
               "VOXPLUG_TELEMETRY__PROMETHEUS_PORT": str(metrics_port), "VOXPLUG_TELEMETRY__SNAPSHOT_INTERVAL": "1"}
        worker = await asyncio.to_thread(start_worker, work, env, name=f"worker-{executor}", timeout=300)
        levels: list[Level] = []
        try:
            for size in sizes:
                level = await run_level(server, worker.process.pid, worker.log, data / "voxplug.db", metrics_port,
                                        executor, size, speech, turns, per_process)
                levels.append(level)
                print_level(level)
                base = percentile(levels[0].latencies, 95) or 0.0
                if level.failed or (percentile(level.latencies, 95) or 0.0) > base + P95_STOP:
                    break
        finally:
            await asyncio.to_thread(worker.stop)
    return levels


def table(levels: list[Level]) -> str:
    rows = [["executor", "rooms N", "turns", "failed", "V2V p50 ms", "V2V p95 ms", "p95 vs N=1 ms",
             "PSS per call MB", "USS per call MB", "worker CPU cores", "busiest job process", "server CPU",
             "callers CPU", "machine CPU", "load average"]]
    base: dict[str, float] = {}
    for lv in levels:
        p95 = percentile(lv.latencies, 95)
        base.setdefault(lv.executor, p95 or 0.0)
        delta = "-" if p95 is None else f"{(p95 - base[lv.executor]) * 1000:+.0f}"
        worker_cpu = lv.cpu["worker main"] + lv.cpu["job processes"]
        busiest = "-" if lv.executor == "thread" else f"{lv.cpu['busiest job process']:.2f}"
        rows.append([
            lv.executor, str(lv.size), str(lv.turns), str(len(lv.failed)), ms(percentile(lv.latencies, 50)),
            ms(p95), delta, f"{lv.pss_per_call / 2**20:.0f}", f"{lv.uss_per_call / 2**20:.0f}",
            f"{worker_cpu:.2f}", busiest, f"{lv.cpu['livekit-server']:.2f}", f"{lv.cpu['callers']:.2f}",
            f"{lv.cpu['machine']:.2f}", _load(lv.load),
        ])
    return markdown_table(rows)


@contextlib.contextmanager
def workdir(keep: Path | None) -> Iterator[Path]:
    """``keep`` (created, left in place) or a temporary directory removed afterwards."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


def utterance_wavs(work: Path) -> list[Path]:
    """The callers' questions, spoken by espeak-ng into ``work``."""
    speech = []
    for i, text in enumerate(UTTERANCES):
        wav = work / f"u{i}.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), text], check=True)
        speech.append(wav)
    return speech


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1,4,8,16")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--executors", default="process,thread")
    parser.add_argument("--rooms-per-process", type=int, default=2, help="callers per caller process; 0 = all in one")
    parser.add_argument("--no-doc", action="store_true", help="print only, leave docs/benchmarks.md alone")
    parser.add_argument("--workdir", type=Path, help="keep the worker's and the server's logs and the store here")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    load_before = os.getloadavg()
    levels: list[Level] = []
    with workdir(args.workdir) as work:
        speech = utterance_wavs(work)
        for executor in args.executors.split(","):
            levels += await run_executor(work, executor, sizes, speech, args.turns, args.rooms_per_process)
    body = table(levels)
    print(body)
    if args.no_doc:
        return
    layout = (f"{args.rooms_per_process} rooms per caller process" if args.rooms_per_process
              else "every caller in one process")
    failures = [f"- {lv.executor} N={lv.size}: {t.room} turn {t.index}: {why}"
                for lv in levels for t, why, _ in lv.failed]
    write_section("p4", f"""## P4 - scale through a real LiveKit server

`python benchmarks/p4_livekit_scale.py --sizes {args.sizes} --turns {args.turns} --executors {args.executors}
--rooms-per-process {args.rooms_per_process}`: one `voxplug start` worker registered with a local
LiveKit server (v1.13.5); N rooms at once, each with a WebRTC caller (livekit rtc SDK, {layout})
speaking {args.turns} espeak-ng utterances in real time and waiting for each reply. Providers:
fixed-latency test providers (STT 100 ms, LLM first token 200 ms, TTS first byte 100 ms; sum
{PROVIDERS_SUM * 1000:.0f} ms), real Silero VAD, VAD turn detection. Voice-to-voice is measured at the caller
(first loud agent audio frame minus the end of the caller's speech): WebRTC both ways, the server, the VAD's
end-of-speech lag and the 0.5 s endpointing delay. A failed turn has no loud agent audio within
{TURN_TIMEOUT:.0f} s; each one is checked against the worker's store and log (listed below the table). The
run of an executor stops at the first N with a failed turn or p95 more than {P95_STOP} s above N=1.

PSS per call = (summed PSS of the worker's process tree at N calls - at 0 calls) / N, the median of
samples taken every 2 s once the calls are up; process mode keeps an idle pool of max(N) prewarmed
processes at both points, so the difference is N busy job processes. CPU columns are cores (CPU seconds
over the level's wall time): the worker (main process plus job processes), its busiest job process, the
LiveKit server, the caller processes, and the whole machine (which other work shares).

{body}

{chr(10).join(failures) if failures else "No failed turns."}

Environment: {environment()}; load average {_load(load_before)} before the run.
""")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--shard":
        asyncio.run(_shard(json.loads(sys.argv[2])))
    else:
        asyncio.run(main())
