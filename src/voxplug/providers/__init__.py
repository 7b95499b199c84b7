"""Provider registry, the vendor catalog (every official LiveKit plugin), the generic builder,
and the config loader wired to them."""

from . import builtin
from .loading import load_config
from .registry import (
    ENTRY_POINT_GROUP,
    STAGES,
    Credential,
    ProviderFactory,
    ProviderSpec,
    ProviderType,
    Stage,
    given,
    require_plugin,
)

builtin.register_all(ProviderFactory)

__all__ = [
    "ENTRY_POINT_GROUP",
    "STAGES",
    "Credential",
    "ProviderFactory",
    "ProviderSpec",
    "ProviderType",
    "Stage",
    "given",
    "load_config",
    "require_plugin",
]
