"""Audio input settings: Silero VAD parameters and the filters applied before VAD and STT."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from .base import REFERENCE, Strict

__all__ = ["AudioFilterConfig", "VADOptions"]

FILTER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")


class VADOptions(Strict):
    """Silero VAD (``session.vad: silero``); the defaults are LiveKit's."""

    # speech probability above which speech starts
    activation_threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    # probability below which speech ends; default activation_threshold - 0.15
    deactivation_threshold: float | None = Field(default=None, gt=0.0, lt=1.0)
    # seconds of speech before "speaking" is reported (shorter blips are ignored)
    min_speech_duration: float = Field(default=0.05, ge=0.0, le=5.0)
    # seconds of silence that end a speech segment
    min_silence_duration: float = Field(default=0.25, ge=0.0, le=10.0)
    # seconds of audio kept before the detected start of speech
    prefix_padding_duration: float = Field(default=0.5, ge=0.0, le=5.0)
    # longest speech segment buffered, seconds
    max_buffered_speech: float = Field(default=60.0, gt=0.0, le=600.0)

    @model_validator(mode="after")
    def _thresholds(self) -> VADOptions:
        if self.deactivation_threshold is not None and self.deactivation_threshold > self.activation_threshold:
            raise ValueError("deactivation_threshold must not exceed activation_threshold")
        return self


class AudioFilterConfig(Strict):
    """A filter the user's audio goes through, in order, before VAD and STT.

    ``name``: a built-in (``highpass``) or a ``voxplug.audio_filters`` entry point;
    ``ref``: ``module:attribute`` of a factory. Either is called with ``options`` as
    keywords and returns a callable ``rtc.AudioFrame -> rtc.AudioFrame``.
    """

    name: str | None = None
    ref: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not FILTER_NAME.match(value):
            raise ValueError("a filter name is letters, digits, '-' and '_'")
        return value

    @field_validator("ref")
    @classmethod
    def _ref(cls, value: str | None) -> str | None:
        if value is not None and not re.match(REFERENCE, value):
            raise ValueError("must be 'package.module:attribute' (e.g. acme_audio.filters:denoise)")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> AudioFilterConfig:
        if (self.name is None) == (self.ref is None):
            raise ValueError("give exactly one of name (built-in or entry point) or ref (module:attribute)")
        return self

    @property
    def label(self) -> str:
        return self.name or self.ref or "?"
