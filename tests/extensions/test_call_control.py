"""Ending calls: the end_call tool, the maximum duration and the silence timeout, as configured."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from livekit.agents import AgentSession, ChatMessage, CloseEvent

from voxplug.simulate import Turn, simulate

from .conftest import config_from, fixed_yaml, text_session

CLOSE_WAIT = 60.0  # generous: a loaded 2-core machine


def _watch(session: AgentSession) -> tuple[list[str], asyncio.Future[CloseEvent]]:
    said: list[str] = []
    closed: asyncio.Future[CloseEvent] = asyncio.get_running_loop().create_future()

    def item(ev: object) -> None:
        msg = getattr(ev, "item", None)
        if isinstance(msg, ChatMessage) and msg.role == "assistant":
            said.append(msg.text_content or "")

    session.on("conversation_item_added", item)
    session.on("close", lambda ev: closed.done() or closed.set_result(ev))
    return said, closed


async def test_end_call_says_goodbye_and_closes_the_session(tmp_path: Path) -> None:
    text = fixed_yaml({"tool_calls": {"bye": "end_call"}}, agent={"tools": ["end_call"]},
                      call={"end_call": {"goodbye": "Thanks for calling, goodbye!"}})
    async with text_session(config_from(tmp_path, text)) as (session, _):
        said, closed = _watch(session)
        result = await session.run(user_input="That's all, bye!")
        result.expect.next_event().is_function_call(name="end_call")
        ev = await asyncio.wait_for(closed, CLOSE_WAIT)
    assert said == ["Thanks for calling, goodbye!"]
    assert ev.reason.value == "user_initiated"


async def test_max_duration_ends_the_call(tmp_path: Path) -> None:
    text = fixed_yaml({}, call={"max_duration": 1.5, "max_duration_message": "Time is up, goodbye.",
                                "silence_timeout": 0})
    started = time.monotonic()
    async with text_session(config_from(tmp_path, text)) as (session, _):
        said, closed = _watch(session)
        await asyncio.wait_for(closed, CLOSE_WAIT)
    assert said == ["Time is up, goodbye."]
    assert time.monotonic() - started >= 1.5


async def test_silence_asks_then_ends_the_call(tmp_path: Path) -> None:
    text = fixed_yaml({}, call={"silence_timeout": 1.0, "silence_prompt": "Are you still there?",
                                "silence_prompts": 2, "silence_goodbye": "Goodbye for now."})
    async with text_session(config_from(tmp_path, text)) as (session, _):
        said, closed = _watch(session)
        await asyncio.wait_for(closed, CLOSE_WAIT)
    assert said == ["Are you still there?", "Are you still there?", "Goodbye for now."]


async def test_a_typed_answer_keeps_the_call_open(tmp_path: Path) -> None:
    text = fixed_yaml({"reply": "Good to hear."}, call={"silence_timeout": 1.0, "silence_prompts": 1})
    async with text_session(config_from(tmp_path, text)) as (session, _):
        said, closed = _watch(session)
        while not said:
            await asyncio.sleep(0.05)
        await session.run(user_input="Yes, I am here.")
        # the answer counts as presence: a full silence_timeout again before the next question
        await asyncio.sleep(0.3)
        assert not closed.done() and said == ["Are you still there?", "Good to hear."]
        await asyncio.wait_for(closed, CLOSE_WAIT)
    assert said[-2:] == ["Are you still there?", "It seems you have stepped away. I will end the call now. Goodbye!"]


async def test_silence_timeout_ends_a_spoken_call_in_simulate(tmp_path: Path) -> None:
    # audio mode: Silero VAD hears the user, then nothing; the call ends and the script stops there
    text = fixed_yaml({"reply": "Okay."}, call={"silence_timeout": 1.0, "silence_prompts": 0,
                                                "silence_goodbye": "Bye."})
    turns = [Turn(say="Hello.", pause=0.2), Turn(say="Are you there?", pause=6.0)]
    report = await simulate(config_from(tmp_path, text), turns, voice="espeak", turn_timeout=30)
    [session] = report.sessions
    first, second = session.turns
    assert first.ok and first.reply.startswith("Okay.")
    assert not second.ok and "session closed" in (second.error or "")
