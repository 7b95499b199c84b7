"""The conversation store: a session observer that writes every turn as it completes.

The event handlers only convert LiveKit's event into a :class:`StoreEvent` and put it on a
bounded queue; a writer task takes batches off the queue and makes them durable (database,
or the outbox when the database is down or slow). A full queue never drops: the queued
events and the new one move to the on-disk outbox, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from livekit.agents import (
    AgentHandoff,
    ChatMessage,
    CloseEvent,
    ConversationItemAddedEvent,
    ErrorEvent,
    FunctionToolsExecutedEvent,
    SessionUsageUpdatedEvent,
)

from ..config.models import VoxplugConfig
from ..config.persistence import PersistenceConfig
from ..config.pricing import PricingConfig
from ..core.observers import SessionInfo, SessionObserver
from ..redaction import Redactor, collect_secrets
from .events import (
    ERROR,
    SESSION_ATTRIBUTES,
    SESSION_CLOSED,
    SESSION_STARTED,
    TOOL_CALL,
    TURN,
    USAGE,
    StoreEvent,
    attributes_data,
    error_data,
    message_data,
    session_closed_data,
    session_started_data,
    tool_call_data,
    usage_data,
)
from .runtime import PersistenceRuntime

__all__ = ["ConversationStore", "StoreStats"]

logger = logging.getLogger(__name__)

MAX_BATCH = 100
CLOSE_DRAIN_TIMEOUT = 2.0
STORED_ROLES = ("user", "assistant")


class StoreStats:
    def __init__(self) -> None:
        self.events = 0
        self.written = 0
        self.parked = 0
        self.spilled = 0


class ConversationStore(SessionObserver):
    """Persists one session. Create one per session (``worker.session_observers``)."""

    def __init__(
        self, config: PersistenceConfig, *, secrets: Iterable[str] = (), pricing: PricingConfig | None = None
    ) -> None:
        self.config = config
        self.pricing = pricing or PricingConfig()
        self.prices = self.pricing.table()
        self.redact = Redactor([*secrets, *config.secret_values()], shapes=False)
        self.transcripts = config.store_transcripts
        self.info: SessionInfo | None = None
        self.agent: str | None = None
        self.runtime: PersistenceRuntime | None = None
        self.stats = StoreStats()
        self._queue: asyncio.Queue[StoreEvent] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._seq = 0
        self._outstanding: set[int] = set()
        self._progress: asyncio.Condition | None = None
        self._closed_seen = False
        self._closing = False

    @classmethod
    def from_config(cls, config: VoxplugConfig) -> ConversationStore | None:
        """From a ``VoxplugConfig``; None when persistence is disabled.

        Every ``SecretStr`` in the whole config (vendor API keys too) is redacted from any text
        the store keeps: an error message that echoes a key never reaches the database.
        """
        section = config.persistence.with_env()
        if not section.enabled:
            return None
        section.check()  # a misconfiguration fails the job at start, not silently later
        return cls(section, secrets=collect_secrets(config, section), pricing=config.pricing)

    # -- observer ----------------------------------------------------------------------------
    def on_session_started(self, info: SessionInfo) -> None:
        self.runtime = PersistenceRuntime.for_config(self.config)
        self.info = info
        self._queue = asyncio.Queue(maxsize=self.config.queue_size)
        self._progress = asyncio.Condition()
        self._writer = asyncio.create_task(self._write_loop(), name=f"voxplug-store-{info.session_id[:8]}")
        self._emit(SESSION_STARTED, session_started_data(info, transcripts=self.transcripts), info.started_at)

    def on_conversation_item_added(self, ev: ConversationItemAddedEvent) -> None:
        item = ev.item
        if isinstance(item, AgentHandoff):  # LiveKit adds one at start and at each handoff
            self.agent = item.new_agent_id
        elif isinstance(item, ChatMessage) and item.role in STORED_ROLES:
            data = message_data(item, self.redact, transcripts=self.transcripts, agent=self.agent)
            self._emit(TURN, data, item.created_at)

    def on_function_tools_executed(self, ev: FunctionToolsExecutedEvent) -> None:
        for call, output in ev.zipped():
            self._emit(TOOL_CALL, tool_call_data(call, output, self.redact, transcripts=self.transcripts))

    def on_session_usage_updated(self, ev: SessionUsageUpdatedEvent) -> None:
        data = usage_data(ev.usage.model_usage, self.prices, self.pricing.currency)
        if data["models"]:
            self._emit(USAGE, data, ev.created_at)

    def on_error(self, ev: ErrorEvent) -> None:
        self._emit(ERROR, error_data(ev.error, ev.source, self.redact), ev.created_at)

    def on_attributes_updated(self, attributes: Mapping[str, str]) -> None:
        self._emit(SESSION_ATTRIBUTES, attributes_data(attributes, self.redact))

    def on_close(self, ev: CloseEvent) -> None:
        self._closed_seen = True
        self._emit(SESSION_CLOSED, session_closed_data(ev.reason, ev.error), ev.created_at)

    # -- queue -------------------------------------------------------------------------------
    def _emit(self, kind: str, data: dict[str, Any], occurred_at: float | None = None) -> None:
        if self.info is None or self._queue is None or self._closing:
            return
        self._seq += 1
        event = StoreEvent(self.info.session_id, self._seq, kind, occurred_at or time.time(), data)
        self.stats.events += 1
        self._outstanding.add(event.seq)
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._spill(event)

    def _spill(self, event: StoreEvent) -> None:
        """The database is not keeping up: move the queue and this event to disk, in order."""
        assert self._queue is not None and self.runtime is not None
        events = []
        while not self._queue.empty():
            events.append(self._queue.get_nowait())
        events.append(event)
        self.stats.spilled += len(events)
        logger.warning("persistence: queue full; %d event(s) moved to the outbox", len(events))
        future = self.runtime.park(events)
        future.add_done_callback(lambda f: self._parked(events, f))

    def _parked(self, events: list[StoreEvent], future: asyncio.Future[None]) -> None:
        if future.exception() is not None:
            # the outbox itself failed (disk full?): put them back in line rather than lose them
            logger.error("persistence: outbox write failed: %s", type(future.exception()).__name__)
            assert self._queue is not None
            for ev in events:
                self._queue._queue.append(ev)  # type: ignore[attr-defined]  # unbounded re-entry
            return
        self.stats.parked += len(events)
        self._done(events)

    def _done(self, events: Iterable[StoreEvent]) -> None:
        for ev in events:
            self._outstanding.discard(ev.seq)
        if self._progress is not None:
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        assert self._progress is not None
        async with self._progress:
            self._progress.notify_all()

    async def _write_loop(self) -> None:
        assert self._queue is not None and self.runtime is not None
        failures = 0
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                while True:
                    try:
                        written = await self.runtime.persist(batch)
                        break
                    except Exception as exc:  # the outbox too: retry, never drop
                        failures += 1
                        logger.error("persistence: cannot store %d event(s): %s", len(batch), type(exc).__name__)
                        await asyncio.sleep(min(30.0, 0.5 * 2**failures))
            except asyncio.CancelledError:
                # closing with a batch in flight: park it (a copy that also reached the database
                # or the backend is harmless, every write and delivery is idempotent)
                await asyncio.shield(self.runtime.park(batch))
                self._done(batch)
                raise
            failures = 0
            if written:
                self.stats.written += len(batch)
            else:
                self.stats.parked += len(batch)
            self._done(batch)

    # -- public ------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Events seen but not yet durable (in the database or the outbox)."""
        return len(self._outstanding)

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event seen so far is durable; False on timeout."""
        if self._progress is None:
            return True
        target = self._seq

        def caught_up() -> bool:
            return not any(seq <= target for seq in self._outstanding)

        async with self._progress:
            try:
                await asyncio.wait_for(self._progress.wait_for(caught_up), timeout)
            except TimeoutError:
                return False
        return True

    async def aclose(self) -> None:
        if self.info is None or self._closing:
            return
        if not self._closed_seen:
            # the job ended without a close event: record that the conversation is over
            self._emit(SESSION_CLOSED, session_closed_data("shutdown", None))
        self._closing = True
        flushed = await self.flush(self.config.flush_timeout)
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if not flushed and self._queue is not None and self.runtime is not None:
            # whatever the writer had not reached goes to disk before the process may exit
            left = []
            while not self._queue.empty():
                left.append(self._queue.get_nowait())
            if left:
                await self.runtime.park(left)
                self._done(left)
        if self.runtime is not None and self.runtime.client is not None:
            # best effort, briefly (job shutdown has a deadline): what is left stays in the
            # outbox and is delivered by this process's next session or the next process
            await self.runtime.drain(min(CLOSE_DRAIN_TIMEOUT, self.config.flush_timeout))
