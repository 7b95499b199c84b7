"""The configuration loader wired to the live provider registry."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..config import loader
from ..config.models import VoxplugConfig
from .registry import ProviderFactory

__all__ = ["load_config"]


def load_config(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> VoxplugConfig:
    """Read, merge and validate the configuration against every registered provider.

    Raises :class:`~voxplug.errors.ConfigError` listing every problem, one line each.
    """
    return loader.load_config(path, env, providers=ProviderFactory)
