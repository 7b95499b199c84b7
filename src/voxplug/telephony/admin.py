"""Trunks, the dispatch rule and outbound calls, over the LiveKit server API (``SipService``).

``voxplug sip setup`` creates (or replaces) three named objects:

- ``<trunk_name>-inbound``: the inbound trunk (numbers, allowed provider addresses, auth,
  which SIP headers become participant attributes);
- ``<trunk_name>-dispatch``: an individual dispatch rule, one room per call, that sends the
  configured agent (explicit dispatch by ``worker.agent_name``) into it;
- ``<trunk_name>-outbound``: the outbound trunk (when ``telephony.outbound.address`` is set).

``voxplug call +NUMBER`` dispatches the agent with a dial request; the agent dials (see
:mod:`voxplug.telephony.calls`).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from livekit import api

from ..config.telephony import TelephonyConfig, valid_e164
from ..errors import ConfigError, VoxplugError
from ..room.client import LiveKitSettings
from .calls import DIAL_KEY, dial_identity

__all__ = [
    "PlacedCall", "SetupResult", "TelephonyObjects", "list_objects", "place_call", "remove", "setup", "wait_for_call",
]

HEADER_OPTIONS = {
    "none": api.SIPHeaderOptions.SIP_NO_HEADERS,
    "x-headers": api.SIPHeaderOptions.SIP_X_HEADERS,
    "all": api.SIPHeaderOptions.SIP_ALL_HEADERS,
}
TRANSPORTS = {
    "auto": api.SIPTransport.SIP_TRANSPORT_AUTO,
    "udp": api.SIPTransport.SIP_TRANSPORT_UDP,
    "tcp": api.SIPTransport.SIP_TRANSPORT_TCP,
    "tls": api.SIPTransport.SIP_TRANSPORT_TLS,
}


@asynccontextmanager
async def _client(settings: LiveKitSettings) -> AsyncIterator[api.LiveKitAPI]:
    async with api.LiveKitAPI(
        settings.http_url, settings.api_key.get_secret_value(), settings.api_secret.get_secret_value()
    ) as lk:
        try:
            yield lk
        except api.TwirpError as exc:
            raise VoxplugError(f"LiveKit server refused: {exc.code}: {exc.message[:300]}") from None


@dataclass
class TelephonyObjects:
    inbound: list[api.SIPInboundTrunkInfo] = field(default_factory=list)
    outbound: list[api.SIPOutboundTrunkInfo] = field(default_factory=list)
    rules: list[api.SIPDispatchRuleInfo] = field(default_factory=list)


@dataclass(frozen=True)
class SetupResult:
    inbound_trunk_id: str
    dispatch_rule_id: str
    outbound_trunk_id: str | None
    replaced: int


@dataclass(frozen=True)
class PlacedCall:
    room: str
    number: str
    trunk_id: str
    identity: str


def _names(cfg: TelephonyConfig) -> tuple[str, str, str]:
    return f"{cfg.trunk_name}-inbound", f"{cfg.trunk_name}-outbound", f"{cfg.trunk_name}-dispatch"


async def _objects(lk: api.LiveKitAPI) -> TelephonyObjects:
    inbound = await lk.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())
    outbound = await lk.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())
    rules = await lk.sip.list_dispatch_rule(api.ListSIPDispatchRuleRequest())
    return TelephonyObjects(list(inbound.items), list(outbound.items), list(rules.items))


async def list_objects(settings: LiveKitSettings) -> TelephonyObjects:
    async with _client(settings) as lk:
        return await _objects(lk)


async def _delete_named(lk: api.LiveKitAPI, cfg: TelephonyConfig, *, outbound: bool) -> int:
    """Delete the dispatch rule and trunks named after ``cfg.trunk_name``; returns the count."""
    inbound_name, outbound_name, rule_name = _names(cfg)
    existing = await _objects(lk)
    rules = [r.sip_dispatch_rule_id for r in existing.rules if r.name == rule_name]
    trunks = [t.sip_trunk_id for t in existing.inbound if t.name == inbound_name]
    if outbound:
        trunks += [t.sip_trunk_id for t in existing.outbound if t.name == outbound_name]
    for rule_id in rules:
        await lk.sip.delete_dispatch_rule(api.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=rule_id))
    for trunk_id in trunks:
        await lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk_id))
    return len(rules) + len(trunks)


def _secret(value: object) -> str:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else ""


async def setup(settings: LiveKitSettings, cfg: TelephonyConfig, *, agent_name: str) -> SetupResult:
    """Create the inbound trunk, the dispatch rule and (with an address) the outbound trunk,
    replacing earlier ones of the same names."""
    inbound_name, outbound_name, rule_name = _names(cfg)
    ib, ob = cfg.inbound, cfg.outbound
    async with _client(settings) as lk:
        # the outbound trunk is replaced only when this setup creates a new one
        replaced = await _delete_named(lk, cfg, outbound=bool(ob.address))
        inbound = await lk.sip.create_inbound_trunk(
            api.CreateSIPInboundTrunkRequest(
                trunk=api.SIPInboundTrunkInfo(
                    name=inbound_name,
                    numbers=ib.numbers,
                    allowed_addresses=ib.allowed_addresses,
                    auth_username=ib.auth_username or "",
                    auth_password=_secret(ib.auth_password),
                    headers_to_attributes=ib.headers_to_attributes,
                    include_headers=HEADER_OPTIONS[ib.include_headers],
                )
            )
        )
        room_config = (
            api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name=agent_name)]) if agent_name else None
        )
        rule = await lk.sip.create_dispatch_rule(
            api.CreateSIPDispatchRuleRequest(
                dispatch_rule=api.SIPDispatchRuleInfo(
                    name=rule_name,
                    rule=api.SIPDispatchRule(
                        dispatch_rule_individual=api.SIPDispatchRuleIndividual(room_prefix=ib.room_prefix)
                    ),
                    trunk_ids=[inbound.sip_trunk_id],
                    room_config=room_config,
                )
            )
        )
        outbound_id: str | None = None
        if ob.address:
            outbound = await lk.sip.create_outbound_trunk(
                api.CreateSIPOutboundTrunkRequest(
                    trunk=api.SIPOutboundTrunkInfo(
                        name=outbound_name,
                        address=ob.address,
                        transport=TRANSPORTS[ob.transport],
                        numbers=[ob.number] if ob.number else [],
                        auth_username=ob.auth_username or "",
                        auth_password=_secret(ob.auth_password),
                    )
                )
            )
            outbound_id = outbound.sip_trunk_id
    return SetupResult(inbound.sip_trunk_id, rule.sip_dispatch_rule_id, outbound_id, replaced)


async def remove(settings: LiveKitSettings, cfg: TelephonyConfig) -> int:
    """Delete what ``setup`` created (by name); returns how many objects went."""
    async with _client(settings) as lk:
        return await _delete_named(lk, cfg, outbound=True)


async def place_call(
    settings: LiveKitSettings, cfg: TelephonyConfig, number: str, *, agent_name: str, room: str | None = None
) -> PlacedCall:
    """Send the agent to a new room with a dial request; it dials ``number`` through the outbound trunk."""
    if not valid_e164(number):
        raise ConfigError(f"call: {number!r} is not an E.164 number such as +15551234567")
    if not cfg.outbound.allows(number):
        raise ConfigError(f"call: {number} is not in telephony.outbound.allowed_prefixes")
    room = room or f"call-{number.lstrip('+')}-{secrets.token_hex(3)}"
    async with _client(settings) as lk:
        trunk_id = cfg.outbound.trunk_id
        if not trunk_id:
            _, outbound_name, _ = _names(cfg)
            found = [t for t in (await _objects(lk)).outbound if t.name == outbound_name]
            if not found:
                raise ConfigError(
                    f"call: no outbound trunk; set telephony.outbound.trunk_id or run `voxplug sip setup` "
                    f"with telephony.outbound.address (looked for {outbound_name!r})"
                )
            trunk_id = found[0].sip_trunk_id
        metadata = json.dumps({DIAL_KEY: {"number": number, "trunk_id": trunk_id}})
        if agent_name:
            await lk.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(agent_name=agent_name, room=room, metadata=metadata)
            )
        else:  # automatic dispatch: the agent joins every new room and reads the room's metadata
            await lk.room.create_room(api.CreateRoomRequest(name=room, metadata=metadata))
    return PlacedCall(room, number, trunk_id, dial_identity(number))


async def wait_for_call(settings: LiveKitSettings, placed: PlacedCall, *, timeout: float) -> str:
    """Follow the callee's ``sip.callStatus`` until it is active or the call is gone.

    Returns ``active``, ``hangup`` (the call ended or failed), or the last status seen on timeout.
    """
    deadline = time.monotonic() + timeout
    status, seen = "dispatched", False
    async with _client(settings) as lk:
        while time.monotonic() < deadline:
            try:
                people = await lk.room.list_participants(api.ListParticipantsRequest(room=placed.room))
            except api.TwirpError:  # the room is not there (yet, or any more)
                people = api.ListParticipantsResponse()
            callee = next((p for p in people.participants if p.identity == placed.identity), None)
            if callee is not None:
                seen = True
                status = callee.attributes.get("sip.callStatus", "dialing")
                if status in ("active", "hangup"):
                    return status
            elif seen:
                return "hangup"
            await asyncio.sleep(0.5)
    return status
