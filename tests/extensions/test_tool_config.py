"""Tool and agent configuration: one clear line per mistake; Python tools by reference and entry point."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import voxplug.cli as voxplug_cli
from voxplug import load_config
from voxplug.core.agents import check_agents
from voxplug.core.plugins import entry_points_of
from voxplug.errors import ConfigError

from .conftest import config_from, fixed_yaml, text_session, write_config

GOOD_HTTP = {"type": "http", "description": "d", "url": "https://api.example.com/v1/x"}


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    try:
        config = load_config(write_config(tmp_path, text), env=env or {})
    except ConfigError as exc:
        return exc.problems
    return check_agents(config)


@pytest.mark.parametrize(("tool", "expected"), [
    ({**GOOD_HTTP, "parameters": {"type": "array"}},
     "tools.t.parameters: must be a JSON Schema with type: object (e.g. {type: object, properties: {...}})"),
    ({**GOOD_HTTP, "parameters": {"type": "object", "properties": {"n": {"type": "integr"}}}},
     "tools.t.parameters: invalid JSON Schema at properties/n/type: 'integr' is not valid under any of the "
     "given schemas"),
    ({**GOOD_HTTP, "parameters": {"type": "object", "properties": {}, "required": ["id"]}},
     "tools.t.parameters: required names 'id', which is not in properties"),
    ({**GOOD_HTTP, "url": "https://{host}/x"},
     "tools.t.url: the scheme, host and port must be literal (no {placeholders}, no user@, no spaces); put "
     "placeholders in the path or the query (got 'https://{host}/x')"),
    ({**GOOD_HTTP, "url": "ftp://files.example.com/x"}, "tools.t.url: must start with http:// or https:// (got 'ftp://files.example.com/x')"),
    ({**GOOD_HTTP, "url": "https://api.example.com/orders/{id}"},
     "tools.t: url: placeholder {id} is not a parameter; add it to parameters.properties"),
    ({**GOOD_HTTP, "method": "TRACE"},
     "tools.t.method: Input should be 'GET', 'POST', 'PUT', 'PATCH' or 'DELETE' (got 'TRACE')"),
    ({**GOOD_HTTP, "headers": {"Authorization": "Bearer sk-live0123456789abcdefXYZ"}},
     "tools.t.headers: header 'Authorization' looks like a credential written in the file; put it in an "
     "environment variable and write ${NAME} instead"),
    ({**GOOD_HTTP, "headers": {"X-Key": "${NOT_SET_ANYWHERE}"}},
     "tools.t.headers: environment variable NOT_SET_ANYWHERE is not set; export it or remove ${NOT_SET_ANYWHERE}"),
    ({**GOOD_HTTP, "signing": {"secret": "plain-text-secret-in-the-file"}},
     "tools.t.signing.secret: write the secret as ${NAME} and set the environment variable NAME"),
    ({"description": "no type"}, "tools.t: needs a type: http, mcp or python"),
    ({"type": "mcp", "url": "http://127.0.0.1:9/mcp", "command": "x"},
     "tools.t: give exactly one of url (streamable HTTP or SSE) or command (stdio)"),
    ({"type": "python", "ref": "not a reference"},
     "tools.t.ref: must be 'package.module:attribute' (e.g. acme_tools.crm:lookup_customer) (got 'not a reference')"),
    ({"type": "python", "ref": "json:decoder"},
     "tools.t.ref: got module, not a tool; decorate the function with @livekit.agents.function_tool (or return a "
     "Toolset or a list of tools)"),
    ({"type": "python", "ref": "json:dumps", "options": {"indent": 2}},
     "tools.t.ref: the factory rejected its options: dumps() missing 1 required positional argument: 'obj'"),
    ({"type": "python", "ref": "json:JSONDecodeError.msg"},
     "tools.t.ref: module 'json' has no attribute 'JSONDecodeError.msg'"),
])
def test_bad_tool_config_is_one_clear_line(tmp_path: Path, tool: dict[str, Any], expected: str) -> None:
    assert problems(tmp_path, fixed_yaml({}, agent={"tools": ["t"]}, tools={"t": tool})) == [expected]


def test_bad_agent_references_are_one_line_each(tmp_path: Path) -> None:
    text = fixed_yaml({}, agent={"tools": []}, start_agent="nobody", agents={
        "front": {"handoffs": ["billing", "front"], "tools": ["current_time", "lookup_ordr"]},
        "billing": {"tts": {"voicee": "x"}},
    })
    assert problems(tmp_path, text) == [
        "agents.front.handoffs.1: an agent cannot hand off to itself",
        "agents.billing.tts.voicee: unknown setting; check the spelling against docs/configuration.md",
        "start_agent: unknown agent 'nobody'; one of front, billing",
    ]
    text = fixed_yaml({}, agents={"front": {"handoffs": ["biling"], "tools": ["lookup_ordr"]}})
    assert problems(tmp_path, text) == ["agents.front.handoffs.0: unknown agent 'biling'; known: front"]
    text = fixed_yaml({}, agents={"front": {"tools": ["lookup_ordr"]}}, tools={"current_time": GOOD_HTTP})
    assert problems(tmp_path, text) == ["tools.current_time: clashes with the built-in tool 'current_time'; rename it"]
    text = fixed_yaml({}, agents={"front": {"tools": ["lookup_ordr"]}})
    [line] = problems(tmp_path, text)
    assert line.startswith("agents.front.tools: unknown tool 'lookup_ordr'; known: calculate, current_time, end_call")


def test_config_check_prints_one_error_line_per_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, fixed_yaml({}, agents={
        "front": {"tools": ["nope", "bad_ref"], "handoffs": ["back"]}, "back": {},
    }, tools={"bad_ref": {"type": "python", "ref": "no_such_pkg_xyz.tools:all"}}))
    assert voxplug_cli.main(["config", "check", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert err[0].startswith("error: agents.front.tools: unknown tool 'nope'; known: ")
    assert err[1].startswith("error: tools.bad_ref.ref: cannot import module 'no_such_pkg_xyz.tools'")


ACME = '''
from livekit.agents import RunContext, function_tool

@function_tool
async def order_status(context: RunContext, order_id: str) -> str:
    """Status of an order.

    Args:
        order_id: the order number
    """
    return f"order {order_id} shipped"

def make_tools(prefix: str = "ok"):
    @function_tool(name="ping")
    async def ping(context: RunContext) -> str:
        """Ping."""
        return f"{prefix}: pong"
    return [ping]
'''


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A third-party package on sys.path: a module and a dist-info with a voxplug.tools entry point."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "acme_voice_tools.py").write_text(textwrap.dedent(ACME), encoding="utf-8")
    dist = site / "acme_voice_tools-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-voice-tools\nVersion: 1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(
        "[voxplug.tools]\nacme_orders = acme_voice_tools:order_status\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(site))
    entry_points_of.cache_clear()  # read once per process: this test installs a package
    yield site
    sys.modules.pop("acme_voice_tools", None)
    entry_points_of.cache_clear()


async def test_python_tools_by_reference_and_entry_point(tmp_path: Path, acme: Path) -> None:
    text = fixed_yaml(
        {"tool_calls": {r"order (\d+)": {"name": "order_status", "arguments": {"order_id": "{1}"}}, "ping": "ping"}},
        agent={"tools": ["acme_orders", "pinger"]},
        tools={"pinger": {"type": "python", "ref": "acme_voice_tools:make_tools", "options": {"prefix": "acme"}}},
    )
    async with text_session(config_from(tmp_path, text)) as (session, _):
        order = await session.run(user_input="where is order 1234?")
        order.expect.next_event().is_function_call(name="order_status")
        out = order.expect.next_event().is_function_call_output().event().item
        assert out.output == "order 1234 shipped"
        ping = await session.run(user_input="ping")
        ping.expect.next_event().is_function_call(name="ping")
        assert ping.expect.next_event().is_function_call_output().event().item.output == "acme: pong"


def test_config_show_lists_tools_with_secrets_redacted(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERS_TOKEN", "tok-very-secret-value-123")
    path = write_config(tmp_path, fixed_yaml({}, tools={"t": {**GOOD_HTTP, "headers": {
        "Authorization": "Bearer ${ORDERS_TOKEN}", "Accept": "application/json"}}}))
    assert voxplug_cli.main(["config", "show", "--config", str(path), "--format", "json"]) == 0
    out = capsys.readouterr().out
    headers = json.loads(out)["tools"]["t"]["headers"]
    assert headers == {"Authorization": "**********", "Accept": "application/json"}
    assert "tok-very-secret" not in out


# -- hostile tools:/agents:/call: sections ------------------------------------------------
PLANTED = "sk-proj-PLANTED0123456789abcdefghijkl"
_text = st.one_of(st.text(max_size=30), st.just(PLANTED), st.just("${TOOL_TOKEN}"), st.just("${UNSET_NAME}"),
                  st.text(min_size=1, max_size=4).map(lambda t: t * 3_000))  # oversized
_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**9, 10**9), st.floats(allow_nan=False), _text)
_any = st.recursive(_leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(_text, inner, max_size=3)), max_leaves=8)
# refs from a short safe list: a python tool's factory is called with its options
_tool = st.fixed_dictionaries(
    {"type": st.sampled_from(["http", "mcp", "python", "smtp"])},
    optional={
        "description": _text, "url": st.one_of(_text, st.just("https://api.example.com/x/{id}")),
        "method": st.sampled_from(["GET", "POST", "TRACE"]), "headers": st.dictionaries(_text, _text, max_size=2),
        "parameters": _any, "timeout": _leaf, "signing": st.dictionaries(st.just("secret"), _text, max_size=1),
        "command": _text, "env": st.dictionaries(_text, _text, max_size=2),
        "ref": st.sampled_from(["voxplug.core.tools:current_time", "json:dumps", "nope.nope:x", "bad ref"]),
        "options": _any, "wait_message": _text, "response": _any,
    },
)
_agent = st.fixed_dictionaries({}, optional={
    "instructions": _text, "greeting": _text, "tools": st.lists(_text, max_size=3), "description": _text,
    "handoffs": st.lists(st.one_of(_text, st.dictionaries(st.sampled_from(["agent", "x"]), _text)), max_size=2),
    "tts": _any, "llm": st.one_of(_any, st.just({"provider": "openai"})),
})


@settings(max_examples=80, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(tools=st.dictionaries(_text, _tool, max_size=3), agents=st.dictionaries(_text, _agent, max_size=3),
       start=st.one_of(st.none(), _text),
       call=st.dictionaries(st.sampled_from(["max_duration", "end_call", "x"]), _any))
def test_hostile_tools_and_agents_are_one_bounded_line_each(
    tmp_path: Path, tools: dict[str, Any], agents: dict[str, Any], start: str | None, call: dict[str, Any]
) -> None:
    sections: dict[str, Any] = {"tools": tools, "agents": agents, "call": call}
    if start is not None:
        sections["start_agent"] = start
    lines = problems(tmp_path, fixed_yaml({}, **sections), env={"TOOL_TOKEN": PLANTED})
    for line in lines:
        assert PLANTED not in line and len(line) < 1_000, line[:300]
