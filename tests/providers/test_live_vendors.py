"""Real vendor APIs, one small request per configured provider.

Each case runs only when its keys are in the environment (CI has none: they are skipped,
with the key named); everything else about the providers is proven offline in test_wire.py.
"""

from __future__ import annotations

import pytest
from livekit.agents import ChatContext

from conftest import REAL_VENDOR_ENV
from voxplug.config.loader import load_config
from voxplug.providers import ProviderFactory

pytestmark = pytest.mark.needs_keys

LLM_CASES = [
    ("openai", ("OPENAI_API_KEY",)),
    ("azure", ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT")),
    ("anthropic", ("ANTHROPIC_API_KEY",)),
    ("groq", ("GROQ_API_KEY",)),
]
TTS_CASES = [
    ("openai", ("OPENAI_API_KEY",)),
    ("elevenlabs", ("ELEVEN_API_KEY",)),
    ("cartesia", ("CARTESIA_API_KEY",)),
    ("deepgram", ("DEEPGRAM_API_KEY",)),
    ("azure-speech", ("AZURE_SPEECH_KEY", "AZURE_SPEECH_REGION")),
]
# the other stages need a valid config too: the keyless local defaults


def _env_or_skip(keys: tuple[str, ...]) -> dict[str, str]:
    missing = [k for k in keys if k not in REAL_VENDOR_ENV]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    return dict(REAL_VENDOR_ENV)


@pytest.mark.parametrize(("provider", "keys"), LLM_CASES, ids=[c[0] for c in LLM_CASES])
async def test_live_llm_streams_a_reply(provider: str, keys: tuple[str, ...]) -> None:
    cfg = load_config(env={**_env_or_skip(keys), "LLM_PROVIDER": provider})
    ctx = ChatContext.empty()
    ctx.add_message(role="user", content="Reply with the single word: ready")
    text = ""
    async with ProviderFactory.create_llm(cfg.llm).chat(chat_ctx=ctx) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                text += chunk.delta.content
    assert "ready" in text.lower()


@pytest.mark.parametrize(("provider", "keys"), TTS_CASES, ids=[c[0] for c in TTS_CASES])
async def test_live_tts_returns_audio(provider: str, keys: tuple[str, ...]) -> None:
    cfg = load_config(env={**_env_or_skip(keys), "TTS_PROVIDER": provider})
    samples = 0
    async with ProviderFactory.create_tts(cfg.tts).synthesize("Hello from voxplug.") as stream:
        async for ev in stream:
            samples += ev.frame.samples_per_channel
    assert samples > 0
