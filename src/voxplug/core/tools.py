"""Built-in function tools the agent can be given by name (``agent.tools`` in config)."""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from livekit.agents import FunctionTool, RunContext, ToolError, function_tool

from ..errors import ConfigError

__all__ = ["BUILTIN_TOOLS", "calculate", "current_time", "resolve_tools", "spoken_time"]


@function_tool
async def current_time(context: RunContext[Any], timezone: str = "UTC") -> str:
    """Get the current date and time.

    Args:
        timezone: IANA time zone name such as "Europe/Paris"; defaults to UTC.
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"unknown time zone {timezone!r}") from None
    return spoken_time(datetime.now(zone), timezone)


def spoken_time(now: datetime, zone: str) -> str:
    """A time as people say it, on a 12-hour clock: given "05:05" the packaged 0.5B model
    said "5:05 PM" for five in the morning. The time comes first: after "Thursday 3 December
    2026, 12:37 PM" it said "The time is 3:37 PM" (the day's number for the hour) in 7 of 24
    answers, after "12:37 PM, Thursday 3 December 2026" in none; date questions 36 of 36 either way."""
    meridiem = "AM" if now.hour < 12 else "PM"
    return f"{now.hour % 12 or 12}:{now:%M} {meridiem}, {now:%A} {now.day} {now:%B %Y} ({zone})"


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
    raise ToolError('only numbers, + - * / % ** and "N% of M" are allowed')


MAX_EXPRESSION = 200

# "15% of 80" and "80 * 15%": a percentage, as people say it; "%" between two operands stays the
# remainder. Asked "what's fifteen percent of eighty dollars?", the packaged 0.5B model wrote
# "15 / 80" until the tool's description showed it how to write a percentage
# (benchmarks/q1_reply_quality.py)
_PERCENT_OF = re.compile(r"(\d+(?:\.\d+)?)\s*%\s*of\b", re.IGNORECASE)
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%(?!\s*[\d(.])")


def _percentages(expression: str) -> str:
    """``expression`` with its percentages as fractions: "15% of 80" -> "(15 / 100) * 80"."""
    return _PERCENT.sub(r"(\1 / 100)", _PERCENT_OF.sub(r"(\1 / 100) *", expression))


@function_tool
async def calculate(context: RunContext[Any], expression: str) -> str:
    """Evaluate an arithmetic expression, for example "12 * (3 + 4)" or "15% of 80".

    Args:
        expression: the arithmetic expression to evaluate.
    """
    expression = expression.strip()
    if len(expression) > MAX_EXPRESSION:  # the LLM's argument: bounded before parsing
        raise ToolError(f"the expression is longer than {MAX_EXPRESSION} characters")
    try:
        value = _evaluate(ast.parse(_percentages(expression), mode="eval"))
    except (SyntaxError, ZeroDivisionError, OverflowError) as exc:
        raise ToolError(f"cannot evaluate {expression!r}: {exc.__class__.__name__}") from None
    # the whole equation, not the bare number: given "391" the packaged 0.5B model still said
    # "twenty three times seventeen equals 507"; given "23 * 17 = 391" it repeats the result
    return f"{expression} = {_spoken_number(value)}"


def _spoken_number(value: float) -> str:
    """A result as a voice reads it: at most 4 decimals, no trailing zeros, an exponent only
    past what anyone says aloud."""
    if not math.isfinite(value) or abs(value) >= 1e15:
        return f"{value:g}"
    if value.is_integer():
        return str(int(value))
    return f"{value:.4f}".rstrip("0").rstrip(".")


BUILTIN_TOOLS: dict[str, FunctionTool[..., Any]] = {
    "current_time": current_time,
    "calculate": calculate,
}


def resolve_tools(names: list[str]) -> list[FunctionTool[..., Any]]:
    """The tools named in ``agent.tools``; an unknown name is a config error."""
    unknown = [name for name in names if name not in BUILTIN_TOOLS]
    if unknown:
        known = ", ".join(sorted(BUILTIN_TOOLS))
        raise ConfigError(f"agent.tools: unknown tool {unknown[0]!r}; known: {known}")
    return [BUILTIN_TOOLS[name] for name in names]
