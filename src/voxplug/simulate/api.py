"""``simulate()``: prepare the user's audio once, run N conversations at once, report."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..config.models import VoxplugConfig
from ..core.session import load_session_models
from ..local import preload_local_models
from ..telemetry import setup_telemetry
from ..telemetry.summary import summary_from_reader
from .report import SimulationReport
from .runner import TurnResult, run_conversation
from .script import Turn
from .voice import VoiceEngine, prepare_turn_audio

__all__ = ["simulate"]


async def simulate(
    config: VoxplugConfig,
    turns: Sequence[Turn],
    *,
    concurrency: int = 1,
    out_dir: str | Path | None = None,
    voice: VoiceEngine = "auto",
    turn_timeout: float = 20.0,
    on_turn: Callable[[TurnResult], None] | None = None,
) -> SimulationReport:
    """Run ``concurrency`` independent sessions of the same script in this event loop.

    Bad input (missing or silent audio, no voice for ``say``) raises a
    :class:`~voxplug.errors.VoxplugError` before any session starts; failing turns are
    reported, not raised.
    """
    audio = await prepare_turn_audio(turns, voice)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    # VAD, end-of-turn model and local models are loaded once and shared, as a worker's prewarm does
    models = await asyncio.to_thread(load_session_models, config.session)
    await asyncio.to_thread(preload_local_models, config)
    # the same instruments the worker exports, read back for the dashboard's figures
    telemetry = setup_telemetry(config.telemetry, role="standalone") if config.telemetry.enabled else None
    prices = config.pricing.table()
    started = time.monotonic()
    sessions = await asyncio.gather(
        *(
            run_conversation(
                config, turns, audio, index=i + 1, models=models, out_dir=out,
                turn_timeout=turn_timeout, on_turn=on_turn,
                observers=telemetry.observers(prices) if telemetry else (),  # fresh ones per session
            )
            for i in range(concurrency)
        )
    )
    wall = time.monotonic() - started
    metrics = summary_from_reader(telemetry.reader, elapsed=wall) if telemetry and telemetry.reader else None
    first = sessions[0]
    return SimulationReport(
        sessions=list(sessions),
        stages={"stt": first.stt, "llm": first.llm, "tts": first.tts},
        wall_seconds=wall,
        metrics=metrics,
    )
