"""LiveKit's ``llm.FallbackAdapter`` with a first-token deadline.

The adapter's ``attempt_timeout`` is the request timeout handed to the plugin; for the
OpenAI-style plugins it is httpx's per-read timeout, so a vendor that sends its headers and
then nothing costs the turn the whole attempt timeout (5 s) before the backup is asked.
Here each attempt must also produce its first text or tool call within
``first_token_timeout``; otherwise it counts as failed exactly as a timeout does (the model
is marked unavailable, the next one answers, LiveKit's recovery probe brings it back).
The last model of the chain has nobody to hand over to: it gets no deadline, only the
attempt timeout (measured on a loaded machine, a backup that took 1.2 s to its first token
was otherwise dropped too, and the turn lost).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterable
from typing import Any

from livekit.agents.llm import LLM, ChatChunk, ChatContext, FallbackAdapter, LLMStream, Tool, ToolChoice
from livekit.agents.llm.fallback_adapter import DEFAULT_FALLBACK_API_CONNECT_OPTIONS, FallbackLLMStream
from livekit.agents.types import NOT_GIVEN, APIConnectOptions, NotGivenOr

__all__ = ["FirstTokenFallbackAdapter"]

logger = logging.getLogger("voxplug.providers")


class FirstTokenFallbackAdapter(FallbackAdapter):
    """``llm.FallbackAdapter`` whose attempts fail over when the first token is late."""

    def __init__(self, llms: list[LLM[Any]], *, first_token_timeout: float, **kwargs: Any) -> None:
        super().__init__(llms, **kwargs)
        self.first_token_timeout = first_token_timeout

    def chat(
        self,
        *,
        chat_ctx: ChatContext,
        tools: list[Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_FALLBACK_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> LLMStream:
        return _FirstTokenStream(
            llm=self,
            conn_options=conn_options,
            chat_ctx=chat_ctx,
            tools=tools or [],
            parallel_tool_calls=parallel_tool_calls,
            tool_choice=tool_choice,
            extra_kwargs=extra_kwargs,
        )


def _has_response(chunk: ChatChunk) -> bool:
    return bool(chunk.delta and (chunk.delta.content or chunk.delta.tool_calls))


class _FirstTokenStream(FallbackLLMStream):
    # overrides the adapter's per-attempt generator (livekit-agents 1.8.9): everything the
    # adapter does on a failed attempt applies, since a late first token fails like a timeout
    async def _try_generate(self, *, llm: LLM[Any], check_recovery: bool = False) -> AsyncIterable[ChatChunk]:
        adapter = self._fallback_adapter
        assert isinstance(adapter, FirstTokenFallbackAdapter)
        attempt = super()._try_generate(llm=llm, check_recovery=check_recovery)
        assert isinstance(attempt, AsyncGenerator)
        if llm is adapter._llm_instances[-1]:
            async for chunk in attempt:
                yield chunk
            return
        deadline = adapter.first_token_timeout
        until = asyncio.get_running_loop().time() + deadline
        while True:
            try:
                # cancels inside this task: the attempt's stream is closed where it waits
                async with asyncio.timeout_at(until):
                    chunk = await anext(attempt)
            except StopAsyncIteration:
                return
            except TimeoutError:
                await attempt.aclose()
                logger.warning(
                    "%s sent no token within %.1fs%s", llm.label, deadline,
                    " (recovery check)" if check_recovery else ", switching to the next LLM",
                )
                raise
            yield chunk
            if _has_response(chunk):
                break
        async for chunk in attempt:
            yield chunk
