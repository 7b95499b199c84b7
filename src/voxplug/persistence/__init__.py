"""Persistence: every conversation stored in a database (SQLite or PostgreSQL) and, optionally,
POSTed to a backend as signed webhook events, with a durable local outbox so nothing is lost.

The observer is :class:`ConversationStore`; ``worker.session_observers`` adds one per session
(``ConversationStore.from_config(config)``). See docs/persistence.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import BackendConfig, ModelPrice, PersistenceConfig, load_persistence_config

if TYPE_CHECKING:
    from .events import StoreEvent
    from .store import ConversationStore

__all__ = [
    "BackendConfig",
    "ConversationStore",
    "ModelPrice",
    "PersistenceConfig",
    "StoreEvent",
    "load_persistence_config",
]


def __getattr__(name: str) -> Any:
    # lazy: the store imports livekit.agents, which the `sessions`/`db` commands do not need
    if name == "ConversationStore":
        from .store import ConversationStore

        return ConversationStore
    if name == "StoreEvent":
        from .events import StoreEvent

        return StoreEvent
    raise AttributeError(name)
