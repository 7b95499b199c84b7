"""Wire-level tests: real vendor plugins, built by the factory, against a local server."""

from __future__ import annotations

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import ChatContext

from fakes.vendor_server import VendorServer, compatible_stages
from voxplug import load_config
from voxplug.providers import ProviderFactory

SECRET = "sk-wire-test-0123456789"


async def collect_reply(llm) -> str:  # type: ignore[no-untyped-def]
    ctx = ChatContext.empty()
    ctx.add_message(role="user", content="Say hello")
    text = ""
    async with llm.chat(chat_ctx=ctx) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                text += chunk.delta.content
    return text


def speech_frame(seconds: float = 1.0, rate: int = 16000) -> rtc.AudioFrame:
    t = np.arange(int(seconds * rate)) / rate
    samples = (np.sin(2 * np.pi * 300 * t) * 6000).astype(np.int16)
    return rtc.AudioFrame(samples.tobytes(), rate, 1, len(samples))


async def synthesize(tts) -> int:  # type: ignore[no-untyped-def]
    samples = 0
    async with tts.synthesize("Hello there, this is a test.") as stream:
        async for ev in stream:
            samples += ev.frame.samples_per_channel
    return samples


async def test_openai_all_stages_send_model_voice_and_key() -> None:
    async with VendorServer(reply="Hi there friend.", transcript="hello agent") as srv:
        env = {
            "STT_PROVIDER": "openai", "LLM_PROVIDER": "openai", "TTS_PROVIDER": "openai",
            "OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": f"{srv.url}/v1",
            "STT_MODEL": "whisper-1", "LLM_MODEL": "gpt-4.1-mini", "TTS_MODEL": "tts-1", "TTS_VOICE": "nova",
        }
        cfg = load_config(env=env)
        llm = ProviderFactory.create_llm(cfg.llm)
        assert await collect_reply(llm) == "Hi there friend."
        stt = ProviderFactory.create_stt(cfg.stt)
        event = await stt.recognize(buffer=[speech_frame()])
        assert event.alternatives[0].text == "hello agent"
        tts = ProviderFactory.create_tts(cfg.tts)
        assert await synthesize(tts) > 0

    chat = srv.find("/v1/chat/completions")[0]
    assert chat.body["model"] == "gpt-4.1-mini"
    assert chat.body["stream"] is True
    assert chat.headers["authorization"] == f"Bearer {SECRET}"
    transcription = srv.find("/v1/audio/transcriptions")[0]
    assert transcription.body["model"] == "whisper-1"
    assert transcription.files["file"][:4] == b"RIFF"  # a WAV of the audio we sent
    assert transcription.headers["authorization"] == f"Bearer {SECRET}"
    speech = srv.find("/v1/audio/speech")[0]
    assert speech.body["model"] == "tts-1"
    assert speech.body["voice"] == "nova"
    assert speech.body["response_format"] == "pcm"
    assert speech.body["input"] == "Hello there, this is a test."


async def test_azure_uses_deployment_url_api_version_and_api_key_header() -> None:
    async with VendorServer(reply="Azure says hi.") as srv:
        env = {
            "LLM_PROVIDER": "azure", "TTS_PROVIDER": "azure", "STT_PROVIDER": "azure",
            "AZURE_API_KEY": SECRET,  # the short alias works as well as AZURE_OPENAI_API_KEY
            "AZURE_OPENAI_ENDPOINT": srv.url, "OPENAI_API_VERSION": "2024-10-21",
            "LLM_MODEL": "gpt-4o", "VOXPLUG_LLM__DEPLOYMENT": "my-gpt4o", "TTS_VOICE": "alloy",
        }
        cfg = load_config(env=env)
        assert await collect_reply(ProviderFactory.create_llm(cfg.llm)) == "Azure says hi."
        assert await synthesize(ProviderFactory.create_tts(cfg.tts)) > 0
        event = await ProviderFactory.create_stt(cfg.stt).recognize(buffer=[speech_frame()])
        assert event.alternatives[0].text == srv.transcript

    chat = srv.find("/chat/completions")[0]
    assert chat.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert chat.query["api-version"] == "2024-10-21"
    assert chat.headers["api-key"] == SECRET
    assert "authorization" not in chat.headers
    transcription = srv.find("/audio/transcriptions")[0]
    assert transcription.path == "/openai/deployments/gpt-4o-mini-transcribe/audio/transcriptions"
    assert transcription.headers["api-key"] == SECRET
    speech = srv.find("/audio/speech")[0]
    # the deployment defaults to the model name, Azure's convention
    assert speech.path == "/openai/deployments/gpt-4o-mini-tts/audio/speech"
    assert speech.body["voice"] == "alloy"


async def test_openai_compatible_needs_no_key_and_uses_base_url() -> None:
    async with VendorServer(reply="Local model reply.") as srv:
        env = {**compatible_stages(srv.url), "LLM_MODEL": "qwen2.5:0.5b"}
        cfg = load_config(env=env)
        assert await collect_reply(ProviderFactory.create_llm(cfg.llm)) == "Local model reply."
    chat = srv.find("/v1/chat/completions")[0]
    assert chat.body["model"] == "qwen2.5:0.5b"
    assert chat.headers["authorization"] == "Bearer not-needed"


async def test_anthropic_sends_key_and_model_and_streams_reply() -> None:
    async with VendorServer(reply="Claude here, hello.") as srv:
        env = {
            **compatible_stages(srv.url),
            "LLM_PROVIDER": "anthropic", "ANTHROPIC_API_KEY": SECRET,
            "VOXPLUG_LLM__BASE_URL": srv.url, "LLM_MODEL": "claude-haiku-4-5",
        }
        cfg = load_config(env=env)
        assert await collect_reply(ProviderFactory.create_llm(cfg.llm)) == "Claude here, hello."
    msg = srv.find("/v1/messages")[0]
    assert msg.body["model"] == "claude-haiku-4-5"
    assert msg.body["stream"] is True
    assert msg.headers["x-api-key"] == SECRET


async def test_groq_llm_sends_key_and_model_to_its_openai_style_api() -> None:
    async with VendorServer(reply="Groq is fast.") as srv:
        env = {**compatible_stages(srv.url), "LLM_PROVIDER": "groq", "GROQ_API_KEY": SECRET,
               "GROQ_BASE_URL": f"{srv.url}/openai/v1", "LLM_MODEL": "llama-3.1-8b-instant"}
        cfg = load_config(env=env)
        assert await collect_reply(ProviderFactory.create_llm(cfg.llm)) == "Groq is fast."
    chat = srv.find("/chat/completions")[0]
    assert chat.path == "/openai/v1/chat/completions"
    assert chat.body["model"] == "llama-3.1-8b-instant"
    assert chat.headers["authorization"] == f"Bearer {SECRET}"


@pytest.mark.parametrize(
    ("stage", "provider", "env"),
    [
        ("stt", "deepgram", {"DEEPGRAM_API_KEY": SECRET}),
        ("tts", "deepgram", {"DEEPGRAM_API_KEY": SECRET}),
        ("tts", "elevenlabs", {"ELEVEN_API_KEY": SECRET}),
        ("tts", "cartesia", {"CARTESIA_API_KEY": SECRET}),
        ("llm", "groq", {"GROQ_API_KEY": SECRET}),
        ("stt", "azure-speech", {"AZURE_SPEECH_KEY": SECRET, "AZURE_SPEECH_REGION": "westeurope"}),
        ("tts", "azure-speech", {"AZURE_SPEECH_KEY": SECRET, "AZURE_SPEECH_REGION": "westeurope"}),
    ],
)
async def test_other_vendors_build_official_plugins(stage: str, provider: str, env: dict[str, str]) -> None:
    cfg = load_config(env={**compatible_stages("http://127.0.0.1:9"), f"{stage.upper()}_PROVIDER": provider, **env})
    built = getattr(ProviderFactory, f"create_{stage}")(getattr(cfg, stage))
    assert type(built).__module__.startswith(f"livekit.plugins.{provider.split('-')[0]}")
    await built.aclose()
