"""Provider registry and the built-in vendor factories."""

from .registry import (
    ENTRY_POINT_GROUP,
    Credential,
    ProviderFactory,
    ProviderSpec,
    ProviderType,
    Stage,
    given,
    require_plugin,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Credential",
    "ProviderFactory",
    "ProviderSpec",
    "ProviderType",
    "Stage",
    "given",
    "require_plugin",
]
