"""The fixed-latency test providers: scripts, latencies, audio, failures, registration."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import APIConnectOptions, APIStatusError, APITimeoutError, llm, stt
from livekit.agents.utils import AudioBuffer

from voxplug.config.models import LLMConfig, STTConfig, TTSConfig
from voxplug.core.tools import current_time
from voxplug.errors import ConfigError
from voxplug.providers.registry import ProviderFactory
from voxplug.testing import (
    FixedLatencyLLM,
    FixedLatencySTT,
    FixedLatencyTTS,
    FixedLLMOptions,
    FixedSTTOptions,
    FixedTTSOptions,
)

NO_RETRY = APIConnectOptions(max_retry=0, retry_interval=0.0, timeout=0.3)


def _silence() -> AudioBuffer:
    return rtc.AudioFrame(data=bytes(320 * 2), sample_rate=16000, num_channels=1, samples_per_channel=320)


async def _collect(stream: llm.LLMStream) -> tuple[str, list[llm.FunctionToolCall], llm.CompletionUsage | None]:
    text, calls, usage = "", [], None
    async with stream:
        async for chunk in stream:
            if chunk.delta:
                text += chunk.delta.content or ""
                calls += chunk.delta.tool_calls
            usage = chunk.usage or usage
    return text, calls, usage


def _chat(user: str) -> llm.ChatContext:
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="system", content="be brief")
    ctx.add_message(role="user", content=user)
    return ctx


async def test_stt_returns_scripted_transcripts_in_order_then_the_default() -> None:
    engine = FixedLatencySTT(FixedSTTOptions(latency=0.05, transcripts=["one", "two"], transcript="dflt"))
    engine.push_transcript("three")
    started = time.perf_counter()
    heard = [(await engine.recognize(_silence())).alternatives[0].text for _ in range(4)]
    assert heard == ["one", "two", "three", "dflt"]
    assert time.perf_counter() - started >= 4 * 0.05
    event = await engine.recognize(_silence())
    assert event.type == stt.SpeechEventType.FINAL_TRANSCRIPT
    assert (engine.provider, engine.model, engine.calls) == ("fixed", "fixed", 5)


async def test_llm_waits_ttft_then_streams_the_reply_in_chunks_with_usage() -> None:
    engine = FixedLatencyLLM(FixedLLMOptions(ttft=0.1, reply="You said: {user}", chunks=3))
    started = time.perf_counter()
    first_at = None
    pieces = []
    async with engine.chat(chat_ctx=_chat("good morning")) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                first_at = first_at or time.perf_counter()
                pieces.append(chunk.delta.content)
            if chunk.usage:
                assert chunk.usage.completion_tokens > 0 and chunk.usage.prompt_tokens > 0
    assert first_at is not None and first_at - started >= 0.1
    assert "".join(pieces) == "You said: good morning"
    assert len(pieces) >= 2


async def test_llm_calls_a_tool_when_the_pattern_matches_and_the_tool_is_available() -> None:
    engine = FixedLatencyLLM(FixedLLMOptions(ttft=0.0))
    text, calls, usage = await _collect(engine.chat(chat_ctx=_chat("What TIME is it?"), tools=[current_time]))
    assert text == "" and [c.name for c in calls] == ["current_time"] and usage is not None
    # without the tool on offer it just replies
    text, calls, _ = await _collect(engine.chat(chat_ctx=_chat("What time is it?")))
    assert calls == [] and text == "This is a fixed reply."
    # after the tool's output it answers with it
    ctx = _chat("What time is it?")
    ctx.insert(llm.FunctionCall(call_id="c1", name="current_time", arguments="{}"))
    ctx.insert(llm.FunctionCallOutput(call_id="c1", name="current_time", output="noon", is_error=False))
    text, calls, _ = await _collect(engine.chat(chat_ctx=ctx, tools=[current_time]))
    assert calls == [] and text == "Here you go: noon."


async def test_llm_scripted_replies_are_used_in_order() -> None:
    engine = FixedLatencyLLM(FixedLLMOptions(ttft=0.0, replies=["first", "second"], reply="later"))
    texts = [(await _collect(engine.chat(chat_ctx=_chat("hi"))))[0] for _ in range(3)]
    assert texts == ["first", "second", "later"]


async def test_tts_waits_ttfb_then_pushes_24khz_audio_as_long_as_the_text() -> None:
    engine = FixedLatencyTTS(FixedTTSOptions(ttfb=0.05, chars_per_second=20))
    started = time.perf_counter()
    frames = []
    first_at = None
    async with engine.synthesize("x" * 20) as stream:  # 1 s of audio
        async for ev in stream:
            first_at = first_at or time.perf_counter()
            frames.append(ev.frame)
    assert first_at is not None and first_at - started >= 0.05
    assert {f.sample_rate for f in frames} == {24000} and {f.num_channels for f in frames} == {1}
    assert sum(f.duration for f in frames) == pytest.approx(1.0, abs=0.03)
    assert max(f.duration for f in frames) <= 0.021  # 20 ms chunks
    pcm = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])
    assert np.abs(pcm).max() > 5000  # a tone, not silence


async def test_tts_silence_option() -> None:
    engine = FixedLatencyTTS(FixedTTSOptions(ttfb=0.0, tone=0))
    async with engine.synthesize("hello") as stream:
        pcm = np.concatenate([np.frombuffer(ev.frame.data, dtype=np.int16) async for ev in stream])
    assert len(pcm) > 0 and not pcm.any()


async def test_injected_http_failure_then_recovery_after_fail_times() -> None:
    engine = FixedLatencyLLM(FixedLLMOptions(ttft=0.0, fail="http500", fail_times=1))
    with pytest.raises(APIStatusError) as info:
        await _collect(engine.chat(chat_ctx=_chat("hi"), conn_options=NO_RETRY))
    assert info.value.status_code == 500
    text, _, _ = await _collect(engine.chat(chat_ctx=_chat("hi"), conn_options=NO_RETRY))
    assert text == "This is a fixed reply."


async def test_injected_timeout_and_hang() -> None:
    engine = FixedLatencySTT(FixedSTTOptions(fail="timeout"))
    with pytest.raises(APITimeoutError):
        await engine.recognize(_silence(), conn_options=NO_RETRY)
    engine = FixedLatencySTT(FixedSTTOptions(fail="hang"))
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(engine.recognize(_silence(), conn_options=NO_RETRY), timeout=0.2)
    tts_engine = FixedLatencyTTS(FixedTTSOptions(fail="http429"))
    with pytest.raises(APIStatusError):
        async with tts_engine.synthesize("hi", conn_options=NO_RETRY) as stream:
            async for _ in stream:
                pass


async def test_llm_fallback_adapter_switches_to_the_next_fixed_llm() -> None:
    cfg = LLMConfig(provider="fixed", options={"fail": "http500"}, fallbacks=[
        LLMConfig(provider="fixed", options={"ttft": 0.0, "reply": "from the fallback"}),
    ])
    adapter = ProviderFactory.create_llm(cfg)
    assert isinstance(adapter, llm.FallbackAdapter)
    text, _, _ = await _collect(adapter.chat(chat_ctx=_chat("hi")))
    assert text == "from the fallback"
    await adapter.aclose()


def test_registered_as_provider_fixed_for_every_stage() -> None:
    for stage in ("stt", "llm", "tts"):
        assert "fixed" in ProviderFactory.list_providers(stage)  # type: ignore[arg-type]
    engine = ProviderFactory.create_tts(TTSConfig(provider="fixed", model="tone", options={"ttfb": 0.3}))
    assert isinstance(engine, FixedLatencyTTS)
    assert (engine.provider, engine.model, engine.opts.ttfb) == ("fixed", "tone", 0.3)
    stt_engine = ProviderFactory.create_stt(STTConfig(provider="fixed", options={"latency": 0.2}))
    assert isinstance(stt_engine, FixedLatencySTT) and stt_engine.opts.latency == 0.2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"latncy": 0.1}, "stt.options.latncy: unknown option"),
        ({"fail": "explode"}, "stt.options.fail: unknown failure 'explode'"),
        ({"latency": -1}, "stt.options.latency: must be a number of seconds"),
    ],
)
def test_bad_options_are_one_line_config_errors(options: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        ProviderFactory.create_stt(STTConfig(provider="fixed", options=options))
    assert len(info.value.problems) == 1 and info.value.problems[0].startswith(message)
