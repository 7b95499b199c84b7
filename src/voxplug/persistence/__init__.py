"""Persistence: every conversation stored in a database (SQLite or PostgreSQL) and, optionally,
POSTed to a backend as signed webhook events, with a durable local outbox so nothing is lost.

The observer is :class:`ConversationStore`; ``worker.session_observers`` adds one per session
(``ConversationStore.from_config(config)``). The ``persistence`` config section lives in
:mod:`voxplug.config.persistence`. See docs/persistence.md.
"""

from .events import StoreEvent
from .store import ConversationStore

__all__ = ["ConversationStore", "StoreEvent"]
