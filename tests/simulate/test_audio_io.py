"""The simulated microphone and speaker on their own (no session)."""

from __future__ import annotations

import asyncio
import time

import numpy as np
from livekit import rtc

from voxplug.simulate.audio import RecordingAudioOutput, SimulatedAudioInput


def _tone(seconds: float, rate: int = 24000) -> rtc.AudioFrame:
    n = int(seconds * rate)
    data = (np.sin(np.arange(n) / rate * 2 * np.pi * 300) * 8000).astype(np.int16)
    return rtc.AudioFrame(data=data.tobytes(), sample_rate=rate, num_channels=1, samples_per_channel=n)


async def test_microphone_paces_20ms_frames_and_reports_the_end_of_speech() -> None:
    mic = SimulatedAudioInput()
    speech = np.full(16000 // 10, 1000, dtype=np.int16)  # 100 ms
    started = time.monotonic()
    played = mic.play(speech)
    frames = []
    while not played.done():
        frames.append(await mic.__anext__())
    elapsed = time.monotonic() - started
    assert all(f.samples_per_channel == 320 and f.sample_rate == 16000 for f in frames)
    assert len(frames) == 5 and elapsed >= 0.09  # real time, not as fast as possible
    result = played.result()
    assert result.duration == 0.1 and result.ended_mono >= result.started_mono + 0.09
    # silence afterwards, until closed
    assert not np.frombuffer((await mic.__anext__()).data, dtype=np.int16).any()
    mic.close()
    try:
        await mic.__anext__()
    except StopAsyncIteration:
        pass
    else:
        raise AssertionError("a closed microphone must stop")


async def test_speaker_plays_out_in_real_time_and_reports_playback() -> None:
    speaker = RecordingAudioOutput()
    events: list[tuple[str, object]] = []
    speaker.on("playback_started", lambda ev: events.append(("started", ev)))
    speaker.on("playback_finished", lambda ev: events.append(("finished", ev)))
    await speaker.capture_frame(_tone(0.1))
    await speaker.capture_frame(_tone(0.1))
    speaker.flush()
    assert not speaker.idle and [e for e, _ in events] == ["started"]
    finished = await asyncio.wait_for(speaker.wait_for_playout(), timeout=2)
    assert not finished.interrupted and abs(finished.playback_position - 0.2) < 1e-6
    seg = speaker.segments[0]
    assert seg.finished_mono is not None and seg.finished_mono - seg.started_mono >= 0.19
    assert speaker.idle and len(seg.samples()) == 4800


async def test_speaker_clear_buffer_interrupts_and_pause_holds_playback() -> None:
    speaker = RecordingAudioOutput()
    await speaker.capture_frame(_tone(1.0))
    speaker.flush()
    speaker.pause()
    await asyncio.sleep(0.05)
    speaker.resume()
    speaker.clear_buffer()
    finished = await asyncio.wait_for(speaker.wait_for_playout(), timeout=1)
    assert finished.interrupted and finished.playback_position < 0.5
    assert speaker.segments[0].interrupted and speaker.idle
