"""Early transcripts for a non-streaming STT: transcribe at the first silence, not at the VAD's end.

LiveKit's ``stt.StreamAdapter`` sends an utterance to a non-streaming STT (Whisper, a REST
transcription API) once the VAD has heard ``min_silence_duration`` of silence, so every turn
waits for that silence *and then* for the STT. :class:`EarlyTranscriptAdapter` starts the
request after ``after`` seconds of silence instead, with the speech heard so far. If the
silence lasts until the VAD's end of speech, the early result is the transcript (the audio it
saw is the same speech, less a little trailing silence); if the user speaks again first, it is
dropped, and the end of speech transcribes the whole utterance as the plain adapter would.
The cost is one discarded request per pause longer than ``after`` and shorter than the VAD's
silence; the gain, with the local Whisper tiny.en (~0.24 s a request), is most of the VAD's
0.25 s silence on every turn (docs/benchmarks.md, P3).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from livekit import rtc
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, stt, utils, vad
from livekit.agents.types import NOT_GIVEN, NotGivenOr

__all__ = ["EarlyTranscriptAdapter"]

logger = logging.getLogger(__name__)


class EarlyTranscriptAdapter(stt.StreamAdapter):
    """``stt.StreamAdapter`` whose streams start the wrapped STT ``after`` seconds into a silence."""

    def __init__(self, *, stt: stt.STT[Any], vad: vad.VAD, after: float) -> None:
        super().__init__(stt=stt, vad=vad)
        self._after = after

    @property
    def after(self) -> float:
        return self._after

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.RecognizeStream:
        return _EarlyTranscriptStream(
            self, vad=self._vad, wrapped_stt=self._stt, language=language, conn_options=conn_options,
            after=self._after,
        )


def _forget(task: asyncio.Task[stt.SpeechEvent] | None) -> None:
    """Drop an early request: its result (or error) is never used."""
    if task is not None and not task.done():
        task.cancel()
        task.add_done_callback(lambda t: t.cancelled() or t.exception())


class _EarlyTranscriptStream(stt.StreamAdapterWrapper):
    def __init__(
        self, adapter: EarlyTranscriptAdapter, *, vad: vad.VAD, wrapped_stt: stt.STT[Any],
        language: NotGivenOr[str], conn_options: APIConnectOptions, after: float,
    ) -> None:
        super().__init__(adapter, vad=vad, wrapped_stt=wrapped_stt, language=language, conn_options=conn_options)
        self._after = after

    async def _transcribe(self, frames: list[rtc.AudioFrame]) -> stt.SpeechEvent:
        return await self._wrapped_stt.recognize(
            buffer=utils.merge_frames(frames), language=self._language,
            conn_options=self._wrapped_stt_conn_options,
        )

    async def _run(self) -> None:
        vad_stream = self._vad.stream()

        async def forward_input() -> None:
            async for item in self._input_ch:
                if isinstance(item, self._FlushSentinel):
                    vad_stream.flush()
                    continue
                vad_stream.push_frame(item)
            vad_stream.end_input()

        early: asyncio.Task[stt.SpeechEvent] | None = None

        async def recognize() -> None:
            nonlocal early
            speech: list[rtc.AudioFrame] = []  # what the VAD's speech buffer holds, as it grows
            async for ev in vad_stream:
                if ev.type == vad.VADEventType.START_OF_SPEECH:
                    _forget(early)
                    early, speech = None, list(ev.frames)  # the prefix padding and the speech so far
                    self._event_ch.send_nowait(stt.SpeechEvent(stt.SpeechEventType.START_OF_SPEECH))
                elif ev.type == vad.VADEventType.INFERENCE_DONE:
                    # an inference event tells the state before its own window: speaking, and
                    # the silence run up to the previous window (0 once speech came back)
                    if not ev.speaking:
                        continue
                    speech.extend(ev.frames)
                    if early is not None and ev.raw_accumulated_silence == 0.0:
                        _forget(early)  # the user went on speaking: this text is only a part
                        early = None
                        logger.debug("early transcription dropped: the user spoke again")
                    if early is None and ev.raw_accumulated_silence >= self._after:
                        early = asyncio.create_task(self._transcribe(list(speech)), name="voxplug-early-stt")
                elif ev.type == vad.VADEventType.END_OF_SPEECH:
                    speech_end_time = time.time() - ev.silence_duration - ev.inference_duration
                    self._event_ch.send_nowait(
                        stt.SpeechEvent(type=stt.SpeechEventType.END_OF_SPEECH, speech_end_time=speech_end_time)
                    )
                    result: stt.SpeechEvent | None = None
                    if early is not None:
                        task, early = early, None
                        try:
                            result = await task
                        except Exception as exc:  # the same request again, on the whole buffer
                            logger.debug("early transcription failed (%s); transcribing at the end of speech", exc)
                    if result is None:
                        result = await self._transcribe(ev.frames)
                    speech = []
                    if not result.alternatives or not result.alternatives[0].text:
                        continue
                    self._event_ch.send_nowait(
                        stt.SpeechEvent(
                            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
                            alternatives=[result.alternatives[0]],
                            speech_end_time=(
                                result.speech_end_time if result.speech_end_time is not None else speech_end_time
                            ),
                        )
                    )

        tasks = [
            asyncio.create_task(forward_input(), name="voxplug-early-stt-input"),
            asyncio.create_task(recognize(), name="voxplug-early-stt-recognize"),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            _forget(early)
            await utils.aio.cancel_and_wait(*tasks)
            await vad_stream.aclose()
