"""Tool names to tools: built-ins, ``end_call``, the ``tools:`` section, ``voxplug.tools`` entry points.

Tools are built per agent instance: an MCP toolset holds a connection that LiveKit closes
when the agent's activity ends, and a Python tool factory may keep per-call state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from livekit.agents import FunctionTool
from livekit.agents.llm import RawFunctionTool, Toolset

from ..config.models import VoxplugConfig
from ..config.tools import HttpToolConfig, McpToolConfig, PythonToolConfig, ToolSpec
from ..errors import ConfigError, MissingExtraError
from ..redaction import safe_repr
from .call_control import END_CALL_TOOL, end_call_tool
from .http_tool import build_http_tool
from .mcp_tools import McpUnavailableError, build_mcp_toolset, list_mcp_tools, mcp_where
from .plugins import TOOL_GROUP, entry_points_of, load_entry_point, load_reference
from .telephony import TRANSFER_CALL_TOOL
from .tools import BUILTIN_TOOLS

__all__ = ["AgentTool", "ToolBox", "as_tools", "build_tool", "describe_tools"]

AgentTool = FunctionTool[..., Any] | RawFunctionTool[..., Any] | Toolset


def as_tools(obj: Any, where: str, options: dict[str, Any] | None = None) -> list[AgentTool]:
    """A Python object as agent tools: a function tool, a ``Toolset``, a list of those, or a
    factory (any other callable) returning one of them, called with ``options``."""
    if not isinstance(obj, FunctionTool | RawFunctionTool | Toolset | list | tuple) and callable(obj):
        try:
            obj = obj(**(options or {}))
        except TypeError as exc:
            raise ConfigError(f"{where}: the factory rejected its options: {exc}") from None
    elif options:
        raise ConfigError(f"{where}.options: only a factory takes options; this is a {type(obj).__name__}")
    items = list(obj) if isinstance(obj, list | tuple) else [obj]
    bad = next((item for item in items if not isinstance(item, FunctionTool | RawFunctionTool | Toolset)), None)
    if bad is not None or not items:
        kind = type(bad).__name__ if bad is not None else "an empty list"
        raise ConfigError(
            f"{where}: got {kind}, not a tool; decorate the function with @livekit.agents.function_tool "
            "(or return a Toolset or a list of tools)"
        )
    return items


class ToolBox:
    """Resolves the tool names of agents for one configuration."""

    def __init__(self, config: VoxplugConfig) -> None:
        self.config = config
        self.entry_points = entry_points_of(TOOL_GROUP)
        clash = sorted(set(config.tools) & {*BUILTIN_TOOLS, END_CALL_TOOL, TRANSFER_CALL_TOOL})
        if clash:
            raise ConfigError(f"tools.{clash[0]}: clashes with the built-in tool {clash[0]!r}; rename it")

    def known(self) -> list[str]:
        return sorted({*BUILTIN_TOOLS, END_CALL_TOOL, *self.config.tools, *self.entry_points})

    def tools(self, names: Iterable[str], where: str) -> list[AgentTool]:
        """The tools for ``names`` (``where``: the config path listing them); one line per problem."""
        out: list[AgentTool] = []
        problems: list[str] = []
        for name in names:
            try:
                out += self._tool(name, where)
            except ConfigError as exc:
                problems += exc.problems
        if problems:
            raise ConfigError(*problems)
        return out

    def _tool(self, name: str, where: str) -> list[AgentTool]:
        if name in BUILTIN_TOOLS:
            return [BUILTIN_TOOLS[name]]
        if name == END_CALL_TOOL:
            return [end_call_tool(self.config.call.end_call)]
        spec = self.config.tools.get(name)
        if spec is not None:
            return build_tool(name, spec)
        ep = self.entry_points.get(name)
        if ep is not None:
            return as_tools(load_entry_point(ep, f"{where}: {name}"), f"{where}: entry point {name!r}")
        if name == TRANSFER_CALL_TOOL:
            raise ConfigError(
                f"{where}: {name} is not listed here; phone calls get it from telephony.transfer.destinations"
            )
        raise ConfigError(f"{where}: unknown tool {safe_repr(name, 64)}; known: {', '.join(self.known())}")


def build_tool(name: str, spec: ToolSpec) -> list[AgentTool]:
    where = f"tools.{name}"
    if isinstance(spec, HttpToolConfig):
        return [build_http_tool(name, spec)]
    if isinstance(spec, McpToolConfig):
        try:
            return [build_mcp_toolset(name, spec)]
        except MissingExtraError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    assert isinstance(spec, PythonToolConfig)
    return as_tools(load_reference(spec.ref, f"{where}.ref"), f"{where}.ref", spec.options)


async def describe_tools(config: VoxplugConfig, *, connect: bool = False) -> tuple[list[str], list[str]]:
    """One line per configured tool (``config check``), and one per problem. With ``connect``,
    each MCP server is contacted and its tools listed (an unreachable one is a problem)."""
    lines: list[str] = []
    problems: list[str] = []
    for name, spec in config.tools.items():
        if isinstance(spec, HttpToolConfig):
            lines.append(f"tool {name}: http {spec.method} {spec.origin}")
        elif isinstance(spec, PythonToolConfig):
            lines.append(f"tool {name}: python {spec.ref}")
        elif not connect:
            lines.append(f"tool {name}: mcp {mcp_where(spec)} (not contacted; --connect lists its tools)")
        else:
            try:
                tools = await list_mcp_tools(name, spec)
            except (McpUnavailableError, MissingExtraError) as exc:
                problems.append(str(exc) if isinstance(exc, McpUnavailableError) else f"tools.{name}: {exc}")
            else:
                lines.append(f"tool {name}: mcp {mcp_where(spec)}: {', '.join(tools) or 'no tools'}")
    for name, ep in sorted(entry_points_of(TOOL_GROUP).items()):
        lines.append(f"tool {name}: entry point {ep.value}")
    return lines, problems
