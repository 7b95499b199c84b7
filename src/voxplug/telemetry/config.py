"""The ``telemetry`` config section: exporters, PII switch and the price table.

Mount it on ``VoxplugConfig`` as ``telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)``.
Every field can come from the YAML file or from ``VOXPLUG_TELEMETRY__<FIELD>`` variables
(the loader's nested-env rule). OTLP endpoints are *not* here: they are read from the
standard ``OTEL_EXPORTER_OTLP_*`` variables, as every OpenTelemetry SDK does.
"""

from __future__ import annotations

import fnmatch
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DEFAULT_PRICES",
    "Price",
    "PriceTable",
    "TelemetryConfig",
]

Stage = Literal["stt", "llm", "tts"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Price(_Strict):
    """The list price of one provider/model, in US dollars.

    ``provider`` and ``model`` are shell-style patterns (``*``, ``?``), matched without
    regard to case against the ``provider``/``model`` LiveKit reports for the plugin
    (for OpenAI-compatible plugins the provider is the API host, e.g. ``api.openai.com``).
    The first matching entry of a stage wins, so put specific entries before wildcards.
    """

    stage: Stage
    provider: str = "*"
    model: str = "*"
    # LLM
    input_per_1k_tokens: float = Field(default=0.0, ge=0.0)
    cached_input_per_1k_tokens: float | None = Field(default=None, ge=0.0)
    output_per_1k_tokens: float = Field(default=0.0, ge=0.0)
    # TTS
    per_character: float = Field(default=0.0, ge=0.0)
    # STT
    per_audio_minute: float = Field(default=0.0, ge=0.0)

    def matches(self, stage: str, provider: str, model: str) -> bool:
        return (
            stage == self.stage
            and fnmatch.fnmatchcase(provider.lower(), self.provider.lower())
            and fnmatch.fnmatchcase(model.lower(), self.model.lower())
        )


def _p(stage: Stage, provider: str, model: str, **prices: float) -> Price:
    return Price(stage=stage, provider=provider, model=model, **prices)


# Public list prices (USD, pay-as-you-go) as published by each vendor in 2025. They are
# estimates for dashboards, not invoices: replace them with your contract's prices in
# ``telemetry.prices``. Local and test providers cost nothing.
DEFAULT_PRICES: tuple[Price, ...] = (
    # -- LLM, per 1K tokens ---------------------------------------------------------------
    _p("llm", "*openai*", "gpt-4.1-nano*", input_per_1k_tokens=0.0001, output_per_1k_tokens=0.0004),
    _p("llm", "*openai*", "gpt-4.1-mini*", input_per_1k_tokens=0.0004, output_per_1k_tokens=0.0016),
    _p("llm", "*openai*", "gpt-4.1*", input_per_1k_tokens=0.002, output_per_1k_tokens=0.008),
    _p("llm", "*openai*", "gpt-4o-mini*", input_per_1k_tokens=0.00015, output_per_1k_tokens=0.0006),
    _p("llm", "*openai*", "gpt-4o*", input_per_1k_tokens=0.0025, output_per_1k_tokens=0.01),
    _p("llm", "*anthropic*", "claude-3-5-haiku*", input_per_1k_tokens=0.0008, output_per_1k_tokens=0.004),
    _p("llm", "*anthropic*", "claude-haiku-4*", input_per_1k_tokens=0.001, output_per_1k_tokens=0.005),
    _p("llm", "*anthropic*", "claude-*sonnet*", input_per_1k_tokens=0.003, output_per_1k_tokens=0.015),
    _p("llm", "*groq*", "llama-3.1-8b*", input_per_1k_tokens=0.00005, output_per_1k_tokens=0.00008),
    _p("llm", "*groq*", "llama-3.3-70b*", input_per_1k_tokens=0.00059, output_per_1k_tokens=0.00079),
    # -- STT, per audio minute ------------------------------------------------------------
    _p("stt", "*openai*", "gpt-4o-mini-transcribe*", per_audio_minute=0.003),
    _p("stt", "*openai*", "gpt-4o-transcribe*", per_audio_minute=0.006),
    _p("stt", "*openai*", "whisper-1", per_audio_minute=0.006),
    _p("stt", "*groq*", "whisper-large-v3-turbo", per_audio_minute=0.000667),
    _p("stt", "*groq*", "whisper-large-v3", per_audio_minute=0.00185),
    _p("stt", "deepgram", "nova-3*", per_audio_minute=0.0077),
    _p("stt", "deepgram", "nova-2*", per_audio_minute=0.0058),
    _p("stt", "azure*", "*", per_audio_minute=0.0167),
    # -- TTS, per character ---------------------------------------------------------------
    _p("tts", "*openai*", "tts-1-hd", per_character=0.00003),
    _p("tts", "*openai*", "tts-1", per_character=0.000015),
    _p("tts", "*openai*", "gpt-4o-mini-tts*", per_character=0.000012),
    _p("tts", "elevenlabs", "*flash*", per_character=0.00011),
    _p("tts", "elevenlabs", "*turbo*", per_character=0.00011),
    _p("tts", "elevenlabs", "*", per_character=0.00022),
    _p("tts", "cartesia", "*", per_character=0.00004),
    _p("tts", "deepgram", "*", per_character=0.00003),
    _p("tts", "azure*", "*", per_character=0.000016),
)


class PriceTable:
    """Looks up the price of a provider/model; unknown ones cost nothing."""

    def __init__(self, prices: tuple[Price, ...] | list[Price]) -> None:
        self.prices = tuple(prices)
        self._cache: dict[tuple[str, str, str], Price | None] = {}

    def find(self, stage: str, provider: str, model: str) -> Price | None:
        key = (stage, provider, model)
        if key not in self._cache:
            self._cache[key] = next((p for p in self.prices if p.matches(stage, provider, model)), None)
        return self._cache[key]

    def llm_cost(
        self,
        provider: str,
        model: str,
        *,
        input_tokens: float,
        output_tokens: float,
        cached_tokens: float = 0,
    ) -> float:
        price = self.find("llm", provider, model)
        if price is None:
            return 0.0
        cached = min(cached_tokens, input_tokens)
        cached_rate = (
            price.input_per_1k_tokens
            if price.cached_input_per_1k_tokens is None
            else (price.cached_input_per_1k_tokens)
        )
        return (
            (input_tokens - cached) * price.input_per_1k_tokens
            + cached * cached_rate
            + output_tokens * price.output_per_1k_tokens
        ) / 1000.0

    def stt_cost(self, provider: str, model: str, *, audio_seconds: float) -> float:
        price = self.find("stt", provider, model)
        return 0.0 if price is None else audio_seconds / 60.0 * price.per_audio_minute

    def tts_cost(self, provider: str, model: str, *, characters: float) -> float:
        price = self.find("tts", provider, model)
        return 0.0 if price is None else characters * price.per_character


class TelemetryConfig(_Strict):
    """Metrics, traces and cost estimation (see docs/observability.md)."""

    enabled: bool = True
    # the worker's Prometheus scrape endpoint (main process; sums every job process);
    # 0 = no endpoint (OTLP push only)
    prometheus_port: int = Field(default=9464, ge=0, le=65535)
    prometheus_host: str = "0.0.0.0"
    # where job processes leave their metric snapshots for the endpoint; empty = a fresh
    # temporary directory per worker. Never share one directory between two workers.
    metrics_dir: str = ""
    # how often each job process refreshes its snapshot (seconds)
    snapshot_interval: float = Field(default=1.0, gt=0.0, le=60.0)
    # transcripts (user and agent text, tool arguments) on spans: personal data, off by default
    traces_include_transcripts: bool = False
    # the price table: entries here come first, then the built-in defaults (unless disabled)
    prices: list[Price] = Field(default_factory=list)
    use_default_prices: bool = True

    def price_table(self) -> PriceTable:
        return PriceTable([*self.prices, *(DEFAULT_PRICES if self.use_default_prices else ())])
