"""Delivery states reported by the platforms: messages are found by the platform's id.

Revision ID: 0007_delivery_states
Revises: 0006_delivery
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007_delivery_states"
down_revision: str | Sequence[str] | None = "0006_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_platform_message_id", "messages", ["platform_message_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_messages_platform_message_id", table_name="messages")
