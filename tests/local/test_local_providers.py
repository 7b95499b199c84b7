"""Registration, config mapping and errors of the local providers (models load once, shared)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from voxplug.config.models import LLMConfig, STTConfig, TTSConfig, VoxplugConfig
from voxplug.errors import ConfigError, MissingExtraError
from voxplug.local import _common, preload_local_models
from voxplug.local.llama import LocalLlamaLLM, create_llm
from voxplug.local.piper import PiperTTS, create_tts
from voxplug.local.whisper import LocalWhisperSTT, create_stt
from voxplug.providers.registry import ProviderFactory


def test_importing_the_package_loads_no_model_library() -> None:
    code = (
        "import sys, voxplug.local, voxplug.local.whisper, voxplug.local.llama, voxplug.local.piper\n"
        "heavy = {'faster_whisper', 'ctranslate2', 'llama_cpp', 'piper', 'onnxruntime'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_registered_for_every_stage() -> None:
    modules = {"stt": "faster_whisper", "llm": "llama_cpp", "tts": "piper"}
    for stage, module in modules.items():
        spec = ProviderFactory.spec(stage, "local")  # type: ignore[arg-type]
        assert (spec.extra, spec.module) == ("local", module)
        assert spec.installed()
        assert spec.credentials == ()  # keyless


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: create_llm(LLMConfig(provider="local", options={"foo": 1})), "llm.options.foo: unknown option"),
        (lambda: create_llm(LLMConfig(provider="local", options={"n_ctx": "big"})), "llm.options.n_ctx"),
        (lambda: create_llm(LLMConfig(provider="local", options={"max_tokens": 0})), "max_tokens"),
        (lambda: create_stt(STTConfig(provider="local", options={"beam": 2})), "stt.options.beam"),
        (lambda: create_tts(TTSConfig(provider="local", options={"speed": 2})), "tts.options.speed"),
        (lambda: create_llm(LLMConfig(provider="local", model="/nowhere/x.gguf")), "llm.model"),
        (lambda: create_stt(STTConfig(provider="local", model="large-v9")), "stt.model"),
        (lambda: create_tts(TTSConfig(provider="local", voice="/nowhere/v.onnx")), "tts.voice"),
    ],
)
def test_config_errors_name_the_field(build, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message):
        build()


def test_options_are_coerced_from_strings() -> None:
    llm = create_llm(LLMConfig(provider="local", temperature=0.5, options={"n_ctx": "2048", "max_tokens": 64}))
    assert (llm.options.n_ctx, llm.options.max_tokens, llm.options.temperature) == (2048, 64, 0.5)


def test_metric_labels() -> None:
    stt = create_stt(STTConfig(provider="local"))
    llm = create_llm(LLMConfig(provider="local"))
    tts = create_tts(TTSConfig(provider="local", options={"length_scale": 1.1}))
    assert isinstance(stt, LocalWhisperSTT) and isinstance(llm, LocalLlamaLLM) and isinstance(tts, PiperTTS)
    assert [x.provider for x in (stt, llm, tts)] == ["local"] * 3
    # unset: tiny.en for English, the multilingual base for any other language
    assert stt.model == "whisper-tiny.en"
    assert create_stt(STTConfig(provider="local", language="fr-FR")).model == "whisper-base"
    assert create_stt(STTConfig(provider="local", model="base")).model == "whisper-base"
    assert llm.model == "qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert tts.model == "piper-en_US-joe-medium"
    assert tts.sample_rate == 22050 and tts.num_channels == 1


@pytest.mark.parametrize(
    ("module", "build", "package"),
    [
        ("faster_whisper", lambda: create_stt(STTConfig(provider="local")), "faster-whisper"),
        ("llama_cpp", lambda: create_llm(LLMConfig(provider="local")), "llama-cpp-python"),
        ("piper", lambda: create_tts(TTSConfig(provider="local")), "piper-tts"),
    ],
)
def test_missing_library_raises_missing_extra(monkeypatch: pytest.MonkeyPatch, module, build, package) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail, as if not installed
    with pytest.raises(MissingExtraError) as info:
        build()
    assert package in str(info.value)
    assert "pip install 'voxplug[" in str(info.value)


@pytest.mark.slow
def test_preload_loads_primaries_and_fallbacks_once(whisper_stt, llama_llm, piper_tts) -> None:  # type: ignore[no-untyped-def]
    config = VoxplugConfig(
        stt=STTConfig(provider="local", fallbacks=[STTConfig(provider="local", model="base")]),
        llm=LLMConfig(provider="local"),
        tts=TTSConfig(provider="local"),
    )
    preload_local_models(config)
    kinds = sorted(key[0] for key in _common._models)
    assert kinds.count("whisper") >= 2 and "llama" in kinds and "piper" in kinds
    before = dict(_common._models)
    preload_local_models(config)  # a second prewarm reuses everything
    assert all(_common._models[k] is v for k, v in before.items())
    # a new provider instance (one per session) shares the process-wide model
    assert create_stt(STTConfig(provider="local")).load() is whisper_stt.load()
    assert create_llm(LLMConfig(provider="local")).load() is llama_llm.load()
