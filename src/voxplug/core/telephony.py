"""The agent on a phone call: who is calling, the keypad, transfers, voicemail, how the call ended.

A SIP caller is an ordinary room participant of kind SIP whose ``sip.*`` attributes the
LiveKit SIP service fills (numbers, call id, trunk, and SIP headers as ``sip.h.*`` when the
trunk asks for them). :class:`PhoneCall` reads them once, reports them to the session's
observers (the conversation store keeps them), turns keypad presses into user turns,
offers the ``transfer_call`` tool and records why the call ended.

Everything the far end controls (attributes, header values, digits) is bounded here.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from livekit import api, rtc
from livekit.agents import AgentSession, RunContext, ToolError, function_tool, get_job_context
from livekit.agents.llm import RawFunctionTool
from livekit.agents.utils.participant import wait_for_participant_attribute

from ..config.models import AgentConfig
from ..config.telephony import AnsweringMachineConfig, DTMFConfig, TelephonyConfig, TransferConfig
from .call_control import ended_by
from .observers import ObserverHub

__all__ = [
    "ATTRIBUTE_LIMITS",
    "DTMF_DIGITS",
    "TRANSFER_CALL_TOOL",
    "CallInfo",
    "EndReason",
    "KeypadInput",
    "PhoneCall",
    "call_info",
    "detect_answering_machine",
    "transfer_call_tool",
]

logger = logging.getLogger(__name__)

DTMF_DIGITS = frozenset("0123456789*#ABCD")
CALL_STATUS = "sip.callStatus"
CALL_ACTIVE_TIMEOUT = 60.0
# (count, key length, value length): header values come from whoever places the call
ATTRIBUTE_LIMITS = (48, 64, 256)
_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")

EndReason = Literal[
    "caller_hangup", "callee_hangup", "agent_hangup", "transferred", "voicemail", "no_answer", "failed",
]


# added to every agent on a phone call with telephony.transfer.destinations (never listed in tools)
TRANSFER_CALL_TOOL = "transfer_call"


def _bounded(attributes: Mapping[str, str]) -> dict[str, str]:
    count, key_len, value_len = ATTRIBUTE_LIMITS
    kept: dict[str, str] = {}
    dropped = 0
    for key, value in sorted(attributes.items()):
        if len(kept) >= count or len(key) > key_len or not _KEY.match(key):
            dropped += 1
            continue
        kept[key] = "".join(ch for ch in str(value)[:value_len] if ch.isprintable())
    if dropped:
        logger.warning("SIP participant: %d attribute(s) dropped (over %d, or an unusable name)", dropped, count)
    return kept


@dataclass(frozen=True)
class CallInfo:
    """A phone call as the agent sees it. ``remote_number`` is the caller (inbound) or callee (outbound)."""

    identity: str
    direction: Literal["inbound", "outbound"]
    remote_number: str | None
    trunk_number: str | None
    call_id: str | None
    trunk_id: str | None
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        """SIP headers the trunk copied (``sip.h.x-customer-id`` → ``x-customer-id``)."""
        return {k.removeprefix("sip.h."): v for k, v in self.attributes.items() if k.startswith("sip.h.")}

    def store_attributes(self) -> dict[str, str]:
        """What the conversation store keeps about the call."""
        facts = {
            "call.direction": self.direction,
            "call.remote_number": self.remote_number,
            "call.trunk_number": self.trunk_number,
            "call.id": self.call_id,
            "call.trunk_id": self.trunk_id,
        }
        return {**{k: v for k, v in facts.items() if v}, **self.attributes}

    def context_note(self) -> str:
        """A system message telling the agent who is on the line."""
        who = "caller" if self.direction == "inbound" else "person you called"
        parts = [f"This is a phone call. The {who}'s number is {self.remote_number or 'withheld'}."]
        custom = {k: v for k, v in self.attributes.items() if not k.startswith("sip.")}
        if custom:
            parts.append("Call details: " + ", ".join(f"{k}={v}" for k, v in custom.items()) + ".")
        return " ".join(parts)


def call_info(participant: rtc.RemoteParticipant, *, direction: Literal["inbound", "outbound"]) -> CallInfo | None:
    """The call behind a SIP participant; None for any other kind of participant."""
    if participant.kind != rtc.ParticipantKind.PARTICIPANT_KIND_SIP:
        return None
    attrs = _bounded(dict(participant.attributes or {}))
    return CallInfo(
        identity=participant.identity,
        direction=direction,
        remote_number=attrs.get("sip.phoneNumber"),
        trunk_number=attrs.get("sip.trunkPhoneNumber"),
        call_id=attrs.get("sip.callID"),
        trunk_id=attrs.get("sip.trunkID"),
        # the call status changes during the call: it is not a fact about the caller
        attributes={k: v for k, v in attrs.items() if k != "sip.callStatus"},
    )


class KeypadInput:
    """Collects DTMF digits of one participant; after a pause (or the terminator) the digits
    become a user turn the LLM answers, so any tool can act on "press 1"."""

    def __init__(self, session: AgentSession[Any], cfg: DTMFConfig, *, identity: str) -> None:
        self.session = session
        self.cfg = cfg
        self.identity = identity
        self.digits = ""
        self.sent: list[str] = []
        self._timer: asyncio.TimerHandle | None = None

    def on_dtmf(self, ev: rtc.SipDTMF) -> None:
        if ev.participant is None or ev.participant.identity != self.identity:
            return
        digit = str(ev.digit)[:1].upper()
        if digit not in DTMF_DIGITS:
            logger.warning("keypad: ignored an unknown DTMF event (code %s)", ev.code)
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.cfg.terminator and digit == self.cfg.terminator:
            self.flush()
            return
        self.digits += digit
        if len(self.digits) >= self.cfg.max_digits:
            self.flush()
            return
        self._timer = asyncio.get_running_loop().call_later(self.cfg.inter_digit_timeout, self.flush)

    def flush(self) -> None:
        self._timer = None
        digits, self.digits = self.digits, ""
        if not digits:
            return
        self.sent.append(digits)
        logger.info("keypad: %d digit(s) received", len(digits))
        try:
            self.session.generate_reply(user_input=f"The caller pressed {' '.join(digits)} on the keypad.")
        except RuntimeError:  # the session is closing: nobody to answer
            logger.info("keypad: digits after the session closed are dropped")

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def transfer_call_tool(cfg: TransferConfig, on_transfer: Callable[[str, str], Any]) -> RawFunctionTool[Any, Any]:
    """The ``transfer_call`` tool: a cold transfer (SIP REFER) to one of the configured destinations.

    The LLM picks a destination *name* from an enum; the number or URI behind it never comes
    from the model. ``on_transfer(name, target)`` performs it (see :meth:`PhoneCall.transfer`).
    """
    names = sorted(cfg.destinations)
    schema = {
        "name": TRANSFER_CALL_TOOL,
        "description": (
            "Transfer the caller to a person or department when they ask for it or when you cannot help. "
            f"Destinations: {', '.join(names)}. The call leaves you once transferred."
        ),
        "parameters": {
            "type": "object",
            "properties": {"destination": {"type": "string", "enum": names, "description": "where to transfer"}},
            "required": ["destination"],
        },
    }

    async def transfer_call(raw_arguments: dict[str, object], context: RunContext[Any]) -> str:
        name = raw_arguments.get("destination")
        if not isinstance(name, str) or name not in cfg.destinations:
            logger.warning("transfer_call refused: %r is not a configured destination", str(name)[:64])
            raise ToolError(f"unknown destination; choose one of: {', '.join(names)}")
        result = on_transfer(name, cfg.destinations[name])
        if asyncio.iscoroutine(result):
            await result
        return f"The call was transferred to {name}."

    return function_tool(transfer_call, raw_schema=schema)


class PhoneCall:
    """The telephony side of one session on a SIP call."""

    def __init__(
        self,
        session: AgentSession[Any],
        room: rtc.Room,
        info: CallInfo,
        *,
        dtmf: DTMFConfig,
        transfer: TransferConfig,
        answering_machine: AnsweringMachineConfig | None = None,
        tell_agent_caller: bool = True,
        hub: ObserverHub | None = None,
    ) -> None:
        self.session = session
        self.room = room
        self.info = info
        self.transfer_cfg = transfer
        self.amd_cfg = answering_machine or AnsweringMachineConfig()
        self.tell_agent_caller = tell_agent_caller
        self.hub = hub
        self.keypad = KeypadInput(session, dtmf, identity=info.identity) if dtmf.enabled else None
        self.end_reason: EndReason | None = None
        self.transferred_to: str | None = None
        self.ended = asyncio.Event()
        self._agent_ending = False

    @classmethod
    def for_session(
        cls, session: AgentSession[Any], room: rtc.Room, info: CallInfo, cfg: TelephonyConfig, hub: ObserverHub | None
    ) -> PhoneCall:
        return cls(
            session, room, info, dtmf=cfg.dtmf, transfer=cfg.transfer, answering_machine=cfg.answering_machine,
            tell_agent_caller=cfg.tell_agent_caller, hub=hub,
        )

    @property
    def screens_answer(self) -> bool:
        """Outbound with answering-machine detection: say nothing until a person is heard."""
        return self.info.direction == "outbound" and self.amd_cfg.enabled

    def agent_config(self, agent: AgentConfig) -> AgentConfig:
        """The agent's settings for this call: told who is on the line; the greeting waits (see ``started``)."""
        update: dict[str, Any] = {"greeting": None}
        if self.tell_agent_caller:
            update["instructions"] = f"{agent.instructions}\n\n{self.info.context_note()}"
        return agent.model_copy(update=update)

    async def started(self, greeting: str | None) -> None:
        """After ``session.start``: listen for the keypad and hang-ups, then greet once the call is up.

        LiveKit SIP answers an inbound call only when the agent's audio track is subscribed, so
        a greeting spoken at session start loses its first half second before RTP flows
        (measured here: "Thanks for calling" arrived as "for calling"); it waits for
        ``sip.callStatus`` to become ``active``. An outbound answer is screened first when
        answering-machine detection is on.
        """
        self.attach()
        try:
            await asyncio.wait_for(
                wait_for_participant_attribute(
                    self.room, identity=self.info.identity, attribute=CALL_STATUS, value="active"
                ),
                timeout=CALL_ACTIVE_TIMEOUT,
            )
        except (TimeoutError, RuntimeError) as exc:  # hung up while ringing, or never answered
            logger.info("call %s never became active: %s", self.info.call_id or self.info.identity, exc)
            return
        if self.screens_answer and not await detect_answering_machine(self.session, self, self.amd_cfg):
            return
        if greeting:
            self.session.say(greeting)

    def tools(self) -> list[RawFunctionTool[Any, Any]]:
        return [transfer_call_tool(self.transfer_cfg, self.transfer)] if self.transfer_cfg.destinations else []

    def attach(self) -> None:
        if self.keypad is not None:
            self.room.on("sip_dtmf_received", self.keypad.on_dtmf)
        self.room.on("participant_disconnected", self._on_disconnected)
        self.report(self.info.store_attributes())

    def report(self, attributes: Mapping[str, str]) -> None:
        if self.hub is not None:
            self.hub.update_attributes(dict(attributes))

    def set_end_reason(self, reason: EndReason) -> None:
        if self.end_reason is None:
            self.end_reason = reason
            self.report({"call.end_reason": reason})
            logger.info("call %s ended: %s", self.info.call_id or self.info.identity, reason)
        self.ended.set()

    def _on_disconnected(self, participant: rtc.RemoteParticipant) -> None:
        if participant.identity != self.info.identity:
            return
        if self.transferred_to is not None:
            reason: EndReason = "transferred"
        elif self._agent_ending or ended_by(self.session) is not None:  # hang_up, or end_call / call limits
            reason = "agent_hangup"
        else:
            reason = "caller_hangup" if self.info.direction == "inbound" else "callee_hangup"
        self.set_end_reason(reason)
        # the framework closes the session only for some disconnect reasons; a phone call is
        # over whichever one the SIP service reports
        self.session.shutdown(drain=False)

    async def transfer(self, name: str, target: str) -> None:
        """Announce, then REFER the caller to ``target``; the SIP service follows the transfer."""
        cfg = self.transfer_cfg
        if cfg.announcement:
            await self.session.say(cfg.announcement, allow_interruptions=False, add_to_chat_ctx=True)
        self.transferred_to = name
        self.report({"call.transfer_to": name})
        try:
            await get_job_context().api.sip.transfer_sip_participant(
                api.TransferSIPParticipantRequest(
                    room_name=self.room.name,
                    participant_identity=self.info.identity,
                    transfer_to=target,
                    play_dialtone=cfg.play_dialtone,
                ),
                timeout=cfg.ringing_timeout + 5,
            )
        except api.TwirpError as exc:
            self.transferred_to = None
            logger.warning("transfer to %s failed: %s %s", name, exc.code, exc.message[:200])
            raise ToolError(f"the transfer to {name} failed; tell the caller and offer something else") from None

    async def hang_up(self, reason: EndReason = "agent_hangup") -> None:
        """End the call from the agent's side: remove the SIP participant (the service sends BYE)."""
        self._agent_ending = True
        self.set_end_reason(reason)
        try:
            await get_job_context().api.room.remove_participant(
                api.RoomParticipantIdentity(room=self.room.name, identity=self.info.identity)
            )
        except api.TwirpError as exc:  # already gone
            logger.info("hang up: %s", exc.message[:200])
        self.session.shutdown(drain=False)

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        if self.keypad is not None:
            self.keypad.close()
            self.room.off("sip_dtmf_received", self.keypad.on_dtmf)
        self.room.off("participant_disconnected", self._on_disconnected)


async def detect_answering_machine(
    session: AgentSession[Any], call: PhoneCall, cfg: AnsweringMachineConfig, *, timeout: float | None = None
) -> bool:
    """LiveKit's answering-machine detection on an outbound call; True when a person answered.

    On a machine the configured voicemail message is left (or not) and the call is hung up.
    The classifier uses the session's own STT transcripts and LLM (no cloud model is chosen
    implicitly: ``llm=None, stt=None``).
    """
    from livekit.agents.voice.amd import AMD

    async with AMD(
        session, llm=None, stt=None, participant_identity=call.info.identity,
        suppress_compatibility_warning=True, detection_options={"timeout": timeout or cfg.timeout},
    ) as detector:
        result = await detector.execute()
    call.report({"call.answered_by": result.category.value})
    if not result.is_machine:
        return True
    if cfg.voicemail_message:
        await session.say(cfg.voicemail_message, allow_interruptions=False)
    await call.hang_up("voicemail")
    return False
