"""HTTP tools: a real local server receives what the scripted LLM asked for; failures are spoken."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from livekit.agents import ToolError

from voxplug.config.loader import redacted_dump
from voxplug.config.tools import HttpResponseConfig, HttpToolConfig
from voxplug.core.http_tool import format_response, render_request
from voxplug.room.devserver import free_port

from .conftest import SIGNING_SECRET, TOKEN, Backend, config_from, fixed_yaml, text_session

PARAMS = {
    "type": "object",
    "properties": {"day": {"type": "string", "maxLength": 200}, "service": {"type": "string"}},
    "required": ["day"],
}


def availability_tool(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "http", "description": "Free appointment slots on a weekday.", "parameters": PARAMS,
        "method": "GET", "url": f"{url}/v1/availability/{{day}}", "response": {"field": "message"}, **extra,
    }


def asks(day: str = "{1}") -> dict[str, Any]:
    """The scripted LLM: 'free on <day>' calls check_availability, then reads its output."""
    return {
        "tool_calls": {
            r"free on (\w+)": {"name": "check_availability", "arguments": {"day": day, "service": "check up"}},
        },
        "tool_replies": {"check_availability": "Sure. {output}"},
    }


# -- the URL template: arguments never move the request elsewhere ---------------------------------
TEMPLATES = [
    "https://api.example.com/v1/orders/{day}",
    "http://127.0.0.1:8080/a/{day}/b?x=1",
    "https://h.example:8443/{day}",
    "https://api.example.com/search?q={day}&lang=en",
]


@settings(max_examples=300, deadline=None)
@given(template=st.sampled_from(TEMPLATES), day=st.text(min_size=1, max_size=60),
       service=st.one_of(st.text(max_size=40), st.integers(), st.lists(st.text(max_size=5), max_size=3)))
def test_arguments_never_change_scheme_host_or_port(template: str, day: str, service: Any) -> None:
    cfg = HttpToolConfig(type="http", description="d", parameters={
        "type": "object", "properties": {"day": {"type": "string"}, "service": {}}, "required": ["day"],
    }, method="GET", url=template)
    expected = urlsplit(template)
    try:
        request = render_request(cfg, {"day": day, "service": service})
    except ToolError:
        assert day in (".", "..")  # the only refusals: values that would walk the server's path
        return
    got = urlsplit(request.url)
    assert (got.scheme, got.hostname, got.port, got.username) == (
        expected.scheme, expected.hostname, expected.port, None,
    )
    # the value sits whole in its one segment: no extra path segment, no extra query parameter
    prefix = expected.path.split("{day}")[0]
    assert got.path.startswith(prefix)
    if "{day}" in expected.path:
        segment = got.path[len(prefix):].split("/")[0]
        assert unquote(segment) == day
        assert got.path.count("/") == expected.path.count("/")
    assert got.fragment == ""


def test_body_methods_send_json_and_get_sends_the_rest_in_the_query() -> None:
    post = HttpToolConfig(type="http", description="d", parameters=PARAMS, method="POST",
                          url="https://api.example.com/v1/{day}/book")
    request = render_request(post, {"day": "thu/../x", "service": "a&b=c"})
    assert request.url == "https://api.example.com/v1/thu%2F..%2Fx/book"
    assert json.loads(request.body or b"") == {"service": "a&b=c"}
    get = post.model_copy(update={"method": "GET"})
    assert render_request(get, {"day": "mon", "service": "a&b=c#"}).url == (
        "https://api.example.com/v1/mon/book?service=a%26b%3Dc%23"
    )


def test_response_field_json_and_bounds() -> None:
    cfg = HttpResponseConfig(field="data.items.1", max_chars=100)
    assert format_response("t", cfg, b'{"data": {"items": ["a", "second"]}}') == "second"
    assert format_response("t", HttpResponseConfig(), b'{"a": [1, 2]}') == '{"a":[1,2]}'
    assert format_response("t", HttpResponseConfig(max_chars=100), b"x" * 500).endswith("…")
    for body in (b"not json", b'{"data": {}}'):
        with pytest.raises(ToolError):
            format_response("t", cfg, body)


# -- a real server, a real session -------------------------------------------------------------------
async def test_tool_call_reaches_the_server_and_its_answer_the_reply(
    tmp_path: Path, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    text = fixed_yaml(asks(), agent={"tools": ["check_availability"]}, tools={"check_availability": availability_tool(
        backend.url, headers={"Authorization": "Bearer ${APPOINTMENTS_TOKEN}"},
        signing={"secret": "${APPOINTMENTS_SIGNING_SECRET}"},
    )})
    env = {"APPOINTMENTS_TOKEN": TOKEN, "APPOINTMENTS_SIGNING_SECRET": SIGNING_SECRET}
    config = config_from(tmp_path, text, env=env)
    caplog.set_level(logging.DEBUG)
    async with text_session(config) as (session, _):
        result = await session.run(user_input="Is anything free on Thursday?")
        call = result.expect.next_event().is_function_call(name="check_availability")
        assert json.loads(call.event().item.arguments) == {"day": "Thursday", "service": "check up"}
        output = result.expect.next_event().is_function_call_output()
        assert not output.event().item.is_error
        reply = result.expect.next_event().is_message(role="assistant")
        assert reply.event().item.text_content == "Sure. On Thursday we have 12:00, 13:30 and 14:00 free."

    # (the example's test uses the same backend, with service "check-up")
    [seen] = [r for r in backend.requests("availability") if r["query"] == {"service": "check up"}
              and r["day"] == "thursday"]
    assert seen["authorized"] is True and seen["signed"] is True  # bearer from env, HMAC verified
    # the secret header is a SecretStr: never in a dump, never in a log line
    dump = json.dumps(redacted_dump(config))
    assert TOKEN not in dump and SIGNING_SECRET not in dump
    assert not [r for r in caplog.records if TOKEN in r.getMessage() or SIGNING_SECRET in r.getMessage()]


async def test_hostile_arguments_stay_on_the_configured_server(tmp_path: Path, backend: Backend) -> None:
    hostile = "Thursday?service=free&x=1#@evil.example:80"
    auth = {"headers": {"Authorization": "Bearer ${T}"}, "signing": {"secret": "${S}"}}
    options = asks(day=hostile)
    options["tool_calls"]["^walk$"] = {"name": "walk", "arguments": {"day": "../../health"}}
    text = fixed_yaml(options, agent={"tools": ["check_availability", "walk"]}, tools={
        "check_availability": availability_tool(backend.url, **auth),
        "walk": availability_tool(backend.url, **auth) | {"description": "x"},
    })
    async with text_session(config_from(tmp_path, text, env={"T": TOKEN, "S": SIGNING_SECRET})) as (session, _):
        result = await session.run(user_input="anything free on friday?")
        result.expect.next_event().is_function_call(name="check_availability")
        output = result.expect.next_event().is_function_call_output().event().item
        walked = await session.run(user_input="walk")
        walked.expect.next_event().is_function_call(name="walk")
        walk_output = walked.expect.next_event().is_function_call_output().event().item
    # the whole value is one path segment on the configured server: no injected query parameter,
    # no fragment, no other host (the backend saw it, and answered for a day it does not know)
    assert not output.is_error and "closed" in output.output
    [seen] = [r for r in backend.requests("availability") if "evil" in r["day"]]
    assert seen["day"] == hostile.lower() and seen["query"] == {"service": "check up"} and seen["signed"]
    # "../" is encoded inside its segment: the server finds no such day, it does not walk to /health
    assert walk_output.is_error and "HTTP status 404" in walk_output.output


async def test_timeout_and_unreachable_server_are_tool_errors_the_agent_speaks(
    tmp_path: Path, slow_backend: Backend
) -> None:
    tools = {
        "check_availability": availability_tool(slow_backend.url, timeout=0.5),
        "down": availability_tool(f"http://127.0.0.1:{_closed_port()}") | {"description": "A service that is down."},
    }
    options = asks()
    options["tool_calls"][r"down on (\w+)"] = {"name": "down", "arguments": {"day": "{1}"}}
    options["tool_reply"] = "Sorry: {output}"
    text = fixed_yaml(options, agent={"tools": ["check_availability", "down"]}, tools=tools)
    async with text_session(config_from(tmp_path, text)) as (session, _):
        for question, expected in (("free on monday?", "did not answer within 0.5 s"),
                                   ("anything down on monday?", "cannot be reached")):
            result = await session.run(user_input=question)
            result.expect.next_event().is_function_call()
            output = result.expect.next_event().is_function_call_output().event().item
            assert output.is_error and expected in output.output
            reply = result.expect.next_event().is_message(role="assistant").event().item
            assert expected in (reply.text_content or "")  # the agent speaks about it; the call goes on


async def test_wait_message_is_spoken_while_a_slow_tool_runs(tmp_path: Path, slow_backend: Backend) -> None:
    tool = availability_tool(slow_backend.url, timeout=30, wait_message="One moment, I am checking the calendar.",
                             wait_after=0.5)
    text = fixed_yaml(asks(), agent={"tools": ["check_availability"]}, tools={"check_availability": tool})
    async with text_session(config_from(tmp_path, text)) as (session, _):
        said: list[str] = []
        session.on("conversation_item_added", lambda ev: said.append(getattr(ev.item, "text_content", None) or ""))
        await session.run(user_input="anything free on tuesday?")
    assert said[-2:] == [
        "One moment, I am checking the calendar.", "Sure. On Tuesday we have 10:00, 11:30 and 12:00 free.",
    ]


async def test_a_fast_tool_says_no_wait_message(tmp_path: Path, backend: Backend) -> None:
    tool = availability_tool(backend.url, wait_message="One moment.", wait_after=5.0,
                             headers={"Authorization": f"Bearer {'${T}'}"}, signing={"secret": "${S}"})
    text = fixed_yaml(asks(), agent={"tools": ["check_availability"]}, tools={"check_availability": tool})
    async with text_session(config_from(tmp_path, text, env={"T": TOKEN, "S": SIGNING_SECRET})) as (session, _):
        said: list[str] = []
        session.on("conversation_item_added", lambda ev: said.append(getattr(ev.item, "text_content", None) or ""))
        await session.run(user_input="anything free on wednesday?")
    assert said == ["anything free on wednesday?", "Sure. On Wednesday we have 11:00, 12:30 and 13:00 free."]


def _closed_port() -> int:
    return free_port()  # bound and released: nothing listens there
