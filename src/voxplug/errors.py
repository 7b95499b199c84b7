"""User-facing errors: each carries one line that names the field and the fix.

Each class knows the command line's exit status for it: 2 for bad input (configuration,
arguments, input files: the user must change something), 1 for a runtime failure (a server
unreachable, a database error: retrying may work).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["EXIT_OK", "EXIT_RUNTIME", "EXIT_USAGE", "ConfigError", "MissingExtraError", "UsageError", "VoxplugError"]

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


class VoxplugError(Exception):
    """A runtime failure; the CLI prints ``str(exc)`` as one line, never a traceback."""

    exit_code: ClassVar[int] = EXIT_RUNTIME


class UsageError(VoxplugError):
    """Bad input: a command-line argument, an input file, a script."""

    exit_code: ClassVar[int] = EXIT_USAGE


class ConfigError(UsageError):
    """The configuration is invalid. ``problems`` holds one line per problem."""

    def __init__(self, *problems: str) -> None:
        self.problems: list[str] = list(problems)
        super().__init__("; ".join(problems))


class MissingExtraError(UsageError):
    """A provider's optional dependency is not installed; the message gives the pip command."""
