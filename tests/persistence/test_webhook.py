"""The webhook contract: signatures, retries through an outage, exactly-once after dedup, order."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp

from voxplug.persistence.events import StoreEvent
from voxplug.persistence.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Backoff,
    WebhookClient,
    encode_body,
    signed_headers,
)
from voxplug.signing import sign, verify

from .conftest import SECRET
from .test_crash import read_until, start_driver


def wait_for_failed_attempts(outbox: Path, at_least: int, deadline: float = 120.0) -> tuple[int, int]:
    """(failed attempts on the head event, events waiting) once the head failed ``at_least`` times."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if outbox.exists():
            conn = sqlite3.connect(outbox, timeout=30)
            try:
                row = conn.execute(
                    "SELECT COALESCE(MAX(attempts), 0), COUNT(*) FROM outbox WHERE channel = 'backend'"
                ).fetchone()
            finally:
                conn.close()
            if row[0] >= at_least:
                return int(row[0]), int(row[1])
        time.sleep(0.1)
    raise AssertionError(f"the sender never failed {at_least} times against the stopped receiver")


EVENT = StoreEvent("abc123", 1, "turn", 1_700_000_000.0, {"role": "user", "text": "hi"})


def test_sign_and_verify() -> None:
    body = encode_body(EVENT.webhook_body())
    now = time.time()
    headers = signed_headers(SECRET, EVENT, body, now=now)
    ts, sig = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
    assert sig.startswith("v1=") and headers[IDEMPOTENCY_HEADER] == "abc123:1"
    assert verify(SECRET, body, ts, sig, now=now)
    assert not verify("another-secret", body, ts, sig, now=now)
    assert not verify(SECRET, body.replace(b"hi", b"ho"), ts, sig, now=now)  # tampered body
    assert not verify(SECRET, body, ts, sig, now=now + 301)  # replayed later than the tolerance
    assert not verify(SECRET, body, None, sig) and not verify(SECRET, body, ts, None)
    # during a secret rotation the sender may send both signatures
    assert verify(SECRET, body, ts, f"{sign('old-secret', ts, body)},{sig}", now=now)


def test_transcripts_can_be_kept_from_the_backend() -> None:
    tool = StoreEvent("s", 2, "tool_call", 0.0, {"name": "lookup", "arguments": "{}", "result": "x"})
    assert tool.webhook_body(include_transcripts=False)["data"] == {"name": "lookup", "arguments": None, "result": None}
    assert EVENT.webhook_body(include_transcripts=False)["data"]["text"] is None


def test_backoff_grows_and_is_capped() -> None:
    backoff = Backoff(0.5, 4.0)
    delays = [backoff.next_delay() for _ in range(8)]
    assert 0.25 <= delays[0] <= 0.5
    assert all(2.0 <= d <= 4.0 for d in delays[4:])
    backoff.reset()
    assert backoff.next_delay() <= 0.5


async def test_receiver_rejects_wrong_signature_and_dedups(receiver_factory: Any) -> None:
    receiver = receiver_factory()
    receiver.start()
    body = encode_body(EVENT.webhook_body())
    async with aiohttp.ClientSession() as http:
        async def post(headers: dict[str, str], data: bytes = body) -> tuple[int, dict[str, Any]]:
            async with http.post(receiver.url, data=data, headers=headers) as resp:
                return resp.status, json.loads(await resp.read())

        good = signed_headers(SECRET, EVENT, body)
        wrong = signed_headers("not-the-secret", EVENT, body)
        stale = signed_headers(SECRET, EVENT, body, now=time.time() - 3600)
        assert (await post(wrong))[0] == 401
        assert (await post(stale))[0] == 401
        assert (await post(good, body + b" "))[0] == 401  # body changed after signing
        assert await post(good) == (200, {"ok": True, "duplicate": False})
        assert await post(good) == (200, {"ok": True, "duplicate": True})

    # the sender treats 401 as retryable (a secret being rotated), never as delivered
    client = WebhookClient(receiver.url, "not-the-secret", timeout=5, include_transcripts=True)
    result = await client.deliver(EVENT)
    await client.aclose()
    assert (result.ok, result.permanent, result.status) == (False, False, 401)
    assert receiver.store().stats() == {"stored": 1, "deliveries": 2, "duplicates": 1, "rejected": 4}


def test_backend_outage_every_event_once_in_order(tmp_path: Path, receiver_factory: Any) -> None:
    """The receiver is down for the first turns, then up — and loses its first 3
    acknowledgements (stored, but 503), forcing redeliveries the key deduplicates."""
    receiver = receiver_factory(lose_first_acks=3)
    proc = start_driver(
        "--data-dir", str(tmp_path / "data"), "--turns", "6", "--pause", "0.2", "--backend-url", receiver.url,
        env={"BACKEND_SECRET": SECRET},
    )
    try:
        lines = read_until(proc, "persisted 3")  # three turns done while the backend is down
        # wait (by state, not by the clock) until the sender has really failed against it
        failed_attempts = wait_for_failed_attempts(tmp_path / "data" / "outbox.db", at_least=2)
        receiver.start()
        lines += read_until(proc, "done ")
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    session_id = lines[0].split()[1]
    sent = json.loads(lines[-1].removeprefix("done "))
    store = receiver.store()
    events = store.events(session_id)
    stats = store.stats()
    seqs = [e["seq"] for e in events]
    print(
        f"\n[backend outage] events sent: {sent['events']}, received (after dedup): {len(events)}, "
        f"deliveries: {stats['deliveries']}, duplicates: {stats['duplicates']}, "
        f"lost: {sent['events'] - len(events)}, failed attempts (outage + lost acks): {sent['delivery_failures']}, "
        f"events waiting when the receiver came up: {failed_attempts[1]}"
    )
    assert sent["drained"] and sent["pending"]["backend"] == 0
    assert len(events) == sent["events"], "every event arrives"
    assert seqs == list(range(1, sent["events"] + 1)), "in order, exactly once after dedup"
    assert stats["duplicates"] >= 3 and stats["rejected"] == 0
    assert failed_attempts[0] >= 2, "the first part of the run really had the backend down"
    assert events[0]["type"] == "session.started" and events[-1]["type"] == "session.closed"
    assert [e["data"]["text"] for e in events if e["type"] == "turn" and e["data"]["role"] == "user"] == [
        "turn 1", "turn 2", "where is my order?", "turn 4", "turn 5", "where is my order?",
    ]
