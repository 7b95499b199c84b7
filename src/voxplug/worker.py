"""Production mode: a LiveKit worker (``AgentServer``) that runs one session per job.

Scale-out is more workers, on more machines, registered with the same LiveKit server: the
server dispatches jobs and each worker reports its load. There is no dispatcher here.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from livekit.agents import AgentServer, JobContext, JobProcess, room_io
from livekit.agents.worker import _DefaultLoadCalc

from .config.loader import load_config
from .config.models import VoxplugConfig
from .core.agent import VoiceAssistantAgent
from .core.observers import LoggingObserver, SessionObserver
from .core.overrides import apply_overrides, parse_metadata
from .core.session import SessionModels, attach_observers, build_session, load_session_models, session_info
from .persistence.runtime import close_all_runtimes
from .providers.registry import ProviderFactory, require_plugin
from .telemetry import setup_telemetry

__all__ = ["WorkerLoad", "build_server", "entrypoint", "prewarm", "room_options", "session_observers"]

logger = logging.getLogger("voxplug.worker")


def prewarm(proc: JobProcess) -> None:
    """Runs once per pooled process: validate the config and load the shared models."""
    config = load_config()
    # first, before anything records: this process's meter/tracer providers and snapshots
    setup_telemetry(config.telemetry, role="job")
    proc.userdata["config"] = config
    proc.userdata["models"] = load_session_models(config.session)
    # importing a vendor SDK takes up to a second: do it here, not on a call's event loop
    for stage, section in config.stage_configs():
        module = ProviderFactory.spec(stage, section.provider).module
        if module:
            importlib.import_module(module)
    from .local import preload_local_models

    preload_local_models(config)


def session_observers(config: VoxplugConfig) -> list[SessionObserver]:
    """The observers each session gets: logs, metrics and traces, the conversation store."""
    from .persistence import ConversationStore

    observers: list[SessionObserver] = [LoggingObserver()]
    if config.telemetry.enabled:
        observers += setup_telemetry(config.telemetry, role="job").observers()
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


async def entrypoint(ctx: JobContext) -> None:
    config: VoxplugConfig = ctx.proc.userdata.get("config") or load_config()
    models: SessionModels | None = ctx.proc.userdata.get("models")
    await ctx.connect()
    overrides = parse_metadata(ctx.room.metadata, ctx.job.metadata)
    config, refused = apply_overrides(config, overrides)
    for reason in refused:
        logger.warning("room %s: override refused: %s", ctx.room.name, reason)
    session = build_session(config, models=models)
    info = session_info(config, session, room=ctx.room.name)
    hub = attach_observers(session, info, session_observers(config))
    ctx.add_shutdown_callback(hub.aclose)
    ctx.add_shutdown_callback(close_all_runtimes)
    await session.start(
        agent=VoiceAssistantAgent(config.agent), room=ctx.room, room_options=room_options(config)
    )


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


def build_server(config: VoxplugConfig) -> AgentServer:
    w = config.worker
    if config.telemetry.enabled:
        # the main process: snapshot directory for the job processes, /metrics for all of them
        setup_telemetry(config.telemetry, role="worker")
    # unset = the framework's own default (one idle process per core in production)
    pool: dict[str, Any] = {} if w.num_idle_processes is None else {"num_idle_processes": w.num_idle_processes}
    server = AgentServer(
        setup_fnc=prewarm,
        load_fnc=WorkerLoad(max_sessions=w.max_sessions, cpu_load=w.cpu_load),
        load_threshold=w.load_threshold,
        job_memory_limit_mb=w.job_memory_limit_mb,
        drain_timeout=w.drain_timeout,
        port=w.health_port,
        **pool,
    )
    server.rtc_session(entrypoint, agent_name=w.agent_name)
    return server
