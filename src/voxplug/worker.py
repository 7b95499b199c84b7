"""Production mode: a LiveKit worker (``AgentServer``) that runs one session per job.

Scale-out is more workers, on more machines, registered with the same LiveKit server: the
server dispatches jobs and each worker reports its load. There is no dispatcher here.

Jobs run in a process each (``worker.executor: process``, LiveKit's default) or as threads
of the worker process (``thread``); in thread mode the prewarm below runs once per process
and every session shares its config and models (VAD, end-of-turn, local models).
"""

from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

from livekit.agents import AgentServer, JobContext, JobExecutorType, JobProcess, room_io
from livekit.agents.worker import _DefaultLoadCalc
from sqlalchemy.engine import make_url

from .config.models import VoxplugConfig
from .core.agents import build_agent, check_agents
from .core.observers import LoggingObserver, ObserverHub, SessionObserver
from .core.overrides import overrides_from_metadata
from .core.session import SessionModels, attach_observers, build_session, load_session_models, session_info
from .core.telephony import PhoneCall
from .core.turn_publisher import TurnPublisher
from .errors import ConfigError
from .local import preload_local_models
from .persistence import ConversationStore
from .persistence.database import Database
from .persistence.runtime import close_all_runtimes
from .providers import ProviderFactory, load_config, require_plugin
from .redaction import safe_repr
from .telemetry import setup_telemetry
from .telephony.calls import connect_participant

__all__ = [
    "EXECUTORS",
    "WorkerLoad",
    "build_server",
    "entrypoint",
    "job_config",
    "prewarm",
    "room_options",
    "session_observers",
]

logger = logging.getLogger(__name__)

EXECUTORS: dict[str, JobExecutorType] = {"process": JobExecutorType.PROCESS, "thread": JobExecutorType.THREAD}


@dataclass(frozen=True)
class _Prewarmed:
    config: VoxplugConfig
    models: SessionModels


_prewarmed: _Prewarmed | None = None
_prewarm_lock = threading.Lock()


def prewarm(proc: JobProcess) -> None:
    """Runs for each pooled job process (or job thread): the config and the shared models."""
    shared = _prewarm_once()
    proc.userdata["config"] = shared.config
    proc.userdata["models"] = shared.models


def _prewarm_once(config: VoxplugConfig | None = None) -> _Prewarmed:
    """Validate the config and load the models once per process; job threads share them."""
    global _prewarmed
    with _prewarm_lock:
        if _prewarmed is not None:
            return _prewarmed
        config = config or load_config()
        # first, before anything records: this process's meter/tracer providers and snapshots
        setup_telemetry(config.telemetry, role="job")
        models = load_session_models(config.session)
        # importing a vendor SDK takes up to a second: do it here, not on a call's event loop
        for stage, section in config.stage_configs():
            module = ProviderFactory.spec(stage, section.provider).module
            if module:
                importlib.import_module(module)
        _preload_store(config)
        preload_local_models(config)
        _prewarmed = _Prewarmed(config, models)
        return _prewarmed


def _preload_store(config: VoxplugConfig) -> None:
    """Load what the conversation store's first write needs, off the call's event loop: the
    database driver and, when the store migrates itself, the parsed migration scripts.
    Alembic itself (with Mako and Pygments, ~280 ms that LiveKit's loop monitor flagged on the
    first job's loop) is imported with this module, at the top of ``persistence.database``."""
    section = config.persistence.with_env()
    if not section.enabled:
        return
    make_url(section.url()).get_dialect().import_dbapi()
    if section.should_migrate():
        Database.head_revision()  # imports alembic and parses the migration scripts


def session_observers(config: VoxplugConfig) -> list[SessionObserver]:
    """The observers each session gets: logs, metrics and traces, the conversation store."""
    observers: list[SessionObserver] = [LoggingObserver()]
    if config.telemetry.enabled:
        observers += setup_telemetry(config.telemetry, role="job").observers(config.pricing.table())
    store = ConversationStore.from_config(config)  # None when persistence is disabled
    if store is not None:
        observers.append(store)
    return observers


def room_options(config: VoxplugConfig) -> room_io.RoomOptions:
    if not config.session.noise_cancellation:
        return room_io.RoomOptions()
    # LiveKit's enhanced noise cancellation model; it runs only against LiveKit Cloud
    nc = require_plugin("livekit.plugins.noise_cancellation", extra="noise-cancellation")
    return room_io.RoomOptions(audio_input=room_io.AudioInputOptions(noise_cancellation=nc.BVC()))


def job_config(config: VoxplugConfig, room: str, *metadata: str | None) -> VoxplugConfig:
    """The operator's config with the room's and the dispatch's allowed overrides; never raises."""
    updated, refused = overrides_from_metadata(config, *metadata)
    for reason in refused:
        logger.warning("room %s: metadata override refused: %s", safe_repr(room), reason)
    return updated


async def close_observers(hub: ObserverHub) -> None:
    """A job's end: its observers first, then the persistence runtimes the store writes through.

    One callback, in this order: LiveKit runs a job's shutdown callbacks concurrently, and with
    the two registered apart the runtime closed its outbox while the store was still flushing
    (P4, 8 calls at once on SQLite: "cannot schedule new futures after shutdown" as a batch in
    flight was being parked, so that batch was lost).
    """
    await hub.aclose()
    await close_all_runtimes()


async def entrypoint(ctx: JobContext) -> None:
    config: VoxplugConfig = ctx.proc.userdata.get("config") or load_config()
    models: SessionModels | None = ctx.proc.userdata.get("models")
    await ctx.connect()
    config = job_config(config, ctx.room.name, ctx.room.metadata, ctx.job.metadata)
    session = build_session(config, models=models)
    # the caller first (an outbound call is dialled here): the session is about this person
    setup = await connect_participant(ctx, config.telephony)
    identity = setup.participant.identity if setup.participant else None
    info = session_info(config, session, room=ctx.room.name, participant=identity)
    # each turn's latencies go to the room too: the browser page shows them (voxplug serve)
    observers = [*session_observers(config), TurnPublisher(ctx.room.local_participant)]
    hub = attach_observers(session, info, observers)

    async def close() -> None:  # the framework reads the callback's __code__: no partial
        await close_observers(hub)

    ctx.add_shutdown_callback(close)
    if setup.participant is None:
        hub.update_attributes({"call.end_reason": setup.failure or "failed", "call.detail": setup.detail})
        ctx.shutdown(reason=f"outbound call not answered: {setup.detail}")
        return
    call = PhoneCall.for_session(session, ctx.room, setup.call, config.telephony, hub) if setup.call else None
    options = room_options(config)
    options.participant_identity = setup.participant.identity
    await session.start(agent=build_agent(config, call=call), room=ctx.room, room_options=options)
    if call is not None:
        ctx.add_shutdown_callback(call.aclose)
        await call.started(config.agent_config(config.start_agent_name).greeting)


class WorkerLoad:
    """The load a worker reports: the larger of CPU use and the share of its session cap in use.

    CPU alone reacts late (a new call costs little until it speaks) and counts every other
    process on the machine; a session cap from the capacity benchmark bounds latency directly.
    """

    def __init__(self, *, max_sessions: int, cpu_load: bool) -> None:
        self.max_sessions = max_sessions
        self.cpu_load = cpu_load

    def __call__(self, server: AgentServer) -> float:
        # the framework's own CPU measure (a moving average over 2.5 s)
        cpu = _DefaultLoadCalc.get_load(server) if self.cpu_load else 0.0
        sessions = len(server.active_jobs) / self.max_sessions if self.max_sessions else 0.0
        return min(max(cpu, sessions), 1.0)


# the most calls at once that job threads were measured to carry: with 8 (benchmarks/
# p4_livekit_scale.py --executors thread --sizes 8) every thread of the worker waited for the
# GIL, one of them inside livekit-local-inference's VAD predict, and no turn was answered; with
# 16 most rooms did not connect within the framework's 10 s
THREAD_SESSIONS_TESTED = 4


def build_server(config: VoxplugConfig) -> AgentServer:
    problems = check_agents(config)  # a bad tool or agent fails the start, not each call
    if problems:
        raise ConfigError(*problems)
    w = config.worker
    threads = w.executor == "thread"
    if config.telemetry.enabled:
        # the main process serves /metrics for all jobs; job processes leave snapshots in a
        # directory, job threads record into this process's own meter provider
        setup_telemetry(config.telemetry, role="worker", snapshots=not threads)
    if threads:
        # LiveKit plugins register on the main thread only, so a job thread cannot import a
        # vendor SDK: the one prewarm runs here, and the job threads reuse what it loaded
        _prewarm_once(config)
        if w.job_memory_limit_mb:
            logger.warning("worker.job_memory_limit_mb applies to job processes only; ignored with executor: thread")
        if not 0 < w.max_sessions <= THREAD_SESSIONS_TESTED:
            logger.warning(
                "executor: thread with worker.max_sessions %s: job threads hung with 8 calls at once in the "
                "load benchmark (clean up to %d; docs/deployment.md); set worker.max_sessions <= %d or use "
                "executor: process", w.max_sessions or "0 (no cap)", THREAD_SESSIONS_TESTED, THREAD_SESSIONS_TESTED,
            )
    # unset = the framework's own default (one idle process per core in production)
    pool: dict[str, Any] = {} if w.num_idle_processes is None else {"num_idle_processes": w.num_idle_processes}
    server = AgentServer(
        job_executor_type=EXECUTORS[w.executor],
        setup_fnc=prewarm,
        load_fnc=WorkerLoad(max_sessions=w.max_sessions, cpu_load=w.cpu_load),
        load_threshold=w.load_threshold,
        job_memory_limit_mb=w.job_memory_limit_mb,
        drain_timeout=w.drain_timeout,
        initialize_process_timeout=w.initialize_process_timeout,
        port=w.health_port,
        **pool,
    )
    server.rtc_session(entrypoint, agent_name=w.agent_name)
    return server
