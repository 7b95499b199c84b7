"""Client side of a LiveKit room: tokens, explicit dispatch, and a caller that talks to the agent.

Used by ``voxplug token``, ``voxplug dispatch``, ``voxplug simulate --room`` and the
end-to-end tests: a real participant over WebRTC, exactly what a phone or browser would be.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
from livekit import api, rtc
from pydantic import SecretStr

from ..errors import ConfigError
from ..pcm import resample

__all__ = [
    "AgentTranscript",
    "LiveKitSettings",
    "RoomCaller",
    "create_room",
    "dispatch_agent",
    "mint_token",
]

TOPIC_TRANSCRIPTION = "lk.transcription"
# LiveKit Agents streams its session state to every participant on this topic; a caller has no
# use for it, but without a handler the SDK logs one INFO line per message
TOPIC_AGENT_SESSION = "lk.agent.session"
ATTRIBUTE_FINAL = "lk.transcription_final"
ATTRIBUTE_AGENT_STATE = "lk.agent.state"
FRAME_MS = 20
# int16 RMS above which an agent frame counts as speech (silence and comfort noise sit far below)
SPEECH_RMS = 300.0


@dataclass(frozen=True)
class LiveKitSettings:
    url: str
    api_key: SecretStr
    api_secret: SecretStr

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LiveKitSettings:
        env = os.environ if env is None else env
        missing = [n for n in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET") if not env.get(n)]
        if missing:
            raise ConfigError(f"livekit: {', '.join(missing)} not set; point them at your LiveKit server")
        return cls(env["LIVEKIT_URL"], SecretStr(env["LIVEKIT_API_KEY"]), SecretStr(env["LIVEKIT_API_SECRET"]))

    @property
    def http_url(self) -> str:
        return self.url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)


def mint_token(
    settings: LiveKitSettings,
    *,
    identity: str,
    room: str,
    name: str | None = None,
    ttl: timedelta = timedelta(hours=6),
    agent_name: str | None = None,
    metadata: str | None = None,
    microphone_only: bool = False,
) -> str:
    """A join token for ``identity`` in ``room``; with ``agent_name`` the agent is dispatched on join.

    ``microphone_only``: the holder may publish a microphone track and nothing else (no
    camera, screen share or data packets): what a visitor of a public page gets.
    """
    grants = api.VideoGrants(room_join=True, room=room, can_publish=True, can_subscribe=True)
    if microphone_only:
        grants.can_publish_sources = ["microphone"]
        grants.can_publish_data = False
    token = (
        api.AccessToken(settings.api_key.get_secret_value(), settings.api_secret.get_secret_value())
        .with_identity(identity)
        .with_name(name or identity)
        .with_ttl(ttl)
        .with_grants(grants)
    )
    if agent_name:
        token = token.with_room_config(
            api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name=agent_name, metadata=metadata or "")])
        )
    return token.to_jwt()


async def dispatch_agent(
    settings: LiveKitSettings, *, room: str, agent_name: str, metadata: dict[str, Any] | None = None
) -> str:
    """Send the agent to ``room`` (explicit dispatch); returns the dispatch id."""
    async with api.LiveKitAPI(
        settings.http_url, settings.api_key.get_secret_value(), settings.api_secret.get_secret_value()
    ) as lk:
        dispatch = await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(
                agent_name=agent_name, room=room, metadata=json.dumps(metadata) if metadata else ""
            )
        )
    return str(dispatch.id)


async def create_room(settings: LiveKitSettings, *, room: str, metadata: dict[str, Any] | None = None) -> None:
    """Create ``room`` with JSON ``metadata``: per-room settings for an automatically dispatched agent."""
    async with api.LiveKitAPI(
        settings.http_url, settings.api_key.get_secret_value(), settings.api_secret.get_secret_value()
    ) as lk:
        await lk.room.create_room(
            api.CreateRoomRequest(name=room, metadata=json.dumps(metadata) if metadata else "")
        )


@dataclass
class AgentTranscript:
    text: str
    final: bool
    received_at: float
    speaker: str  # the participant the text is about: the agent, or the caller for its own words


@dataclass
class _Heard:
    frames: list[tuple[float, np.ndarray]] = field(default_factory=list)
    # arrival times of the loud frames, computed once: the wait loops poll these many times a second
    loud: list[float] = field(default_factory=list)
    sample_rate: int = 48000


class RoomCaller:
    """A participant that speaks into the room and records what the agent says back.

    ``speak()`` publishes PCM in real time as 20 ms frames; ``agent_audio_since(t)`` gives
    the agent's audio after a moment; ``first_agent_speech_after(t)`` is the voice-to-voice
    end point measured at the listener, the honest number for a deployed agent.
    """

    def __init__(self, settings: LiveKitSettings, *, room: str, identity: str = "caller", sample_rate: int = 48000):
        self.settings = settings
        self.room_name = room
        self.identity = identity
        self.sample_rate = sample_rate
        self.room = rtc.Room()
        self.transcripts: list[AgentTranscript] = []
        self._heard = _Heard()
        self._source = rtc.AudioSource(sample_rate, 1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._streams: list[rtc.AudioStream] = []
        self.agent_joined = asyncio.Event()
        # when the SDK lost its connection to the server and began to reconnect (monotonic):
        # media stops until it is back, so a turn spoken then is lost on the caller's side
        self.reconnects: list[float] = []

    async def __aenter__(self) -> RoomCaller:
        await self.join()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.leave()

    async def join(self) -> None:
        self.room.on("track_subscribed", self._on_track)
        self.room.on("participant_connected", self._on_participant)
        self.room.on("reconnecting", lambda: self.reconnects.append(time.monotonic()))
        self.room.register_text_stream_handler(TOPIC_TRANSCRIPTION, self._on_text_stream)
        self.room.register_byte_stream_handler(TOPIC_AGENT_SESSION, self._on_session_stream)
        token = mint_token(self.settings, identity=self.identity, room=self.room_name)
        await self.room.connect(self.settings.url, token)
        for participant in self.room.remote_participants.values():
            self._on_participant(participant)
        track = rtc.LocalAudioTrack.create_audio_track("microphone", self._source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await self.room.local_participant.publish_track(track, options)

    async def leave(self) -> None:
        """Hang up and release every native resource before returning.

        Tasks, audio streams and the source are closed here, not left to the SDK's exit
        handler: processes that exited with them open were seen (twice in seven full test runs
        on a loaded machine) to abort in the native runtime's shutdown ("panic in a function
        that cannot unwind") after a fully successful ``voxplug simulate --room``.
        """
        await self._cancel_tasks()
        streams, self._streams = self._streams, []
        for stream in streams:
            await stream.aclose()
        await self.room.disconnect()
        await self._cancel_tasks()  # a stream that opened while hanging up
        await self._source.aclose()

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def pending(self) -> int:
        """Tasks and audio streams still open: 0 after :meth:`leave`."""
        return len(self._tasks) + len(self._streams)

    # -- events -------------------------------------------------------------------------
    def _on_participant(self, participant: rtc.RemoteParticipant) -> None:
        if participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
            self.agent_joined.set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_track(self, track: rtc.Track, pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            # 20 ms frames (the SDK's default is 10 ms): every frame is an event the process's
            # FFI callback hands to Python, and a load generator runs many callers per process
            stream = rtc.AudioStream(track, sample_rate=self._heard.sample_rate, num_channels=1, frame_size_ms=FRAME_MS)
            self._streams.append(stream)
            self._spawn(self._record(stream))

    async def _record(self, stream: rtc.AudioStream) -> None:
        async for event in stream:
            samples = np.frombuffer(event.frame.data, dtype=np.int16).copy()
            at = time.monotonic()
            self._heard.frames.append((at, samples))
            if _rms(samples) > SPEECH_RMS:
                self._heard.loud.append(at)

    def _on_text_stream(self, reader: rtc.TextStreamReader, participant_identity: str) -> None:
        async def read() -> None:
            text = await reader.read_all()
            final = (reader.info.attributes or {}).get(ATTRIBUTE_FINAL) == "true"
            self.transcripts.append(AgentTranscript(text, final, time.monotonic(), participant_identity))

        self._spawn(read())

    def _on_session_stream(self, reader: rtc.ByteStreamReader, participant_identity: str) -> None:
        async def drain() -> None:
            async for _ in reader:
                pass

        self._spawn(drain())

    # -- speaking -----------------------------------------------------------------------
    async def speak(self, pcm: np.ndarray, sample_rate: int) -> float:
        """Publish mono int16 ``pcm`` in real time; returns the monotonic time speech ended."""
        if sample_rate != self.sample_rate:
            pcm = resample(pcm, sample_rate, self.sample_rate)
        step = self.sample_rate * FRAME_MS // 1000
        start = time.monotonic()
        for index, offset in enumerate(range(0, len(pcm), step)):
            chunk = pcm[offset : offset + step]
            if len(chunk) < step:
                chunk = np.pad(chunk, (0, step - len(chunk)))
            await self._source.capture_frame(rtc.AudioFrame(chunk.tobytes(), self.sample_rate, 1, step))
            # pace against the clock, not per-frame sleeps, so drift does not accumulate
            delay = start + (index + 1) * FRAME_MS / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        return time.monotonic()

    async def silence(self, seconds: float) -> None:
        await self.speak(np.zeros(int(seconds * self.sample_rate), dtype=np.int16), self.sample_rate)

    # -- listening ----------------------------------------------------------------------
    @property
    def agent_state(self) -> str | None:
        """The agent's published state (``listening``, ``thinking``, ``speaking``...), None before it joins."""
        for participant in self.room.remote_participants.values():
            if participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
                return (participant.attributes or {}).get(ATTRIBUTE_AGENT_STATE)
        return None

    def final_transcripts(self, after: float, *, caller: bool) -> list[AgentTranscript]:
        """Final transcripts received after ``after``: the caller's own words as the agent's STT
        heard them (``caller=True``), or what the agent said."""
        return [
            t for t in self.transcripts
            if t.final and t.received_at > after and (t.speaker == self.identity) == caller
        ]

    async def wait_for_final_transcripts(
        self, after: float, *, caller: bool, until: Callable[[list[AgentTranscript]], bool] = bool,
        timeout: float = 60.0,
    ) -> list[AgentTranscript]:
        """:meth:`final_transcripts` once ``until`` holds for them (by default: once there is
        one), or as they are after ``timeout``. The agent's transcript of a reply turns final when
        its audio has played out: on a loaded machine more than a second after the caller heard
        the audio end."""
        deadline = time.monotonic() + timeout
        while not until(found := self.final_transcripts(after, caller=caller)) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return found

    def last_agent_speech_after(self, moment: float) -> float | None:
        """When the agent's latest loud frame after ``moment`` arrived (None: silent since)."""
        loud = self._heard.loud
        return loud[-1] if loud and loud[-1] > moment else None

    def first_agent_speech_after(self, moment: float) -> float | None:
        loud = self._heard.loud
        index = bisect.bisect_right(loud, moment)
        return loud[index] if index < len(loud) else None

    def agent_audio_between(self, start: float, end: float = float("inf")) -> np.ndarray:
        chunks = [s for at, s in self._heard.frames if start < at <= end]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    @property
    def heard_sample_rate(self) -> int:
        return self._heard.sample_rate

    async def wait_for_agent_speech(self, after: float, *, quiet: float = 1.0, timeout: float = 60.0) -> float | None:
        """Wait until the agent has spoken after ``after`` and then been quiet for ``quiet`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            started = self.first_agent_speech_after(after)
            last_loud = self.last_agent_speech_after(after)
            if started is not None and last_loud is not None and time.monotonic() - last_loud >= quiet:
                return started
            await asyncio.sleep(0.05)
        return self.first_agent_speech_after(after)


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0
