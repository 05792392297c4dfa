"""Stock levels read by the marketplaces' `stocks` stream, per product and warehouse.

Revision ID: 0008_stock_levels
Revises: 0007_delivery_states
Create Date: 2026-11-30

Written out in full (no imports from the application), like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_stock_levels"
down_revision: str | Sequence[str] | None = "0007_delivery_states"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
NAME = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "stock_levels",
        sa.Column("id", ID, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stock_levels"),
        sa.Column("tenant_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_stock_levels_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("product_id", NAME, nullable=False),
        sa.Column("warehouse_id", NAME, nullable=False),
        sa.Column("offer_id", NAME, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("seen_run_id", ID, nullable=True),
        sa.UniqueConstraint(
            "tenant_id",
            "integration_id",
            "product_id",
            "warehouse_id",
            name="uq_stock_levels_key",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "integration_id"],
            ["integrations.tenant_id", "integrations.id"],
            name="fk_stock_levels_tenant_id_integration_id_integrations",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_stock_levels_integration_id_seen_run_id",
        "stock_levels",
        ["integration_id", "seen_run_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_stock_levels_integration_id_seen_run_id", table_name="stock_levels")
    op.drop_table("stock_levels")
