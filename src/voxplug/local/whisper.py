"""Local speech-to-text: Whisper through faster-whisper (CTranslate2), on the CPU.

Non-streaming: the session wraps it in ``stt.StreamAdapter`` with its VAD, so each call gets
one utterance. Whisper pads every call to a 30 s window, so a 2 s utterance costs as much as a
30 s one (about 1 s for base on two quiet cores). CTranslate2's encoder accepts a shorter input,
so ``window`` (default 10 s, longer for a longer utterance) cuts the encoder's work to a third;
measured with ``benchmarks/q1_reply_quality.py``, a 10 s window transcribes as well as 30 s and
shorter ones start to repeat or garble the sentence (Whisper was trained on 30 s windows).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from livekit import rtc
from livekit.agents import APIConnectOptions, stt
from livekit.agents.language import LanguageCode
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import AudioBuffer, is_given

from ..config.models import STTConfig
from ..errors import ConfigError
from ._common import cached_model, default_threads, ensure_installed, options_from, require
from .weights import WHISPER_BASE, SplitWeights, assemble, locate, whisper_tiny_en_dir

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

__all__ = [
    "DEFAULT_MODEL",
    "MAX_WINDOW",
    "MULTILINGUAL_MODEL",
    "LocalWhisperSTT",
    "WhisperOptions",
    "create_stt",
    "encoder_frames",
    "load_whisper",
    "resolve_model",
]

# the default for English: tiny.en transcribed the quality benchmark's espeak-ng requests as well
# as base (WER 32 % vs 35 % in the session, 25.7 % vs 23.0 % alone) in half the time (236 vs
# 460 ms a request; P3 voice-to-voice p50 1546 vs 1833 ms); base for every other language
DEFAULT_MODEL = "tiny.en"
MULTILINGUAL_MODEL = "base"
SAMPLE_RATE = 16_000  # what Whisper was trained on
MAX_WINDOW = 30.0  # seconds: Whisper's input window
FRAMES_PER_SECOND = 100  # log-mel frames
# name -> (where the model directory is, the parts it is joined from at load, if any)
_PACKAGED: dict[str, Callable[[], tuple[Path, SplitWeights | None]]] = {
    "base": lambda: (locate(WHISPER_BASE).parent, WHISPER_BASE),
    "tiny.en": lambda: (whisper_tiny_en_dir(), None),
}


@dataclass(frozen=True)
class WhisperOptions:
    language: str = "en"
    # the encoder (fixed 30 s window) dominates the cost; a beam of 5 adds ~10% and fixes
    # words greedy decoding gets wrong on short turns
    beam_size: int = 5
    compute_type: str = "int8"
    cpu_threads: int = 0  # 0 = default_threads()
    # a hint for names and jargon, e.g. "Voxplug, LiveKit"
    initial_prompt: str | None = None
    # seconds of encoder input: at least this, else the utterance plus one second; 30 = Whisper's
    # full window (the cost of the encoder grows with it)
    window: float = 10.0

    def __post_init__(self) -> None:
        if self.beam_size < 1:
            raise ValueError("beam_size must be at least 1")
        if not 1.0 <= self.window <= MAX_WINDOW:
            raise ValueError(f"window must be between 1 and {MAX_WINDOW:g} seconds")
        if self.cpu_threads < 0:
            raise ValueError("cpu_threads must be 0 (auto) or more")


@dataclass(frozen=True)
class ResolvedModel:
    label: str  # for metrics: whisper-base, whisper-tiny.en, whisper-<directory name>
    path: Path
    english_only: bool
    weights: SplitWeights | None = None  # packaged in parts: joined into ``path`` at load


def _base_language(tag: str) -> str:
    """Whisper knows languages, not locales: "en-US" / "pt_BR" → "en" / "pt"."""
    return tag.replace("_", "-").split("-")[0].lower()


def resolve_model(model: str | None, language: str = "en") -> ResolvedModel:
    """``base`` / ``tiny.en`` (packaged) or a directory holding a CTranslate2 Whisper model;
    unset: tiny.en for English, base for any other ``language``."""
    english = _base_language(language) == "en"
    name = (model or (DEFAULT_MODEL if english else MULTILINGUAL_MODEL)).strip()
    if name in _PACKAGED:
        path, weights = _PACKAGED[name]()
        return ResolvedModel(f"whisper-{name}", path, name.endswith(".en"), weights)
    path = Path(name).expanduser()
    if not (path / "model.bin").is_file():
        raise ConfigError(
            f"stt.model: {name!r} is neither a packaged model ({', '.join(_PACKAGED)}) nor a "
            "directory with a CTranslate2 Whisper model.bin"
        )
    path = path.resolve()
    return ResolvedModel(f"whisper-{path.name}", path, path.name.endswith(".en"))


_window = threading.local()  # encoder frames for the transcription running in this thread


def encoder_frames(duration: float, window: float) -> int:
    """Log-mel frames the encoder gets for ``duration`` seconds of audio: at least ``window``
    seconds, the audio plus one second when longer, never more than Whisper's 30 s."""
    seconds = min(MAX_WINDOW, max(window, duration + 1.0))
    return round(seconds * FRAMES_PER_SECOND)


def _windowed_model_class(fw: Any) -> type:
    class WindowedWhisperModel(fw.WhisperModel):  # type: ignore[misc]  # fw is the untyped faster_whisper module
        """faster-whisper with the encoder input cut to the current call's window.

        ``transcribe`` pads every segment's features to 30 s and passes them to ``encode``;
        the padding beyond the window is dropped here (CTranslate2 takes any length up to 30 s).
        """

        def encode(self, features: np.ndarray) -> Any:
            frames = getattr(_window, "frames", None)
            if frames is not None and features.shape[-1] > frames:
                features = features[..., :frames]
            return super().encode(features)

    return WindowedWhisperModel


def load_whisper(resolved: ResolvedModel, opts: WhisperOptions) -> WhisperModel:
    """Load (once per process) the faster-whisper model for ``resolved``."""
    threads = opts.cpu_threads or default_threads()
    key = ("whisper", str(resolved.path), opts.compute_type, threads)
    if resolved.weights is not None:  # joined once; later a size and stamp check
        assemble(resolved.weights)

    def load() -> WhisperModel:
        fw = require("faster_whisper", package="faster-whisper", extra="local-stt")
        # local_files_only: a path never triggers a hub download, but be explicit about it
        return _windowed_model_class(fw)(
            str(resolved.path), device="cpu", compute_type=opts.compute_type, cpu_threads=threads,
            local_files_only=True,
        )

    return cached_model(key, resolved.label, resolved.path, load)


def _to_whisper_audio(buffer: AudioBuffer) -> np.ndarray:
    """Mono float32 at 16 kHz, whatever rate and layout the room delivered."""
    frame = rtc.combine_audio_frames(buffer)
    samples = np.frombuffer(frame.data, dtype=np.int16)
    if frame.num_channels > 1:
        samples = samples.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
        frame = rtc.AudioFrame(samples.tobytes(), frame.sample_rate, 1, len(samples))
    if frame.sample_rate != SAMPLE_RATE:
        resampler = rtc.AudioResampler(frame.sample_rate, SAMPLE_RATE, num_channels=1)
        out = [*resampler.push(frame), *resampler.flush()]
        samples = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in out]) if out else samples[:0]
    return samples.astype(np.float32) / 32768.0


class LocalWhisperSTT(stt.STT[Any]):
    """Whisper on the local CPU; the model is shared by every instance in the process."""

    def __init__(self, *, model: str | None = None, options: WhisperOptions | None = None) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        ensure_installed("faster_whisper", package="faster-whisper", extra="local-stt")
        self._opts = options or WhisperOptions()
        self._resolved = resolve_model(model, self._opts.language)
        self._model: WhisperModel | None = None

    @property
    def model(self) -> str:
        return self._resolved.label

    @property
    def provider(self) -> str:
        return "local"

    def load(self) -> WhisperModel:
        """Load the weights now (blocking); called by prewarm, else by the first recognition."""
        if self._model is None:
            self._model = load_whisper(self._resolved, self._opts)
        return self._model

    def _transcribe(self, audio: np.ndarray, language: str) -> tuple[str, float, str]:
        model = self.load()
        _window.frames = encoder_frames(len(audio) / SAMPLE_RATE, self._opts.window)
        try:
            return self._decode(model, audio, language)
        finally:
            _window.frames = None

    def _decode(self, model: WhisperModel, audio: np.ndarray, language: str) -> tuple[str, float, str]:
        segments, info = model.transcribe(
            audio,
            language=language,
            beam_size=self._opts.beam_size,
            initial_prompt=self._opts.initial_prompt,
            # one voice turn per call: no carried-over context, no timestamps to decode
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,  # the session's VAD already cut the utterance
        )
        texts: list[str] = []
        confidences: list[float] = []
        for seg in segments:  # a generator: decoding happens here
            texts.append(seg.text.strip())
            confidences.append(float(np.exp(seg.avg_logprob)))
        confidence = float(np.mean(confidences)) if confidences else 0.0
        return " ".join(t for t in texts if t), confidence, info.language

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        lang = str(language) if is_given(language) and language else self._opts.language
        lang = _base_language(lang)
        if self._resolved.english_only:
            lang = "en"  # the .en models only know English
        audio = _to_whisper_audio(buffer)
        duration = len(audio) / SAMPLE_RATE
        if duration < 0.1:  # nothing Whisper could use; it would hallucinate on silence
            text, confidence, detected = "", 0.0, lang
        else:
            text, confidence, detected = await asyncio.to_thread(self._transcribe, audio, lang)
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=uuid.uuid4().hex,
            alternatives=[
                stt.SpeechData(
                    language=LanguageCode(detected or lang), text=text, start_time=0.0, end_time=duration,
                    confidence=confidence,
                )
            ],
            recognition_usage=stt.RecognitionUsage(audio_duration=duration),
        )


def create_stt(cfg: STTConfig) -> LocalWhisperSTT:
    opts = options_from(WhisperOptions, cfg.options, field="stt.options", language=cfg.language)
    return LocalWhisperSTT(model=cfg.model, options=opts)
