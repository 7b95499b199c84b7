"""Reading YAML files (the config, simulation scripts) with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import VoxplugError

__all__ = ["YamlFileError", "read_yaml_file"]


class YamlFileError(VoxplugError):
    """A YAML file cannot be read or parsed; ``line`` is " line N" when YAML knows it."""

    def __init__(self, path: Path, *, line: str = "", problem: str | None = None, cause: str | None = None) -> None:
        self.path, self.line, self.problem, self.cause = path, line, problem, cause
        super().__init__(f"{path}{line}: {problem or cause}")


def read_yaml_file(path: Path) -> Any:
    """The parsed content of a YAML file, or :class:`YamlFileError` (never a traceback)."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise YamlFileError(path, line=line, problem=str(exc.problem)) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise YamlFileError(path, cause=type(exc).__name__) from None
