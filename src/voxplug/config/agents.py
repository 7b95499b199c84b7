"""The ``agents:`` map: named agents with their own instructions, tools, voice and handoffs.

With no ``agents:`` the single agent is ``agent:`` (as always). With ``agents:``, ``agent:``
holds the defaults every agent inherits (a field an agent does not set comes from it), and
``start_agent`` (default: the first one listed) answers the call::

    start_agent: receptionist
    agents:
      receptionist:
        instructions: Greet the caller and find out what they need.
        tools: [lookup_order]
        handoffs: [billing]
      billing:
        description: Answers questions about invoices and payments.
        instructions: You are the billing specialist.
        greeting: Hi, this is billing. How can I help?
        tts: {voice: shimmer}        # merged over the top-level tts section
        handoffs: [receptionist]

Each handoff gives the agent a ``transfer_to_<name>`` tool (LiveKit's agent transfer: the
chat context carries over). ``stt``/``llm``/``tts`` overrides are merged over the top-level
section of that stage; naming another ``provider`` replaces the section instead.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from .base import Strict
from .directory import Stage

__all__ = ["AGENT_NAME", "AgentProfile", "HandoffConfig", "handoff_tool_name", "merge_stage_data"]

# agent names label metrics and name transfer_to_<name> tools: short identifiers only
AGENT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")

class HandoffConfig(Strict):
    agent: str
    # when the LLM should transfer (the tool's description); default from the target's description
    description: str | None = Field(default=None, max_length=1000)


class AgentProfile(Strict):
    """One named agent. Unset fields come from ``agent:``; ``greeting: null`` means none."""

    description: str | None = Field(default=None, max_length=1000)
    instructions: str | None = None
    greeting: str | None = None
    tools: list[str] | None = None
    handoffs: list[str | HandoffConfig] = Field(default_factory=list)
    stt: dict[str, Any] | None = None
    llm: dict[str, Any] | None = None
    tts: dict[str, Any] | None = None

    def handoff_configs(self) -> list[HandoffConfig]:
        return [h if isinstance(h, HandoffConfig) else HandoffConfig(agent=h) for h in self.handoffs]

    def stage_override(self, stage: Stage) -> dict[str, Any] | None:
        override: dict[str, Any] | None = getattr(self, stage)
        return override


def handoff_tool_name(agent: str) -> str:
    return f"transfer_to_{agent}"


def _provider(value: Any) -> str:
    return str(value).strip().lower().replace("_", "-")


def merge_stage_data(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """An agent's stage section: ``override`` over ``base`` (a dump of the top-level section).

    Another provider replaces the section (its credentials come from its own env names);
    the same provider keeps everything not overridden, ``options`` merged key by key.
    """
    if "provider" in override and _provider(override["provider"]) != _provider(base.get("provider", "")):
        return dict(override)
    merged = {**base, **override}
    merged["options"] = {**(base.get("options") or {}), **(override.get("options") or {})}
    return merged
