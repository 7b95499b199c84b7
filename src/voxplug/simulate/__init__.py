"""Simulated conversations (``voxplug simulate``) and the text console (``voxplug console``).

Both drive the real ``AgentSession`` built from the configuration, with any providers, and
need neither a LiveKit server nor a sound device. :func:`simulate_room` plays the same
scripts to an agent through a room on a LiveKit server instead (``voxplug simulate --room``).
"""

from .api import simulate
from .audio import RecordingAudioOutput, SimulatedAudioInput
from .report import SimulationReport
from .room import simulate_room
from .runner import SessionResult, TurnResult, drive_conversation, run_conversation
from .script import ScriptError, Turn, load_inputs, load_script

__all__ = [
    "RecordingAudioOutput",
    "ScriptError",
    "SessionResult",
    "SimulatedAudioInput",
    "SimulationReport",
    "Turn",
    "TurnResult",
    "drive_conversation",
    "load_inputs",
    "load_script",
    "run_conversation",
    "simulate",
    "simulate_room",
]
