"""The real models: Whisper, Qwen2.5 (llama.cpp) and Piper, each loaded once per session."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import datetime

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import llm, stt

from voxplug.config.models import AgentConfig, STTConfig
from voxplug.core.tools import calculate, current_time, spoken_time
from voxplug.local.llama import LocalLlamaLLM, build_prompt, prompt_tokens, render_prompt, to_template_messages
from voxplug.local.whisper import LocalWhisperSTT, create_stt
from voxplug.simulate.report import edit_distance

pytestmark = pytest.mark.slow

SENTENCE = "What is the weather like in Paris today?"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def word_errors(expected: str, actual: str) -> int:
    """Word-level edit distance (substitutions + insertions + deletions)."""
    return edit_distance(words(expected), words(actual))


# -- STT --------------------------------------------------------------------------------------
async def test_whisper_transcribes_espeak_speech(whisper_stt, speech) -> None:  # type: ignore[no-untyped-def]
    event = await whisper_stt.recognize(speech(SENTENCE))
    assert event.type == stt.SpeechEventType.FINAL_TRANSCRIPT
    text = event.alternatives[0].text
    assert word_errors(SENTENCE, text) <= 1, text
    assert event.alternatives[0].language == "en"
    assert event.recognition_usage.audio_duration == pytest.approx(2.5, abs=1.5)


@pytest.fixture(scope="module")
def whisper_full_window() -> LocalWhisperSTT:
    # the frame conversion and language tests below use Whisper's full 30 s window: with the
    # default 10 s window this espeak-ng sentence comes out "Turn off the right sinver kitchen."
    # (measured 2026-12-01); the window's accuracy overall is benchmarks/q1_reply_quality.py's
    return create_stt(STTConfig(provider="local", options={"window": 30}))


async def test_whisper_accepts_48k_stereo_frames(whisper_full_window, speech) -> None:  # type: ignore[no-untyped-def]
    # what a room delivers: 48 kHz, here stereo, in 20 ms frames
    mono = speech("Turn off the lights in the kitchen.")
    up = rtc.AudioResampler(mono.sample_rate, 48_000)
    samples = np.concatenate([np.frombuffer(f.data, np.int16) for f in [*up.push(mono), *up.flush()]])
    stereo = np.repeat(samples, 2)
    frames = [
        rtc.AudioFrame(stereo[i : i + 1920].tobytes(), 48_000, 2, len(stereo[i : i + 1920]) // 2)
        for i in range(0, len(stereo), 1920)
    ]
    event = await whisper_full_window.recognize(frames)
    heard = event.alternatives[0].text.lower()  # the request's words, as in the locale test below
    assert "turn off" in heard and "kitchen" in heard, heard


async def test_whisper_on_an_empty_buffer_returns_empty_text(whisper_stt) -> None:  # type: ignore[no-untyped-def]
    silence = rtc.AudioFrame(b"\0\0" * 160, 16_000, 1, 160)
    event = await whisper_stt.recognize(silence)
    assert event.alternatives[0].text == ""


# -- LLM --------------------------------------------------------------------------------------
def chat(question: str) -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content="You are a helpful voice assistant. Answer briefly, in one sentence.")
    ctx.add_message(role="user", content=question)
    return ctx


async def run(model: LocalLlamaLLM, ctx: llm.ChatContext, tools: list | None = None):  # type: ignore[no-untyped-def,type-arg]
    chunks: list[llm.ChatChunk] = []
    async with model.chat(chat_ctx=ctx, tools=tools or []) as stream:
        async for chunk in stream:
            chunks.append(chunk)
    text = "".join(c.delta.content or "" for c in chunks if c.delta)
    calls = [call for c in chunks if c.delta for call in c.delta.tool_calls]
    return chunks, text, calls


async def test_llm_answers_a_plain_question_with_streamed_text(llama_llm) -> None:  # type: ignore[no-untyped-def]
    chunks, text, calls = await run(llama_llm, chat("What is the capital of France?"))
    assert "paris" in text.lower()
    assert calls == []
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens > 10 and usage.completion_tokens > 1
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_llm_streams_a_reply_a_clause_at_a_time(llama_llm) -> None:  # type: ignore[no-untyped-def]
    # the reply guard (local/replies.py) releases whole clauses: a one-clause answer is one chunk
    chunks, text, _ = await run(llama_llm, chat("Name three colours of the rainbow."))
    pieces = [c.delta.content for c in chunks if c.delta and c.delta.content]
    assert len(pieces) > 1, pieces  # streamed, not one block
    assert "".join(pieces) == text


@pytest.mark.parametrize(("request_", "refusal"), [
    ("Please set a timer for 10 minutes.", "Sorry, I can't"),  # the model said "Sure, I can set a timer ..."
    ("What's the weather like today?", "Sorry, I can't check"),  # "The weather is sunny today."
])
async def test_llm_refuses_what_it_would_have_pretended(llama_llm, request_: str, refusal: str) -> None:  # type: ignore[no-untyped-def]
    _, text, calls = await run(llama_llm, chat(request_))
    assert text.startswith(refusal) and len(text) > len(refusal) + 3, text
    assert calls == []


async def test_llm_spells_a_word_letter_by_letter(llama_llm) -> None:  # type: ignore[no-untyped-def]
    # without the opening the model said "Sure, I can spell "spider" for you."
    _, text, calls = await run(llama_llm, chat("Can you spell the word necessary for me?"))
    assert text.startswith("Necessary is spelled N, E, C, E, S, S, A, R, Y."), text
    assert len(text) < 200 and calls == []


async def test_a_reply_asked_again_goes_on_from_what_was_said(llama_llm) -> None:  # type: ignore[no-untyped-def]
    # with the agent's default instructions and greeting the model echoes the user's greeting: the
    # guard lets "Good morning!" through and stops the rest; asked again from scratch, the model
    # said "Good morning!" a second time
    agent = AgentConfig()
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content=agent.instructions)
    ctx.add_message(role="assistant", content=agent.greeting or "")
    ctx.add_message(role="user", content="Good morning! How are you today?")
    _, text, calls = await run(llama_llm, ctx)
    assert text.lower().count("good morning") == 1 and len(text) > len("Good morning! "), text
    assert calls == []


@pytest.mark.parametrize("question", ["What time is it right now?", "What? Time in it right now."])
async def test_llm_tells_the_time_the_tool_gave(llama_llm, question: str) -> None:  # type: ignore[no-untyped-def]
    # the second as Whisper heard the first in a Q1 run: the model answered it "I'm sorry, but I
    # can't assist with that."; with the date first in the result it said "3:37 PM" for 12:37
    agent = AgentConfig()
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content=agent.instructions)
    ctx.add_message(role="assistant", content=agent.greeting or "")
    ctx.add_message(role="user", content=question)
    ctx.insert([
        llm.FunctionCall(call_id="c1", name="current_time", arguments='{"timezone": "UTC"}'),
        llm.FunctionCallOutput(call_id="c1", name="current_time", is_error=False,
                               output=spoken_time(datetime(2026, 12, 3, 12, 37), "UTC")),
    ])
    _, text, calls = await run(llama_llm, ctx, [current_time])
    assert "12:37" in text and calls == [], text


async def test_llm_calls_a_registered_tool(llama_llm) -> None:  # type: ignore[no-untyped-def]
    _, text, calls = await run(llama_llm, chat("What time is it in Tokyo?"), [current_time])
    assert len(calls) == 1, text
    assert calls[0].name == "current_time"
    arguments = json.loads(calls[0].arguments)
    assert isinstance(arguments, dict)
    assert "tokyo" in str(arguments.get("timezone", "")).lower()
    assert calls[0].call_id
    assert "<tool_call>" not in text  # never spoken


def test_a_forced_call_starts_in_the_prompt_and_a_plain_turn_has_no_grammar(llama_llm) -> None:  # type: ignore[no-untyped-def]
    loaded = llama_llm.load()
    opts = llama_llm.options
    forced = build_prompt(loaded, opts, chat("What time is it in Tokyo?"), [current_time, calculate])
    prompt = loaded.llama.detokenize(forced.tokens, special=True).decode()
    # the one tool the words call for: the call's start ends the prompt and the grammar covers
    # only its arguments
    assert prompt.endswith('<|im_start|>assistant\n{"name": "current_time", "arguments": ')
    # only what the arguments mean (with the default shown: else the model copied the example
    # "Europe/Paris"), not how to call
    assert 'timezone (string, default "UTC")' in prompt and "calculate" not in prompt
    assert "<tool_call>" not in prompt
    assert forced.prefix == '{"name": "current_time", "arguments": ' and forced.suffix == "}"
    assert forced.grammar is not None and "timezone" in forced.grammar and "current_time" not in forced.grammar
    # two tools called for: both described, the grammar chooses between their calls
    both = build_prompt(loaded, opts, chat("What is 3 times 4, and what time is it?"), [current_time, calculate])
    assert both.prefix == "" and both.grammar is not None and '"\\"calculate\\""' in both.grammar
    # no tool called for: nothing described, no grammar (it slowed every generated token)
    plain = build_prompt(loaded, opts, chat("What is the capital of France?"), [current_time, calculate])
    assert plain.grammar is None and plain.schemas == {} and plain.prefix == ""


async def test_llm_answers_from_a_tool_result(llama_llm) -> None:  # type: ignore[no-untyped-def]
    ctx = chat("What time is it in Tokyo?")
    call = llm.FunctionCall(call_id="call_1", name="current_time", arguments='{"timezone": "Asia/Tokyo"}')
    ctx.insert([call, llm.FunctionCallOutput(call_id="call_1", name="current_time",
                                             output="Tuesday 24 November 2026, 17:05 (Asia/Tokyo)",
                                             is_error=False)])
    _, text, calls = await run(llama_llm, ctx, [current_time])
    assert calls == []
    assert "17" in text or "5" in text, text


def test_prompt_uses_the_gguf_template_with_tools(llama_llm) -> None:  # type: ignore[no-untyped-def]
    loaded = llama_llm.load()
    ctx = chat("What time is it in Tokyo?")
    ctx.insert([
        llm.FunctionCall(call_id="c1", name="current_time", arguments='{"timezone": "UTC"}'),
        llm.FunctionCallOutput(call_id="c1", name="current_time", output="noon", is_error=False),
    ])
    schemas = llm.ToolContext([current_time]).parse_function_tools("openai", strict=False)
    prompt = render_prompt(loaded, to_template_messages(ctx, tool_history="template"), schemas)
    assert prompt.startswith("<|im_start|>system\nYou are a helpful voice assistant.")
    assert '"name": "current_time"' in prompt and "<tools>" in prompt
    # arguments rendered once as JSON (not a JSON string inside JSON)
    assert '<tool_call>\n{"name": "current_time", "arguments": {"timezone": "UTC"}}\n</tool_call>' in prompt
    assert "<tool_response>\nnoon\n</tool_response>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    # the default hands the result over as a note the small model answers from
    noted = render_prompt(loaded, to_template_messages(ctx), schemas)
    assert "<|im_start|>system\nThe current_time tool returned: noon\n" in noted
    assert "<tool_response>" not in noted and noted.endswith("<|im_start|>assistant\n")


def test_long_history_is_trimmed_to_the_context(llama_llm) -> None:  # type: ignore[no-untyped-def]
    loaded = llama_llm.load()
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content="Be brief.")
    for i in range(200):
        ctx.add_message(role="user", content=f"Question number {i} about the weather in some city?")
        ctx.add_message(role="assistant", content=f"Answer number {i}: it is sunny and warm there.")
    ctx.add_message(role="user", content="And the last one?")
    tokens = prompt_tokens(loaded, to_template_messages(ctx), [], max_tokens=200)
    assert len(tokens) <= loaded.n_ctx - 200
    text = loaded.llama.detokenize(tokens, special=True).decode()
    assert text.startswith("<|im_start|>system\nBe brief.") and "And the last one?" in text
    assert "Question number 0 " not in text


# -- TTS --------------------------------------------------------------------------------------
async def test_piper_speech_transcribes_back(piper_tts, whisper_stt) -> None:  # type: ignore[no-untyped-def]
    text = "Hello there. The weather in Paris is sunny today. Have a wonderful afternoon."
    frames: list[rtc.AudioFrame] = []
    started = time.perf_counter()
    first_audio = None
    async with piper_tts.synthesize(text) as stream:
        async for event in stream:
            first_audio = first_audio or time.perf_counter() - started
            frames.append(event.frame)
    elapsed = time.perf_counter() - started
    audio = rtc.combine_audio_frames(frames)
    assert audio.sample_rate == 22050 and audio.num_channels == 1
    assert 3.0 < audio.duration < 8.0
    assert first_audio is not None and first_audio < elapsed  # the first sentence came early
    heard = (await whisper_stt.recognize(audio)).alternatives[0].text
    assert word_errors(text, heard) <= 1, heard


async def test_piper_length_scale_slows_speech(piper_tts) -> None:  # type: ignore[no-untyped-def]
    from voxplug.local.piper import PiperOptions, PiperTTS

    slow = PiperTTS(options=PiperOptions(length_scale=1.5))
    assert slow.load() is piper_tts.load()  # same voice, loaded once
    # 1.5 stretches the speech, not the fixed edges: measured ratios 1.31-1.40, once 1.20 on a
    # 4-word line under load; a longer line and a 1.15 bound keep the check without the flake
    text = "Good morning to you, and thank you for calling the city library about your books today."
    normal = (await piper_tts.synthesize(text).collect()).duration
    slower = (await slow.synthesize(text).collect()).duration
    assert slower > normal * 1.15


async def test_an_interrupted_generation_frees_the_model(llama_llm) -> None:  # type: ignore[no-untyped-def]
    loaded = llama_llm.load()
    stream = llama_llm.chat(chat_ctx=chat("Tell me a very long story about a dragon and a knight."))
    async for chunk in stream:
        if chunk.delta and chunk.delta.content:
            break  # the user barged in after the first words
    await stream.aclose()
    started = time.perf_counter()
    while loaded.lock.locked():  # the worker thread stops within a token or so
        assert time.perf_counter() - started < 5.0
        await asyncio.sleep(0.02)
    _, text, _ = await run(llama_llm, chat("Say hello."))
    assert text


def test_warm_prompt_caches_the_shared_prefix(llama_llm) -> None:  # type: ignore[no-untyped-def]
    loaded = llama_llm.load()
    cached = llama_llm.warm_prompt("You are a helpful voice assistant.", [current_time])
    assert cached > 100  # the voice prompt's rules and examples are most of it
    ctx = chat("What time is it in Tokyo?")
    ctx.items[0].content = ["You are a helpful voice assistant."]  # type: ignore[union-attr]
    # the turn's tools are described after the cached prefix, just before the user's words
    tokens = build_prompt(loaded, llama_llm.options, ctx, [current_time]).tokens
    shared = next(i for i, (a, b) in enumerate(zip(tokens, loaded.llama._input_ids, strict=False)) if a != b)
    assert shared > cached - 10  # everything but the user's words is already evaluated


async def test_whisper_accepts_a_locale_as_language(whisper_full_window, speech) -> None:  # type: ignore[no-untyped-def]
    event = await whisper_full_window.recognize(speech("Turn off the lights in the kitchen."), language="en-US")
    assert event.alternatives[0].language == "en"
    # the words that carry the request: on a loaded machine the same recording once came out
    # "Turn off the right simple kitchen." (the decode is not bit-stable across runs there)
    heard = event.alternatives[0].text.lower()
    assert "turn off" in heard and "kitchen" in heard, heard
