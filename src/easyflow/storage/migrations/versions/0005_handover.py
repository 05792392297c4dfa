"""Handover: attachments of messages, why a conversation went to a person, handover rules per
tenant and the operators' event feed.

Revision ID: 0005_handover
Revises: 0004_ai_chain
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_handover"
down_revision: str | Sequence[str] | None = "0004_ai_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
STATUS = sa.String(16)


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("attachments", JSON, nullable=True))
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("handover_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("handed_over_at", TIMESTAMP, nullable=True))
    op.create_table(
        "handover_rules",
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("rules", JSON, nullable=False),
        sa.Column("webhook_secret_encrypted", sa.Text(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_handover_rules"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_handover_rules_tenant_id_tenants",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "operator_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("delivery", STATUS, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("lease_until", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("delivered_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_operator_events"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_operator_events_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_operator_events_conversation_id_conversations",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_operator_events_tenant_id_id", "operator_events", ["tenant_id", "id"])
    op.create_index(
        "ix_operator_events_delivery_next_attempt_at",
        "operator_events",
        ["delivery", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_table("operator_events")
    op.drop_table("handover_rules")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("handed_over_at")
        batch.drop_column("handover_reason")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("attachments")
