"""Reading YAML files (the config, simulation scripts) with one-line errors and bounded cost.

A file is read only up to ``MAX_FILE_BYTES``; nesting too deep for the parser and alias
"bombs" (a few anchors that expand to millions of values) are refused, not crashed on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import UsageError

__all__ = ["MAX_FILE_BYTES", "MAX_VALUES", "YamlFileError", "read_yaml_file"]

MAX_FILE_BYTES = 4 * 1024 * 1024
# values after aliases are expanded: a real config holds hundreds
MAX_VALUES = 100_000


class YamlFileError(UsageError):
    """A YAML file cannot be read or parsed; ``line`` is " line N" when YAML knows it."""

    def __init__(self, path: Path, *, line: str = "", problem: str | None = None, cause: str | None = None) -> None:
        self.path, self.line, self.problem, self.cause = path, line, problem, cause
        super().__init__(f"{path}{line}: {problem or cause}")


def _count_values(data: Any, limit: int) -> int:
    """Values in ``data`` with shared (aliased) nodes counted each time, stopping past ``limit``."""
    count, stack = 0, [data]
    while stack:
        node = stack.pop()
        count += 1
        if count > limit:
            break
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


def read_yaml_file(path: Path) -> Any:
    """The parsed content of a YAML file, or :class:`YamlFileError` (never a traceback)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise YamlFileError(path, problem=f"{size} bytes is over the {MAX_FILE_BYTES} bytes a file may have")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise YamlFileError(path, line=line, problem=str(exc.problem)) from None
    except RecursionError:
        raise YamlFileError(path, problem="nested too deeply") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise YamlFileError(path, cause=type(exc).__name__) from None
    if _count_values(data, MAX_VALUES) > MAX_VALUES:
        raise YamlFileError(path, problem=f"expands to more than {MAX_VALUES} values (YAML aliases?)")
    return data
