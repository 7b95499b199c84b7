"""MCP servers from config: a real ``mcp`` server over streamable HTTP and stdio, listed and called."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from livekit.agents.llm import ToolContext

import voxplug.cli as voxplug_cli

from .conftest import SERVER, Backend, config_from, fixed_yaml, text_session, write_config

BOOK = {
    r"book (\w+) at (\S+) for (\w+)": {
        "name": "book_appointment", "arguments": {"day": "{1}", "time": "{2}", "name": "{3}"},
    },
}


def stdio_server(log: Path) -> dict[str, Any]:
    return {"type": "mcp", "command": sys.executable, "args": [str(SERVER), "--stdio", "--log", str(log)],
            "timeout": 60}


async def _book(tmp_path: Path, calendar: dict[str, Any]) -> str:
    text = fixed_yaml({"tool_calls": BOOK, "tool_reply": "Done. {output}"}, agent={"tools": ["calendar"]},
                      tools={"calendar": calendar})
    async with text_session(config_from(tmp_path, text)) as (session, _):
        result = await session.run(user_input="Please book Thursday at 9:30 for Robin.")
        result.expect.next_event().is_function_call(name="book_appointment")
        output = result.expect.next_event().is_function_call_output().event().item
        assert not output.is_error, output.output
        reply = result.expect.next_event().is_message(role="assistant").event().item
        return reply.text_content or ""


async def test_streamable_http_server_is_called(tmp_path: Path, backend: Backend) -> None:
    reply = await _book(tmp_path, {"type": "mcp", "url": f"{backend.url}/mcp", "allowed_tools": ["book_appointment"],
                                      "timeout": 60})
    [booking] = [r for r in backend.requests("book_appointment") if r["name"] == "Robin"]
    assert (booking["day"], booking["time"]) == ("Thursday", "9:30")
    # the MCP text result goes back to the LLM as plain text, and into the reply
    assert reply == f"Done. Booked Robin on Thursday at 9:30. The confirmation code is {booking['code']}."


async def test_stdio_server_is_spawned_and_called(tmp_path: Path) -> None:
    log = tmp_path / "stdio.jsonl"
    reply = await _book(tmp_path, stdio_server(log))
    assert "The confirmation code is" in reply
    assert '"kind": "book_appointment"' in log.read_text()


async def test_allowed_tools_filter_and_unreachable_server_costs_only_its_tools(
    tmp_path: Path, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    tools = {
        "calendar": {"type": "mcp", "url": f"{backend.url}/mcp", "allowed_tools": ["list_services"], "timeout": 60},
        "gone": {"type": "mcp", "url": "http://127.0.0.1:9/mcp", "timeout": 3},
    }
    text = fixed_yaml({"tool_calls": {"services": "list_services", **BOOK}},
                      agent={"tools": ["calendar", "gone", "current_time"]}, tools=tools)
    async with text_session(config_from(tmp_path, text)) as (session, _):
        result = await session.run(user_input="book Friday at 10:00 for Sam")
        # book_appointment is not allowed: the LLM is never offered it, so it answers in text
        result.expect.next_event().is_message(role="assistant")
        offered = set(ToolContext(session.current_agent.tools).function_tools)
        services = await session.run(user_input="which services do you offer?")
        services.expect.next_event().is_function_call(name="list_services")
    assert offered == {"current_time", "list_services"}
    assert "server 'gone'" in caplog.text and "its tools are not offered on this call" in caplog.text


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = voxplug_cli.main(["config", "check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_config_check_connect_lists_each_servers_tools(
    tmp_path: Path, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "stdio.jsonl"
    path = write_config(tmp_path, fixed_yaml({}, agent={"tools": ["http_calendar", "stdio_calendar"]}, tools={
        "http_calendar": {"type": "mcp", "url": f"{backend.url}/mcp", "timeout": 60},
        "stdio_calendar": stdio_server(log),
    }))
    code, out, err = _check(capsys, "--config", str(path))
    assert code == 0, err
    assert f"tool http_calendar: mcp {backend.url}/mcp (not contacted; --connect lists its tools)" in out
    code, out, err = _check(capsys, "--config", str(path), "--connect")
    assert code == 0, err
    assert f"tool http_calendar: mcp {backend.url}/mcp: book_appointment, list_services" in out
    assert "tool stdio_calendar: mcp command " in out and ": book_appointment, list_services" in out


def test_config_check_connect_unreachable_server_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, fixed_yaml({}, agent={"tools": ["calendar"]}, tools={
        "calendar": {"type": "mcp", "url": "http://127.0.0.1:9/mcp", "timeout": 3},
    }))
    code, _, err = _check(capsys, "--config", str(path), "--connect")
    assert code == 2
    assert err.strip().splitlines() == [
        "error: tools.calendar: cannot reach MCP server http://127.0.0.1:9/mcp "
        "(ConnectError: All connection attempts failed)"
    ]
