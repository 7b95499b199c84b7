"""``voxplug simulate`` and ``voxplug console`` subcommands.

The main parser calls :func:`add_simulate_commands` with its subparsers object and its
``with_config`` helper.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError, VoxplugError

__all__ = ["add_simulate_commands", "cmd_console", "cmd_simulate"]

EXIT_OK, EXIT_TURN_FAILED = 0, 1
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


def cmd_simulate(args: argparse.Namespace) -> int:
    from ..config.loader import load_config
    from .api import simulate
    from .script import load_inputs

    config = load_config(args.config)
    if config.session.vad == "none" and config.session.turn_detection in ("vad", "local"):
        raise ConfigError(
            f"session.vad: 'none' cannot detect the end of spoken turns with turn_detection "
            f"{config.session.turn_detection!r}; set session.vad: silero to simulate"
        )
    turns = load_inputs(args.inputs)
    if args.json:
        parent = Path(args.json).expanduser().resolve().parent
        if not parent.is_dir():
            raise VoxplugError(f"--json: folder {str(parent)!r} does not exist")
    if args.out:
        out = Path(args.out).expanduser()
        if out.exists() and not out.is_dir():
            raise VoxplugError(f"--out: {str(out)!r} exists and is not a folder")
    report = asyncio.run(
        simulate(
            config, turns, concurrency=args.concurrency, out_dir=args.out, voice=args.voice,
            turn_timeout=args.turn_timeout,
        )
    )
    report.print_table(sys.stdout)
    if args.json:
        report.write_json(Path(args.json).expanduser())
    return EXIT_OK if report.ok else EXIT_TURN_FAILED


def cmd_console(args: argparse.Namespace) -> int:
    from ..config.loader import load_config
    from .console import run_console

    config = load_config(args.config)
    return asyncio.run(run_console(config, speak=args.speak))


def add_simulate_commands(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
) -> None:
    """Add ``simulate`` and ``console`` to the ``voxplug`` command line."""
    p = with_config(
        sub.add_parser(
            "simulate",
            help="run scripted voice conversations through the agent, no server needed",
            description=(
                "Play user utterances into the real AgentSession in real time (20 ms frames), record "
                "the agent's audio and print per-turn latencies with p50/p95. Exit code 1 if a turn fails."
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
