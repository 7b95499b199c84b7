"""What one process shares between its sessions: the engine, the outbox and the background
loops that replay the outbox into the database and deliver it to the backend."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import ClassVar

from ..config.persistence import PersistenceConfig
from .database import Database
from .events import StoreEvent
from .outbox import LeaderLock, Outbox
from .webhook import Backoff, WebhookClient

__all__ = ["PersistenceRuntime", "RuntimeStats", "close_all_runtimes"]

logger = logging.getLogger(__name__)

# a database write slower than this is abandoned to the outbox (replayed later, idempotent)
WRITE_TIMEOUT = 15.0
# how often a process re-reads the outbox for rows other processes appended
POLL_INTERVAL = 1.0
LOCK_RETRY = 2.0


class RuntimeStats:
    def __init__(self) -> None:
        self.db_batches = 0
        self.db_failures = 0
        self.replayed = 0
        self.delivered = 0
        self.delivery_failures = 0
        self.dead_lettered = 0


class PersistenceRuntime:
    """One per (event loop, database, outbox); get it with :meth:`for_config`."""

    _instances: ClassVar[dict[tuple[int, str, str], PersistenceRuntime]] = {}

    def __init__(self, config: PersistenceConfig) -> None:
        config.check()
        self.config = config
        self.database = Database(config.url())
        self.outbox = Outbox(config.outbox_path)
        self.lock = LeaderLock(config.outbox_path)
        backend = config.backend
        self.client: WebhookClient | None = None
        if backend.enabled and backend.url and backend.secret is not None:
            self.client = WebhookClient(
                backend.url, backend.secret.get_secret_value(),
                timeout=backend.timeout, include_transcripts=backend.include_transcripts,
            )
        self.stats = RuntimeStats()
        self.ready = asyncio.Event()
        self._wake_db = asyncio.Event()
        self._wake_backend = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._key: tuple[int, str, str] | None = None
        self.closed = False

    @classmethod
    def for_config(cls, config: PersistenceConfig) -> PersistenceRuntime:
        loop = asyncio.get_running_loop()
        key = (id(loop), config.url(), str(config.outbox_path.resolve()))
        runtime = cls._instances.get(key)
        if runtime is None or runtime.closed:
            runtime = cls(config)
            runtime._key = key
            cls._instances[key] = runtime
            runtime.start()
        return runtime

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._prepare(), name="voxplug-persistence-prepare"),
            asyncio.create_task(self._leader(), name="voxplug-persistence-outbox"),
        ]

    async def _prepare(self) -> None:
        try:
            if self.config.should_migrate():
                await self._migrate()
        except Exception as exc:
            # the writes will fail and park in the outbox until the schema exists
            logger.error(
                "persistence: migrating %s failed (%s); events are kept in the outbox, "
                "run `voxplug db upgrade`", self.config.safe_url(), type(exc).__name__,
            )
        finally:
            self.ready.set()

    async def _migrate(self) -> None:
        # job processes start together: one migrates, the others wait for it (file lock)
        lock = LeaderLock(self.config.data_dir / ".migrate")
        while not lock.try_acquire():
            await asyncio.sleep(0.2)
        try:
            await self.database.upgrade()
        finally:
            lock.release()

    # -- the write path ----------------------------------------------------------------------
    async def persist(self, events: Sequence[StoreEvent]) -> bool:
        """Make a batch durable; True when it reached the database, False when parked.

        The backend copy is queued on the outbox thread first (FIFO: this is what orders
        delivery), then the rows go to the database; if that fails or hangs they go to the
        outbox's ``db`` channel. Either way the batch is on disk when this returns.
        """
        backend = self.outbox.submit(self.outbox.append, "backend", events) if self.client else None
        written = False
        try:
            await self.ready.wait()
            await asyncio.wait_for(self.database.apply(events), timeout=WRITE_TIMEOUT)
            written = True
            self.stats.db_batches += 1
        except Exception as exc:
            self.stats.db_failures += 1
            logger.warning(
                "persistence: database write failed (%s); %d event(s) parked in the outbox",
                type(exc).__name__, len(events),
            )
            await self.outbox.run(self.outbox.append, "db", events)
            self._wake_db.set()
        if backend is not None:
            await asyncio.wrap_future(backend)
            self._wake_backend.set()
        return written

    def park(self, events: Sequence[StoreEvent]) -> asyncio.Future[None]:
        """Overflow path: queue events straight to the outbox (both channels, one transaction)."""
        batches: list[tuple[str, Sequence[StoreEvent]]] = []
        if self.client is not None:
            batches.append(("backend", events))
        batches.append(("db", events))
        future = asyncio.wrap_future(self.outbox.submit(self.outbox.append_many, batches))

        def woke(_: asyncio.Future[None]) -> None:
            self._wake_db.set()
            self._wake_backend.set()

        future.add_done_callback(woke)
        return future

    # -- background: replay and delivery (leader process only) --------------------------------
    async def _leader(self) -> None:
        while not self.lock.try_acquire():
            await asyncio.sleep(LOCK_RETRY)
        await self.ready.wait()
        await asyncio.gather(self._replay_loop(), self._delivery_loop())

    async def _wait(self, wake: asyncio.Event, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout)
        wake.clear()

    async def _replay_loop(self) -> None:
        backoff = Backoff(0.5, 30.0)
        while True:
            items = await self.outbox.run(self.outbox.peek, "db", 200)
            if not items:
                await self._wait(self._wake_db, POLL_INTERVAL)
                continue
            try:
                await asyncio.wait_for(self.database.apply([i.event for i in items]), timeout=WRITE_TIMEOUT)
            except Exception as exc:
                delay = backoff.next_delay()
                logger.warning(
                    "persistence: replaying %d parked event(s) failed (%s); retry in %.1fs",
                    len(items), type(exc).__name__, delay,
                )
                await asyncio.sleep(delay)
                continue
            await self.outbox.run(self.outbox.delete, [i.id for i in items])
            self.stats.replayed += len(items)
            backoff.reset()

    async def _delivery_loop(self) -> None:
        client = self.client
        if client is None:
            return
        cfg = self.config.backend
        backoff = Backoff(cfg.initial_backoff, cfg.max_backoff)
        while True:
            items = await self.outbox.run(self.outbox.peek, "backend", 50)
            if not items:
                await self._wait(self._wake_backend, POLL_INTERVAL)
                continue
            for item in items:
                result = await client.deliver(item.event)
                if result.ok:
                    await self.outbox.run(self.outbox.delete, [item.id])
                    self.stats.delivered += 1
                    backoff.reset()
                    continue
                if result.permanent:
                    await self.outbox.run(self.outbox.move, item.id, "dead", result.error)
                    self.stats.dead_lettered += 1
                    logger.error(
                        "persistence: backend rejected event %s (%s); kept in the outbox's dead "
                        "channel, `voxplug db flush --retry-dead` sends it again", item.event.key, result.error,
                    )
                    continue
                self.stats.delivery_failures += 1
                await self.outbox.run(self.outbox.record_failure, item.id, result.error or "error")
                delay = backoff.next_delay()
                if backoff.failures == 1 or backoff.failures % 10 == 0:
                    logger.warning(
                        "persistence: backend delivery failed (%s); %d attempt(s), retry in %.1fs",
                        result.error, backoff.failures, delay,
                    )
                await asyncio.sleep(delay)
                break  # in order: nothing after this event goes before it

    # -- helpers -----------------------------------------------------------------------------
    async def pending(self) -> dict[str, int]:
        return await self.outbox.run(self.outbox.counts)

    async def drain(self, timeout: float) -> bool:
        """Wait until the outbox's db and backend channels are empty; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            counts = await self.pending()
            if counts["db"] == 0 and (self.client is None or counts["backend"] == 0):
                return True
            if loop.time() >= deadline:
                return False
            self._wake_db.set()
            self._wake_backend.set()
            await asyncio.sleep(0.05)

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._key is not None and self._instances.get(self._key) is self:
            del self._instances[self._key]
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.client is not None:
            await self.client.aclose()
        await self.database.dispose()
        await asyncio.to_thread(self.outbox.close)
        self.lock.release()


async def close_all_runtimes() -> None:
    """Close every runtime of the running loop (tests, CLI commands, process exit)."""
    loop_id = id(asyncio.get_running_loop())
    for key, runtime in list(PersistenceRuntime._instances.items()):
        if key[0] == loop_id:
            await runtime.aclose()
