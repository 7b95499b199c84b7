"""The command line's contract: exit codes, one-line errors with secrets redacted, logging.

Every command runs through :func:`run`: a :class:`~voxplug.errors.VoxplugError` becomes one
line per problem on stderr and the error's exit code (2 bad input, 1 runtime failure); any
other exception is a bug and becomes one line too (the traceback is logged at debug level,
``--log-level debug`` shows it). Nothing printed carries a secret: configured keys, values of
credential environment variables and credential-shaped tokens are masked.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Literal, TypeAlias

from livekit.agents.cli.log import JsonFormatter

from ..errors import EXIT_RUNTIME, ConfigError, VoxplugError
from ..providers import ProviderFactory
from ..redaction import Redactor

if TYPE_CHECKING:
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subparsers: TypeAlias = argparse._SubParsersAction

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "Subparsers",
    "WithConfig",
    "add_logging_options",
    "log_settings",
    "remember_secrets",
    "report",
    "run",
    "setup_logging",
]

logger = logging.getLogger(__name__)

WithConfig: TypeAlias = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]
LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
HANDLER_NAME = "voxplug.cli"
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# credential variables that no provider declares but that the worker and the store read
OTHER_SECRET_ENV = ("LIVEKIT_API_SECRET", "DATABASE_URL", "BACKEND_SECRET")

_known_secrets: set[str] = set()
_redactors: list[Redactor] = []  # the current one, rebuilt when a secret is added


def remember_secrets(values: Iterable[str]) -> None:
    """Secrets a command has loaded (configured keys): masked in everything printed after."""
    _known_secrets.update(v for v in values if v)
    _redactors.clear()


def _redactor() -> Redactor:
    if not _redactors:
        env_names = {*ProviderFactory.secret_env_names(), *OTHER_SECRET_ENV}
        _redactors.append(Redactor(_known_secrets, env_names=env_names))
    return _redactors[0]


def add_logging_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("logging")
    group.add_argument(
        "--log-level", choices=LOG_LEVELS, default=argparse.SUPPRESS, type=str.lower,
        help="log level (default: info; $VOXPLUG_LOG_LEVEL)",
    )
    group.add_argument(
        "--log-format", choices=LOG_FORMATS, default=argparse.SUPPRESS,
        help="text lines, or JSON lines with LiveKit's log fields (default: text; $VOXPLUG_LOG_FORMAT)",
    )


def log_settings(args: argparse.Namespace) -> tuple[str, LogFormat]:
    """The level and format asked for: option, else environment, else info/text."""
    level = getattr(args, "log_level", None) or os.environ.get("VOXPLUG_LOG_LEVEL", "info").lower()
    default_format = getattr(args, "default_log_format", "text")
    fmt = getattr(args, "log_format", None) or os.environ.get("VOXPLUG_LOG_FORMAT", default_format).lower()
    if level not in LOG_LEVELS:
        raise ConfigError(f"VOXPLUG_LOG_LEVEL: {level[:20]!r} is not one of {', '.join(LOG_LEVELS)}")
    if fmt == "json":
        return level, "json"
    if fmt == "text":
        return level, "text"
    raise ConfigError(f"VOXPLUG_LOG_FORMAT: {fmt[:20]!r} is not one of {', '.join(LOG_FORMATS)}")


class _RedactingFilter(logging.Filter):
    """Masks secrets in each record's message (and traceback text) before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact = _redactor()
        record.msg = redact(record.getMessage())
        record.args = ()
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]  # typeshed: StreamHandler[TextIO]
    """Writes to whatever ``sys.stderr`` is at emit time (it is replaced under test capture)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def setup_logging(level: str, fmt: LogFormat) -> None:
    """Log to stderr (stdout stays for a command's output), secrets redacted."""
    handler = _StderrHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT, "%H:%M:%S"))
    handler.addFilter(_RedactingFilter())
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)  # ours from an earlier call (main() called twice in a process)
    root.addHandler(handler)
    root.setLevel(level.upper())


def report(exc: BaseException) -> int:
    """Print ``exc`` as one line per problem, redacted; the exit code for it."""
    redact = _redactor()
    if isinstance(exc, ConfigError):
        lines = exc.problems
    elif isinstance(exc, VoxplugError):
        lines = [str(exc)]
    else:
        logger.debug("unexpected error", exc_info=exc)
        lines = [f"unexpected {type(exc).__name__}: {exc} (run with --log-level debug for details)"]
    for line in lines:
        # one line each, whatever the message holds
        print(f"error: {redact(' '.join(str(line).split()))}", file=sys.stderr)
    return exc.exit_code if isinstance(exc, VoxplugError) else EXIT_RUNTIME


def run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return int(func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return report(exc)
