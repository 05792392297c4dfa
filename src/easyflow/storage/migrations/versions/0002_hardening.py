"""Hardening: retry time of inbound events, expiry of a rotated webhook secret, proven phones.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("inbound_events") as batch:
        batch.add_column(sa.Column("next_attempt_at", TIMESTAMP, nullable=True))
    with op.batch_alter_table("integrations") as batch:
        batch.add_column(sa.Column("previous_webhook_secret_expires_at", TIMESTAMP, nullable=True))
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("phone", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("phone")
    with op.batch_alter_table("integrations") as batch:
        batch.drop_column("previous_webhook_secret_expires_at")
    with op.batch_alter_table("inbound_events") as batch:
        batch.drop_column("next_attempt_at")
