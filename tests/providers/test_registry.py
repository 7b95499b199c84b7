"""The provider registry: built-ins, third-party registration, entry points, extras, fallbacks."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from livekit.agents import llm, stt, tts

from voxplug import LLMConfig, ProviderFactory, ProviderType, STTConfig, TTSConfig
from voxplug.errors import ConfigError, MissingExtraError
from voxplug.providers import builtin, require_plugin
from voxplug.providers.registry import _Registry


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in vendors only; entry points are read again on first use."""
    monkeypatch.setattr(ProviderFactory, "_state", _Registry())
    builtin.register_all(ProviderFactory)


def test_builtin_providers_cover_every_stage() -> None:
    assert {"openai", "azure", "azure-speech", "deepgram"} <= set(ProviderFactory.list_providers("stt"))
    assert {"openai", "azure", "anthropic", "groq", "openai-compatible"} <= set(ProviderFactory.list_providers("llm"))
    assert {"openai", "azure", "azure-speech", "elevenlabs", "cartesia", "deepgram"} <= set(
        ProviderFactory.list_providers("tts")
    )


def test_register_a_custom_provider_with_the_original_api(fresh_registry: None) -> None:
    built: list[LLMConfig] = []

    def create(cfg: LLMConfig) -> llm.LLM:
        built.append(cfg)
        return ProviderFactory.create_llm(cfg.model_copy(update={"provider": "openai-compatible"}))

    ProviderFactory.register_llm_provider("my-vendor", create)
    assert "my-vendor" in ProviderFactory.list_providers("llm")
    instance = ProviderFactory.create_llm(LLMConfig(provider="My_Vendor", base_url="http://127.0.0.1:9/v1",
                                                    api_key="k", model="m"))
    assert isinstance(instance, llm.LLM)
    assert built[0].provider == "my-vendor"  # names are normalised: case and _ vs -


def test_entry_point_group_registers_third_party_providers(
    fresh_registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "voxplug_acme").mkdir()
    (tmp_path / "voxplug_acme" / "__init__.py").write_text(textwrap.dedent("""
        def create_tts(cfg):
            raise RuntimeError("not built in this test")

        def register(factory):
            factory.register_tts_provider("acme", create_tts, extra="acme")
    """))
    dist = tmp_path / "voxplug_acme-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: voxplug-acme\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[voxplug.providers]\nacme = voxplug_acme:register\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "acme" in ProviderFactory.list_providers("tts")
    assert ProviderFactory.spec("tts", "acme").install_hint() == "pip install 'voxplug[acme]'"
    assert "openai" in ProviderFactory.list_providers("tts"), "built-ins still there"


def test_unknown_provider_and_missing_extra_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match=r"tts.provider: unknown provider 'nope'; known: .*elevenlabs"):
        ProviderFactory.create_tts(TTSConfig(provider="nope"))
    with pytest.raises(MissingExtraError, match=r"pip install 'voxplug\[fancy\]'"):
        require_plugin("livekit.plugins.does_not_exist", extra="fancy")


async def test_fallbacks_become_livekit_fallback_adapters() -> None:
    base = {"provider": ProviderType.OPENAI_COMPATIBLE, "base_url": "http://127.0.0.1:9/v1", "api_key": "k"}
    llm_cfg = LLMConfig(**base, fallbacks=[LLMConfig(**base, model="backup")])
    stt_cfg = STTConfig(**base, fallbacks=[STTConfig(**base)])
    tts_cfg = TTSConfig(**base, fallbacks=[TTSConfig(**base)])
    assert isinstance(ProviderFactory.create_llm(llm_cfg), llm.FallbackAdapter)
    from livekit.agents import inference

    assert isinstance(ProviderFactory.create_stt(stt_cfg, vad=inference.VAD()), stt.FallbackAdapter)
    assert isinstance(ProviderFactory.create_tts(tts_cfg), tts.FallbackAdapter)
    plain = ProviderFactory.create_llm(LLMConfig(**base))
    assert type(plain).__module__ == "livekit.plugins.openai.llm"
