"""AI provider chain: the estimated cost of each reply, and monthly budgets per tenant.

Revision ID: 0004_ai_chain
Revises: 0003_sync
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_ai_chain"
down_revision: str | Sequence[str] | None = "0003_sync"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("ai_usage") as batch:
        batch.add_column(sa.Column("cost", sa.Numeric(18, 8), nullable=False, server_default="0"))
        batch.add_column(sa.Column("currency", sa.String(3), nullable=False, server_default=""))
    op.create_table(
        "ai_budgets",
        sa.Column(
            "tenant_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("monthly_limit", sa.Numeric(18, 4), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "currency"),
    )


def downgrade() -> None:
    op.drop_table("ai_budgets")
    with op.batch_alter_table("ai_usage") as batch:
        batch.drop_column("currency")
        batch.drop_column("cost")
