"""``voxplug sip setup|list|remove`` and ``voxplug call +NUMBER``: phone calls through LiveKit SIP."""

from __future__ import annotations

import argparse
import asyncio
import json
import os

from ..config.models import VoxplugConfig
from ..errors import EXIT_OK, EXIT_RUNTIME, ConfigError
from ..providers import load_config
from ..room.client import LiveKitSettings
from ..telephony import admin
from .contract import Subparsers, WithConfig

__all__ = ["add_commands"]


# command-line flags -> the settings they override (through the loader: same checks, same errors)
FLAGS = {
    "number": "VOXPLUG_TELEPHONY__INBOUND__NUMBERS",
    "allowed_address": "VOXPLUG_TELEPHONY__INBOUND__ALLOWED_ADDRESSES",
    "outbound_address": "VOXPLUG_TELEPHONY__OUTBOUND__ADDRESS",
    "outbound_number": "VOXPLUG_TELEPHONY__OUTBOUND__NUMBER",
    "trunk_id": "VOXPLUG_TELEPHONY__OUTBOUND__TRUNK_ID",
}


def _config(args: argparse.Namespace) -> VoxplugConfig:
    flags = {env: json.dumps(value) for flag, env in FLAGS.items() if (value := getattr(args, flag, None))}
    return load_config(args.config, env={**os.environ, **flags})


def cmd_setup(args: argparse.Namespace) -> int:
    config = _config(args)
    result = asyncio.run(admin.setup(LiveKitSettings.from_env(), config.telephony, agent_name=config.worker.agent_name))
    ib = config.telephony.inbound
    print(f"inbound trunk {result.inbound_trunk_id}: numbers {', '.join(ib.numbers) or 'any'}")
    target = config.worker.agent_name or "every agent (automatic dispatch)"
    print(f"dispatch rule {result.dispatch_rule_id}: one room per call ({ib.room_prefix}...), agent {target}")
    if result.outbound_trunk_id:
        print(f"outbound trunk {result.outbound_trunk_id}: via {config.telephony.outbound.address}")
    if result.replaced:
        print(f"replaced {result.replaced} earlier object(s) of the same names")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    found = asyncio.run(admin.list_objects(LiveKitSettings.from_env()))
    rows = [("KIND", "ID", "NAME", "DETAILS")]
    for t in found.inbound:
        rows.append(("inbound", t.sip_trunk_id, t.name, f"numbers={','.join(t.numbers) or 'any'}"))
    for o in found.outbound:
        rows.append(("outbound", o.sip_trunk_id, o.name, f"address={o.address} numbers={','.join(o.numbers) or '-'}"))
    for r in found.rules:
        agents = ",".join(a.agent_name for a in r.room_config.agents) if r.HasField("room_config") else ""
        details = f"trunks={','.join(r.trunk_ids) or 'any'} agent={agents or 'auto'}"
        rows.append(("rule", r.sip_dispatch_rule_id, r.name, details))
    if len(rows) == 1:
        print("no trunks or dispatch rules; see `voxplug sip setup --help`")
        return EXIT_OK
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    removed = asyncio.run(admin.remove(LiveKitSettings.from_env(), config.telephony))
    print(f"removed {removed} object(s) named {config.telephony.trunk_name}-*")
    return EXIT_OK


def cmd_call(args: argparse.Namespace) -> int:
    config = _config(args)
    if not config.telephony.outbound.allows(args.phone_number):
        raise ConfigError(
            f"call: {args.phone_number!r} is not an E.164 number (+15551234567) allowed by "
            "telephony.outbound.allowed_prefixes"
        )
    settings = LiveKitSettings.from_env()

    async def run() -> int:
        placed = await admin.place_call(
            settings, config.telephony, args.phone_number, agent_name=config.worker.agent_name, room=args.room
        )
        print(f"calling {placed.number} from room {placed.room} (trunk {placed.trunk_id})")
        if args.no_wait:
            return EXIT_OK
        status = await admin.wait_for_call(settings, placed, timeout=args.timeout)
        if status == "active":
            print(f"answered: the agent is talking to {placed.number}")
            return EXIT_OK
        print(f"not answered ({status})")
        return EXIT_RUNTIME

    return asyncio.run(run())


def add_commands(sub: Subparsers, with_config: WithConfig) -> None:
    sip = sub.add_parser("sip", help="SIP trunks and the dispatch rule on the LiveKit server (LIVEKIT_* env)")
    ssub = sip.add_subparsers(dest="action", required=True, metavar="ACTION")
    setup = with_config(ssub.add_parser("setup", help="create (or replace) the trunks and the dispatch rule"))
    setup.add_argument("--number", action="append", metavar="+E164", help="a number the inbound trunk answers")
    setup.add_argument(
        "--allowed-address", action="append", metavar="IP/CIDR", help="the provider's signalling address"
    )
    setup.add_argument("--outbound-address", metavar="HOST", help="the provider's SIP host for outbound calls")
    setup.add_argument("--outbound-number", metavar="+E164", help="caller ID for outbound calls")
    setup.set_defaults(func=cmd_setup)
    with_config(ssub.add_parser("list", help="trunks and dispatch rules")).set_defaults(func=cmd_list)
    with_config(ssub.add_parser("remove", help="delete what `sip setup` created")).set_defaults(func=cmd_remove)

    call = with_config(sub.add_parser("call", help="phone a number: the agent dials out and speaks first"))
    call.add_argument("phone_number", metavar="+NUMBER", help="E.164 number to call")
    call.add_argument("--room", help="room name (default: call-<number>-<random>)")
    call.add_argument(
        "--trunk-id", help="outbound trunk (default: telephony.outbound.trunk_id, else the one setup made)"
    )
    call.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for an answer")
    call.add_argument("--no-wait", action="store_true", help="return once the agent is dispatched")
    call.set_defaults(func=cmd_call)
