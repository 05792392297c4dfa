"""Delivery history: one row per attempt to deliver an outbox row, with its outcome.

Revision ID: 0006_delivery
Revises: 0005_handover
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_delivery"
down_revision: str | Sequence[str] | None = "0005_handover"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
STATUS = sa.String(16)


def upgrade() -> None:
    op.create_table(
        "outbox_attempts",
        sa.Column("id", ID, nullable=False),
        sa.Column("outbox_id", ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", STATUS, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("platform_message_id", sa.String(255), nullable=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_attempts"),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name="fk_outbox_attempts_outbox_id_outbox",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_outbox_attempts_outbox_id_id", "outbox_attempts", ["outbox_id", "id"])


def downgrade() -> None:
    op.drop_table("outbox_attempts")
