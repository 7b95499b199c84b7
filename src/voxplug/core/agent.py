"""The voice assistant agent: instructions, tools and greeting from configuration."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from livekit.agents import Agent, FunctionTool, llm, stt, tts
from livekit.agents.llm import RawFunctionTool, Toolset
from livekit.agents.types import NOT_GIVEN, NotGivenOr

from ..config.models import AgentConfig
from .tools import resolve_tools

__all__ = ["VoiceAssistantAgent"]


class VoiceAssistantAgent(Agent):
    """A LiveKit ``Agent`` configured by :class:`~voxplug.config.AgentConfig`.

    The STT, LLM and TTS come from the session unless given (an agent of ``agents:`` with
    its own voice or model), so the same agent runs on any providers. ``tools``: the
    resolved tools (default: the built-ins named in ``config.tools``). An agent entered by
    a handoff with no greeting answers the conversation so far instead.
    """

    def __init__(
        self,
        config: AgentConfig,
        *,
        extra_tools: Sequence[FunctionTool[..., Any] | RawFunctionTool[..., Any]] | None = None,
        tools: list[FunctionTool[..., Any] | RawFunctionTool[..., Any] | Toolset] | None = None,
        agent_id: str | None = None,
        chat_ctx: llm.ChatContext | None = None,
        stt: NotGivenOr[stt.STT[Any]] = NOT_GIVEN,
        llm: NotGivenOr[llm.LLM[Any]] = NOT_GIVEN,
        tts: NotGivenOr[tts.TTS[Any]] = NOT_GIVEN,
        handed_off: bool = False,
    ) -> None:
        resolved: list[Any] = list(tools) if tools is not None else list(resolve_tools(config.tools))
        super().__init__(
            instructions=config.instructions,
            id=agent_id or config.name,
            chat_ctx=chat_ctx,
            tools=[*resolved, *(extra_tools or [])],
            stt=stt,
            llm=llm,
            tts=tts,
        )
        self.config = config
        self.handed_off = handed_off

    async def on_enter(self) -> None:
        if not self.config.greeting:
            if self.handed_off:
                self.session.generate_reply()  # the new agent speaks first, in its own words
            return
        model = self.session.llm
        if isinstance(model, llm.RealtimeModel) and self.session.tts is None and not model.capabilities.supports_say:
            # a realtime model without a TTS can only speak what it generates itself
            self.session.generate_reply(instructions=f"Greet the user with exactly these words: {self.config.greeting}")
            return
        # say() speaks a fixed text through the TTS: no LLM round trip before the first words
        self.session.say(self.config.greeting)
