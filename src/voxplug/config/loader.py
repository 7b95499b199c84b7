"""Load the configuration: YAML file, then environment variables (env wins), then validate.

Errors come back as :class:`~voxplug.errors.ConfigError` with one line per problem, each
naming the field path and how to fix it. No secret is echoed: neither a value of a secret
field nor any input that looks like a credential, whichever field it sits in.

Provider names and credential variables come from a :class:`ProviderDirectory` passed in by
the caller (the registry); ``voxplug.load_config`` passes the live one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import ConfigError
from ..redaction import REDACTED, looks_like_secret, safe_repr
from .base import field_path, validation_problems
from .directory import NO_PROVIDER, STAGES, ProviderDirectory, Stage
from .files import YamlFileError, read_yaml_file
from .models import VoxplugConfig
from .persistence import PersistenceConfig, persistence_problems

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_FILE",
    "ENV_ALIASES",
    "MOVED_SETTINGS",
    "config_fingerprint",
    "find_config_file",
    "load_config",
    "load_persistence_config",
    "merge_env",
    "read_config_file",
    "redacted_dump",
]

DEFAULT_CONFIG_FILE = "voxplug.yaml"
CONFIG_ENV = "VOXPLUG_CONFIG"
NESTED_ENV_PREFIX = "VOXPLUG_"

# the short names of the original design; anything else is VOXPLUG_<SECTION>__<FIELD>
ENV_ALIASES: dict[str, tuple[str, ...]] = {
    "STT_PROVIDER": ("stt", "provider"),
    "STT_MODEL": ("stt", "model"),
    "STT_LANGUAGE": ("stt", "language"),
    "STT_BASE_URL": ("stt", "base_url"),
    "LLM_PROVIDER": ("llm", "provider"),
    "LLM_MODEL": ("llm", "model"),
    "LLM_BASE_URL": ("llm", "base_url"),
    "LLM_TEMPERATURE": ("llm", "temperature"),
    "TTS_PROVIDER": ("tts", "provider"),
    "TTS_MODEL": ("tts", "model"),
    "TTS_VOICE": ("tts", "voice"),
    "TTS_LANGUAGE": ("tts", "language"),
    "TTS_BASE_URL": ("tts", "base_url"),
    "AGENT_INSTRUCTIONS": ("agent", "instructions"),
    "AGENT_GREETING": ("agent", "greeting"),
    "DATABASE_URL": ("persistence", "database_url"),
    "BACKEND_URL": ("persistence", "backend", "url"),
    "BACKEND_SECRET": ("persistence", "backend", "secret"),
}

# settings that moved: an old config gets one line saying where to
MOVED_SETTINGS: dict[tuple[str, str], str] = {
    ("telemetry", "prices"): "pricing.prices (prices per million tokens/characters, per audio minute)",
    ("telemetry", "use_default_prices"): "pricing.use_defaults",
    ("persistence", "prices"): "pricing.prices (a list of {stage, provider, model, ...} entries)",
    ("persistence", "currency"): "pricing.currency",
}

# keyless by default: the local models run with no account and no network
DEFAULT_PROVIDER = "local"
# values under these keys are never echoed in an error (tool headers and MCP env hold credentials)
SECRET_FIELDS = frozenset({"api_key", "api_secret", "database_url", "secret", "headers", "env"})


def find_config_file(path: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path | None:
    """The file to read: ``--config``, else ``$VOXPLUG_CONFIG``, else ``./voxplug.yaml`` if present."""
    explicit = path or env.get(CONFIG_ENV)
    if explicit:
        candidate = Path(explicit).expanduser()
        if not candidate.is_file():
            raise ConfigError(
                f"config: file {safe_repr(str(candidate), 200)} not found; pass an existing file with --config PATH"
            )
        return candidate
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def read_config_file(path: Path) -> dict[str, Any]:
    """The config file's mapping, or :class:`ConfigError` with one line."""
    try:
        data = read_yaml_file(path)
    except YamlFileError as exc:
        if exc.problem is not None:
            raise ConfigError(f"config: {path}{exc.line}: {exc.problem}; fix the YAML syntax") from None
        raise ConfigError(f"config: cannot read {path}: {exc.cause}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config: {path} must hold a mapping (section: values), not {type(data).__name__}")
    return data


def _set_path(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = target
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value


def _parse_env_value(raw: str) -> Any:
    # lists and mappings may be given inline ("[a, b]"); scalars stay strings and pydantic
    # coerces them, so a key such as "0123" is never turned into a number
    if raw[:1] in "[{":
        try:
            return yaml.safe_load(raw)
        except (yaml.YAMLError, RecursionError):
            return raw
    return raw


def merge_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Overlay environment variables on the file's data (env wins)."""
    merged: dict[str, Any] = json.loads(json.dumps(data, default=str))  # deep copy of plain data
    for name, path in ENV_ALIASES.items():
        value = env.get(name)
        if value:
            _set_path(merged, path, value)
    for name, value in env.items():
        if not name.startswith(NESTED_ENV_PREFIX) or "__" not in name or name == CONFIG_ENV:
            continue
        path = tuple(part.lower() for part in name[len(NESTED_ENV_PREFIX) :].split("__") if part)
        if path:
            _set_path(merged, path, _parse_env_value(value))
    return merged


def _normalise(name: object) -> str:
    return str(name).strip().lower().replace("_", "-")


def _resolve_credentials(
    stage: Stage, section: dict[str, Any], env: Mapping[str, str], where: str, providers: ProviderDirectory
) -> list[str]:
    """Fill a stage's endpoint and key fields from the vendor's standard env names."""
    provider = _normalise(section.get("provider", ""))
    credentials = providers.credentials(stage, provider, section)
    if credentials is None:
        known = ", ".join(providers.list_providers(stage))
        return [f"{where}.provider: unknown provider {safe_repr(provider)}; known: {known}"]
    problems = []
    for cred in credentials:
        if section.get(cred.field):
            continue
        value = next((env[name] for name in cred.env if env.get(name)), None) or cred.default
        if value:
            section[cred.field] = value
        elif cred.required:
            names = " or ".join(cred.env)
            problems.append(
                f"{where}.{cred.field}: missing for provider {provider!r}; "
                f"set {names} or {where}.{cred.field} in {DEFAULT_CONFIG_FILE}"
            )
    return problems


def _default_provider(stage: Stage, data: dict[str, Any], providers: ProviderDirectory) -> str:
    """``local``; but no separate STT or TTS (``none``) next to a realtime LLM."""
    llm = data.get("llm")
    llm_provider = _normalise(llm.get("provider", "")) if isinstance(llm, dict) else ""
    if stage != "llm" and llm_provider and providers.is_realtime(llm_provider):
        return NO_PROVIDER
    return DEFAULT_PROVIDER


def _section_credentials(
    stage: Stage, section: dict[str, Any], env: Mapping[str, str], where: str, providers: ProviderDirectory
) -> list[str]:
    """A provider section's credentials, and those of each of its fallbacks."""
    problems = _resolve_credentials(stage, section, env, where, providers)
    fallbacks = section.get("fallbacks") or []
    if not isinstance(fallbacks, list):
        return [*problems, f"{where}.fallbacks: must be a list of provider sections"]
    for index, fallback in enumerate(fallbacks):
        at = f"{where}.fallbacks.{index}"
        if not isinstance(fallback, dict) or "provider" not in fallback:
            problems.append(f"{at}: must be a mapping with at least 'provider'")
            continue
        problems += _resolve_credentials(stage, fallback, env, at, providers)
    return problems


def _with_credentials(
    data: dict[str, Any], env: Mapping[str, str], providers: ProviderDirectory
) -> tuple[dict[str, Any], list[str]]:
    problems: list[str] = []
    for stage in STAGES:
        section = data.setdefault(stage, {})
        if not isinstance(section, dict):
            problems.append(f"{stage}: must be a mapping with at least 'provider'")
            continue
        section.setdefault("provider", _default_provider(stage, data, providers))
        problems += _section_credentials(stage, section, env, stage, providers)
    agents = data.get("agents")
    for name, profile in (agents.items() if isinstance(agents, dict) else ()):
        for stage in STAGES:
            section = profile.get(stage) if isinstance(profile, dict) else None
            # another provider than the session's: its credentials (and its fallbacks') come
            # from their own env names and defaults
            if isinstance(section, dict) and section.get("provider"):
                where = field_path(("agents", name, stage))
                problems += _section_credentials(stage, section, env, where, providers)
    return data, problems


def _moved(data: Mapping[str, Any]) -> list[str]:
    problems = []
    for (section, key), target in MOVED_SETTINGS.items():
        node = data.get(section)
        if isinstance(node, dict) and key in node:
            problems.append(f"{section}.{key}: moved to {target}; see docs/configuration.md#pricing")
    return problems


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    providers: ProviderDirectory,
) -> VoxplugConfig:
    """Read, merge and validate the configuration.

    Raises :class:`ConfigError` listing every problem found, one line each.
    """
    env = os.environ if env is None else env
    file = find_config_file(path, env)
    data = read_config_file(file) if file else {}
    data = merge_env(data, env)
    problems = _moved(data)
    data, credential_problems = _with_credentials(data, env, providers)
    problems += credential_problems
    try:
        # ${NAME} references (tool headers, MCP env) resolve against the same environment
        config = VoxplugConfig.model_validate(data, context={"env": env})
    except ValidationError as exc:
        problems += validation_problems(exc, secret_fields=SECRET_FIELDS)
        raise ConfigError(*problems) from None
    except RecursionError:
        raise ConfigError(*problems, "config: nested too deeply; sections hold plain values and lists") from None
    if problems:
        raise ConfigError(*problems)
    return config


def load_persistence_config(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> PersistenceConfig:
    """Only the ``persistence`` section of the config file, plus the environment.

    The ``sessions`` and ``db`` commands need no STT/LLM/TTS: reading just this section
    keeps them usable on a machine where the voice providers are not installed.
    """
    env = os.environ if env is None else env
    file = find_config_file(path, env)
    data = read_config_file(file) if file else {}
    merged = merge_env(data, env)
    problems = [line for line in _moved(merged) if line.startswith("persistence.")]
    if problems:
        raise ConfigError(*problems)
    section = merged.get("persistence") or {}
    if not isinstance(section, dict):
        raise ConfigError("persistence: must be a mapping of settings")
    try:
        config = PersistenceConfig.model_validate(section)
    except ValidationError as exc:
        raise ConfigError(*persistence_problems(exc)) from None
    config = config.with_env(env)
    config.check()
    return config


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    if isinstance(value, str) and looks_like_secret(value):
        return REDACTED
    return value


def redacted_dump(config: VoxplugConfig) -> dict[str, Any]:
    """The effective config as plain data: secret fields, and any value shaped like a
    credential whatever field it sits in, shown as ``**********``."""
    masked: dict[str, Any] = _mask(config.model_dump(mode="json"))
    return masked


def config_fingerprint(config: VoxplugConfig) -> str:
    """A stable short hash of the effective config without its secrets."""
    data = config.model_dump(mode="json")
    text = json.dumps(data, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
