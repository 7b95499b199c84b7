"""Registers the built-in providers: the vendor catalog and the generic ``plugin`` provider.

Local and test providers come by entry point (``voxplug.providers``).
"""

from __future__ import annotations

from . import catalog, generic
from .registry import ProviderFactory

__all__ = ["register_all"]


def register_all(factory: type[ProviderFactory]) -> None:
    catalog.register_catalog(factory)
    generic.register(factory)
