"""Client side of a LiveKit room: join tokens, explicit dispatch, a caller that talks to the agent."""

from .client import AgentTranscript, LiveKitSettings, RoomCaller, create_room, dispatch_agent, mint_token
from .devserver import LiveKitServer, WorkerProcess, run_livekit_server, start_worker

__all__ = [
    "AgentTranscript",
    "LiveKitServer",
    "LiveKitSettings",
    "RoomCaller",
    "WorkerProcess",
    "create_room",
    "dispatch_agent",
    "mint_token",
    "run_livekit_server",
    "start_worker",
]
