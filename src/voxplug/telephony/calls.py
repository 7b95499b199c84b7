"""The worker's side of a phone call: find the caller (or dial the callee) before the session starts.

Inbound: the dispatch rule puts each call in its own room; the SIP participant is there
(ringing) when the job starts, and LiveKit SIP answers once the agent publishes audio.
Outbound: ``voxplug call`` dispatches the agent with a dial request in the job metadata;
the agent dials through the outbound trunk and starts talking once the callee answers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from google.protobuf.duration_pb2 import Duration
from livekit import api, rtc
from livekit.agents import JobContext

from ..config.telephony import OutboundTrunkConfig, TelephonyConfig, valid_e164
from ..core.overrides import metadata_objects
from ..core.telephony import CallInfo, EndReason, call_info

__all__ = ["DIAL_KEY", "CallSetup", "DialRequest", "connect_participant", "dial_identity", "parse_dial_request"]

logger = logging.getLogger(__name__)

# the job (or room) metadata key holding an outbound call request: {"dial": {"number": ..., "trunk_id": ...}}
DIAL_KEY = "dial"


@dataclass(frozen=True)
class DialRequest:
    number: str
    trunk_id: str


@dataclass(frozen=True)
class CallSetup:
    """Who the session talks to; ``failure`` when an outbound call was never answered."""

    participant: rtc.RemoteParticipant | None
    call: CallInfo | None = None
    failure: EndReason | None = None
    detail: str = ""


def dial_identity(number: str) -> str:
    return f"sip_{number}"


def parse_dial_request(cfg: OutboundTrunkConfig, *sources: str | None) -> DialRequest | None:
    """A dial request from JSON metadata (job first, then room); None when there is none.

    Metadata is written by whoever creates the dispatch or room, so the number must pass the
    same checks as ``voxplug call`` (E.164, one of ``telephony.outbound.allowed_prefixes``):
    a request that does not raises ``ValueError`` with a one-line reason.
    """
    for data in metadata_objects(*sources):
        request = data.get(DIAL_KEY)
        if request is None:
            continue
        if not isinstance(request, dict):
            raise ValueError(f"{DIAL_KEY!r} must be an object")
        number, trunk_id = request.get("number"), request.get("trunk_id") or cfg.trunk_id
        if not isinstance(number, str) or not valid_e164(number):
            raise ValueError("the number is not E.164")
        if not cfg.allows(number):
            raise ValueError(f"{number[:4]}… is not in telephony.outbound.allowed_prefixes")
        if not isinstance(trunk_id, str) or not trunk_id.startswith("ST_") or len(trunk_id) > 64:
            raise ValueError("no outbound trunk id (telephony.outbound.trunk_id)")
        return DialRequest(number, trunk_id)
    return None


async def _dial(ctx: JobContext, cfg: TelephonyConfig, request: DialRequest) -> CallSetup:
    out = cfg.outbound
    identity = dial_identity(request.number)
    try:
        await ctx.api.sip.create_sip_participant(
            api.CreateSIPParticipantRequest(
                sip_trunk_id=request.trunk_id,
                sip_call_to=request.number,
                room_name=ctx.room.name,
                participant_identity=identity,
                participant_name=request.number,
                wait_until_answered=True,
                ringing_timeout=Duration(seconds=int(out.ringing_timeout)),
                max_call_duration=Duration(seconds=int(out.max_call_duration)),
            ),
            timeout=out.ringing_timeout + 10,
        )
    except api.TwirpError as exc:
        status = exc.metadata.get("sip_status_code", "") if exc.metadata else ""
        failure: EndReason = "no_answer" if status in ("408", "480", "486", "487", "603") else "failed"
        logger.warning("outbound call failed: %s (SIP %s)", exc.message[:200], status or "-")
        return CallSetup(None, failure=failure, detail=f"SIP {status}" if status else exc.code)
    participant = await ctx.wait_for_participant(identity=identity)
    return CallSetup(participant, call_info(participant, direction="outbound"))


async def connect_participant(ctx: JobContext, cfg: TelephonyConfig) -> CallSetup:
    """Dial when the job asks for a call, else wait for the first participant; SIP ones carry a CallInfo."""
    try:
        request = parse_dial_request(cfg.outbound, ctx.job.metadata, ctx.room.metadata)
    except ValueError as exc:
        logger.warning("dial request refused: %s", exc)
        return CallSetup(None, failure="failed", detail="dial request refused")
    if request is not None:
        return await _dial(ctx, cfg, request)
    participant = await ctx.wait_for_participant()
    direction: Literal["inbound", "outbound"] = "inbound"
    return CallSetup(participant, call_info(participant, direction=direction))
