"""What the three local providers share: lazy imports, a process-wide model cache, options."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import logging
import os
import threading
import time
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigError, MissingExtraError

__all__ = [
    "LOCAL_EXTRA",
    "cached_model",
    "clear_model_cache",
    "default_threads",
    "ensure_installed",
    "options_from",
    "require",
    "size_mb",
]

logger = logging.getLogger(__name__)

LOCAL_EXTRA = "local"

T = TypeVar("T")
OptionsT = TypeVar("OptionsT")


def require(module: str, *, package: str, extra: str) -> types.ModuleType:
    """Import an optional dependency, or fail with the pip command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{package} is not installed: pip install 'voxplug[{extra}]' "
            f"(or pip install 'voxplug[{LOCAL_EXTRA}]' for every local model)"
        ) from exc


def ensure_installed(module: str, *, package: str, extra: str) -> None:
    """Fail early (when the provider is built) without importing the heavy module."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        require(module, package=package, extra=extra)  # raises the MissingExtraError


def default_threads() -> int:
    # the models share the machine with the event loop and the other stages: a few threads
    # per model is the throughput sweet spot on CPU, more only add contention
    return max(1, min(4, os.cpu_count() or 1))


def size_mb(path: Path) -> float:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6
    return path.stat().st_size / 1e6 if path.exists() else 0.0


# -- process-wide model cache -----------------------------------------------------------------
# A LiveKit worker runs many sessions per process; each must reuse the weights loaded once
# (in prewarm). Keys are (kind, resolved path, load-time settings).
_models: dict[tuple[Any, ...], Any] = {}
_key_locks: dict[tuple[Any, ...], threading.Lock] = {}
_registry_lock = threading.Lock()


def cached_model(key: tuple[Any, ...], label: str, path: Path, load: Callable[[], T]) -> T:
    """Return the model cached under ``key``, loading it (once, even across threads) if needed."""
    with _registry_lock:
        if key in _models:
            return typing.cast(T, _models[key])
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        if key in _models:  # another thread finished loading while we waited
            return typing.cast(T, _models[key])
        logger.info("loading %s (%.0f MB)...", label, size_mb(path))
        start = time.perf_counter()
        model = load()
        elapsed = time.perf_counter() - start
        logger.info("loading %s (%.0f MB)... done in %.1fs", label, size_mb(path), elapsed)
        with _registry_lock:
            _models[key] = model
        return model


def clear_model_cache() -> None:
    """Forget every loaded model (tests; a long-lived process that swaps models)."""
    with _registry_lock:
        _models.clear()
        _key_locks.clear()


# -- options ----------------------------------------------------------------------------------
def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check one option value against its dataclass annotation; YAML/env give str or numbers."""
    args = typing.get_args(hint)
    if args and type(None) in args:  # Optional[X]
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0", "yes", "no"}:
            return value.strip().lower() in {"true", "1", "yes"}
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def options_from(cls: type[OptionsT], options: Mapping[str, Any], *, field: str, **known: Any) -> OptionsT:
    """Build the options dataclass ``cls`` from ``cfg.options`` plus first-class config fields.

    An unknown or mistyped key is a ``ConfigError`` naming ``<field>.<key>`` (for example
    ``llm.options.n_ctxx``), not a ``TypeError`` from deep inside a model library.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key, value in options.items():
        where = f"{field}.{key}"
        if key not in names:
            problems.append(f"{where}: unknown option; known: {', '.join(sorted(names))}")
            continue
        try:
            values[key] = _coerce(value, hints[key], where)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(*problems)
    # first-class config fields (temperature, language, ...) win only when set
    values.update({k: v for k, v in known.items() if v is not None})
    try:
        return cls(**values)
    except ValueError as exc:  # __post_init__ range checks
        raise ConfigError(f"{field}: {exc}") from None
