"""The conversation store's tables (SQLAlchemy 2 declarative; Alembic migrations mirror them).

Every row written from an event carries the event's per-session ``seq`` under a unique
constraint, so replaying an event (from the outbox, after a crash) is a no-op: writes are
idempotent and may arrive in any order.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["AttributeRow", "Base", "ErrorRow", "SessionRow", "ToolCallRow", "TurnRow", "UsageRow"]

# explicit constraint names: Alembic (and SQLite batch mode) needs them to alter tables later
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


Timestamp = DateTime(timezone=True)


class SessionRow(Base):
    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_name: Mapped[str | None] = mapped_column(String(200), index=True)
    room: Mapped[str | None] = mapped_column(String(255))
    participant: Mapped[str | None] = mapped_column(String(255))
    stt: Mapped[str | None] = mapped_column(String(200))
    llm: Mapped[str | None] = mapped_column(String(200))
    tts: Mapped[str | None] = mapped_column(String(200))
    config_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # "active" until the close event; then "completed", or "failed" when closed by an error
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(Timestamp, index=True)
    close_reason: Mapped[str | None] = mapped_column(String(64))
    transcripts_stored: Mapped[bool] = mapped_column(Boolean, default=True)


class _SessionChild:
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)


class TurnRow(_SessionChild, Base):
    """One message of the conversation: the user's words or the agent's reply."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("session_id", "seq", name="uq_turns_session_seq"),)

    role: Mapped[str] = mapped_column(String(16))
    # the agent that spoke (assistant) or listened (user): an agents: name; NULL before 0003
    agent: Mapped[str | None] = mapped_column(String(64))
    # NULL when transcripts are off (metadata only)
    text: Mapped[str | None] = mapped_column(Text)
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    started_speaking_at: Mapped[datetime | None] = mapped_column(Timestamp)
    stopped_speaking_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # seconds; user messages: transcription_delay, end_of_turn_delay; agent replies: the rest
    transcription_delay: Mapped[float | None] = mapped_column(Float)
    end_of_turn_delay: Mapped[float | None] = mapped_column(Float)
    llm_ttft: Mapped[float | None] = mapped_column(Float)
    tts_ttfb: Mapped[float | None] = mapped_column(Float)
    e2e_latency: Mapped[float | None] = mapped_column(Float)


class ToolCallRow(_SessionChild, Base):
    __tablename__ = "tool_calls"
    __table_args__ = (UniqueConstraint("session_id", "seq", "call_id", name="uq_tool_calls_session_seq"),)

    call_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    # JSON text as the LLM produced it; NULL when transcripts are off
    arguments: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    is_error: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    duration: Mapped[float | None] = mapped_column(Float)


class UsageRow(Base):
    """Cumulative usage of one model in one session (the latest snapshot wins, by seq)."""

    __tablename__ = "usage"
    __table_args__ = (
        UniqueConstraint("session_id", "kind", "provider", "model", name="uq_usage_session_model"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # llm, stt, tts, eot, interruption
    provider: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(200))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    characters: Mapped[int] = mapped_column(Integer, default=0)
    audio_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(8))
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class ErrorRow(_SessionChild, Base):
    __tablename__ = "errors"
    __table_args__ = (UniqueConstraint("session_id", "seq", name="uq_errors_session_seq"),)

    created_at: Mapped[datetime] = mapped_column(Timestamp)
    source: Mapped[str | None] = mapped_column(String(200))
    error_type: Mapped[str] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)
    recoverable: Mapped[bool | None] = mapped_column(Boolean)


class AttributeRow(Base):
    """A fact learnt during a session (a phone call's numbers, its end reason); the latest seq wins."""

    __tablename__ = "session_attributes"
    __table_args__ = (UniqueConstraint("session_id", "key", name="uq_session_attributes_session_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(256))
