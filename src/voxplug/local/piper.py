"""Local text-to-speech: Piper (VITS voices run with onnxruntime), on the CPU.

piper-tts is GPL-3.0-or-later, which is why it is an optional extra of its own and is only
imported when a config asks for it. Non-streaming: the session wraps it in
``tts.StreamAdapter``, which already sends one sentence at a time; inside one request Piper
synthesizes sentence by sentence too and each sentence's audio is pushed as soon as it
exists, so the first audio arrives after the first sentence, not after the whole text.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, APIError, tts

from ..config.models import TTSConfig
from ..errors import ConfigError
from ._common import cached_model, ensure_installed, options_from, require
from .weights import PiperVoicePaths, joe_voice

if TYPE_CHECKING:
    from piper import PiperVoice

__all__ = ["PiperOptions", "PiperTTS", "create_tts", "load_voice", "resolve_voice"]

_END = object()


@dataclass(frozen=True)
class PiperOptions:
    """Piper's ``SynthesisConfig``; ``None`` keeps the voice's own setting."""

    length_scale: float | None = None  # < 1 speaks faster, > 1 slower
    noise_scale: float | None = None
    noise_w_scale: float | None = None
    speaker_id: int | None = None  # multi-speaker voices only
    volume: float = 1.0
    normalize_audio: bool = True

    def __post_init__(self) -> None:
        if self.length_scale is not None and not 0.1 <= self.length_scale <= 10:
            raise ValueError("length_scale must be between 0.1 and 10")


def resolve_voice(voice: str | None) -> PiperVoicePaths:
    """``None`` = the packaged en_US-joe-medium, else a path to a piper ``.onnx`` voice."""
    if not voice:
        return joe_voice()
    model = Path(voice).expanduser()
    config = model.with_name(model.name + ".json")
    if model.suffix != ".onnx" or not model.is_file():
        raise ConfigError(f"tts.voice: {voice!r} is not a piper voice file (.onnx)")
    if not config.is_file():
        raise ConfigError(f"tts.voice: the voice config {config} (.onnx.json beside the model) is missing")
    return PiperVoicePaths(model.stem, model.resolve(), config.resolve())


def _sample_rate(paths: PiperVoicePaths) -> int:
    # read from the voice config so the TTS can be built (and the session configured)
    # without importing piper or loading the model
    try:
        return int(json.loads(paths.config.read_text())["audio"]["sample_rate"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"tts.voice: cannot read the sample rate from {paths.config}: {exc}") from None


def load_voice(paths: PiperVoicePaths) -> PiperVoice:
    """Load (once per process) the piper voice."""

    def load() -> PiperVoice:
        # onnxruntime phones home ~10 s after a session opens unless told not to
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        piper = require("piper", package="piper-tts", extra="piper")
        return piper.PiperVoice.load(str(paths.model), config_path=str(paths.config))  # type: ignore[no-any-return]

    return cached_model(("piper", str(paths.model)), f"piper-{paths.name}", paths.model, load)


class PiperTTS(tts.TTS):
    """A Piper voice on the local CPU; the voice is shared by every instance in the process."""

    def __init__(self, *, voice: str | None = None, options: PiperOptions | None = None) -> None:
        ensure_installed("piper", package="piper-tts", extra="piper")
        self._paths = resolve_voice(voice)
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=_sample_rate(self._paths),
            num_channels=1,
        )
        self._opts = options or PiperOptions()
        self._voice: PiperVoice | None = None

    @property
    def model(self) -> str:
        return f"piper-{self._paths.name}"

    @property
    def provider(self) -> str:
        return "local"

    def load(self) -> PiperVoice:
        """Load the voice now (blocking); called by prewarm, else by the first synthesis."""
        if self._voice is None:
            self._voice = load_voice(self._paths)
        return self._voice

    def synthesis_config(self) -> Any:
        piper = require("piper", package="piper-tts", extra="piper")
        return piper.SynthesisConfig(**asdict(self._opts))

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> PiperChunkedStream:
        return PiperChunkedStream(tts=self, input_text=text, conn_options=conn_options)

    def iter_pcm(self, text: str, cancelled: threading.Event | None = None) -> Iterator[bytes]:
        """Blocking: 16-bit mono PCM, one chunk per sentence (run it off the event loop)."""
        voice = self.load()
        for chunk in voice.synthesize(text, syn_config=self.synthesis_config()):
            if cancelled is not None and cancelled.is_set():
                return
            yield chunk.audio_int16_bytes


class PiperChunkedStream(tts.ChunkedStream):
    def __init__(self, *, tts: PiperTTS, input_text: str, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._piper = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=uuid.uuid4().hex,
            sample_rate=self._piper.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        if not self.input_text.strip():
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def produce() -> None:
            # runs in a worker thread; hands each sentence to the loop as soon as it exists
            try:
                for pcm in self._piper.iter_pcm(self.input_text, cancelled):
                    loop.call_soon_threadsafe(queue.put_nowait, pcm)
            except BaseException as exc:
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _END)

        worker = loop.run_in_executor(None, produce)
        try:
            while (item := await queue.get()) is not _END:
                if isinstance(item, BaseException):
                    raise APIError(f"piper synthesis failed: {item}", retryable=False) from item
                output_emitter.push(item)
            output_emitter.flush()
        finally:
            # an interrupted turn cancels us: stop the thread after its current sentence
            cancelled.set()
            del worker  # produce() never raises: nothing to collect, and no reason to wait


def create_tts(cfg: TTSConfig) -> PiperTTS:
    opts = options_from(PiperOptions, cfg.options, field="tts.options")
    return PiperTTS(voice=cfg.voice, options=opts)
