"""Local speech-to-text: Whisper through faster-whisper (CTranslate2), on the CPU.

Non-streaming: the session wraps it in ``stt.StreamAdapter`` with its VAD, so each call gets
one utterance. Whisper pads every call to 30 s of audio, so the cost per call is nearly
constant (about 1-2 s for base, 0.5 s for tiny.en on two cores).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from livekit import rtc
from livekit.agents import APIConnectOptions, stt
from livekit.agents.language import LanguageCode
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import AudioBuffer, is_given

from ..config.models import STTConfig
from ..errors import ConfigError
from ._common import cached_model, default_threads, ensure_installed, options_from, require
from .weights import whisper_base_dir, whisper_tiny_en_dir

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

__all__ = [
    "DEFAULT_MODEL",
    "LocalWhisperSTT",
    "WhisperOptions",
    "create_stt",
    "load_whisper",
    "resolve_model",
]

DEFAULT_MODEL = "base"
SAMPLE_RATE = 16_000  # what Whisper was trained on
_PACKAGED = {"base": whisper_base_dir, "tiny.en": whisper_tiny_en_dir}


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

    def __post_init__(self) -> None:
        if self.beam_size < 1:
            raise ValueError("beam_size must be at least 1")
        if self.cpu_threads < 0:
            raise ValueError("cpu_threads must be 0 (auto) or more")


@dataclass(frozen=True)
class ResolvedModel:
    label: str  # for metrics: whisper-base, whisper-tiny.en, whisper-<directory name>
    path: Path
    english_only: bool


def resolve_model(model: str | None) -> ResolvedModel:
    """``base`` / ``tiny.en`` (packaged) or a directory holding a CTranslate2 Whisper model."""
    name = (model or DEFAULT_MODEL).strip()
    if name in _PACKAGED:
        return ResolvedModel(f"whisper-{name}", _PACKAGED[name](), name.endswith(".en"))
    path = Path(name).expanduser()
    if not (path / "model.bin").is_file():
        raise ConfigError(
            f"stt.model: {name!r} is neither a packaged model ({', '.join(_PACKAGED)}) nor a "
            "directory with a CTranslate2 Whisper model.bin"
        )
    path = path.resolve()
    return ResolvedModel(f"whisper-{path.name}", path, path.name.endswith(".en"))


def load_whisper(resolved: ResolvedModel, opts: WhisperOptions) -> WhisperModel:
    """Load (once per process) the faster-whisper model for ``resolved``."""
    threads = opts.cpu_threads or default_threads()
    key = ("whisper", str(resolved.path), opts.compute_type, threads)

    def load() -> WhisperModel:
        fw = require("faster_whisper", package="faster-whisper", extra="local-stt")
        # local_files_only: a path never triggers a hub download, but be explicit about it
        return fw.WhisperModel(  # type: ignore[no-any-return]
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


class LocalWhisperSTT(stt.STT):
    """Whisper on the local CPU; the model is shared by every instance in the process."""

    def __init__(self, *, model: str | None = None, options: WhisperOptions | None = None) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        ensure_installed("faster_whisper", package="faster-whisper", extra="local-stt")
        self._opts = options or WhisperOptions()
        self._resolved = resolve_model(model)
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
        # Whisper knows languages, not locales: "en-US" / "pt_BR" → "en" / "pt"
        lang = lang.replace("_", "-").split("-")[0].lower()
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
