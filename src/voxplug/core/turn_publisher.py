"""Per-turn latency, as the agent measures it, sent to everyone in the room.

The browser page (``voxplug serve``) shows it next to the transcript. Only the figures go out,
never the words: the transcripts already travel on LiveKit's own ``lk.transcription`` streams.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Protocol

from .observers import SessionObserver, TurnRecord

__all__ = ["TURN_FIELDS", "TURN_TOPIC", "DataPublisher", "TurnPublisher", "turn_payload"]

logger = logging.getLogger(__name__)

# the data topic the page listens on (web/src/main.js)
TURN_TOPIC = "voxplug.turn"
TURN_FIELDS = ("index", "e2e_latency", "end_of_turn_delay", "transcription_delay", "llm_ttft", "tts_ttfb")
# how long closing waits for packets still being sent
CLOSE_TIMEOUT = 2.0


class DataPublisher(Protocol):
    """What of ``rtc.LocalParticipant`` this needs."""

    async def publish_data(self, payload: bytes | str, *, reliable: bool = True, topic: str = "") -> None: ...


def turn_payload(turn: TurnRecord) -> bytes:
    """The turn's index and latencies in seconds (``null`` where the agent measured none)."""
    record = turn.as_dict()
    return json.dumps({name: record[name] for name in TURN_FIELDS}, separators=(",", ":")).encode()


class TurnPublisher(SessionObserver):
    """Publishes each completed turn's latencies as a reliable data packet on ``TURN_TOPIC``."""

    def __init__(self, participant: DataPublisher, *, topic: str = TURN_TOPIC) -> None:
        self.participant = participant
        self.topic = topic
        self._pending: set[asyncio.Task[None]] = set()

    def on_turn_completed(self, turn: TurnRecord) -> None:
        task = asyncio.get_running_loop().create_task(self._send(turn_payload(turn)))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, payload: bytes) -> None:
        try:
            await self.participant.publish_data(payload, reliable=True, topic=self.topic)
        except Exception as exc:  # the room may be closing: the figures are a courtesy
            logger.warning("could not publish turn latency: %s", exc)

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=CLOSE_TIMEOUT)
