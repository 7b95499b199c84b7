"""Load the configuration: YAML file, then environment variables (env wins), then validate.

Errors come back as :class:`~voxplug.errors.ConfigError` with one line per problem, each
naming the field path and how to fix it. Secret values are never echoed.
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
from .files import YamlFileError, read_yaml_file
from .models import VoxplugConfig

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_FILE",
    "ENV_ALIASES",
    "config_fingerprint",
    "find_config_file",
    "load_config",
    "merge_env",
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

# keyless by default: the local models run with no account and no network
DEFAULT_PROVIDER = "local"
STAGE_NAMES = ("stt", "llm", "tts")
SECRET_FIELDS = frozenset({"api_key", "database_url", "secret"})


def find_config_file(path: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path | None:
    """The file to read: ``--config``, else ``$VOXPLUG_CONFIG``, else ``./voxplug.yaml`` if present."""
    explicit = path or env.get(CONFIG_ENV)
    if explicit:
        candidate = Path(explicit).expanduser()
        if not candidate.is_file():
            raise ConfigError(
                f"config: file {str(candidate)!r} not found; pass an existing file with --config PATH"
            )
        return candidate
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def _read_yaml(path: Path) -> dict[str, Any]:
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
        except yaml.YAMLError:
            return raw
    return raw


def merge_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Overlay environment variables on the file's data (env wins)."""
    merged = json.loads(json.dumps(data, default=str))  # deep copy of plain data
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


def _resolve_credentials(stage: str, section: dict[str, Any], env: Mapping[str, str], where: str) -> list[str]:
    """Fill a stage's endpoint and key fields from the vendor's standard env names."""
    from ..providers.registry import ProviderFactory

    provider = str(section.get("provider", "")).strip().lower().replace("_", "-")
    try:
        spec = ProviderFactory.spec(stage, provider)  # type: ignore[arg-type]
    except ConfigError:
        known = ", ".join(ProviderFactory.list_providers(stage))  # type: ignore[arg-type]
        return [f"{where}.provider: unknown provider {provider!r}; known: {known}"]
    problems = []
    for cred in spec.credentials:
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


def _with_credentials(data: dict[str, Any], env: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    problems: list[str] = []
    for stage in STAGE_NAMES:
        section = data.setdefault(stage, {})
        if not isinstance(section, dict):
            problems.append(f"{stage}: must be a mapping with at least 'provider'")
            continue
        section.setdefault("provider", DEFAULT_PROVIDER)
        problems += _resolve_credentials(stage, section, env, stage)
        fallbacks = section.get("fallbacks") or []
        if not isinstance(fallbacks, list):
            problems.append(f"{stage}.fallbacks: must be a list of provider sections")
            continue
        for index, fallback in enumerate(fallbacks):
            where = f"{stage}.fallbacks.{index}"
            if not isinstance(fallback, dict) or "provider" not in fallback:
                problems.append(f"{where}: must be a mapping with at least 'provider'")
                continue
            problems += _resolve_credentials(stage, fallback, env, where)
    return data, problems


def _format_validation_error(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors(include_url=False, include_input=True):
        loc = ".".join(str(part) for part in err["loc"])
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown setting; check the spelling against docs/configuration.md"
        elif err["type"] == "missing":
            message = "required; add it to the config file or environment"
        shown = err.get("input")
        secret = any(str(part) in SECRET_FIELDS for part in err["loc"])
        if not secret and isinstance(shown, str | int | float | bool) and err["type"] != "extra_forbidden":
            message += f" (got {shown!r})"
        lines.append(f"{loc}: {message}")
    return lines


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> VoxplugConfig:
    """Read, merge and validate the configuration.

    Raises :class:`ConfigError` listing every problem found, one line each.
    """
    env = os.environ if env is None else env
    file = find_config_file(path, env)
    data = _read_yaml(file) if file else {}
    data = merge_env(data, env)
    data, problems = _with_credentials(data, env)
    try:
        config = VoxplugConfig.model_validate(data)
    except ValidationError as exc:
        problems += _format_validation_error(exc)
        raise ConfigError(*problems) from None
    if problems:
        raise ConfigError(*problems)
    return config


def redacted_dump(config: VoxplugConfig) -> dict[str, Any]:
    """The effective config as plain data, secrets shown as ``**********``."""
    return config.model_dump(mode="json")


def config_fingerprint(config: VoxplugConfig) -> str:
    """A stable short hash of the effective config without its secrets."""
    data = config.model_dump(mode="json")
    text = json.dumps(data, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
