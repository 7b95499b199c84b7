"""A scripted LLM and a text-mode conversation driver for the persistence tests.

The conversation goes through a real ``AgentSession`` (no room, text input) so the store
sees LiveKit's own event objects: conversation items with metrics, tool executions, usage
updates, errors and the close event.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    Agent,
    AgentSession,
    APIConnectOptions,
    APIStatusError,
    RunContext,
    function_tool,
    llm,
    utils,
)
from livekit.agents.types import NOT_GIVEN, NotGivenOr

from voxplug.core.observers import SessionInfo, SessionObserver
from voxplug.core.session import attach_observers

SECRET_IN_TOOL = "sk-test-SECRET-0123456789"


class ScriptLLM(llm.LLM):
    """Replies "You said: ..."; calls ``lookup_order`` when asked about an order; fails on "boom"."""

    @property
    def model(self) -> str:
        return "script-1"

    @property
    def provider(self) -> str:
        return "fake"

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> llm.LLMStream:
        return _ScriptStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class _ScriptStream(llm.LLMStream):
    async def _run(self) -> None:
        items = self._chat_ctx.items
        last = items[-1] if items else None
        rid = utils.shortuuid("script_")
        await asyncio.sleep(0.01)
        if isinstance(last, llm.FunctionCallOutput):
            text = f"Your order status: {last.output}."
            self._event_ch.send_nowait(llm.ChatChunk(id=rid, delta=llm.ChoiceDelta(role="assistant", content=text)))
        else:
            user = next(
                (m.text_content or "" for m in reversed(items) if isinstance(m, llm.ChatMessage) and m.role == "user"),
                "",
            )
            if "boom" in user:
                raise APIStatusError(f"upstream exploded for key {SECRET_IN_TOOL}", status_code=500, retryable=False)
            if "order" in user:
                call = llm.FunctionToolCall(name="lookup_order", arguments='{"order_id": "A-17"}', call_id=rid)
                delta = llm.ChoiceDelta(role="assistant", tool_calls=[call])
                self._event_ch.send_nowait(llm.ChatChunk(id=rid, delta=delta))
                text = ""
            else:
                text = f"You said: {user}"
                for piece in (text[: len(text) // 2], text[len(text) // 2 :]):
                    self._event_ch.send_nowait(
                        llm.ChatChunk(id=rid, delta=llm.ChoiceDelta(role="assistant", content=piece))
                    )
        self._event_ch.send_nowait(
            llm.ChatChunk(
                id=rid,
                usage=llm.CompletionUsage(
                    completion_tokens=7, prompt_tokens=20, total_tokens=27, prompt_cached_tokens=4
                ),
            )
        )


class ShopAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You are a shop assistant.")

    @function_tool
    async def lookup_order(self, context: RunContext, order_id: str) -> str:
        """Look up an order's status.

        Args:
            order_id: the order id.
        """
        return f"order {order_id} shipped (token {SECRET_IN_TOOL})"


def make_session() -> AgentSession:
    return AgentSession(llm=ScriptLLM())


def make_info(agent: str = "shop", room: str | None = "room-1") -> SessionInfo:
    return SessionInfo(
        agent_name=agent, stt="none/none", llm="fake/script-1", tts="none/none",
        config_fingerprint="0123456789abcdef", room=room, participant="caller-1",
    )


async def run_conversation(
    observers: list[SessionObserver], inputs: list[str], *, info: SessionInfo | None = None
) -> SessionInfo:
    """Start a session, run each user input to completion, close the session and observers."""
    session = make_session()
    info = info or make_info()
    hub = attach_observers(session, info, observers)
    await session.start(ShopAgent())
    for text in inputs:
        # an LLM failure surfaces as an error event (and here as an exception); the session goes on
        with contextlib.suppress(Exception):
            await session.run(user_input=text)
    await session.aclose()
    await hub.aclose()
    return info
