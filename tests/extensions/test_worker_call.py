"""In a real LiveKit room: an agent of the agents: map ends the call, and the room goes away.

A real LiveKit server and a real ``voxplug start`` worker on the fixed providers (the
fixed STT hears "hello" for any utterance; the scripted LLM ends the call on it), with the
high-pass filter on the room's audio.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest
from livekit import api

from voxplug.room import LiveKitServer, RoomCaller, dispatch_agent, start_worker

from .conftest import fixed_yaml, write_config

pytestmark = [pytest.mark.slow, pytest.mark.realtime]

AGENT = "voxplug-calls"


async def _room_exists(livekit: LiveKitServer, room: str) -> bool:
    s = livekit.settings
    async with api.LiveKitAPI(s.http_url, s.api_key.get_secret_value(), s.api_secret.get_secret_value()) as lk:
        rooms = await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))
    return bool(rooms.rooms)


async def test_end_call_in_a_room_says_goodbye_and_deletes_the_room(
    tmp_path: Path, livekit: LiveKitServer, question_speech: tuple[np.ndarray, int]
) -> None:
    config = write_config(tmp_path, fixed_yaml(
        {"tool_calls": {"hello": "end_call"}},
        agents={"desk": {"greeting": None, "tools": ["end_call"]}},
        call={"end_call": {"goodbye": "Goodbye from the desk."}},
        session={"audio_filters": [{"name": "highpass"}]},
    ))
    env = {**livekit.env, "VOXPLUG_CONFIG": str(config), "VOXPLUG_WORKER__AGENT_NAME": AGENT}
    worker = await asyncio.to_thread(start_worker, tmp_path, env, name="calls")
    room = "calls-end"
    try:
        async with RoomCaller(livekit.settings, room=room) as caller:
            await dispatch_agent(livekit.settings, room=room, agent_name=AGENT)
            await asyncio.wait_for(caller.agent_joined.wait(), 60)
            await caller.silence(1.0)
            ended = await caller.speak(*question_speech)
            await caller.silence(0.3)
            assert await caller.wait_for_agent_speech(ended, timeout=60) is not None, worker.text()[-3000:]
            deadline = time.monotonic() + 60
            while await _room_exists(livekit, room) and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            assert not await _room_exists(livekit, room), worker.text()[-3000:]
        log = worker.text()
        assert "ending the call: end_call" in log
        assert "Traceback" not in log
    finally:
        worker.stop(10)
