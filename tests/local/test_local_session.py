"""The local providers inside a real AgentSession (text mode), built from config by the factory."""

from __future__ import annotations

import re

import pytest
from livekit.agents import llm

from voxplug import load_config
from voxplug.core.agent import VoiceAssistantAgent
from voxplug.core.session import build_session
from voxplug.core.tools import calculate, current_time
from voxplug.local.llama import LlamaOptions, LocalLlamaLLM

pytestmark = pytest.mark.slow


async def test_session_calls_a_tool_and_answers_with_local_models(llama_llm) -> None:  # type: ignore[no-untyped-def]
    cfg = load_config(env={})  # keyless default: every stage local
    assert (cfg.stt.provider, cfg.llm.provider, cfg.tts.provider) == ("local", "local", "local")
    # no greeting: spoken while the typed question is answered, it landed in the history after the
    # question, and with it there the 0.5B model sometimes answered with a prompt example
    cfg.agent.greeting = None
    session = build_session(cfg)
    assert (session.llm.provider, session.stt.provider, session.tts.provider) == ("local",) * 3
    await session.start(VoiceAssistantAgent(cfg.agent))
    try:
        result = await session.run(user_input="What time is it in Tokyo?")
        # said at once, while the call is written and run (llm.options.call_filler)
        filler = result.expect.next_event().is_message(role="assistant")
        assert filler.event().item.text_content.strip() == "One moment."
        call = result.expect.next_event().is_function_call(name="current_time")
        assert "tokyo" in call.event().item.arguments.lower()
        output = result.expect.next_event().is_function_call_output()
        looked_up = output.event().item.output
        assert "Asia/Tokyo" in looked_up
        answer = result.expect.next_event().is_message(role="assistant").event().item.text_content or ""
        # spoken from the tool result (the filler in the history once made it recite an example)
        weekday = looked_up.split()[0]
        assert set(re.findall(r"\d+", looked_up)) & set(re.findall(r"\d+", answer)) or weekday in answer, answer
        result.expect.no_more_events()
    finally:
        await session.aclose()


async def test_a_repeated_tool_call_is_answered_without_tools(llama_llm) -> None:  # type: ignore[no-untyped-def]
    # rendered the template's own way, the 0.5B model asks for the same call again: the
    # stream must not hand that back (the session would loop) but answer without tools
    model = LocalLlamaLLM(options=LlamaOptions(tool_history="template", max_tokens=48))
    assert model.load() is llama_llm.load()
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content="What time is it in Tokyo?")
    ctx.insert([
        llm.FunctionCall(call_id="c1", name="current_time", arguments='{"timezone": "Asia/Tokyo"}'),
        llm.FunctionCallOutput(call_id="c1", name="current_time", output="17:05 (Asia/Tokyo)", is_error=False),
    ])
    response = await model.chat(chat_ctx=ctx, tools=[current_time]).collect()
    assert response.tool_calls == []
    assert response.usage is not None and response.usage.completion_tokens > 0


async def test_a_question_without_a_tool_is_answered_in_plain_words(llama_llm) -> None:  # type: ignore[no-untyped-def]
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content="What is the capital of France?")
    response = await LocalLlamaLLM().chat(chat_ctx=ctx, tools=[current_time, calculate]).collect()
    assert response.tool_calls == []
    assert "paris" in response.text.lower()
    assert not re.search(r"[*`#_{}<>\[\]|]|\bfunction", response.text)
