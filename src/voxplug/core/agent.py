"""The voice assistant agent: instructions, tools and greeting from configuration."""

from __future__ import annotations

from livekit.agents import Agent, FunctionTool

from ..config.models import AgentConfig
from .tools import resolve_tools

__all__ = ["VoiceAssistantAgent"]


class VoiceAssistantAgent(Agent):
    """A LiveKit ``Agent`` configured by :class:`~voxplug.config.AgentConfig`.

    The STT, LLM and TTS come from the session, so the same agent runs on any providers.
    """

    def __init__(self, config: AgentConfig, *, extra_tools: list[FunctionTool] | None = None) -> None:
        super().__init__(
            instructions=config.instructions,
            tools=[*resolve_tools(config.tools), *(extra_tools or [])],
        )
        self.config = config

    async def on_enter(self) -> None:
        # say() speaks a fixed text through the TTS: no LLM round trip before the first words
        if self.config.greeting:
            self.session.say(self.config.greeting)
