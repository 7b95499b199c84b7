"""Objects named in the configuration: ``module:attribute`` references and entry points.

Third-party packages ship tools (group ``voxplug.tools``) and audio filters (group
``voxplug.audio_filters``) without touching voxplug: installing the package is enough.
"""

from __future__ import annotations

import importlib
import logging
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ..errors import ConfigError

__all__ = ["AUDIO_FILTER_GROUP", "TOOL_GROUP", "entry_points_of", "load_entry_point", "load_reference"]

logger = logging.getLogger(__name__)

TOOL_GROUP = "voxplug.tools"
AUDIO_FILTER_GROUP = "voxplug.audio_filters"


def load_reference(ref: str, where: str) -> Any:
    """The object ``package.module:attribute`` names; ConfigError (one line) if it cannot be had."""
    module_name, _, attribute = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{where}: cannot import module {module_name!r} ({exc.__class__.__name__}: {exc}); "
            "install the package that provides it"
        ) from None
    except Exception as exc:  # the module itself raised while importing
        raise ConfigError(f"{where}: importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"{where}: module {module_name!r} has no attribute {attribute!r}") from None
    return obj


@lru_cache(maxsize=8)
def entry_points_of(group: str) -> dict[str, EntryPoint]:
    """Installed entry points of ``group`` by name (the first one wins on a clash, logged).

    Read once per process: scanning every installed distribution took 20-900 ms here (the
    larger figure on a loaded machine), too long for each call's start on the event loop.
    """
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        if ep.name in found:
            logger.warning("entry point %s: %r is defined twice (%s, %s); using the first",
                           group, ep.name, found[ep.name].value, ep.value)
            continue
        found[ep.name] = ep
    return found


def load_entry_point(ep: EntryPoint, where: str) -> Any:
    try:
        return ep.load()
    except Exception as exc:
        dist = ep.dist.name if ep.dist is not None else "?"
        raise ConfigError(
            f"{where}: entry point {ep.group}:{ep.name} (package {dist}) failed to load: {type(exc).__name__}: {exc}"
        ) from None
