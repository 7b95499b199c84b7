"""MCP servers as tool sources, through LiveKit's ``MCPToolset`` (``pip install 'voxplug[mcp]'``).

A server that cannot be reached when an agent starts costs that agent the server's tools
for the call (one warning line), never the call. Each tool call has the server's
``timeout``; a failure or a timeout becomes a ``ToolError`` the agent can speak about.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from collections.abc import Awaitable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from livekit.agents import ToolError, function_tool
from livekit.agents.llm import RawFunctionTool, Toolset
from pydantic import SecretStr

from ..config.tools import McpToolConfig
from ..errors import MissingExtraError, VoxplugError

if TYPE_CHECKING:
    from livekit.agents.llm.mcp import MCPServer, MCPToolResultContext

__all__ = ["McpUnavailableError", "build_mcp_toolset", "list_mcp_tools", "mcp_module", "mcp_where"]

logger = logging.getLogger(__name__)

MAX_RESULT_CHARS = 8000


class McpUnavailableError(VoxplugError):
    """An MCP server cannot be reached or listed (``voxplug config check --connect``)."""


def mcp_module() -> ModuleType:
    # an optional extra: the mcp package is only needed when a config names an MCP server
    try:
        return importlib.import_module("livekit.agents.llm.mcp")
    except ImportError:
        raise MissingExtraError("MCP servers need the mcp extra: pip install 'voxplug[mcp]'") from None


def _plain(values: dict[str, str | SecretStr]) -> dict[str, str]:
    return {k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in values.items()}


def _text_result(ctx: MCPToolResultContext) -> str:
    """Text parts as plain text (what a voice agent needs); anything else as LiveKit renders it."""
    parts = ctx.result.content
    texts = [getattr(part, "text", None) for part in parts]
    if not parts or any(t is None for t in texts):
        return str(mcp_module()._default_tool_result_resolver(ctx))[:MAX_RESULT_CHARS]
    return "\n".join(str(t) for t in texts)[:MAX_RESULT_CHARS]


def mcp_server(cfg: McpToolConfig) -> MCPServer:
    mcp = mcp_module()
    server: MCPServer
    if cfg.url is not None:
        server = mcp.MCPServerHTTP(
            cfg.url, transport_type=cfg.transport, allowed_tools=cfg.allowed_tools or None,
            headers=_plain(cfg.headers), timeout=cfg.timeout, client_session_timeout_seconds=cfg.timeout,
            tool_result_resolver=_text_result,
        )
    else:
        assert cfg.command is not None
        server = _stdio_server_class(mcp)(
            cfg.command, list(cfg.args), env=_plain(cfg.env) or None, cwd=cfg.cwd,
            client_session_timeout_seconds=cfg.timeout, tool_result_resolver=_text_result,
        )
    return server


def _stdio_server_class(mcp: ModuleType) -> Any:
    from mcp.client.stdio import StdioServerParameters, stdio_client  # the mcp extra, as above

    class StdioServer(mcp.MCPServerStdio):  # type: ignore[misc,name-defined]  # the class of an optional extra
        """The server's stderr goes to the process's own stderr: the SDK's default is whatever
        ``sys.stderr`` was when it was imported, which may be a replaced stream with no file."""

        def client_streams(self) -> Any:
            params = StdioServerParameters(command=self.command, args=self.args, env=self.env, cwd=self.cwd)
            return stdio_client(params, errlog=sys.__stderr__ or sys.stderr)

    return StdioServer


def mcp_where(cfg: McpToolConfig) -> str:
    return cfg.url or f"command {cfg.command!r}"


def _cause(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (anyio wraps transport failures in groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


async def _quietly(closing: Awaitable[Any]) -> None:
    """Close a client whose connection task may have failed or been cancelled: the task's
    own CancelledError must not look like ours (gather returns it instead of raising it)."""
    outcomes = await asyncio.gather(closing, return_exceptions=True)
    outcome: Any = outcomes[0]
    if isinstance(outcome, BaseException):
        logger.debug("mcp client closed with %s", type(outcome).__name__)


def _guarded(tool: RawFunctionTool[..., Any], timeout: float) -> RawFunctionTool[..., Any]:
    name = tool.info.name

    async def call(raw_arguments: dict[str, Any]) -> Any:
        try:
            return await asyncio.wait_for(tool(raw_arguments), timeout)
        except ToolError:
            raise
        except TimeoutError:
            raise ToolError(f"{name}: the tool server did not answer within {timeout:g} s") from None
        except Exception as exc:
            logger.warning("mcp tool %s failed: %s", name, type(_cause(exc)).__name__)
            raise ToolError(f"{name}: the tool server failed; try again later") from None

    return function_tool(call, raw_schema=tool.info.raw_schema)


def build_mcp_toolset(name: str, cfg: McpToolConfig) -> Toolset:
    """A toolset for one agent instance (LiveKit closes it when the agent's activity ends)."""
    mcp = mcp_module()

    class ConfiguredMCPToolset(mcp.MCPToolset):  # type: ignore[misc,name-defined]  # the class of an optional extra
        async def setup(self, *, reload: bool = False) -> ConfiguredMCPToolset:
            try:
                await asyncio.wait_for(super().setup(reload=reload), 2 * cfg.timeout + 5)
            except Exception as exc:
                cause = _cause(exc)
                logger.warning("mcp server %r (%s) is unavailable (%s): its tools are not offered on this call",
                               name, mcp_where(cfg), type(cause).__name__)
                await _quietly(self.aclose())
                return self
            allowed = set(cfg.allowed_tools)
            # the base class comes from an optional extra: mypy sees it as Any
            listed: list[Any] = list(getattr(self, "_tools", []))
            self._tools = [
                _guarded(t, cfg.timeout) for t in listed
                if isinstance(t, RawFunctionTool) and (not allowed or t.info.name in allowed)
            ]
            return self

    return ConfiguredMCPToolset(id=f"mcp_{name}", mcp_server=mcp_server(cfg))


async def list_mcp_tools(name: str, cfg: McpToolConfig) -> list[str]:
    """Connect and list the server's tools (after ``allowed_tools``); McpUnavailableError if it cannot."""
    server = mcp_server(cfg)
    try:
        # the session's own read timeout (cfg.timeout) ends a silent server; this is a backstop
        await asyncio.wait_for(server.initialize(), 2 * cfg.timeout + 5)
        tools = await asyncio.wait_for(server.list_tools(), 2 * cfg.timeout + 5)
    except Exception as exc:
        cause = _cause(exc)
        detail = f"{type(cause).__name__}: {str(cause).splitlines()[0][:200]}" if str(cause) else type(cause).__name__
        raise McpUnavailableError(f"tools.{name}: cannot reach MCP server {mcp_where(cfg)} ({detail})") from None
    finally:
        await _quietly(asyncio.wait_for(server.aclose(), cfg.timeout))
    names = [t.info.name for t in tools if isinstance(t, RawFunctionTool)]
    allowed = set(cfg.allowed_tools)
    return [n for n in names if not allowed or n in allowed]
