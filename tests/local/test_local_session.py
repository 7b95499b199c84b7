"""The local providers inside a real AgentSession (text mode), built from config by the factory."""

from __future__ import annotations

import pytest
from livekit.agents import llm

from voxplug.config.loader import load_config
from voxplug.core.agent import VoiceAssistantAgent
from voxplug.core.session import build_session
from voxplug.core.tools import current_time
from voxplug.local.llama import LlamaOptions, LocalLlamaLLM

pytestmark = pytest.mark.slow


async def test_session_calls_a_tool_and_answers_with_local_models(llama_llm) -> None:  # type: ignore[no-untyped-def]
    cfg = load_config(env={"AGENT_GREETING": ""})  # keyless default: every stage local
    assert (cfg.stt.provider, cfg.llm.provider, cfg.tts.provider) == ("local", "local", "local")
    session = build_session(cfg)
    assert (session.llm.provider, session.stt.provider, session.tts.provider) == ("local",) * 3
    await session.start(VoiceAssistantAgent(cfg.agent))
    try:
        result = await session.run(user_input="What time is it in Tokyo?")
        call = result.expect.next_event().is_function_call(name="current_time")
        assert "tokyo" in call.event().item.arguments.lower()
        output = result.expect.next_event().is_function_call_output()
        assert "Asia/Tokyo" in output.event().item.output
        answer = result.expect.next_event().is_message(role="assistant")
        assert answer.event().item.text_content  # spoken from the tool result
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
