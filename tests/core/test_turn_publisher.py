"""The observer that sends each turn's latencies to the room (the browser page shows them).

The end-to-end path (worker -> LiveKit -> browser) is tested in tests/web/test_browser.py.
"""

from __future__ import annotations

import asyncio
import json

from voxplug.core.observers import TurnRecord
from voxplug.core.turn_publisher import TURN_FIELDS, TURN_TOPIC, TurnPublisher


class Participant:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[bytes | str, bool, str]] = []
        self.fail = fail

    async def publish_data(self, payload: bytes | str, *, reliable: bool = True, topic: str = "") -> None:
        await asyncio.sleep(0)
        if self.fail:
            raise ConnectionError("room closed")
        self.sent.append((payload, reliable, topic))


TURN = TurnRecord(index=2, user_text="what is my balance", assistant_text="It is 42 euros.", interrupted=False,
                  created_at=1.0, end_of_turn_delay=0.5, transcription_delay=0.25, llm_ttft=0.2, tts_ttfb=None,
                  e2e_latency=1.1)


async def test_each_turn_sends_its_latencies_and_not_its_words() -> None:
    participant = Participant()
    publisher = TurnPublisher(participant)
    publisher.on_turn_completed(TURN)
    await publisher.aclose()
    [(payload, reliable, topic)] = participant.sent
    assert (reliable, topic) == (True, TURN_TOPIC)
    assert isinstance(payload, bytes)
    data = json.loads(payload)
    assert data == {"index": 2, "e2e_latency": 1.1, "end_of_turn_delay": 0.5, "transcription_delay": 0.25,
                    "llm_ttft": 0.2, "tts_ttfb": None}
    assert tuple(data) == TURN_FIELDS
    assert b"balance" not in payload and b"euros" not in payload


async def test_a_closed_room_is_logged_not_raised(caplog) -> None:  # type: ignore[no-untyped-def]
    publisher = TurnPublisher(Participant(fail=True))
    publisher.on_turn_completed(TURN)
    await publisher.aclose()
    assert "could not publish turn latency: room closed" in caplog.text
