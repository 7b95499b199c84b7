"""A real LiveKit server, real ``voxplug start`` workers, a real WebRTC caller.

Providers here are the official OpenAI plugins pointed at a local fake vendor server, so
these tests exercise the LiveKit plumbing: dispatch, rooms, audio both ways, transcription
streams, metadata overrides, draining, health checks and failover between workers.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from livekit import api

from fakes.vendor_server import VendorServer, compatible_stages
from voxplug.room import LiveKitServer, RoomCaller, WorkerProcess, create_room, dispatch_agent, start_worker
from voxplug.room.devserver import API_KEY, API_SECRET

pytestmark = [pytest.mark.slow, pytest.mark.realtime]

AGENT = "voxplug-e2e"


async def worker_for(tmp_path: Path, livekit: LiveKitServer, vendor: VendorServer, name: str) -> WorkerProcess:
    env = {**livekit.env, **compatible_stages(vendor.url), "VOXPLUG_WORKER__AGENT_NAME": AGENT,
           "VOXPLUG_OVERRIDES__ALLOW": "[tts.voice, agent.greeting]"}
    return await asyncio.to_thread(start_worker, tmp_path, env, name=name)


async def ask(caller: RoomCaller, question_speech: tuple[np.ndarray, int]) -> float:
    """Speak the question; return voice-to-voice latency heard at the caller (s)."""
    ended = await caller.speak(*question_speech)
    await caller.silence(0.2)
    started = await caller.wait_for_agent_speech(ended, timeout=45)
    assert started is not None, "the agent never answered"
    return started - ended


async def wait_until(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return bool(predicate())


async def test_dispatched_agent_greets_answers_and_honours_only_allowed_overrides(
    tmp_path: Path, livekit: LiveKitServer, vendor: VendorServer, question_speech: tuple[np.ndarray, int]
) -> None:
    worker = await worker_for(tmp_path, livekit, vendor, "w1")
    try:
        async with RoomCaller(livekit.settings, room="e2e-overrides") as caller:
            overrides = {"voxplug": {"tts.voice": "nova", "agent.greeting": "Welcome to the e2e room.",
                                     "llm.base_url": "http://attacker.invalid/v1", "llm.api_key": "stolen"}}
            await dispatch_agent(livekit.settings, room="e2e-overrides", agent_name=AGENT, metadata=overrides)
            await asyncio.wait_for(caller.agent_joined.wait(), 45)
            joined = time.monotonic()
            assert await caller.wait_for_agent_speech(joined - 5, timeout=45) is not None, "no greeting audio"
            latency = await ask(caller, question_speech)
            assert await wait_until(lambda: any(t.text == "The answer is forty two." for t in caller.transcripts))
            assert caller.pending > 0  # recording the agent's audio, reading its transcripts
        # hanging up released every native resource (exits with them open were seen to abort)
        assert caller.pending == 0 and not caller.room.isconnected()
        texts = [(t.text, t.final) for t in caller.transcripts if t.final]
        assert ("Welcome to the e2e room.", True) in texts  # allowed override: greeting
        assert ("what is the answer", True) in texts  # the user's words, as the STT heard them
        assert 0 < latency < 10
        speech_calls = vendor.find("/audio/speech")
        assert {c.body["voice"] for c in speech_calls} == {"nova"}  # allowed override: voice
        assert all(c.headers["authorization"] == "Bearer not-needed" for c in vendor.find("/chat/completions"))
        assert await wait_until(lambda: "override refused: llm.base_url" in worker.text(), 5)
        assert "override refused: llm.api_key" in worker.text()
        assert "stolen" not in worker.text()
    finally:
        await asyncio.to_thread(worker.stop)


async def test_hostile_metadata_is_refused_and_the_agent_still_greets(
    tmp_path: Path, livekit: LiveKitServer, vendor: VendorServer
) -> None:
    """Metadata no parser survives (JSON nested 20 000 deep; 70 KB of instructions): the job
    logs refusals and the agent greets with the operator's settings."""
    worker = await worker_for(tmp_path, livekit, vendor, "w-hostile")
    room = "e2e-hostile"
    try:
        await create_room(livekit.settings, room=room, metadata=None)
        async with api.LiveKitAPI(livekit.settings.http_url, API_KEY, API_SECRET) as lk:
            await lk.room.update_room_metadata(api.UpdateRoomMetadataRequest(
                room=room, metadata=json.dumps({"agent": {"instructions": "x" * 70_000}})))
            async with RoomCaller(livekit.settings, room=room) as caller:
                await lk.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
                    agent_name=AGENT, room=room, metadata="[" * 20_000 + "]" * 20_000))
                await asyncio.wait_for(caller.agent_joined.wait(), 45)
                assert await wait_until(lambda: any(t.final for t in caller.transcripts), 45), "no greeting"
        greeting = next(t.text for t in caller.transcripts if t.final)
        assert greeting == "Hello! How can I help you today?"  # the configured one
        log = worker.text()
        assert await wait_until(lambda: "metadata override refused" in worker.text(), 5)
        assert "JSON nested too deeply" in worker.text() and "over overrides.max_metadata_bytes" in worker.text()
        assert "Traceback" not in log and "RecursionError" not in log
    finally:
        await asyncio.to_thread(worker.stop)


async def test_health_endpoint_and_graceful_drain(
    tmp_path: Path, livekit: LiveKitServer, vendor: VendorServer, question_speech: tuple[np.ndarray, int]
) -> None:
    worker = await worker_for(tmp_path, livekit, vendor, "drain")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.health_port}/", timeout=5) as resp:
            assert resp.status == 200
        async with RoomCaller(livekit.settings, room="e2e-drain") as caller:
            await dispatch_agent(livekit.settings, room="e2e-drain", agent_name=AGENT)
            await asyncio.wait_for(caller.agent_joined.wait(), 45)
            await caller.wait_for_agent_speech(time.monotonic() - 5, timeout=45)
            worker.terminate()  # SIGTERM: drain
            assert await wait_until(lambda: "draining worker" in worker.text(), 15)
            # the ongoing call goes on: a new question is still answered
            await ask(caller, question_speech)
            # no new jobs: a dispatch to another room finds no worker while this one drains
            async with RoomCaller(livekit.settings, room="e2e-drain-new", identity="late") as late:
                await dispatch_agent(livekit.settings, room="e2e-drain-new", agent_name=AGENT)
                assert not await wait_until(late.agent_joined.is_set, 6)
            assert worker.process.poll() is None, "the worker must wait for the ongoing call"
        # the caller left: the drained worker exits on its own
        assert await asyncio.to_thread(worker.process.wait, 60) == 0
    finally:
        await asyncio.to_thread(worker.stop)


async def test_two_workers_share_one_server_and_a_killed_worker_loses_only_its_call(
    tmp_path: Path, livekit: LiveKitServer, vendor: VendorServer, question_speech: tuple[np.ndarray, int]
) -> None:
    workers = [await worker_for(tmp_path, livekit, vendor, f"pool-{i}") for i in range(2)]
    try:
        async with RoomCaller(livekit.settings, room="e2e-pool-a") as first:
            await dispatch_agent(livekit.settings, room="e2e-pool-a", agent_name=AGENT)
            await asyncio.wait_for(first.agent_joined.wait(), 45)
            assert await wait_until(lambda: any(w.served("e2e-pool-a") for w in workers), 10)
            serving = next(w for w in workers if w.served("e2e-pool-a"))
            other = next(w for w in workers if w is not serving)
            serving.kill()  # kill -9 mid-call
        async with RoomCaller(livekit.settings, room="e2e-pool-b", identity="next") as second:
            await dispatch_agent(livekit.settings, room="e2e-pool-b", agent_name=AGENT)
            await asyncio.wait_for(second.agent_joined.wait(), 45)
            assert await wait_until(lambda: other.served("e2e-pool-b"), 10)
            await ask(second, question_speech)
    finally:
        for w in workers:
            await asyncio.to_thread(w.stop)
