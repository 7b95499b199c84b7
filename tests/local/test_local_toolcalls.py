"""The lenient tool-call parser and the streaming splitter (no model needed)."""

from __future__ import annotations

import json

import pytest

from voxplug.local.toolcalls import ParsedToolCall, ToolCallSplitter, parse_tool_calls

TOOLS = {"current_time", "calculate"}


def only_call(output: str) -> tuple[str, dict[str, object]]:
    parsed = parse_tool_calls(output, TOOLS)
    assert len(parsed.tool_calls) == 1, parsed
    call = parsed.tool_calls[0]
    return call.name, json.loads(call.arguments)


@pytest.mark.parametrize(
    "output",
    [
        '<tool_call>\n{"name": "current_time", "arguments": {"timezone": "Asia/Tokyo"}}\n</tool_call>',
        '<tool_call>{"name": "current_time", "arguments": {"timezone": "Asia/Tokyo"}}',  # unclosed
        '{"name": "current_time", "arguments": {"timezone": "Asia/Tokyo"}}',  # bare JSON
        '```json\n{"name": "current_time", "arguments": {"timezone": "Asia/Tokyo"}}\n```',  # fenced
        '<tool_call>\n```json\n{"name": "current_time", "arguments": {"timezone": "Asia/Tokyo"}}\n```\n</tool_call>',
        '{"name": "current_time", "arguments": "{\\"timezone\\": \\"Asia/Tokyo\\"}"}',  # string args
        '{"name": "current_time", "parameters": {"timezone": "Asia/Tokyo"}}',  # Llama 3 style
        '{"type": "function", "function": {"name": "current_time", "arguments": {"timezone": "Asia/Tokyo"}}}',
        '{"current_time": {"timezone": "Asia/Tokyo"}}',
        '[{"name": "current_time", "arguments": {"timezone": "Asia/Tokyo"}}]',
    ],
)
def test_accepted_shapes(output: str) -> None:
    assert only_call(output) == ("current_time", {"timezone": "Asia/Tokyo"})


def test_missing_arguments_are_an_empty_object() -> None:
    assert only_call('<tool_call>{"name": "current_time"}</tool_call>') == ("current_time", {})


def test_text_around_a_call_is_kept_and_several_calls_are_parsed() -> None:
    parsed = parse_tool_calls(
        'Let me check.\n<tool_call>\n{"name": "current_time", "arguments": {"timezone": "UTC"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "calculate", "arguments": {"expression": "2+2"}}\n</tool_call>',
        TOOLS,
    )
    assert parsed.text == "Let me check."
    assert [c.name for c in parsed.tool_calls] == ["current_time", "calculate"]


@pytest.mark.parametrize(
    "output",
    [
        '<tool_call>{"name": "launch_rockets", "arguments": {}}</tool_call>',  # unknown tool
        '{"name": "launch_rockets", "arguments": {}}',
        '<tool_call>{"name": "current_time", "arguments": {"timezone": </tool_call>',  # broken JSON
        '{"name": "current_time", "arguments": {"timezone": "UTC"',  # truncated
        '{"name": "current_time", "arguments": "not json"}',
        '{"name": "current_time", "arguments": [1, 2]}',
        '{"answer": 42}',  # JSON, but not a call
        "It is sunny today.",
        "",
    ],
)
def test_everything_else_is_plain_text(output: str) -> None:
    parsed = parse_tool_calls(output, TOOLS)
    assert parsed.tool_calls == []
    assert parsed.text == output


def test_without_registered_tools_nothing_is_a_call() -> None:
    output = '{"name": "current_time", "arguments": {}}'
    assert parse_tool_calls(output, set()).tool_calls == []


def feed_all(splitter: ToolCallSplitter, tokens: list[str]) -> tuple[str, str]:
    streamed = "".join(splitter.feed(t) for t in tokens)
    rest, buffered = splitter.finish()
    return streamed + rest, buffered


def test_splitter_streams_plain_text_at_once() -> None:
    splitter = ToolCallSplitter(tools_enabled=True)
    assert splitter.feed("The") == "The"
    assert splitter.feed(" capital") == " capital"
    assert splitter.finish() == ("", "")


def test_splitter_buffers_a_reply_that_starts_like_a_call() -> None:
    tokens = ["<", "tool", "_call", ">\n", '{"name": "current_time"', "}\n</tool_call>"]
    splitter = ToolCallSplitter(tools_enabled=True)
    assert [splitter.feed(t) for t in tokens] == [""] * len(tokens)
    assert splitter.finish() == ("", "".join(tokens))


@pytest.mark.parametrize("tokens", [[" {", '"name"'], ["```", "json"], ["[", "{"]])
def test_splitter_buffers_json_starts(tokens: list[str]) -> None:
    assert feed_all(ToolCallSplitter(tools_enabled=True), tokens) == ("", "".join(tokens))


def test_splitter_catches_a_call_after_some_text() -> None:
    tokens = ["Sure", ", checking", ". <", "tool_call", '>{"name": "x"}', "</tool_call>"]
    streamed, buffered = feed_all(ToolCallSplitter(tools_enabled=True), tokens)
    assert streamed == "Sure, checking. "
    assert buffered == '<tool_call>{"name": "x"}</tool_call>'


def test_splitter_releases_a_false_alarm() -> None:
    splitter = ToolCallSplitter(tools_enabled=True)
    assert splitter.feed("a <") == "a "
    assert splitter.feed("b> c") == "<b> c"
    assert splitter.feed("[laughs]") == "[laughs]"


def test_splitter_without_tools_passes_everything() -> None:
    assert feed_all(ToolCallSplitter(tools_enabled=False), ['{"name":', " 1}"]) == ('{"name": 1}', "")


def test_an_echoed_schema_block_is_dropped_and_the_call_after_it_parsed() -> None:
    echoed = (
        '<tools>\n{"type": "function", "function": {"name": "current_time", "parameters": {}}}\n</tools>\n\n'
        '{"name": "current_time", "arguments": {"timezone": "Asia/Tokyo"}}\n```'
    )
    parsed = parse_tool_calls(echoed, {"current_time"})
    assert parsed.tool_calls == [ParsedToolCall("current_time", '{"timezone": "Asia/Tokyo"}')]
    assert parsed.text == ""
