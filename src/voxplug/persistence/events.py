"""Store events: the one plain-data form of everything the store keeps.

LiveKit's event objects are turned into :class:`StoreEvent` on the event loop (cheap, no
I/O). The same JSON-able event is written to the database, parked in the outbox and POSTed
to the backend, so every path keeps exactly the same facts. Secrets are redacted and
transcripts dropped (when turned off) here, before an event goes anywhere.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..config.pricing import PriceTable
from ..redaction import Redactor

if TYPE_CHECKING:  # livekit is heavy to import; the CLI reads events without it
    from ..core.observers import SessionInfo

__all__ = [
    "EVENT_TYPES",
    "StoreEvent",
    "attributes_data",
    "error_data",
    "message_data",
    "session_closed_data",
    "session_started_data",
    "tool_call_data",
    "usage_data",
]

SESSION_STARTED = "session.started"
TURN = "turn"
TOOL_CALL = "tool_call"
USAGE = "usage"
ERROR = "error"
SESSION_CLOSED = "session.closed"
SESSION_ATTRIBUTES = "session.attributes"
EVENT_TYPES = (SESSION_STARTED, TURN, TOOL_CALL, USAGE, ERROR, SESSION_CLOSED, SESSION_ATTRIBUTES)
MAX_ATTRIBUTES = 64

# text fields that hold what people said or what tools returned; dropped for "metadata only"
CONTENT_FIELDS = {TURN: ("text",), TOOL_CALL: ("arguments", "result")}
MAX_TEXT = 20_000
MAX_ERROR_TEXT = 2_000


@dataclass(frozen=True)
class StoreEvent:
    """One fact about one session. ``key`` is unique and stable: the idempotency key."""

    session_id: str
    seq: int
    type: str
    occurred_at: float
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.session_id}:{self.seq}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StoreEvent:
        raw = json.loads(text)
        return cls(
            session_id=raw["session_id"], seq=int(raw["seq"]), type=raw["type"],
            occurred_at=float(raw["occurred_at"]), data=dict(raw.get("data") or {}),
        )

    def webhook_body(self, *, include_transcripts: bool = True) -> dict[str, Any]:
        """The JSON document POSTed to the backend (see docs/persistence.md)."""
        data = self.data
        if not include_transcripts:
            data = _without_content(self.type, data)
        return {
            "id": self.key,
            "type": self.type,
            "session_id": self.session_id,
            "seq": self.seq,
            "occurred_at": self.occurred_at,
            "data": data,
        }


def _without_content(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    fields = CONTENT_FIELDS.get(kind, ())
    return {k: (None if k in fields else v) for k, v in data.items()}


def session_started_data(info: SessionInfo, *, transcripts: bool) -> dict[str, Any]:
    return {
        "agent_name": info.agent_name,
        "room": info.room,
        "participant": info.participant,
        "stt": info.stt,
        "llm": info.llm,
        "tts": info.tts,
        "config_fingerprint": info.config_fingerprint,
        "started_at": info.started_at,
        "transcripts_stored": transcripts,
    }


def message_data(item: Any, redact: Redactor, *, transcripts: bool, agent: str | None = None) -> dict[str, Any]:
    """A ``ChatMessage`` (user or assistant) with its latency metrics, in seconds, and the
    agent that was active (spoke the reply, or heard the user)."""
    m: Mapping[str, Any] = item.metrics or {}
    return {
        "item_id": item.id,
        "role": item.role,
        "agent": agent,
        "text": redact(item.text_content or "", MAX_TEXT) if transcripts else None,
        "interrupted": bool(item.interrupted),
        "created_at": item.created_at,
        "started_speaking_at": m.get("started_speaking_at"),
        "stopped_speaking_at": m.get("stopped_speaking_at"),
        "transcription_delay": m.get("transcription_delay"),
        "end_of_turn_delay": m.get("end_of_turn_delay"),
        "llm_ttft": m.get("llm_node_ttft"),
        "tts_ttfb": m.get("tts_node_ttfb"),
        "e2e_latency": m.get("e2e_latency"),
    }


def tool_call_data(call: Any, output: Any | None, redact: Redactor, *, transcripts: bool) -> dict[str, Any]:
    finished = getattr(output, "created_at", None)
    return {
        "call_id": call.call_id,
        "name": call.name,
        "arguments": redact(call.arguments, MAX_TEXT) if transcripts else None,
        "result": redact(output.output, MAX_TEXT) if transcripts and output is not None else None,
        "is_error": bool(output.is_error) if output is not None else False,
        "created_at": call.created_at,
        # from the LLM's call to the tool's output: the time the user waited on the tool
        "duration": max(0.0, finished - call.created_at) if finished is not None else None,
    }


def usage_data(
    model_usage: Iterable[Any], prices: PriceTable, currency: str
) -> dict[str, Any]:
    """Cumulative usage per model from a ``SessionUsageUpdatedEvent``, with cost when priced."""
    rows = []
    for usage in model_usage:
        kind = str(getattr(usage, "type", "unknown")).removesuffix("_usage")
        provider = str(getattr(usage, "provider", "") or "unknown")
        model = str(getattr(usage, "model", "") or "unknown")
        counts = {
            "input_tokens": int(getattr(usage, "input_tokens", 0) or 0),
            "cached_input_tokens": int(getattr(usage, "input_cached_tokens", 0) or 0),
            "output_tokens": int(getattr(usage, "output_tokens", 0) or 0),
            "characters": int(getattr(usage, "characters_count", 0) or 0),
        }
        audio_seconds = float(getattr(usage, "audio_duration", 0.0) or 0.0)
        cost = prices.cost(kind, provider, model, audio_seconds=audio_seconds, **counts)
        row: dict[str, Any] = {
            "kind": kind, "provider": provider, "model": model, **counts, "audio_seconds": audio_seconds,
            "requests": int(getattr(usage, "total_requests", 0) or 0),
        }
        row["cost"] = cost
        row["currency"] = currency if cost is not None else None
        rows.append(row)
    return {"models": rows}


def _source_label(source: Any) -> str:
    provider = getattr(source, "provider", None)
    model = getattr(source, "model", None)
    if provider or model:
        return f"{provider or 'unknown'}/{model or 'unknown'}"
    return type(source).__name__


def error_data(error: Any, source: Any, redact: Redactor) -> dict[str, Any]:
    inner = getattr(error, "error", error)  # LLMError & co. wrap the exception
    return {
        "source": _source_label(source),
        "error_type": type(inner).__name__,
        "message": redact(str(inner), MAX_ERROR_TEXT),
        "recoverable": getattr(error, "recoverable", None),
    }


def attributes_data(attributes: Mapping[str, str], redact: Redactor) -> dict[str, Any]:
    """Session attributes, bounded to the columns (64-character keys, 256-character values)."""
    items = sorted(attributes.items())[:MAX_ATTRIBUTES]
    return {"attributes": {str(k)[:64]: redact(str(v), 256) for k, v in items}}


def session_closed_data(reason: Any, error: Any | None) -> dict[str, Any]:
    reason_text = str(getattr(reason, "value", reason))
    return {
        "reason": reason_text,
        "ended_at": time.time(),
        "status": "failed" if reason_text == "error" else "completed",
        "error_type": type(getattr(error, "error", error)).__name__ if error is not None else None,
    }
