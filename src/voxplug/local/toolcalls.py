"""Lenient tool-call parsing for small local models.

Small GGUF models follow their chat template's tool-call format only most of the time:
Qwen2.5 is asked for ``<tool_call>{"name": ..., "arguments": ...}</tool_call>`` but may
answer with a bare JSON object, a ```json fence, ``parameters`` instead of ``arguments``, or
arguments encoded as a JSON string. All of those are accepted; anything that does not name
a registered tool, or does not parse, is returned as plain text: a bad generation must
never crash the turn.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["ParsedOutput", "ParsedToolCall", "ToolCallSplitter", "parse_tool_calls"]

logger = logging.getLogger(__name__)

TOOL_CALL_OPEN = "<tool_call>"
# small models sometimes echo the template's tool schemas back before their call
_SCHEMA_ECHO = re.compile(r"<tools>.*?(?:</tools>|$)", re.DOTALL)
_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_FENCE = re.compile(r"^```[a-zA-Z0-9_-]*\s*(.*?)\s*(?:```|$)", re.DOTALL)
# how a reply that is (only) a tool call can begin
_STARTS = (TOOL_CALL_OPEN, "<tools>", "{", "```", "[{", "[\n")


@dataclass(frozen=True)
class ParsedToolCall:
    name: str
    arguments: str  # a JSON object, as LiveKit's FunctionToolCall wants it


@dataclass(frozen=True)
class ParsedOutput:
    text: str
    tool_calls: list[ParsedToolCall] = field(default_factory=list)


def _arguments(value: Any) -> str | None:
    if value is None:
        return "{}"
    if isinstance(value, str):  # OpenAI style: arguments encoded as a JSON string
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            return None
    if not isinstance(value, dict):
        return None
    return json.dumps(value, ensure_ascii=False)


def _calls_from_json(value: Any, names: Collection[str]) -> list[ParsedToolCall] | None:
    """Every shape small models use for a call; None when ``value`` is not (only) tool calls."""
    if isinstance(value, list):
        calls: list[ParsedToolCall] = []
        for item in value:
            found = _calls_from_json(item, names)
            if not found:
                return None
            calls.extend(found)
        return calls or None
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("tool_calls"), list):
        return _calls_from_json(value["tool_calls"], names)
    if isinstance(value.get("function"), dict):  # {"type": "function", "function": {...}}
        return _calls_from_json(value["function"], names)
    name = value.get("name")
    if isinstance(name, str):
        if name not in names:
            logger.debug("ignoring a call to unregistered tool %r", name)
            return None
        raw = next((value[k] for k in ("arguments", "parameters", "args", "input") if k in value), None)
        arguments = _arguments(raw)
        return [ParsedToolCall(name, arguments)] if arguments is not None else None
    if len(value) == 1:  # {"current_time": {"timezone": "Asia/Tokyo"}}
        ((key, raw),) = value.items()
        if key in names and isinstance(raw, dict):
            return [ParsedToolCall(key, json.dumps(raw, ensure_ascii=False))]
    return None


def _decode_prefix(text: str) -> tuple[Any, str] | None:
    """The JSON value at the start of ``text`` (fences removed) and what follows it."""
    text = text.strip()
    fence = _FENCE.match(text)
    if fence:
        text, rest = fence.group(1), text[fence.end():]
    else:
        rest = ""
    try:
        value, end = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return None
    return value, (text[end:] + rest).strip()


def parse_tool_calls(output: str, tool_names: Collection[str]) -> ParsedOutput:
    """Split a finished generation into spoken text and calls to the registered tools."""
    if not tool_names:
        return ParsedOutput(output)
    output = _SCHEMA_ECHO.sub("", output).strip()
    if TOOL_CALL_OPEN in output:
        calls: list[ParsedToolCall] = []
        for block in _BLOCK.finditer(output):
            decoded = _decode_prefix(block.group(1))
            found = _calls_from_json(decoded[0], tool_names) if decoded else None
            if found:
                calls.extend(found)
            else:
                logger.warning("dropping a malformed or unknown tool call: %.200s", block.group(0))
        if not calls:
            return ParsedOutput(output)
        text = _BLOCK.sub(" ", output)
        return ParsedOutput(" ".join(text.split()), calls)
    stripped = output.strip()
    if stripped.startswith(("{", "[", "```")):
        decoded = _decode_prefix(stripped)
        found = _calls_from_json(decoded[0], tool_names) if decoded else None
        if decoded and found:
            rest = decoded[1]
            # a fence's closing backticks or a lone bracket are not words to speak
            return ParsedOutput("" if set(rest) <= set("`[]} \n") else rest, found)
    return ParsedOutput(output)


Mode = Literal["undecided", "text", "buffer"]


class ToolCallSplitter:
    """Decides, token by token, what may be streamed as speech and what must be held.

    A reply that begins like a tool call is buffered until the end and parsed; any other
    reply is passed through at once, except a trailing fragment that could be the start of
    ``<tool_call>`` (held until the next token says otherwise), so a call that follows
    some text is still caught.
    """

    def __init__(self, *, tools_enabled: bool) -> None:
        self._mode: Mode = "undecided" if tools_enabled else "text"
        self._tools = tools_enabled
        self._held = ""

    @property
    def buffering(self) -> bool:
        return self._mode == "buffer"

    def feed(self, token: str) -> str:
        """Add generated text; return the part that can be streamed now."""
        self._held += token
        if not self._tools:
            out, self._held = self._held, ""
            return out
        if self._mode == "undecided":
            head = self._held.lstrip()
            if not head:
                return ""
            if head.startswith(_STARTS):
                self._mode = "buffer"
                return ""
            if any(marker.startswith(head) for marker in _STARTS):
                return ""  # "<tool" or "`" so far: wait for more
            self._mode = "text"
        if self._mode == "text":
            index = self._held.find(TOOL_CALL_OPEN)
            if index >= 0:
                out, self._held = self._held[:index], self._held[index:]
                self._mode = "buffer"
                return out
            keep = _partial_suffix(self._held, TOOL_CALL_OPEN)
            out = self._held[: len(self._held) - keep]
            self._held = self._held[len(out):]
            return out
        return ""

    def finish(self) -> tuple[str, str]:
        """End of generation: (text still to stream, buffered text to parse for calls)."""
        held, self._held = self._held, ""
        if self._mode == "buffer":
            return "", held
        return held, ""


def _partial_suffix(text: str, marker: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``marker``."""
    for size in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0
