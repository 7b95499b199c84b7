"""The ``telephony`` section: phone calls through LiveKit SIP (see docs/telephony.md).

Two halves: what the agent does on a call (keypad, transfers, voicemail, what it is told
about the caller) and what ``voxplug sip setup`` / ``voxplug call`` create on the LiveKit
server (trunks and a dispatch rule).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from .base import Strict

__all__ = [
    "E164",
    "AnsweringMachineConfig",
    "DTMFConfig",
    "InboundTrunkConfig",
    "OutboundTrunkConfig",
    "TelephonyConfig",
    "TransferConfig",
    "valid_e164",
]

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
# a SIP URI or a tel: number, as SIP REFER accepts in Refer-To; no spaces or angle brackets
_TRANSFER_TARGET = re.compile(r"^(sips?:[^\s<>\"]{3,250}|tel:\+[1-9][0-9]{1,14})$")


def valid_e164(number: str) -> bool:
    return bool(E164.match(number))


def _numbers(values: list[str], where: str) -> list[str]:
    bad = [n for n in values if not valid_e164(n)]
    if bad:
        raise ValueError(f"{where}: {bad[0]!r} is not an E.164 number such as +15551234567")
    return values


class DTMFConfig(Strict):
    """Keypad presses become a user turn ("The caller pressed 1 on the keypad.")."""

    enabled: bool = True
    # the digits typed so far are sent after this pause, or at once on the terminator
    inter_digit_timeout: float = Field(default=1.5, gt=0.0, le=30.0)
    terminator: Literal["#", "*", ""] = "#"
    max_digits: int = Field(default=32, ge=1, le=128)


class TransferConfig(Strict):
    """Cold transfers (SIP REFER) the agent may make with its ``transfer_call`` tool."""

    # name the agent chooses -> where the call goes (``tel:+15551234567`` or ``sip:desk@pbx.example.com``)
    destinations: dict[str, str] = Field(default_factory=dict)
    # spoken before the REFER; empty = transfer silently
    announcement: str = "Please hold while I transfer your call."
    play_dialtone: bool = False
    ringing_timeout: float = Field(default=30.0, gt=0.0, le=300.0)

    @field_validator("destinations")
    @classmethod
    def _check_destinations(cls, value: dict[str, str]) -> dict[str, str]:
        for name, target in value.items():
            if not _NAME.match(name):
                raise ValueError(f"destination name {name!r}: use 1-32 lowercase letters, digits, '-' or '_'")
            if not _TRANSFER_TARGET.match(target):
                raise ValueError(
                    f"destination {name!r}: {target!r} is neither a sip: URI nor tel:+E.164 number"
                )
        return value


class AnsweringMachineConfig(Strict):
    """Outbound calls: LiveKit's answering-machine detection (``livekit.agents.voice.amd``).

    It classifies the callee's first words with the session's own STT and LLM.
    """

    enabled: bool = False
    # left after the voicemail greeting; empty = hang up without a message
    voicemail_message: str = ""
    timeout: float = Field(default=20.0, gt=0.0, le=120.0)


class InboundTrunkConfig(Strict):
    """What ``voxplug sip setup`` creates for calls coming in from a SIP provider."""

    # the numbers this trunk answers (E.164); empty = any number routed to it
    numbers: list[str] = Field(default_factory=list)
    # the provider's signalling addresses or CIDRs; empty = any source (use auth then)
    allowed_addresses: list[str] = Field(default_factory=list)
    auth_username: str | None = None
    auth_password: SecretStr | None = None
    # SIP header -> participant attribute (the agent and the store see the attribute)
    headers_to_attributes: dict[str, str] = Field(default_factory=dict)
    # also copy headers as ``sip.h.<name>`` attributes: none, X- headers, or all
    include_headers: Literal["none", "x-headers", "all"] = "x-headers"
    # each call gets its own room named <prefix><caller>_<random>
    room_prefix: str = Field(default="call-", pattern=r"^[A-Za-z0-9_-]{0,32}$")

    @field_validator("numbers")
    @classmethod
    def _check_numbers(cls, value: list[str]) -> list[str]:
        return _numbers(value, "numbers")


class OutboundTrunkConfig(Strict):
    """The trunk ``voxplug call`` dials through."""

    # an existing trunk; else the one ``voxplug sip setup`` created (named ``<trunk_name>-outbound``)
    trunk_id: str | None = None
    # for ``sip setup``: the provider's SIP host[:port], e.g. ``example.pstn.twilio.com``
    address: str | None = None
    transport: Literal["auto", "udp", "tcp", "tls"] = "auto"
    # caller ID presented to the callee (E.164)
    number: str | None = None
    auth_username: str | None = None
    auth_password: SecretStr | None = None
    # numbers ``voxplug call`` and dial requests may reach, as E.164 prefixes; empty = any
    allowed_prefixes: list[str] = Field(default_factory=list)
    ringing_timeout: float = Field(default=30.0, gt=0.0, le=300.0)
    max_call_duration: float = Field(default=3600.0, gt=0.0, le=86400.0)

    @field_validator("number")
    @classmethod
    def _check_number(cls, value: str | None) -> str | None:
        if value is not None:
            _numbers([value], "number")
        return value

    @field_validator("allowed_prefixes")
    @classmethod
    def _check_prefixes(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if not re.match(r"^\+[0-9]{1,15}$", p)]
        if bad:
            raise ValueError(f"allowed_prefixes: {bad[0]!r} is not a '+' followed by digits")
        return value

    def allows(self, number: str) -> bool:
        return valid_e164(number) and (not self.allowed_prefixes or number.startswith(tuple(self.allowed_prefixes)))


class TelephonyConfig(Strict):
    # names of what ``voxplug sip setup`` creates: <name>-inbound, <name>-outbound, <name>-dispatch
    trunk_name: str = Field(default="voxplug", pattern=r"^[A-Za-z0-9_-]{1,48}$")
    # tell the agent the caller's number (a system message at the start of the call)
    tell_agent_caller: bool = True
    dtmf: DTMFConfig = Field(default_factory=DTMFConfig)
    transfer: TransferConfig = Field(default_factory=TransferConfig)
    answering_machine: AnsweringMachineConfig = Field(default_factory=AnsweringMachineConfig)
    inbound: InboundTrunkConfig = Field(default_factory=InboundTrunkConfig)
    outbound: OutboundTrunkConfig = Field(default_factory=OutboundTrunkConfig)
