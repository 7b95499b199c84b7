"""Agents on a phone call: every agent gets the call's tools and caller note; ending is the agent's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from livekit import rtc
from livekit.agents import AgentSession
from livekit.agents.llm.tool_context import get_fnc_tool_names

from voxplug.config.telephony import TelephonyConfig
from voxplug.core.agents import AgentFactory
from voxplug.core.call_control import end_session
from voxplug.core.telephony import CallInfo, PhoneCall
from voxplug.errors import ConfigError

from .conftest import config_from, fixed_yaml

CALLER = "+15557654321"
AGENTS = {
    "receptionist": {"instructions": "Greet the caller.", "greeting": "Riverside clinic, hello!",
                     "handoffs": ["billing"]},
    "billing": {"instructions": "You are billing.", "greeting": "Billing here.", "handoffs": ["receptionist"]},
}
TELEPHONY = {"transfer": {"destinations": {"desk": "tel:+15551234567"}}}


class Caller:
    """The SIP participant as ``_on_disconnected`` reads it."""

    identity = f"sip_{CALLER}"


def _call(session: AgentSession[Any]) -> PhoneCall:
    info = CallInfo(identity=Caller.identity, direction="inbound", remote_number=CALLER, trunk_number=None,
                    call_id="SCL_1", trunk_id=None)
    cfg = TelephonyConfig.model_validate(TELEPHONY)
    return PhoneCall(session, rtc.Room(), info, dtmf=cfg.dtmf, transfer=cfg.transfer)


def _names(agent: Any) -> set[str]:
    return set(get_fnc_tool_names(agent.tools))


async def test_every_agent_on_a_call_gets_transfer_call_and_the_caller(tmp_path: Path) -> None:
    config = config_from(tmp_path, fixed_yaml({}, agents=AGENTS, telephony=TELEPHONY))
    session: AgentSession[Any] = AgentSession()
    factory = AgentFactory(config, call=_call(session))

    answering = factory.create("receptionist")
    assert _names(answering) == {"current_time", "transfer_call", "transfer_to_billing"}
    assert f"The caller's number is {CALLER}." in answering.instructions
    assert answering.instructions.startswith("Greet the caller.")
    # the answering agent's greeting waits for the call to be up (PhoneCall.started says it)
    assert answering.config.greeting is None

    entered = factory.create("billing", handed_off=True)
    assert _names(entered) == {"current_time", "transfer_call", "transfer_to_receptionist"}
    assert f"The caller's number is {CALLER}." in entered.instructions
    assert entered.config.greeting == "Billing here."

    # off the phone: no transfer_call, no note, the greeting as configured
    plain = AgentFactory(config).create("receptionist")
    assert _names(plain) == {"current_time", "transfer_to_billing"}
    assert CALLER not in plain.instructions and plain.config.greeting == "Riverside clinic, hello!"


async def test_transfer_call_is_not_a_tool_name_to_list_or_define(tmp_path: Path) -> None:
    listed = config_from(tmp_path, fixed_yaml({}, agent={"tools": ["transfer_call"]}))
    with pytest.raises(ConfigError, match=r"agent.tools: transfer_call is not listed here; .*telephony.transfer"):
        AgentFactory(listed).create(listed.start_agent_name)
    tool = {"type": "python", "ref": "voxplug.core.tools:current_time"}
    defined = config_from(tmp_path, fixed_yaml({}, tools={"transfer_call": tool}))
    with pytest.raises(ConfigError, match=r"tools\.transfer_call: clashes with the built-in tool"):
        AgentFactory(defined)


async def test_a_call_the_agent_ends_is_an_agent_hangup(tmp_path: Path) -> None:
    session: AgentSession[Any] = AgentSession()
    call = _call(session)
    end_session(session, None, reason="end_call")  # what end_call, max_duration and silence do
    call._on_disconnected(Caller())  # type: ignore[arg-type]  # the room deleted: the caller leaves
    assert call.end_reason == "agent_hangup"

    other = _call(AgentSession())
    other._on_disconnected(Caller())  # type: ignore[arg-type]
    assert other.end_reason == "caller_hangup"
