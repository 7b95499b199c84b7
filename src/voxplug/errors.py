"""User-facing errors: each carries one line that names the field and the fix."""

from __future__ import annotations

__all__ = ["ConfigError", "MissingExtraError", "VoxplugError"]


class VoxplugError(Exception):
    """Base class; the CLI prints ``str(exc)`` as one line, never a traceback."""


class ConfigError(VoxplugError):
    """The configuration is invalid. ``problems`` holds one line per problem."""

    def __init__(self, *problems: str) -> None:
        self.problems: list[str] = list(problems)
        super().__init__("; ".join(problems))


class MissingExtraError(VoxplugError):
    """A provider's optional dependency is not installed; the message gives the pip command."""

