"""``voxplug simulate`` and ``voxplug console``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ..errors import EXIT_OK, EXIT_RUNTIME, ConfigError, UsageError
from ..providers import load_config
from ..room.client import LiveKitSettings
from ..simulate.api import simulate
from ..simulate.console import run_console
from ..simulate.report import SimulationReport
from ..simulate.room import simulate_room
from ..simulate.script import Turn, load_inputs
from .contract import Subparsers, WithConfig
from .room import parse_metadata_option

__all__ = ["add_commands", "cmd_console", "cmd_simulate"]

# a failed turn is a runtime failure: the agent did not answer as expected
EXIT_TURN_FAILED = EXIT_RUNTIME
MAX_CONCURRENCY = 512


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_CONCURRENCY}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _check_outputs(args: argparse.Namespace) -> None:
    if args.json:
        parent = Path(args.json).expanduser().resolve().parent
        if not parent.is_dir():
            raise UsageError(f"--json: folder {str(parent)!r} does not exist")
    if args.out:
        out = Path(args.out).expanduser()
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out: {str(out)!r} exists and is not a folder")


def _room_report(args: argparse.Namespace, turns: list[Turn]) -> SimulationReport:
    """Through a LiveKit room: the agent is whatever the server sends there, not this config."""
    metadata = parse_metadata_option(args.metadata)
    settings = LiveKitSettings.from_env()
    return asyncio.run(
        simulate_room(
            settings, turns, room=args.room or None, agent_name=args.agent_name, metadata=metadata,
            concurrency=args.concurrency, out_dir=args.out, voice=args.voice, turn_timeout=args.turn_timeout,
        )
    )


def _local_report(args: argparse.Namespace, turns: list[Turn]) -> SimulationReport:
    config = load_config(args.config)
    if config.session.vad == "none" and config.session.turn_detection in ("vad", "local"):
        raise ConfigError(
            f"session.vad: 'none' cannot detect the end of spoken turns with turn_detection "
            f"{config.session.turn_detection!r}; set session.vad: silero to simulate"
        )
    return asyncio.run(
        simulate(
            config, turns, concurrency=args.concurrency, out_dir=args.out, voice=args.voice,
            turn_timeout=args.turn_timeout,
        )
    )


def cmd_simulate(args: argparse.Namespace) -> int:
    room_mode = args.room is not None
    if not room_mode:
        for flag, value in (("--agent-name", args.agent_name), ("--metadata", args.metadata)):
            if value is not None:
                raise UsageError(f"simulate: {flag} needs --room (it applies to a LiveKit room)")
    turns = load_inputs(args.inputs)
    _check_outputs(args)
    report = _room_report(args, turns) if room_mode else _local_report(args, turns)
    report.print_table(sys.stdout)
    if report.metrics is not None:
        print("\n" + report.metrics.format())
    if args.json:
        report.write_json(Path(args.json).expanduser())
    return EXIT_OK if report.ok else EXIT_TURN_FAILED


def cmd_console(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    return asyncio.run(run_console(config, speak=args.speak))


def add_commands(sub: Subparsers, with_config: WithConfig) -> None:
    """Add ``simulate`` and ``console`` to the ``voxplug`` command line."""
    p = with_config(
        sub.add_parser(
            "simulate",
            help="run scripted voice conversations through the agent (in process, or --room via LiveKit)",
            description=(
                "Play user utterances into the real AgentSession in real time (20 ms frames), record "
                "the agent's audio and print per-turn latencies with p50/p95. With --room, talk instead to "
                "the agent a LiveKit server (LIVEKIT_URL/LIVEKIT_API_KEY/LIVEKIT_API_SECRET) sends to a room, "
                "e.g. a deployed worker. Exit code 1 if a turn fails."
            ),
        )
    )
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT",
        help="a YAML script (turns of 'say: text' or 'wav: file', optional 'pause', 'expect') or WAV files",
    )
    p.add_argument("--out", metavar="DIR", help="write the agent's audio of each turn as WAV files in DIR")
    p.add_argument("--json", metavar="PATH", help="also write turns and percentiles as JSON (seconds)")
    p.add_argument(
        "--concurrency", "-n", type=_positive_int, default=1, metavar="N",
        help="run N independent sessions at once (default 1)",
    )
    p.add_argument(
        "--voice", choices=("auto", "local", "espeak"), default="auto",
        help="how 'say' turns are spoken: the local TTS provider, espeak-ng, or auto (local if installed)",
    )
    p.add_argument(
        "--turn-timeout", type=_positive_float, default=20.0, metavar="SECONDS",
        help="fail a turn when the reply has not finished this long after the user stopped (default 20)",
    )
    room = p.add_argument_group("through a LiveKit room (LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET)")
    room.add_argument(
        "--room", nargs="?", const="", default=None, metavar="NAME",
        help="call the agent through room NAME (default: a random simulate-xxxx; NAME-1..NAME-N with -n N) "
        "instead of running it in this process; put it after the script",
    )
    room.add_argument(
        "--agent-name", metavar="NAME",
        help="dispatch this agent (the worker's worker.agent_name) to the room; without it the agent is "
        "expected to join every new room (automatic dispatch)",
    )
    room.add_argument(
        "--metadata", metavar="JSON",
        help='per-room overrides, e.g. \'{"tts.voice": "nova"}\': the dispatch\'s metadata, or the '
        "room's without --agent-name",
    )
    p.set_defaults(func=cmd_simulate)

    c = with_config(
        sub.add_parser(
            "console",
            help="chat with the agent in the terminal (typed text; no sound device needed)",
        )
    )
    c.add_argument(
        "--speak", action=argparse.BooleanOptionalAction, default=None,
        help="speak replies aloud (default: only if an output sound device exists)",
    )
    c.set_defaults(func=cmd_console)
