"""What the loader needs to know about providers, without importing them.

The provider registry (``voxplug.providers.ProviderFactory``) implements
:class:`ProviderDirectory`; the loader takes it as a parameter, so ``config`` stays a leaf
that imports no provider code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

__all__ = ["CREDENTIAL_FIELDS", "NO_PROVIDER", "STAGES", "Credential", "CredentialField", "ProviderDirectory", "Stage"]

Stage = Literal["stt", "llm", "tts"]
STAGES: tuple[Stage, ...] = ("stt", "llm", "tts")
# the provider that builds nothing: no separate STT or TTS next to a realtime model
NO_PROVIDER = "none"

# the stage fields that carry a credential or an endpoint; the provider catalog fills them
# from each vendor's standard environment variables (docs/configuration.md)
CredentialField = Literal[
    "api_key", "api_secret", "base_url", "endpoint", "deployment", "api_version", "region",
    "credentials_file", "project", "location",
]
CREDENTIAL_FIELDS: tuple[CredentialField, ...] = get_args(CredentialField)


@dataclass(frozen=True)
class Credential:
    """A config field that can be filled from environment variables (first one set wins).

    ``env_only``: the plugin reads the variable itself and takes no keyword for it, so the
    value must be in the process environment (a value in the YAML file cannot reach it).
    """

    field: CredentialField
    env: tuple[str, ...]
    required: bool = True
    default: str | None = None
    env_only: bool = False


class ProviderDirectory(Protocol):
    """The registry as the loader sees it: known names and their credential fields."""

    def list_providers(self, stage: Stage) -> list[str]: ...

    def credentials(
        self, stage: Stage, name: str, section: Mapping[str, Any] | None = None
    ) -> Sequence[Credential] | None:
        """The credential fields of a section naming provider ``name`` (some depend on the
        section itself), or ``None`` when ``name`` is not registered."""
        ...

    def is_realtime(self, name: str) -> bool:
        """Whether ``name`` is a realtime (speech-to-speech) model, valid as ``llm.provider``."""
        ...
