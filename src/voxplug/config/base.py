"""What every config model shares: strict models and one-line validation problems."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ..redaction import safe_repr

__all__ = ["REFERENCE", "Strict", "field_path", "validation_problems"]

# "package.module:attribute", the way entry points name objects
REFERENCE = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"

# the discriminator tag pydantic puts in the path of a tools entry: tools.NAME.http.url
TOOL_TAGS = frozenset({"http", "mcp", "python"})


class Strict(BaseModel):
    """Unknown keys are rejected with their field path: a typo far more often than intent."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def field_path(parts: tuple[Any, ...]) -> str:
    """``a.b.0.c`` for a pydantic location; keys from the user's file are shown bounded."""
    if len(parts) > 2 and parts[0] == "tools" and parts[2] in TOOL_TAGS:
        parts = parts[:2] + parts[3:]
    return ".".join(str(part) if isinstance(part, int) else safe_repr(part, 40).strip("'") for part in parts)


def validation_problems(
    exc: ValidationError, *, prefix: str = "", secret_fields: Collection[str] = ()
) -> list[str]:
    """One ``path: problem`` line per error; inputs under ``secret_fields`` are never echoed."""
    lines = []
    for err in exc.errors(include_url=False, include_input=True):
        loc = prefix + field_path(err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown setting; check the spelling against docs/configuration.md"
        elif err["type"] == "missing":
            message = "required; add it to the config file or environment"
        elif err["type"] == "union_tag_not_found":
            message = "needs a type: http, mcp or python"
        if not err["loc"] and err["type"] == "value_error":
            # cross-section checks (VoxplugConfig): each line already names its own path
            lines += str(err["ctx"]["error"]).splitlines()
            continue
        shown = err.get("input")
        secret = any(str(part) in secret_fields for part in err["loc"])
        if not secret and isinstance(shown, str | int | float | bool) and err["type"] != "extra_forbidden":
            message += f" (got {safe_repr(shown)})"
        lines.append(f"{loc.rstrip('.')}: {message}")
    return lines
