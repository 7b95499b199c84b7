"""Session attributes: facts learnt during a session (phone numbers, SIP headers, end reason).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_attributes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_session_attributes_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_attributes")),
        sa.UniqueConstraint("session_id", "key", name="uq_session_attributes_session_key"),
    )
    with op.batch_alter_table("session_attributes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_attributes_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("session_attributes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_attributes_session_id"))
    op.drop_table("session_attributes")
