"""``voxplug token`` and ``voxplug dispatch``: reach a LiveKit server from the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
from datetime import timedelta
from typing import Any

from ..errors import EXIT_OK, UsageError
from ..room.client import LiveKitSettings, dispatch_agent, mint_token
from .contract import Subparsers, WithConfig

__all__ = ["add_commands", "parse_metadata_option"]


def parse_metadata_option(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise UsageError("--metadata: not valid JSON; pass an object such as '{\"tts.voice\": \"nova\"}'") from None
    if not isinstance(value, dict):
        raise UsageError("--metadata: must be a JSON object")
    return value


def cmd_token(args: argparse.Namespace) -> int:
    settings = LiveKitSettings.from_env()
    token = mint_token(
        settings,
        identity=args.identity or f"user-{secrets.token_hex(3)}",
        room=args.room,
        ttl=timedelta(minutes=args.ttl_minutes),
        agent_name=args.agent_name,
        metadata=json.dumps(parse_metadata_option(args.metadata)) if args.metadata else None,
    )
    print(token)
    return EXIT_OK


def cmd_dispatch(args: argparse.Namespace) -> int:
    settings = LiveKitSettings.from_env()
    dispatch_id = asyncio.run(
        dispatch_agent(
            settings, room=args.room, agent_name=args.agent_name, metadata=parse_metadata_option(args.metadata)
        )
    )
    print(f"dispatched {args.agent_name} to {args.room}: {dispatch_id}")
    return EXIT_OK


def add_commands(sub: Subparsers, with_config: WithConfig) -> None:
    """Add ``token`` and ``dispatch``."""
    token = sub.add_parser("token", help="mint a join token for a user and room (LIVEKIT_* env)")
    token.add_argument("--room", required=True)
    token.add_argument("--identity", help="participant identity (default: random)")
    token.add_argument("--ttl-minutes", type=int, default=360)
    token.add_argument("--agent-name", help="dispatch this agent when the user joins")
    token.add_argument("--metadata", help="JSON dispatch metadata (room overrides)")
    token.set_defaults(func=cmd_token)

    dispatch = sub.add_parser("dispatch", help="send the agent to a room (explicit dispatch)")
    dispatch.add_argument("--room", required=True)
    dispatch.add_argument("--agent-name", required=True, help="the worker's worker.agent_name")
    dispatch.add_argument("--metadata", help='JSON overrides, e.g. \'{"tts.voice": "nova"}\'')
    dispatch.set_defaults(func=cmd_dispatch)
