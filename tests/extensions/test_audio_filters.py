"""The audio-filter hook and the built-in high-pass filter; Silero VAD parameters from config."""

from __future__ import annotations

import math
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import stt
from livekit.agents.utils import AudioBuffer, combine_frames

from voxplug.config.audio import AudioFilterConfig
from voxplug.config.models import SessionConfig
from voxplug.core.audio_filters import MAX_BLOCK, HighPassFilter, _highpass_biquads, build_filters
from voxplug.core.session import load_session_models
from voxplug.errors import ConfigError
from voxplug.pcm import load_wav, resample, write_wav
from voxplug.providers.registry import ProviderFactory
from voxplug.simulate import Turn, simulate
from voxplug.testing.fixed import FixedLatencySTT, FixedSTTOptions

from .conftest import config_from, fixed_yaml

RATE = 16000


def _reference(x: np.ndarray, cutoff: float, rate: int, order: int) -> np.ndarray:
    """The same filter, one sample at a time (direct form II transposed)."""
    y = x.astype(np.float64)
    for b0, b1, b2, a1, a2 in _highpass_biquads(cutoff, rate, order):
        s1 = s2 = 0.0
        out = np.empty_like(y)
        for i, v in enumerate(y):
            o = b0 * v + s1
            s1 = b1 * v - a1 * o + s2
            s2 = b2 * v - a2 * o
            out[i] = o
        y = out
    return y


def _frame(samples: np.ndarray, rate: int = RATE) -> rtc.AudioFrame:
    pcm = np.clip(np.round(samples), -32768, 32767).astype(np.int16)
    return rtc.AudioFrame(data=pcm.tobytes(), sample_rate=rate, num_channels=1, samples_per_channel=len(pcm))


def _run(f: HighPassFilter, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    out: list[np.ndarray] = []
    i = 0
    while i < len(x):
        n = sizes[len(out) % len(sizes)]
        out.append(f.process(x[i:i + n, None].astype(np.float64), RATE)[:, 0])
        i += n
    return np.concatenate(out)


def test_block_filter_equals_the_per_sample_filter_across_frame_sizes() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 3000, 4000)
    for order in (2, 4):
        expected = _reference(x, 150.0, RATE, order)
        got = _run(HighPassFilter(cutoff_hz=150.0, order=order), x, [320, 160, 480, 7])
        assert np.max(np.abs(got - expected)) < 1e-6 * np.max(np.abs(expected))


def _gain_db(f: HighPassFilter, hz: float) -> float:
    t = np.arange(RATE * 2) / RATE
    x = 10000 * np.sin(2 * math.pi * hz * t)
    y = _run(f, x, [320])
    settled = slice(RATE, None)  # after the first second
    return 20 * math.log10(np.sqrt(np.mean(y[settled] ** 2)) / np.sqrt(np.mean(x[settled] ** 2)))


def test_highpass_removes_hum_and_keeps_speech_frequencies() -> None:
    assert _gain_db(HighPassFilter(), 50.0) < -25.0  # mains hum
    assert _gain_db(HighPassFilter(), 60.0) < -20.0
    assert abs(_gain_db(HighPassFilter(), 1000.0)) < 0.5
    assert abs(_gain_db(HighPassFilter(), 300.0)) < 0.5


@pytest.mark.parametrize("rate", [16000, 24000, 48000])
def test_framed_filtering_equals_one_pass_at_every_rate_and_frame_size(rate: int) -> None:
    rng = np.random.default_rng(rate)
    x = rng.normal(0, 3000, rate)  # 1 s
    expected = _reference(x, 120.0, rate, 4)  # one pass, one sample at a time
    whole = HighPassFilter().process(x[:, None], rate)[:, 0]  # one block (over MAX_BLOCK: pieces)
    f, out, i, k = HighPassFilter(), list[np.ndarray](), 0, 0
    sizes = [rate // 50, 7, rate // 100, 1, 333, 3 * rate // 50, 2 * MAX_BLOCK + 5]
    while i < len(x):
        n = sizes[k % len(sizes)]
        out.append(f.process(x[i:i + n, None], rate)[:, 0])
        i, k = i + n, k + 1
    framed = np.concatenate(out)
    scale = np.max(np.abs(expected))
    assert np.max(np.abs(whole - expected)) < 1e-9 * scale
    assert np.max(np.abs(framed - expected)) < 1e-9 * scale


@pytest.mark.parametrize("rate", [16000, 24000, 48000])
def test_pass_band_is_unity_gain_above_300_hz(rate: int) -> None:
    t = np.arange(rate) / rate
    for hz in (300.0, 500.0, 1000.0, 3000.0, 0.45 * rate):
        x = 10000 * np.sin(2 * math.pi * hz * t)
        y = HighPassFilter().process(x[:, None], rate)[rate // 2:, 0]
        gain = 20 * math.log10(np.sqrt(np.mean(y**2)) / np.sqrt(np.mean(x[rate // 2:] ** 2)))
        assert abs(gain) < 0.5, (rate, hz, gain)


def _through_frames(f: HighPassFilter, x: np.ndarray, rate: int) -> np.ndarray:
    n = rate // 50
    return np.concatenate([
        np.frombuffer(f(_frame(x[i:i + n], rate)).data, dtype=np.int16) for i in range(0, len(x) - n + 1, n)
    ]).astype(np.float64)


@pytest.mark.parametrize("target", [None, -20.0])
def test_no_clicks_at_frame_edges(target: float | None) -> None:
    rate = 48000
    t = np.arange(rate * 2) / rate
    # quiet speech-like swells (a 440 Hz tone, 0.6 s apart, no edges of their own): the
    # normaliser changes its gain from frame to frame
    x = 3000 * np.sin(2 * math.pi * 440 * t) * np.sin(math.pi * t / 0.6) ** 2
    y = _through_frames(HighPassFilter(target_dbfs=target), x, rate)
    jump = np.abs(np.diff(y, 2))  # a click is a jump in slope
    n = rate // 50
    edges = np.zeros(len(jump), dtype=bool)
    edges[n - 2::n] = edges[n - 1::n] = True  # second differences spanning a frame boundary
    assert jump[edges].max() <= jump[~edges].max() * 1.05 + 2


def test_full_scale_input_never_wraps_around_in_int16() -> None:
    t = np.arange(RATE) / RATE
    square = 32767 * np.sign(np.sin(2 * math.pi * 200 * t))  # high-pass overshoots its edges
    y = HighPassFilter().process(square[:, None], RATE)[:, 0]
    assert np.abs(y).max() > 32767  # the float result does overshoot ...
    out = _through_frames(HighPassFilter(), square, RATE)
    n = len(out)
    assert np.all(np.sign(out[np.abs(y[:n]) > 1]) == np.sign(y[:n][np.abs(y[:n]) > 1]))  # ... and never wraps


def test_gain_normaliser_limits_a_loud_onset_instead_of_clipping() -> None:
    t = np.arange(RATE * 4) / RATE
    quiet, loud = 600 * np.sin(2 * math.pi * 440 * t), 30000 * np.sin(2 * math.pi * 440 * t[:RATE])
    bursts = quiet * ((t % 0.6) < 0.3)  # about -38 dBFS speech, 300 ms on and off
    f = HighPassFilter(target_dbfs=-20.0, max_gain_db=12.0)
    _through_frames(f, bursts, RATE)
    assert f.gain_db > 6.0  # the quiet speech is being brought up ...
    y = _through_frames(f, loud, RATE)
    assert np.abs(y).max() <= 32768 * 10 ** (-0.5 / 20) + 1  # ... and a shout is limited, not clipped
    assert f.gain_db < 0.0


def test_gain_normaliser_holds_its_gain_in_pauses_noise_and_silence() -> None:
    rng = np.random.default_rng(3)
    n = RATE // 50
    t = np.arange(n) / RATE
    tone = 3000 * np.sin(2 * math.pi * 440 * t)  # speech at about -24 dBFS
    f = HighPassFilter(target_dbfs=-20.0)
    gains = []
    for k in range(300):  # 6 s: 300 ms words and 300 ms pauses over noise at about -45 dBFS
        word = (k // 15) % 2 == 0
        f.process((rng.normal(0, 180, n) + (tone if word else 0))[:, None], RATE)
        gains.append((word, f.gain_db))
    pauses = [g for word, g in gains if not word]
    for k in range(15, 300, 30):  # every pause holds the gain its word left
        assert gains[k + 14][1] == gains[k][1] == gains[k - 1][1]
    assert 3.0 < max(pauses) < 4.5 and max(pauses) - min(pauses[-5:]) < 1.0  # near +4 dB, no pumping
    sources: tuple[Callable[[], np.ndarray], ...] = (lambda: rng.normal(0, 180, n), lambda: np.zeros(n))
    for make_noise in sources:
        f = HighPassFilter(target_dbfs=-20.0, max_gain_db=12.0)
        for _ in range(500):  # 10 s of noise (or silence) alone is never brought up
            f.process(make_noise()[:, None], RATE)
        assert f.gain_db == 0.0
    # noise that starts after digital silence passes for speech until the floor catches up
    # (about 0.5 s): its gain rises part of the way, then holds, whatever the frame size
    for size in (160, 320, 480):
        f = HighPassFilter(target_dbfs=-20.0, max_gain_db=12.0)
        f.process(np.zeros((RATE, 1)), RATE)
        held = []
        for _ in range(10 * RATE // size):
            f.process(rng.normal(0, 180, (size, 1)), RATE)
            held.append(f.gain_db)
        assert 5.0 < held[-1] < 9.0 and held[-1] == held[len(held) // 2], size


def test_bad_filter_configs_give_one_line_each() -> None:
    configs = [
        AudioFilterConfig(name="lowpass"),
        AudioFilterConfig(name="highpass", options={"cutoff_hz": 5}),
        AudioFilterConfig(name="highpass", options={"colour": "blue"}),
        AudioFilterConfig(ref="math:pi"),
        AudioFilterConfig(ref="no_such_module_xyz:f"),
    ]
    with pytest.raises(ConfigError) as err:
        build_filters(configs)
    lines = err.value.problems
    assert len(lines) == 5
    assert lines[0].startswith("session.audio_filters.0.name: unknown audio filter 'lowpass'; known: highpass")
    assert lines[1] == "session.audio_filters.1.options: highpass: cutoff_hz must be between 20 and 1000 (got 5)"
    assert lines[2].startswith("session.audio_filters.2.options: highpass: ") and "colour" in lines[2]
    assert lines[3] == "session.audio_filters.3: 'math:pi' is a float, not a filter factory"
    assert lines[4].startswith("session.audio_filters.4.ref: cannot import module 'no_such_module_xyz'")


def test_vad_parameters_reach_silero() -> None:
    cfg = SessionConfig.model_validate({"vad_options": {
        "activation_threshold": 0.7, "min_silence_duration": 0.4, "min_speech_duration": 0.1,
        "prefix_padding_duration": 0.2,
    }})
    vad = load_session_models(cfg).vad
    opts: Any = vad._opts  # type: ignore[union-attr]
    assert (opts.activation_threshold, opts.min_silence_duration, opts.min_speech_duration) == (0.7, 0.4, 0.1)
    assert opts.prefix_padding_duration == 0.2 and opts.deactivation_threshold == pytest.approx(0.55)


# -- in a session: the STT hears the filtered audio ----------------------------------------------------
class ProbeSTT(FixedLatencySTT):
    """The fixed STT, keeping every utterance it is asked to recognise."""

    heard: list[np.ndarray] = []

    async def _recognize_impl(self, buffer: AudioBuffer, **kwargs: Any) -> stt.SpeechEvent:
        frame = combine_frames(buffer)
        ProbeSTT.heard.append(np.frombuffer(frame.data, dtype=np.int16).astype(np.float64))
        return await super()._recognize_impl(buffer, **kwargs)


ProviderFactory.register_stt_provider(
    "probe-stt", lambda cfg: ProbeSTT(FixedSTTOptions(latency=0.05)), description="test probe"
)


def _hum_ratio_db(samples: np.ndarray) -> float:
    """Energy at 50 Hz relative to the 300-3400 Hz speech band, in dB."""
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / RATE)
    hum = spectrum[(freqs > 45) & (freqs < 55)].sum()
    speech = spectrum[(freqs > 300) & (freqs < 3400)].sum()
    return float(10 * np.log10(hum / speech))


async def test_the_filter_changes_what_the_stt_receives(tmp_path: Path) -> None:
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "Please book me for Thursday morning."], check=True)
    samples, rate = load_wav(wav)
    speech = resample(samples, rate, RATE).astype(np.float64)
    t = np.arange(len(speech)) / RATE
    hum = 0.5 * np.abs(speech).max() * np.sin(2 * math.pi * 50 * t)
    noisy = tmp_path / "noisy.wav"
    write_wav(noisy, np.clip(speech + hum, -32768, 32767).astype(np.int16), RATE)

    ratios = {}
    for label, filters in (("raw", []), ("filtered", [{"name": "highpass", "options": {"cutoff_hz": 150}}])):
        text = fixed_yaml({"reply": "Okay."}, stt={"provider": "probe-stt"}, session={"audio_filters": filters})
        ProbeSTT.heard = []
        report = await simulate(config_from(tmp_path, text), [Turn(wav=noisy, pause=0.2)], turn_timeout=30)
        assert report.ok, [t.error for t in report.turns]
        assert ProbeSTT.heard
        ratios[label] = _hum_ratio_db(np.concatenate(ProbeSTT.heard))
    assert ratios["raw"] > -10.0  # the hum is there ...
    assert ratios["filtered"] < ratios["raw"] - 25.0, ratios  # ... and the STT no longer gets it
