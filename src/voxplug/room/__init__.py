"""Client side of a LiveKit room: join tokens, explicit dispatch, a caller that talks to the agent."""

from .client import AgentTranscript, LiveKitSettings, RoomCaller, dispatch_agent, mint_token

__all__ = ["AgentTranscript", "LiveKitSettings", "RoomCaller", "dispatch_agent", "mint_token"]
