"""A worker stand-in for the crash and outage tests, run as its own process.

It drives a real AgentSession (text mode) one turn at a time and prints ``persisted N``
once turn N is durable (in the database or the outbox), then, at the end, closes the
session and waits for the backend to acknowledge everything.

    python tests/persistence/driver.py --data-dir DIR [--database-url URL] [--backend-url URL]
        [--turns N] [--pause S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic import SecretStr

from persistence.fakes import ShopAgent, make_info, make_session
from voxplug.config.persistence import BackendConfig, PersistenceConfig
from voxplug.core.session import attach_observers
from voxplug.persistence.runtime import PersistenceRuntime
from voxplug.persistence.store import ConversationStore


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--backend-url")
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--pause", type=float, default=0.0)
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    args = parser.parse_args()

    backend = BackendConfig()
    if args.backend_url:
        backend = BackendConfig(
            url=args.backend_url, secret=SecretStr(os.environ["BACKEND_SECRET"]),
            initial_backoff=0.1, max_backoff=0.5, timeout=5.0,
        )
    config = PersistenceConfig(
        data_dir=Path(args.data_dir),
        database_url=SecretStr(args.database_url) if args.database_url else None,
        backend=backend,
    )
    store = ConversationStore(config)
    session = make_session()
    info = make_info(room="crash-room")
    hub = attach_observers(session, info, [store])
    await session.start(ShopAgent())
    print(f"session {info.session_id}", flush=True)
    for i in range(1, args.turns + 1):
        text = "where is my order?" if i % 3 == 0 else f"turn {i}"
        await session.run(user_input=text)
        if not await store.flush(timeout=60):
            print("flush timed out", flush=True)
            return 1
        print(f"persisted {i}", flush=True)
        if args.pause:
            await asyncio.sleep(args.pause)
    await session.aclose()
    await hub.aclose()
    runtime = PersistenceRuntime.for_config(config)
    drained = await runtime.drain(args.drain_timeout)
    stats = {
        "events": store.stats.events, "drained": drained, "delivered": runtime.stats.delivered,
        "delivery_failures": runtime.stats.delivery_failures, "pending": await runtime.pending(),
    }
    print("done " + json.dumps(stats), flush=True)
    await runtime.aclose()
    return 0 if drained else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
