"""Fixed-latency STT, LLM and TTS: LiveKit plugins that wait a set time and answer from a script.

They make no network call and load no model, so a conversation through the real
``AgentSession`` costs exactly the configured latencies plus the framework's own overhead:
the yardstick for benchmarks, and a deterministic stand-in for a vendor in tests.

Configure them like any provider, as provider ``fixed`` (registered through the
``voxplug.providers`` entry point); every setting lives under the stage's ``options``::

    stt: {provider: fixed, options: {latency: 0.1, transcripts: ["hello", "what time is it"]}}
    llm: {provider: fixed, options: {ttft: 0.2, reply: "You said: {user}"}}
    tts: {provider: fixed, options: {ttfb: 0.1}}

Options shared by the three stages (to exercise retries and fallbacks):

``fail``
    ``"http500"``, ``"http429"``, ``"http401"`` (``APIStatusError`` with that status),
    ``"connection"`` (``APIConnectionError``), ``"timeout"`` (waits the request's timeout
    from ``APIConnectOptions``, then ``APITimeoutError``, as a real client does) or
    ``"hang"`` (never answers: only an outer timeout, such as a fallback adapter's
    ``attempt_timeout``, ends it).
``fail_times``
    fail only the first N requests, then answer normally (default: every request).

STT (``FixedLatencySTT``, non-streaming: the session wraps it in ``stt.StreamAdapter``
with its VAD):

``latency`` (0.1 s)
    time from receiving the VAD-cut utterance to the final transcript.
``transcripts`` (list)
    transcripts returned in order, one per recognized utterance; once used up (or if
    empty) ``transcript`` is returned. :meth:`FixedLatencySTT.push_transcript` appends.
``transcript`` (``"hello"``)
    the default transcript. With no ``transcripts``, ``voxplug simulate`` queues the text
    of each ``say`` turn just before playing it, so the STT "hears" what was said.

LLM (``FixedLatencyLLM``):

``ttft`` (0.2 s)
    time to the first token.
``reply`` (``"This is a fixed reply."``) / ``replies`` (list, used in order first)
    ``{user}`` is replaced by the last user message.
``chunks`` (3), ``chunk_interval`` (0.02 s)
    the reply streams in this many pieces, this far apart.
``tool_calls`` (``{"time": "current_time"}``)
    regular expression (searched, case-insensitive, in the last user message) → tool
    name: when it matches and the agent has that tool, the LLM calls it (no arguments)
    instead of replying. After the tool's output, it replies ``tool_reply``. The value may
    also be ``{name: tool, arguments: {...}}``: ``{1}`` or ``{group}`` in an argument's text
    is replaced by that group of the match, e.g.
    ``{"order (\\d+)": {name: lookup_order, arguments: {order_id: "{1}"}}}``.
``tool_reply`` (``"Here you go: {output}."``)
    ``{output}`` is the tool's output.
``tool_replies`` (``{}``)
    tool name → the reply after that tool's output (instead of ``tool_reply``).

TTS (``FixedLatencyTTS``, non-streaming: the session wraps it in ``tts.StreamAdapter``):

``ttfb`` (0.1 s)
    time to the first audio byte.
``chars_per_second`` (15)
    speech duration = len(text) / chars_per_second, at least ``min_duration`` (0.2 s).
``tone`` (220 Hz; 0 = silence), ``sample_rate`` (24000)
    16-bit mono PCM, pushed in 20 ms chunks.
``realtime`` (false)
    pace the chunks in real time after the first, like a streaming vendor.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectionError,
    APIConnectOptions,
    APIStatusError,
    APITimeoutError,
    llm,
    stt,
    tts,
    utils,
)
from livekit.agents.language import LanguageCode
from livekit.agents.llm.tool_context import get_fnc_tool_names
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import AudioBuffer

from ..errors import ConfigError
from ..redaction import safe_repr

if TYPE_CHECKING:
    from ..config.models import LLMConfig, STTConfig, TTSConfig
    from ..providers.registry import ProviderFactory

__all__ = [
    "FAIL_MODES",
    "PROVIDER_NAME",
    "FixedLLMOptions",
    "FixedLatencyLLM",
    "FixedLatencySTT",
    "FixedLatencyTTS",
    "FixedSTTOptions",
    "FixedTTSOptions",
    "create_llm",
    "create_stt",
    "create_tts",
    "register",
]

PROVIDER_NAME = "fixed"
FAIL_MODES = ("http500", "http429", "http401", "connection", "timeout", "hang")


# -- options -------------------------------------------------------------------------------
@dataclass
class _Failure:
    fail: str | None = None
    fail_times: int | None = None  # None = always

    def _check_failure(self, where: str) -> None:
        if self.fail is not None and self.fail not in FAIL_MODES:
            raise ConfigError(
                f"{where}.options.fail: unknown failure {self.fail!r}; one of {', '.join(FAIL_MODES)}"
            )


@dataclass
class FixedSTTOptions(_Failure):
    latency: float = 0.1
    transcripts: list[str] = field(default_factory=list)
    transcript: str = "hello"


@dataclass
class FixedLLMOptions(_Failure):
    ttft: float = 0.2
    reply: str = "This is a fixed reply."
    replies: list[str] = field(default_factory=list)
    chunks: int = 3
    chunk_interval: float = 0.02
    tool_calls: dict[str, str | dict[str, Any]] = field(default_factory=lambda: {"time": "current_time"})
    tool_reply: str = "Here you go: {output}."
    tool_replies: dict[str, str] = field(default_factory=dict)


@dataclass
class FixedTTSOptions(_Failure):
    ttfb: float = 0.1
    chars_per_second: float = 15.0
    min_duration: float = 0.2
    tone: float = 220.0
    sample_rate: int = 24000
    realtime: bool = False


def _parse_options(cls: type[Any], options: Mapping[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(
            f"{where}.options.{unknown[0]}: unknown option for provider 'fixed'; "
            f"known: {', '.join(sorted(known))}"
        )
    try:
        opts = cls(**dict(options))
    except TypeError as exc:  # pragma: no cover - dataclass arguments are all keywords
        raise ConfigError(f"{where}.options: {exc}") from None
    for name in ("latency", "ttft", "ttfb", "chunk_interval", "min_duration"):
        value = getattr(opts, name, None)
        if value is not None and (not isinstance(value, int | float) or value < 0):
            raise ConfigError(f"{where}.options.{name}: must be a number of seconds >= 0 (got {value!r})")
    opts._check_failure(where)
    for pattern, call in getattr(opts, "tool_calls", {}).items():
        _tool_call(call, f"{where}.options.tool_calls.{safe_repr(pattern, 40)}")
    return opts


class _FailureInjector:
    """Raises the configured failure for the first ``fail_times`` requests (or all)."""

    def __init__(self, opts: _Failure) -> None:
        self.opts = opts
        self.requests = 0
        self.failures = 0

    async def maybe_fail(self, conn_options: APIConnectOptions, label: str) -> None:
        self.requests += 1
        mode = self.opts.fail
        if mode is None:
            return
        if self.opts.fail_times is not None and self.failures >= self.opts.fail_times:
            return
        self.failures += 1
        if mode.startswith("http"):
            status = int(mode[4:])
            raise APIStatusError(f"{label}: injected HTTP {status}", status_code=status, body=None)
        if mode == "connection":
            raise APIConnectionError(f"{label}: injected connection error")
        if mode == "timeout":
            await asyncio.sleep(conn_options.timeout)
            raise APITimeoutError(f"{label}: injected timeout after {conn_options.timeout}s")
        if mode == "hang":
            await asyncio.Event().wait()


# -- STT -----------------------------------------------------------------------------------
class FixedLatencySTT(stt.STT[Any]):
    """Non-streaming STT: sleeps ``latency``, then returns the next scripted transcript."""

    def __init__(
        self,
        options: FixedSTTOptions | None = None,
        *,
        model: str = PROVIDER_NAME,
        language: str | None = None,
    ) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self.opts = options or FixedSTTOptions()
        self._model = model
        self._language = language or "en"
        self._queue: deque[str] = deque(self.opts.transcripts)
        self._failures = _FailureInjector(self.opts)
        self.calls = 0

    @property
    def model(self) -> str:
        return self._model

    @property
    def provider(self) -> str:
        return PROVIDER_NAME

    def push_transcript(self, text: str) -> None:
        """Queue the transcript of an utterance still to come (used in order)."""
        self._queue.append(text)

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        self.calls += 1
        await self._failures.maybe_fail(conn_options, "fixed stt")
        await asyncio.sleep(self.opts.latency)
        text = self._queue.popleft() if self._queue else self.opts.transcript
        lang = language if isinstance(language, str) else self._language
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=utils.shortuuid("fixed_stt_"),
            alternatives=[stt.SpeechData(language=LanguageCode(lang), text=text, confidence=1.0)],
        )


# -- LLM -----------------------------------------------------------------------------------
class FixedLatencyLLM(llm.LLM[Any]):
    """LLM that waits ``ttft``, then streams a scripted reply (or calls a tool)."""

    def __init__(self, options: FixedLLMOptions | None = None, *, model: str = PROVIDER_NAME) -> None:
        super().__init__()
        self.opts = options or FixedLLMOptions()
        self._model = model
        self._replies: deque[str] = deque(self.opts.replies)
        self._patterns = [
            (re.compile(p, re.IGNORECASE), *_tool_call(c, "llm.options.tool_calls"))
            for p, c in self.opts.tool_calls.items()
        ]
        self._failures = _FailureInjector(self.opts)
        self.calls = 0

    @property
    def model(self) -> str:
        return self._model

    @property
    def provider(self) -> str:
        return PROVIDER_NAME

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> llm.LLMStream:
        self.calls += 1
        return _FixedLLMStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)

    def _plan(self, chat_ctx: llm.ChatContext, tools: list[llm.Tool]) -> tuple[str, llm.FunctionToolCall | None]:
        """What to answer: (text, None) or ("", tool call)."""
        items = chat_ctx.items
        last = items[-1] if items else None
        if isinstance(last, llm.FunctionCallOutput):
            reply = self.opts.tool_replies.get(last.name, self.opts.tool_reply)
            return reply.replace("{output}", last.output), None
        user = next(
            (m.text_content or "" for m in reversed(items) if isinstance(m, llm.ChatMessage) and m.role == "user"),
            "",
        )
        available = set(get_fnc_tool_names(tools)) if tools else set()
        for pattern, name, arguments in self._patterns:
            match = pattern.search(user)
            if name in available and match:
                expanded = {k: _expand(v, match) for k, v in arguments.items()}
                call = llm.FunctionToolCall(name=name, arguments=json.dumps(expanded), call_id=utils.shortuuid("call_"))
                return "", call
        reply = self._replies.popleft() if self._replies else self.opts.reply
        return reply.replace("{user}", user), None


def _tool_call(spec: object, where: str) -> tuple[str, dict[str, Any]]:
    """(tool name, arguments) from a ``tool_calls`` value, or one ConfigError line at ``where``."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, dict) and set(spec) <= {"name", "arguments"}:
        name, arguments = spec.get("name"), spec.get("arguments", {})
        if isinstance(name, str) and isinstance(arguments, dict):
            return name, arguments
    raise ConfigError(f'{where}: each value is a tool name or {{"name": ..., "arguments": {{...}}}}')


class _FixedLLMStream(llm.LLMStream):
    _llm: FixedLatencyLLM

    async def _run(self) -> None:
        fixed = self._llm
        opts = fixed.opts
        await fixed._failures.maybe_fail(self._conn_options, "fixed llm")
        text, call = fixed._plan(self._chat_ctx, list(self._tools))
        request_id = utils.shortuuid("fixed_llm_")
        await asyncio.sleep(opts.ttft)
        if call is not None:
            self._event_ch.send_nowait(
                llm.ChatChunk(id=request_id, delta=llm.ChoiceDelta(role="assistant", tool_calls=[call]))
            )
        else:
            for i, piece in enumerate(_split(text, opts.chunks)):
                if i and opts.chunk_interval:
                    await asyncio.sleep(opts.chunk_interval)
                self._event_ch.send_nowait(
                    llm.ChatChunk(id=request_id, delta=llm.ChoiceDelta(role="assistant", content=piece))
                )
        prompt = sum(len(m.text_content or "") for m in self._chat_ctx.messages())
        self._event_ch.send_nowait(
            llm.ChatChunk(
                id=request_id,
                usage=llm.CompletionUsage(
                    completion_tokens=max(1, len(text) // 4),
                    prompt_tokens=max(1, prompt // 4),
                    total_tokens=max(1, len(text) // 4) + max(1, prompt // 4),
                ),
            )
        )


def _expand(value: Any, match: re.Match[str]) -> Any:
    """``{1}`` / ``{name}`` in text replaced by that group of ``match``; other values as they are."""
    if not isinstance(value, str):
        return value

    def group(m: re.Match[str]) -> str:
        key = m.group(1)
        try:
            return match.group(int(key) if key.isdigit() else key) or ""
        except (IndexError, re.error):
            return m.group(0)

    return re.sub(r"\{(\w+)\}", group, value)


def _split(text: str, parts: int) -> Iterable[str]:
    """``text`` in up to ``parts`` pieces cut at spaces, concatenating back to ``text``."""
    if parts <= 1 or len(text) < parts:
        yield text
        return
    size = math.ceil(len(text) / parts)
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        space = text.find(" ", end)
        end = len(text) if space < 0 or space - end > size else space
        yield text[start:end]
        start = end


# -- TTS -----------------------------------------------------------------------------------
class FixedLatencyTTS(tts.TTS[Any]):
    """Non-streaming TTS: waits ``ttfb``, then pushes a tone (or silence) as long as the text."""

    FRAME_MS: ClassVar[int] = 20

    def __init__(self, options: FixedTTSOptions | None = None, *, model: str = PROVIDER_NAME) -> None:
        self.opts = options or FixedTTSOptions()
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=self.opts.sample_rate,
            num_channels=1,
        )
        self._model = model
        self._failures = _FailureInjector(self.opts)
        self.calls = 0

    @property
    def model(self) -> str:
        return self._model

    @property
    def provider(self) -> str:
        return PROVIDER_NAME

    def duration_for(self, text: str) -> float:
        """Seconds of audio synthesized for ``text``."""
        return max(self.opts.min_duration, len(text.strip()) / max(self.opts.chars_per_second, 1e-6))

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        self.calls += 1
        return _FixedChunkedStream(tts=self, input_text=text, conn_options=conn_options)


class _FixedChunkedStream(tts.ChunkedStream):
    _tts: FixedLatencyTTS

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        fixed = self._tts
        opts = fixed.opts
        await fixed._failures.maybe_fail(self._conn_options, "fixed tts")
        await asyncio.sleep(opts.ttfb)
        rate = opts.sample_rate
        output_emitter.initialize(
            request_id=utils.shortuuid("fixed_tts_"),
            sample_rate=rate,
            num_channels=1,
            mime_type="audio/pcm",
            frame_size_ms=FixedLatencyTTS.FRAME_MS,
        )
        if not self._input_text.strip():
            output_emitter.flush()
            return
        total = int(fixed.duration_for(self._input_text) * rate)
        chunk = rate * FixedLatencyTTS.FRAME_MS // 1000
        loop = asyncio.get_running_loop()
        started = loop.time()
        for i, offset in enumerate(range(0, total, chunk)):
            n = min(chunk, total - offset)
            if opts.tone:
                t = (np.arange(offset, offset + n) / rate).astype(np.float32)
                # 0.3 full scale, 10 ms fades so segments don't click
                idx = np.arange(offset, offset + n)
                env = np.minimum(1.0, np.minimum(idx, total - idx) / (rate / 100))
                pcm = (np.sin(2 * np.pi * opts.tone * t) * env * 0.3 * 32767).astype(np.int16)
            else:
                pcm = np.zeros(n, dtype=np.int16)
            output_emitter.push(pcm.tobytes())
            if opts.realtime:
                delay = started + (i + 1) * FixedLatencyTTS.FRAME_MS / 1000 - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
        output_emitter.flush()


# -- registration --------------------------------------------------------------------------
def create_stt(cfg: STTConfig) -> FixedLatencySTT:
    opts = _parse_options(FixedSTTOptions, cfg.options, "stt")
    return FixedLatencySTT(opts, model=cfg.model or PROVIDER_NAME, language=cfg.language)


def create_llm(cfg: LLMConfig) -> FixedLatencyLLM:
    opts = _parse_options(FixedLLMOptions, cfg.options, "llm")
    return FixedLatencyLLM(opts, model=cfg.model or PROVIDER_NAME)


def create_tts(cfg: TTSConfig) -> FixedLatencyTTS:
    opts = _parse_options(FixedTTSOptions, cfg.options, "tts")
    return FixedLatencyTTS(opts, model=cfg.model or PROVIDER_NAME)


def register(factory: type[ProviderFactory]) -> None:
    """Entry point (``voxplug.providers``): provider ``fixed`` for stt, llm and tts."""
    description = "fixed-latency test double (no network, no model; see voxplug.testing.fixed)"
    factory.register_stt_provider(PROVIDER_NAME, create_stt, description=description)
    factory.register_llm_provider(PROVIDER_NAME, create_llm, description=description)
    factory.register_tts_provider(PROVIDER_NAME, create_tts, description=description)
