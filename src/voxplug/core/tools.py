"""Built-in function tools the agent can be given by name (``agent.tools`` in config)."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from livekit.agents import FunctionTool, RunContext, ToolError, function_tool

__all__ = ["BUILTIN_TOOLS", "calculate", "current_time", "resolve_tools"]


@function_tool
async def current_time(context: RunContext, timezone: str = "UTC") -> str:
    """Get the current date and time.

    Args:
        timezone: IANA time zone name such as "Europe/Paris"; defaults to UTC.
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"unknown time zone {timezone!r}") from None
    now = datetime.now(zone)
    return now.strftime(f"%A %d %B %Y, %H:%M ({timezone})")


_OPERATORS: dict[type, Callable[..., float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        if isinstance(node.op, ast.Pow) and abs(_evaluate(node.right)) > 100:
            raise ToolError("exponent too large")
        return _OPERATORS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.operand))
    raise ToolError("only numbers and + - * / % ** are allowed")


@function_tool
async def calculate(context: RunContext, expression: str) -> str:
    """Evaluate an arithmetic expression, for example "12 * (3 + 4)".

    Args:
        expression: the arithmetic expression to evaluate.
    """
    try:
        value = _evaluate(ast.parse(expression, mode="eval"))
    except (SyntaxError, ZeroDivisionError, OverflowError) as exc:
        raise ToolError(f"cannot evaluate {expression!r}: {exc.__class__.__name__}") from None
    return f"{value:g}"


BUILTIN_TOOLS: dict[str, FunctionTool] = {
    "current_time": current_time,
    "calculate": calculate,
}


def resolve_tools(names: list[str]) -> list[FunctionTool]:
    """The tools named in ``agent.tools``; an unknown name is a config error."""
    from ..errors import ConfigError

    unknown = [name for name in names if name not in BUILTIN_TOOLS]
    if unknown:
        known = ", ".join(sorted(BUILTIN_TOOLS))
        raise ConfigError(f"agent.tools: unknown tool {unknown[0]!r}; known: {known}")
    return [BUILTIN_TOOLS[name] for name in names]
