"""The telephony parts that need no phone network: config checks, dial requests from
untrusted metadata, bounded caller attributes, the keypad buffer and the transfer tool."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from livekit import rtc
from livekit.agents import ToolError
from pydantic import ValidationError

from voxplug.config.telephony import DTMFConfig, OutboundTrunkConfig, TelephonyConfig, TransferConfig
from voxplug.core.telephony import ATTRIBUTE_LIMITS, KeypadInput, call_info, transfer_call_tool
from voxplug.persistence.database import Database
from voxplug.persistence.events import SESSION_ATTRIBUTES, StoreEvent, attributes_data
from voxplug.redaction import Redactor
from voxplug.telephony.calls import parse_dial_request

TRUNK = "ST_abcdef123456"


def test_transfer_destinations_must_be_sip_or_tel() -> None:
    TransferConfig(destinations={"sales": "tel:+15551234567", "desk": "sip:desk@pbx.example.com"})
    for bad in ({"Sales Team": "tel:+15551234567"}, {"x": "http://evil.example.com"}, {"x": "sip:a b@c"}):
        with pytest.raises(ValidationError):
            TransferConfig(destinations=bad)


def test_numbers_and_prefixes_are_e164() -> None:
    with pytest.raises(ValidationError, match=r"E\.164"):
        TelephonyConfig.model_validate({"inbound": {"numbers": ["555-0100"]}})
    with pytest.raises(ValidationError):
        OutboundTrunkConfig(allowed_prefixes=["1"])
    out = OutboundTrunkConfig(allowed_prefixes=["+44", "+331"])
    assert out.allows("+447700900123") and out.allows("+33123456789")
    assert not out.allows("+15551234567") and not out.allows("447700900123")


def test_dial_request_from_metadata() -> None:
    cfg = OutboundTrunkConfig(allowed_prefixes=["+1"])
    raw = json.dumps({"dial": {"number": "+15551234567", "trunk_id": TRUNK}})
    request = parse_dial_request(cfg, None, "not json", raw)
    assert request is not None and request.number == "+15551234567" and request.trunk_id == TRUNK
    assert parse_dial_request(cfg, json.dumps({"voxplug": {"tts.voice": "x"}})) is None
    for refused, reason in (
        ({"dial": {"number": "+447700900123", "trunk_id": TRUNK}}, "allowed_prefixes"),
        ({"dial": {"number": "15551234567", "trunk_id": TRUNK}}, "E.164"),
        ({"dial": {"number": "+15551234567"}}, "trunk id"),
        ({"dial": "+15551234567"}, "object"),
    ):
        with pytest.raises(ValueError, match=reason):
            parse_dial_request(cfg, json.dumps(refused))


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=300), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["dial", "number", "trunk_id", "x"]),
                                                                 inner, max_size=4),
    max_leaves=12,
).map(json.dumps)))
def test_dial_request_parser_never_fails_other_than_a_refusal(raw: str) -> None:
    try:
        request = parse_dial_request(OutboundTrunkConfig(), raw)
    except ValueError as exc:
        assert "\n" not in str(exc)
        return
    if request is not None:  # only a well-formed request gets through
        assert request.number.startswith("+") and request.trunk_id.startswith("ST_")


@dataclass
class Participant:
    identity: str = "sip_+15557654321"
    kind: int = rtc.ParticipantKind.PARTICIPANT_KIND_SIP
    attributes: dict[str, str] = field(default_factory=dict)


def test_call_info_reads_sip_attributes_and_bounds_the_rest() -> None:
    count, key_len, value_len = ATTRIBUTE_LIMITS
    attrs = {
        "sip.phoneNumber": "+15557654321", "sip.trunkPhoneNumber": "+15550100", "sip.callID": "SCL_1",
        "sip.callStatus": "active", "sip.h.x-customer-id": "cust-42", "k" * (key_len + 1): "long key",
        "bad key!": "x", "sip.h.x-big": "v" * 10_000, "sip.h.x-ctl": "a\x00b\x1bc",
        **{f"x{i:03d}": "filler" for i in range(count * 2)},
    }
    info = call_info(Participant(attributes=attrs), direction="inbound")  # type: ignore[arg-type]
    assert info is not None
    assert info.remote_number == "+15557654321" and info.trunk_number == "+15550100" and info.call_id == "SCL_1"
    assert len(info.attributes) <= count and all(len(k) <= key_len for k in info.attributes)
    assert all(len(v) <= value_len and v.isprintable() for v in info.attributes.values())
    assert "sip.callStatus" not in info.attributes and "bad key!" not in info.attributes
    stored = info.store_attributes()
    assert stored["call.direction"] == "inbound" and stored["call.remote_number"] == "+15557654321"
    assert "+15557654321" in info.context_note()
    web = Participant(identity="browser", kind=rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD)
    assert call_info(web, direction="inbound") is None  # type: ignore[arg-type]


class Session:
    """Records the user turns the keypad asks for (the real session is exercised end to end)."""

    def __init__(self) -> None:
        self.turns: list[str] = []

    def generate_reply(self, *, user_input: str) -> None:
        self.turns.append(user_input)


@dataclass
class Dtmf:
    digit: str
    participant: Any
    code: int = 0


async def test_keypad_sends_digits_after_a_pause_or_the_terminator() -> None:
    session = Session()
    caller, other = Participant(), Participant(identity="someone-else")
    keypad = KeypadInput(session, DTMFConfig(inter_digit_timeout=0.2, max_digits=4), identity=caller.identity)  # type: ignore[arg-type]
    for digit in "12#":
        keypad.on_dtmf(Dtmf(digit, caller))  # type: ignore[arg-type]
    keypad.on_dtmf(Dtmf("9", other))  # type: ignore[arg-type]  # not the caller: ignored
    assert session.turns == ["The caller pressed 1 2 on the keypad."]
    keypad.on_dtmf(Dtmf("7", caller))  # type: ignore[arg-type]
    keypad.on_dtmf(Dtmf("?", caller))  # type: ignore[arg-type]  # not a DTMF digit: ignored
    await asyncio.sleep(0.5)
    assert session.turns[-1] == "The caller pressed 7 on the keypad."
    for digit in "12345":
        keypad.on_dtmf(Dtmf(digit, caller))  # type: ignore[arg-type]
    assert session.turns[-1] == "The caller pressed 1 2 3 4 on the keypad."  # max_digits
    keypad.close()


async def test_transfer_tool_offers_only_configured_destinations() -> None:
    done: list[tuple[str, str]] = []
    cfg = TransferConfig(destinations={"sales": "tel:+15551234567", "desk": "sip:desk@pbx.example.com"})
    tool = transfer_call_tool(cfg, lambda name, target: done.append((name, target)))
    schema = tool.info.raw_schema
    assert schema["name"] == "transfer_call"
    assert schema["parameters"]["properties"]["destination"]["enum"] == ["desk", "sales"]
    assert await tool({"destination": "sales"}, None) == "The call was transferred to sales."
    assert done == [("sales", "tel:+15551234567")]
    for bad in ("tel:+19005550000", "SALES", None):
        with pytest.raises(ToolError, match="unknown destination"):
            await tool({"destination": bad}, None)
    assert len(done) == 1


async def test_session_attributes_are_idempotent_and_the_latest_value_wins(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await db.upgrade()
    redact = Redactor(["s3cr3t-token"], shapes=False)
    later = StoreEvent("sess", 5, SESSION_ATTRIBUTES, 2.0, attributes_data({"call.end_reason": "transferred"}, redact))
    earlier = StoreEvent("sess", 3, SESSION_ATTRIBUTES, 1.0, attributes_data(
        {"call.end_reason": "caller_hangup", "sip.h.x-token": "s3cr3t-token", "k" * 100: "v" * 1000}, redact))
    await db.apply([later, earlier, later])  # out of order, and replayed
    detail = await db.get_session("sess")
    await db.dispose()
    assert detail.attributes["call.end_reason"] == "transferred"
    assert "s3cr3t-token" not in detail.attributes["sip.h.x-token"]
    assert all(len(k) <= 64 and len(v) <= 256 for k, v in detail.attributes.items())
