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
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, APIError, tts
from livekit.agents import tokenize as lk_tokenize

from ..config.models import TTSConfig
from ..errors import ConfigError
from ._common import cached_model, ensure_installed, options_from, require
from .weights import PiperVoicePaths, joe_voice

if TYPE_CHECKING:
    from piper import PiperVoice

__all__ = ["ClauseTokenizer", "PiperOptions", "PiperTTS", "create_tts", "load_voice", "resolve_voice", "streaming_tts"]

_END = object()
# where a first clause may end: punctuation followed by a space
_CLAUSE_END = re.compile(r"[,;:.!?\u2014](?=\s)")
# text that ends with a finished sentence (or first clause): LiveKit's markdown filter, which the
# TTS input always goes through, passes a punctuation mark on only once the character after it
# (a space) has come, so this is a clause end, not "3." of "3.14". Handed over at once: LiveKit's
# buffered stream otherwise holds the last sentence back until the next one begins - after a
# whole clause of generation, or after a tool call ("One moment." waited 1.4 s for the call)
_SENTENCE_DONE = re.compile(r"[.!?\u2026]\s*$")
_CLAUSE_DONE = re.compile(r"[,;:.!?\u2014\u2026]\s*$")


class ClauseTokenizer(lk_tokenize.SentenceTokenizer):
    """Sentences as LiveKit's blingfire tokenizer splits them, except that a reply's first clause
    is a piece of its own as soon as it ends (at least ``min_first`` characters)."""

    def __init__(self, *, min_first: int = 4) -> None:
        self._sentences = lk_tokenize.blingfire.SentenceTokenizer(retain_format=True)
        self._min_first = min_first

    def tokenize(self, text: str, *, language: str | None = None) -> list[str]:
        return self._split(text, first=True)

    def _split(self, text: str, *, first: bool) -> list[str]:
        sentences = self._sentences.tokenize(text)
        if first and sentences:
            head = sentences[0]
            end = next((m.end() for m in _CLAUSE_END.finditer(head) if m.end() >= self._min_first), None)
            if end is not None and head[end:].strip():
                return [head[:end], head[end:].lstrip(), *sentences[1:]]
        return sentences

    def stream(self, *, language: str | None = None) -> lk_tokenize.SentenceStream:
        state = {"first": ""}

        def split(text: str) -> list[str]:
            # the stream re-splits what it still holds: once the first clause is gone from
            # the front, the rest is split into sentences only
            if state["first"] and not text.lstrip().startswith(state["first"]):
                pieces = self._split(text, first=False)
                return [*pieces, ""] if pieces and _SENTENCE_DONE.search(text) else pieces
            pieces = self._split(text, first=True)
            if len(pieces) == 1 and len(text.strip()) >= self._min_first and _CLAUSE_DONE.search(text):
                pieces.append("")  # the first clause, complete: hand it over now
            if len(pieces) > 1:
                state["first"] = pieces[0].strip()
            return pieces

        return lk_tokenize.BufferedSentenceStream(tokenizer=split, min_token_len=1, min_ctx_len=1)


@dataclass(frozen=True)
class PiperOptions:
    """Piper's ``SynthesisConfig``; ``None`` keeps the voice's own setting."""

    length_scale: float | None = None  # < 1 speaks faster, > 1 slower
    noise_scale: float | None = None
    noise_w_scale: float | None = None
    speaker_id: int | None = None  # multi-speaker voices only
    volume: float = 1.0
    normalize_audio: bool = True
    # speak a reply's first clause as soon as it is complete (ClauseTokenizer)
    early_clause: bool = True

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
        return piper.PiperVoice.load(str(paths.model), config_path=str(paths.config))  # type: ignore[no-any-return]  # piper is untyped

    return cached_model(("piper", str(paths.model)), f"piper-{paths.name}", paths.model, load)


class PiperTTS(tts.TTS[Any]):
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

    @property
    def options(self) -> PiperOptions:
        return self._opts

    def synthesis_config(self) -> Any:
        piper = require("piper", package="piper-tts", extra="piper")
        settings = {k: v for k, v in asdict(self._opts).items() if k != "early_clause"}
        return piper.SynthesisConfig(**settings)

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


def streaming_tts(piper: PiperTTS) -> tts.TTS[Any]:
    """What the session gets: ``piper`` behind LiveKit's stream adapter, first clause early."""
    if not piper.options.early_clause:
        return piper  # the session wraps it with its default sentence tokenizer
    return tts.StreamAdapter(tts=piper, sentence_tokenizer=ClauseTokenizer())
