"""The ``voxplug`` command line.

Every user-facing failure is one line on stderr and exit code 2 (bad input) or 1 (runtime
failure); tracebacks are for bugs only, and even those print one line (see ``contract``).
"""

from __future__ import annotations

import os

# onnxruntime (Silero VAD, the end-of-turn model) phones home unless told not to; this must
# be set before it is first imported
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import argparse
import functools
from collections.abc import Sequence

from . import config, room, serve, sessions, simulate, sip, worker
from .contract import add_logging_options, log_settings, report, run, setup_logging

__all__ = ["build_parser", "main"]

COMMAND_GROUPS = (worker, config, simulate, room, sessions, sip, serve)


def _with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--config", metavar="PATH", help="YAML config file (default: ./voxplug.yaml)")
    return p


def _leaves(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [parser]
    return [leaf for action in subs for child in action.choices.values() for leaf in _leaves(child)]


@functools.cache  # argparse parsers are reusable; building one costs ~50 ms of gettext lookups
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voxplug", description=__doc__.splitlines()[0] if __doc__ else None)
    add_logging_options(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_commands(sub, _with_config)
    for leaf in _leaves(parser):
        if leaf is not parser:
            add_logging_options(leaf)  # after the command too: `voxplug config check --log-level debug`
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        level, fmt = log_settings(args)
    except Exception as exc:
        return report(exc)
    if args.command not in ("start", "dev"):  # the worker hands logging to LiveKit's runner
        setup_logging(level, fmt)
    return run(args.func, args)
