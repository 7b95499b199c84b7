"""Filters on the user's audio, before VAD and STT (``session.audio_filters``).

A filter is a callable ``rtc.AudioFrame -> rtc.AudioFrame`` made by a factory called with
the configured ``options``: the built-in ``highpass``, a ``voxplug.audio_filters`` entry
point, or ``module:attribute``. Filters run on the event loop once per frame (20 ms or so)
and must be quick: the built-in one costs 0.1-0.25 ms per 20 ms frame (docs/benchmarks.md,
F1). A filter that raises is logged once and skipped for the rest of the
call; it never ends the call.

``highpass`` is a Butterworth high-pass (mains hum, rumble, handling noise, DC) with an
optional slow gain normaliser that moves on speech only (pauses, noise and silence hold it)
and limits peaks instead of clipping. It runs as exact block IIR filtering in numpy: the cascade's
response to a whole frame is one (FFT) convolution plus the contribution of its state, so
no Python loop runs per sample.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

import numpy as np
from livekit import rtc
from livekit.agents import AgentSession
from livekit.agents.voice.io import AudioInput

from ..config.audio import AudioFilterConfig
from ..errors import ConfigError
from .plugins import AUDIO_FILTER_GROUP, entry_points_of, load_entry_point, load_reference

__all__ = [
    "BUILTIN_FILTERS",
    "AudioFilter",
    "FilteredAudioInput",
    "HighPassFilter",
    "build_filters",
    "install_audio_filters",
]

logger = logging.getLogger(__name__)

AudioFilter = Callable[[rtc.AudioFrame], rtc.AudioFrame]

# gain normaliser: a frame counts as speech this far above the noise floor (dB) ...
SPEECH_ABOVE_FLOOR_DB = 12.0
# ... which rises at most this fast (dB/s) and falls at once
FLOOR_RISE_DB_PER_S = 10.0
# the gain moves this share of the way to the wanted gain per 20 ms of speech: about 0.5 s to
# settle, so speech, not syllables, sets the gain
GAIN_STEP_PER_20MS = 0.04
# peaks after the gain stay below this (dBFS): the int16 conversion never clips
LIMIT_DBFS = -0.5
# longer frames are filtered in pieces: the block operators cost O(n) memory and time to build
MAX_BLOCK = 1024


# -- the built-in high-pass filter -----------------------------------------------------------
def _dbfs(rms: float) -> float:
    return 20 * math.log10(max(rms, 1e-9) / 32768.0)


@dataclass(frozen=True)
class _Block:
    """The whole cascade as block operators for frames of ``n`` samples.

    With state ``s`` (2 values per section) and input ``x`` (n samples):
    ``y = obs @ s + (h * x)[:n]`` and the next state is ``step @ s + ctrl @ x``. Exact: the
    numbers a per-sample loop (direct form II transposed) produces, to rounding.
    """

    n: int
    nfft: int
    h_fft: np.ndarray  # rfft of the impulse response over one frame, nfft points
    obs: np.ndarray  # (n, states)
    step: np.ndarray  # (states, states)
    ctrl: np.ndarray  # (states, n)


def _highpass_biquads(cutoff: float, rate: int, order: int) -> list[tuple[float, float, float, float, float]]:
    """(b0, b1, b2, a1, a2) of each section of a Butterworth high-pass of even ``order``."""
    w0 = 2 * math.pi * cutoff / rate
    cos_w0, sin_w0 = math.cos(w0), math.sin(w0)
    sections = []
    for k in range(order // 2):
        q = 1 / (2 * math.sin((2 * k + 1) * math.pi / (2 * order)))
        alpha = sin_w0 / (2 * q)
        a0 = 1 + alpha
        b0 = (1 + cos_w0) / 2 / a0
        sections.append((b0, -2 * b0, b0, -2 * cos_w0 / a0, (1 - alpha) / a0))
    return sections


def _cascade(sections: list[tuple[float, float, float, float, float]]) -> tuple[np.ndarray, ...]:
    """One state-space system (A, B, C, D) for the sections in series (2 states each)."""
    a = np.zeros((0, 0))
    b, c, d = np.zeros(0), np.zeros(0), 1.0
    for b0, b1, b2, a1, a2 in sections:
        # one section in direct form II transposed: y = s1 + b0 x
        sa = np.array([[-a1, 1.0], [-a2, 0.0]])
        sb = np.array([b1 - a1 * b0, b2 - a2 * b0])
        sc = np.array([1.0, 0.0])
        k = len(b)
        na = np.zeros((k + 2, k + 2))
        na[:k, :k] = a
        na[k:, :k] = np.outer(sb, c)  # the section's input is the cascade's output so far
        na[k:, k:] = sa
        b = np.concatenate((b, sb * d))
        c = np.concatenate((b0 * c, sc))
        a, d = na, b0 * d
    return a, b, c, np.array(d)


@lru_cache(maxsize=32)
def _block(cutoff: float, rate: int, order: int, n: int) -> _Block:
    a, b, c, d = _cascade(_highpass_biquads(cutoff, rate, order))
    powers = [np.eye(len(b))]
    for _ in range(n):
        powers.append(a @ powers[-1])
    obs = np.array([c @ p for p in powers[:n]])  # C A^k
    h = np.concatenate(([float(d)], [c @ p @ b for p in powers[: n - 1]]))
    ctrl = np.stack([powers[n - 1 - j] @ b for j in range(n)], axis=1)
    # the convolution by FFT: O(n log n) where a direct one is O(n^2) (measured: 10x at 320 samples)
    nfft = 1 << (2 * n - 1).bit_length()
    return _Block(n=n, nfft=nfft, h_fft=np.fft.rfft(h, nfft), obs=obs, step=powers[n], ctrl=ctrl)


class HighPassFilter:
    """Butterworth high-pass at ``cutoff_hz`` (even ``order``), optional gain normalising.

    ``target_dbfs``: bring speech towards this RMS level (e.g. -20), changing the gain slowly
    (``max_gain_db`` at most) on speech only: frames louder than ``gate_dbfs`` and 12 dB above
    the tracked noise floor. Pauses, noise and silence hold the gain; a peak limiter keeps the
    output below -0.5 dBFS. None leaves the level.
    """

    def __init__(
        self,
        cutoff_hz: float = 120.0,
        order: int = 4,
        target_dbfs: float | None = None,
        max_gain_db: float = 12.0,
        gate_dbfs: float = -50.0,
    ) -> None:
        if not 20.0 <= cutoff_hz <= 1000.0:
            raise ValueError(f"cutoff_hz must be between 20 and 1000 (got {cutoff_hz})")
        if order not in (2, 4, 6, 8):
            raise ValueError(f"order must be 2, 4, 6 or 8 (got {order})")
        if not 0.0 <= max_gain_db <= 30.0:
            raise ValueError(f"max_gain_db must be between 0 and 30 (got {max_gain_db})")
        if target_dbfs is not None and not -40.0 <= target_dbfs <= -3.0:
            raise ValueError(f"target_dbfs must be between -40 and -3 (got {target_dbfs})")
        self.cutoff_hz, self.order = float(cutoff_hz), order
        self.target_dbfs, self.max_gain_db, self.gate_dbfs = target_dbfs, max_gain_db, gate_dbfs
        self.gain_db = 0.0
        self._floor: float | None = None
        self._rate = 0
        self._channels = 0
        self._state = np.zeros((0, 1))

    def process(self, samples: np.ndarray, rate: int) -> np.ndarray:
        """Filter float samples shaped (n, channels) at ``rate``; keeps the state between calls."""
        n, channels = samples.shape
        if n == 0:
            return samples
        if (rate, channels) != (self._rate, self._channels):
            self._rate, self._channels = rate, channels
            self._state = np.zeros((self.order, channels))
        if n > MAX_BLOCK:
            y = np.concatenate([self._filter(samples[i:i + MAX_BLOCK], rate) for i in range(0, n, MAX_BLOCK)])
        else:
            y = self._filter(samples, rate)
        if self.target_dbfs is not None:
            y = self._normalise(y, n / rate)
        return y

    def _filter(self, samples: np.ndarray, rate: int) -> np.ndarray:
        n = len(samples)
        op = _block(self.cutoff_hz, rate, self.order, n)
        conv = np.fft.irfft(np.fft.rfft(samples, op.nfft, axis=0) * op.h_fft[:, None], op.nfft, axis=0)[:n]
        y: np.ndarray = op.obs @ self._state + conv
        self._state = op.step @ self._state + op.ctrl @ samples
        return y

    def _normalise(self, y: np.ndarray, seconds: float) -> np.ndarray:
        level = _dbfs(float(np.sqrt(np.mean(y**2))))
        start = self.gain_db
        # the noise floor follows quieter frames at once and louder ones at 10 dB/s: a word
        # (under 1 s) stays above it, steady noise catches it up. Never so low that speech just
        # above gate_dbfs is not speech; noise starting after digital silence passes for speech
        # for about 0.5 s (its gain rises up to ~8 dB of 12, then holds)
        clamped = max(level, self.gate_dbfs - SPEECH_ABOVE_FLOOR_DB)
        floor = self._floor if self._floor is not None else clamped
        self._floor = min(clamped, floor + FLOOR_RISE_DB_PER_S * seconds)
        if level > self.gate_dbfs and level > floor + SPEECH_ABOVE_FLOOR_DB:
            assert self.target_dbfs is not None
            wanted = min(max(self.target_dbfs - level, -self.max_gain_db), self.max_gain_db)
            step = 1.0 - (1.0 - GAIN_STEP_PER_20MS) ** (seconds / 0.02)  # the same per second at any frame size
            self.gain_db += (wanted - self.gain_db) * step
        # pauses, noise and silence hold the gain: they are never brought up to the target
        peak = float(np.max(np.abs(y)))
        if peak > 0.0:
            # a peak limiter instead of clipping: a loud onset lowers the gain at once
            safe = LIMIT_DBFS - _dbfs(peak)
            self.gain_db = min(self.gain_db, safe)
            start = min(start, safe)
        ramp = np.linspace(start, self.gain_db, len(y), dtype=np.float64)[:, None]
        return y * np.power(10.0, ramp / 20.0)

    def __call__(self, frame: rtc.AudioFrame) -> rtc.AudioFrame:
        pcm = np.frombuffer(frame.data, dtype=np.int16).reshape(-1, frame.num_channels)
        out = self.process(pcm.astype(np.float64), frame.sample_rate)
        data = np.clip(np.round(out), -32768, 32767).astype(np.int16)
        return rtc.AudioFrame(
            data=data.tobytes(), sample_rate=frame.sample_rate, num_channels=frame.num_channels,
            samples_per_channel=frame.samples_per_channel,
        )


BUILTIN_FILTERS: dict[str, Callable[..., AudioFilter]] = {"highpass": HighPassFilter}


# -- building and installing -----------------------------------------------------------------
def _factory(cfg: AudioFilterConfig, where: str) -> Callable[..., Any]:
    if cfg.ref is not None:
        return cast(Callable[..., Any], load_reference(cfg.ref, f"{where}.ref"))
    assert cfg.name is not None
    if cfg.name in BUILTIN_FILTERS:
        return BUILTIN_FILTERS[cfg.name]
    ep = entry_points_of(AUDIO_FILTER_GROUP).get(cfg.name)
    if ep is None:
        known = ", ".join(sorted({*BUILTIN_FILTERS, *entry_points_of(AUDIO_FILTER_GROUP)}))
        raise ConfigError(f"{where}.name: unknown audio filter {cfg.name!r}; known: {known}")
    return cast(Callable[..., Any], load_entry_point(ep, f"{where}.name"))


def build_filters(configs: Sequence[AudioFilterConfig], where: str = "session.audio_filters") -> list[AudioFilter]:
    """One filter per config, in order (call once per session: filters keep state)."""
    filters: list[AudioFilter] = []
    problems: list[str] = []
    for i, cfg in enumerate(configs):
        at = f"{where}.{i}"
        try:
            factory = _factory(cfg, at)
            if not callable(factory):
                raise ConfigError(f"{at}: {cfg.label!r} is a {type(factory).__name__}, not a filter factory")
            try:
                made = factory(**cfg.options)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{at}.options: {cfg.label}: {exc}") from None
            if not callable(made):
                raise ConfigError(f"{at}: the factory returned a {type(made).__name__}, not a callable filter")
            filters.append(made)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(*problems)
    return filters


class FilteredAudioInput(AudioInput):
    """The session's audio input with filters applied to every frame."""

    def __init__(self, source: AudioInput, filters: Sequence[AudioFilter]) -> None:
        super().__init__(label="voxplug-filtered", source=source)
        self.filters = list(filters)
        self.frames = 0

    async def __anext__(self) -> rtc.AudioFrame:
        assert self.source is not None
        frame = await self.source.__anext__()
        self.frames += 1
        for f in list(self.filters):
            try:
                frame = f(frame)
            except Exception:
                logger.exception("audio filter %r failed; it is off for the rest of the call", f)
                self.filters.remove(f)
        return frame


def install_audio_filters(session: AgentSession[Any], filters: Sequence[AudioFilter]) -> None:
    """Filter the session's audio input once it has one (a room's, or a simulated microphone)."""
    if not filters:
        return

    def started(ev: Any) -> None:
        if ev.old_state != "initializing":
            return
        session.off("agent_state_changed", started)
        source = session.input.audio
        if source is not None and not isinstance(source, FilteredAudioInput):
            session.input.audio = FilteredAudioInput(source, filters)

    session.on("agent_state_changed", started)
