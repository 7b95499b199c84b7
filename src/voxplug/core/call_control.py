"""Ending calls: the ``end_call`` tool, a maximum duration and a silence timeout (``call:``).

Each ends the same way: a last sentence spoken without interruption, then the session
closes. In a LiveKit job the job ends too and, with ``call.end_call.delete_room``, the room
is deleted so every participant (a SIP caller included) is disconnected.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from livekit.agents import (
    AgentSession,
    ChatMessage,
    CloseEvent,
    ConversationItemAddedEvent,
    FunctionTool,
    RunContext,
    UserStateChangedEvent,
    function_tool,
)
from livekit.agents.job import get_job_context

from ..config.call import CallConfig, EndCallConfig

__all__ = ["END_CALL_TOOL", "CallControl", "end_call_tool", "end_session", "ended_by"]

logger = logging.getLogger(__name__)

END_CALL_TOOL = "end_call"
END_CALL_DESCRIPTION = (
    "End the call. Call it when the user says goodbye or clearly has nothing more to ask; not when "
    "they ask to wait, hold or be transferred. The goodbye is spoken for you: say nothing else."
)
# the session state that records who ended the call (read by CallControl on close)
_ENDED_BY = "_voxplug_ended_by"


def ended_by(session: AgentSession[Any]) -> str | None:
    """Why the agent's side ended the session (``end_call``, ``max_duration``, ...), or None."""
    reason: str | None = getattr(session, _ENDED_BY, None)
    return reason


def end_session(session: AgentSession[Any], last_words: str | None, *, reason: str) -> None:
    """Say ``last_words`` (not interruptible), then close the session. Idempotent."""
    if ended_by(session) is not None:
        return
    setattr(session, _ENDED_BY, reason)
    logger.info("ending the call: %s", reason)
    if not last_words:
        session.shutdown()
        return
    handle = session.say(last_words, allow_interruptions=False)
    handle.add_done_callback(lambda _: session.shutdown())


def end_call_tool(cfg: EndCallConfig) -> FunctionTool[..., Any]:
    async def end_call(context: RunContext[Any]) -> None:
        # None: no reply from the LLM; the goodbye is queued after the current turn
        end_session(context.session, cfg.goodbye, reason="end_call")

    return function_tool(end_call, name=END_CALL_TOOL, description=END_CALL_DESCRIPTION)


class CallControl:
    """Maximum duration and silence timeout for one session; attach before ``session.start``.

    Silence is LiveKit's "away" user state: both sides silent for ``user_away_timeout``
    (set to ``call.silence_timeout`` by the session builder).
    """

    def __init__(self, cfg: CallConfig) -> None:
        self.cfg = cfg
        self.prompts = 0
        self._session: AgentSession[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._silence: asyncio.TimerHandle | None = None

    def attach(self, session: AgentSession[Any]) -> None:
        self._session = session
        session.on("agent_state_changed", self._on_agent_state)
        session.on("user_state_changed", self._on_user_state)
        session.on("conversation_item_added", self._on_item)
        session.on("close", self._on_close)

    def _on_agent_state(self, ev: Any) -> None:
        # the first state after "initializing": the session has started
        if ev.old_state == "initializing" and self._timer is None and self.cfg.max_duration > 0:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.cfg.max_duration, self._time_up)

    def _time_up(self) -> None:
        assert self._session is not None
        end_session(self._session, self.cfg.max_duration_message, reason="max_duration")

    def _on_user_state(self, ev: UserStateChangedEvent) -> None:
        if self._session is None or self.cfg.silence_timeout <= 0:
            return
        if ev.new_state == "away":
            self._silent()
            return
        if self._silence is not None:
            self._silence.cancel()
            self._silence = None
        if ev.new_state == "speaking":
            self.prompts = 0

    def _on_item(self, ev: ConversationItemAddedEvent) -> None:
        # typed input (console, web chat) never makes the user "speaking": count it as presence
        item = ev.item
        if isinstance(item, ChatMessage) and item.role == "user" and self._session is not None:
            self.prompts = 0
            if self._silence is not None:
                self._silence.cancel()
                self._silence = None
            self._session.reset_away_timer()

    def _silent(self) -> None:
        assert self._session is not None
        if self.prompts >= self.cfg.silence_prompts:
            end_session(self._session, self.cfg.silence_goodbye, reason="silence_timeout")
            return
        self.prompts += 1
        logger.info("silence for %.0f s: asking whether the user is still there", self.cfg.silence_timeout)
        handle = self._session.say(self.cfg.silence_prompt)
        # the user stays "away" while the agent asks, so LiveKit arms no new timer: arm ours
        handle.add_done_callback(lambda _: self._arm())

    def _arm(self) -> None:
        if self._session is not None and self._session.user_state == "away":
            loop = asyncio.get_running_loop()
            self._silence = loop.call_later(self.cfg.silence_timeout, self._still_silent)

    def _still_silent(self) -> None:
        self._silence = None
        if self._session is not None and self._session.user_state == "away":
            self._silent()

    def _on_close(self, ev: CloseEvent) -> None:
        for timer in (self._timer, self._silence):
            if timer is not None:
                timer.cancel()
        session = self._session
        reason = ended_by(session) if session is not None else None
        job = get_job_context(required=False)
        if job is None or reason is None:
            return  # no job (simulate, tests), or the call ended some other way: nothing more to do
        if self.cfg.end_call.delete_room:

            async def delete_room() -> None:
                await job.delete_room()

            job.add_shutdown_callback(delete_room)
        job.shutdown(reason=reason)
