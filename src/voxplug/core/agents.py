"""Agents from configuration: the single ``agent:``, or the ``agents:`` map with handoffs.

A handoff is LiveKit's agent transfer: the ``transfer_to_<name>`` tool returns the new
agent, built then with the chat context so far (so it knows what was said) and its own
instructions, tools and, when configured, its own STT, LLM or TTS. On a phone call every
agent is told who is calling and gets the call's tools (``transfer_call``).
"""

from __future__ import annotations

import logging
from typing import Any

from livekit.agents import Agent, FunctionTool, RunContext, ToolError, function_tool
from livekit.agents.types import NOT_GIVEN

from ..config.agents import HandoffConfig, handoff_tool_name
from ..config.directory import Stage
from ..config.models import AgentConfig, VoxplugConfig
from ..errors import ConfigError, VoxplugError
from ..providers.registry import ProviderFactory
from .agent import VoiceAssistantAgent
from .telephony import PhoneCall
from .toolbox import ToolBox

__all__ = ["AgentFactory", "build_agent", "check_agents", "start_agent_id"]

logger = logging.getLogger(__name__)

CREATORS: dict[Stage, Any] = {
    "stt": ProviderFactory.create_stt,
    "llm": ProviderFactory.create_llm,
    "tts": ProviderFactory.create_tts,
}


def start_agent_id(config: VoxplugConfig) -> str:
    """The id (metrics label) of the agent that answers; with one agent, the session's agent name."""
    return config.start_agent_name if config.agents else config.worker.agent_name or config.agent.name


class AgentFactory:
    """Builds agents by name for one session (each handoff builds a fresh instance)."""

    def __init__(self, config: VoxplugConfig, toolbox: ToolBox | None = None, *, call: PhoneCall | None = None) -> None:
        self.config = config
        self.toolbox = toolbox or ToolBox(config)
        self.call = call

    def _where(self, name: str) -> str:
        return f"agents.{name}.tools" if self.config.agents else "agent.tools"

    def _agent_config(self, name: str, handed_off: bool) -> AgentConfig:
        agent = self.config.agent_config(name)
        if self.call is None:
            return agent
        told = self.call.agent_config(agent)
        # only the answering agent's greeting waits for the call to be up (PhoneCall.started)
        return told.model_copy(update={"greeting": agent.greeting}) if handed_off else told

    def create(self, name: str, *, chat_ctx: Any = None, handed_off: bool = False) -> VoiceAssistantAgent:
        """The agent ``name`` (ignored with a single agent); ConfigError on a bad tool or stage."""
        config = self.config
        agent = self._agent_config(name, handed_off)
        call_tools = self.call.tools() if self.call is not None else None
        if not config.agents:
            return VoiceAssistantAgent(
                agent, tools=self.toolbox.tools(agent.tools, "agent.tools"), extra_tools=call_tools,
                agent_id=start_agent_id(config), chat_ctx=chat_ctx, handed_off=handed_off,
            )
        tools: list[Any] = self.toolbox.tools(agent.tools, self._where(name))
        tools += [self._handoff_tool(name, h) for h in config.agents[name].handoff_configs()]
        models: dict[str, Any] = {}
        s = config.session
        # an agent's own LLM chain fails over on the session's deadlines, as the session's does
        timeouts = {"llm": {"attempt_timeout": s.fallback_attempt_timeout,
                            "first_token_timeout": s.fallback_first_token_timeout}}
        for stage, create in CREATORS.items():
            section = config.agent_stage(name, stage)
            try:
                models[stage] = create(section, **timeouts.get(stage, {})) if section is not None else NOT_GIVEN
            except ConfigError as exc:
                raise ConfigError(*(f"agents.{name}.{line}" for line in exc.problems)) from None
            except VoxplugError as exc:
                raise ConfigError(f"agents.{name}.{stage}: {exc}") from None
        return VoiceAssistantAgent(
            agent, tools=tools, extra_tools=call_tools, agent_id=name, chat_ctx=chat_ctx, handed_off=handed_off,
            **models,
        )

    def _handoff_tool(self, source: str, handoff: HandoffConfig) -> FunctionTool[..., Any]:
        target = handoff.agent
        about = self.config.agents[target].description
        description = handoff.description or (
            f"Transfer the conversation to the {target} agent" + (f", who {about}" if about else "") + "."
        )

        async def transfer(context: RunContext[Any]) -> Agent:
            current = context.session.current_agent
            history = current.chat_ctx.copy(exclude_instructions=True, exclude_config_update=True)
            try:
                agent = self.create(target, chat_ctx=history, handed_off=True)
            except VoxplugError as exc:  # a config that changed under a running worker
                logger.error("handoff %s -> %s failed: %s", source, target, exc)
                raise ToolError(f"the transfer to {target} is not possible right now") from None
            logger.info("handoff %s -> %s", source, target)
            return agent

        return function_tool(transfer, name=handoff_tool_name(target), description=description)


def build_agent(config: VoxplugConfig, *, call: PhoneCall | None = None) -> VoiceAssistantAgent:
    """The agent that answers the call, with its tools and handoffs (and the phone call's)."""
    return AgentFactory(config, call=call).create(config.start_agent_name)


def check_agents(config: VoxplugConfig) -> list[str]:
    """Build every agent once (no network): one line per bad tool, reference or stage."""
    try:
        factory = AgentFactory(config)
    except ConfigError as exc:
        return exc.problems
    problems: list[str] = []
    for name in config.agents or [config.agent.name]:
        try:
            factory.create(name)
        except ConfigError as exc:
            problems += [p for p in exc.problems if p not in problems]
    return problems
