"""The ``pricing`` section: one price table for the metrics and the conversation store.

Units, everywhere: US dollars (or ``currency``) **per million** tokens, **per million**
characters, and **per audio minute** — the units vendors publish. Prices are estimates
for dashboards and usage records, not invoices.
"""

from __future__ import annotations

import fnmatch
from typing import Literal

from pydantic import Field

from .base import Strict

__all__ = ["DEFAULT_PRICES", "Price", "PriceTable", "PricingConfig"]

PricedStage = Literal["stt", "llm", "tts"]
MILLION = 1_000_000.0


class Price(Strict):
    """The list price of one provider/model.

    ``provider`` and ``model`` are shell-style patterns (``*``, ``?``), matched without
    regard to case against the ``provider``/``model`` LiveKit reports for the plugin
    (for OpenAI-compatible plugins the provider is the API host, e.g. ``api.openai.com``).
    The first matching entry of a stage wins, so put specific entries before wildcards.
    """

    stage: PricedStage
    provider: str = "*"
    model: str = "*"
    # LLM
    input_per_million_tokens: float = Field(default=0.0, ge=0.0)
    # None: cached input tokens cost the same as other input tokens
    cached_input_per_million_tokens: float | None = Field(default=None, ge=0.0)
    output_per_million_tokens: float = Field(default=0.0, ge=0.0)
    # TTS
    per_million_characters: float = Field(default=0.0, ge=0.0)
    # STT (and audio billed by duration)
    per_audio_minute: float = Field(default=0.0, ge=0.0)

    def matches(self, stage: str, provider: str, model: str) -> bool:
        return (
            stage == self.stage
            and fnmatch.fnmatchcase(provider.lower(), self.provider.lower())
            and fnmatch.fnmatchcase(model.lower(), self.model.lower())
        )


def _p(stage: PricedStage, provider: str, model: str, **prices: float) -> Price:
    return Price(stage=stage, provider=provider, model=model, **prices)


# Public list prices (USD, pay-as-you-go) as published by each vendor in 2025: estimates,
# not invoices; put your contract's prices in ``pricing.prices`` (they are matched first).
# Local and test providers cost nothing.
DEFAULT_PRICES: tuple[Price, ...] = (
    # -- LLM, per million tokens ----------------------------------------------------------
    _p("llm", "*openai*", "gpt-4.1-nano*", input_per_million_tokens=0.10, output_per_million_tokens=0.40),
    _p("llm", "*openai*", "gpt-4.1-mini*", input_per_million_tokens=0.40, output_per_million_tokens=1.60),
    _p("llm", "*openai*", "gpt-4.1*", input_per_million_tokens=2.00, output_per_million_tokens=8.00),
    _p("llm", "*openai*", "gpt-4o-mini*", input_per_million_tokens=0.15, output_per_million_tokens=0.60),
    _p("llm", "*openai*", "gpt-4o*", input_per_million_tokens=2.50, output_per_million_tokens=10.00),
    _p("llm", "*anthropic*", "claude-3-5-haiku*", input_per_million_tokens=0.80, output_per_million_tokens=4.00),
    _p("llm", "*anthropic*", "claude-haiku-4*", input_per_million_tokens=1.00, output_per_million_tokens=5.00),
    _p("llm", "*anthropic*", "claude-*sonnet*", input_per_million_tokens=3.00, output_per_million_tokens=15.00),
    _p("llm", "*groq*", "llama-3.1-8b*", input_per_million_tokens=0.05, output_per_million_tokens=0.08),
    _p("llm", "*groq*", "llama-3.3-70b*", input_per_million_tokens=0.59, output_per_million_tokens=0.79),
    # -- STT, per audio minute ------------------------------------------------------------
    _p("stt", "*openai*", "gpt-4o-mini-transcribe*", per_audio_minute=0.003),
    _p("stt", "*openai*", "gpt-4o-transcribe*", per_audio_minute=0.006),
    _p("stt", "*openai*", "whisper-1", per_audio_minute=0.006),
    _p("stt", "*groq*", "whisper-large-v3-turbo", per_audio_minute=0.000667),
    _p("stt", "*groq*", "whisper-large-v3", per_audio_minute=0.00185),
    _p("stt", "deepgram", "nova-3*", per_audio_minute=0.0077),
    _p("stt", "deepgram", "nova-2*", per_audio_minute=0.0058),
    _p("stt", "azure*", "*", per_audio_minute=0.0167),
    # -- TTS, per million characters --------------------------------------------------------
    _p("tts", "*openai*", "tts-1-hd", per_million_characters=30.0),
    _p("tts", "*openai*", "tts-1", per_million_characters=15.0),
    _p("tts", "*openai*", "gpt-4o-mini-tts*", per_million_characters=12.0),
    _p("tts", "elevenlabs", "*flash*", per_million_characters=110.0),
    _p("tts", "elevenlabs", "*turbo*", per_million_characters=110.0),
    _p("tts", "elevenlabs", "*", per_million_characters=220.0),
    _p("tts", "cartesia", "*", per_million_characters=40.0),
    _p("tts", "deepgram", "*", per_million_characters=30.0),
    _p("tts", "azure*", "*", per_million_characters=16.0),
)


class PriceTable:
    """Looks up the price of a provider/model and computes costs."""

    def __init__(self, prices: tuple[Price, ...] | list[Price]) -> None:
        self.prices = tuple(prices)
        self._cache: dict[tuple[str, str, str], Price | None] = {}

    def find(self, stage: str, provider: str, model: str) -> Price | None:
        key = (stage, provider, model)
        if key not in self._cache:
            self._cache[key] = next((p for p in self.prices if p.matches(stage, provider, model)), None)
        return self._cache[key]

    def cost(
        self,
        stage: str,
        provider: str,
        model: str,
        *,
        input_tokens: float = 0.0,
        cached_input_tokens: float = 0.0,
        output_tokens: float = 0.0,
        characters: float = 0.0,
        audio_seconds: float = 0.0,
    ) -> float | None:
        """The cost of this usage, or ``None`` when no entry prices the model."""
        price = self.find(stage, provider, model)
        if price is None:
            return None
        cached = min(cached_input_tokens, input_tokens)
        cached_rate = (
            price.input_per_million_tokens
            if price.cached_input_per_million_tokens is None
            else price.cached_input_per_million_tokens
        )
        return (
            (input_tokens - cached) * price.input_per_million_tokens
            + cached * cached_rate
            + output_tokens * price.output_per_million_tokens
            + characters * price.per_million_characters
        ) / MILLION + audio_seconds / 60.0 * price.per_audio_minute


class PricingConfig(Strict):
    """Prices for cost estimates (metrics and stored usage); see docs/configuration.md#pricing."""

    currency: str = Field(default="USD", min_length=1, max_length=8)
    # your entries come first, then the built-in defaults (unless disabled)
    prices: list[Price] = Field(default_factory=list)
    use_defaults: bool = True

    def table(self) -> PriceTable:
        return PriceTable([*self.prices, *(DEFAULT_PRICES if self.use_defaults else ())])
