"""The ``call:`` section: ending a call (tool, time limit, silence).

Transfers to a phone number belong to the telephony settings, not here.
"""

from __future__ import annotations

from pydantic import Field

from .base import Strict

__all__ = ["CallConfig", "EndCallConfig"]


class EndCallConfig(Strict):
    """The ``end_call`` tool (give it to an agent in its ``tools``)."""

    # spoken (not interruptible) before the call closes; null = close at once
    goodbye: str | None = Field(default="Thank you for calling. Goodbye!", max_length=500)
    # worker mode: delete the room, which disconnects everyone in it (SIP callers too)
    delete_room: bool = True


class CallConfig(Strict):
    end_call: EndCallConfig = Field(default_factory=EndCallConfig)
    # seconds from the start of the session; 0 = no limit
    max_duration: float = Field(default=0.0, ge=0.0, le=86_400.0)
    max_duration_message: str | None = Field(
        default="We have reached the time limit for this call. Thank you, goodbye!", max_length=500
    )
    # seconds of silence from both sides before the agent asks silence_prompt; 0 = never
    silence_timeout: float = Field(default=30.0, ge=0.0, le=3_600.0)
    silence_prompt: str = Field(default="Are you still there?", min_length=1, max_length=500)
    # how many times the agent asks before ending the call
    silence_prompts: int = Field(default=1, ge=0, le=10)
    silence_goodbye: str | None = Field(
        default="It seems you have stepped away. I will end the call now. Goodbye!", max_length=500
    )
