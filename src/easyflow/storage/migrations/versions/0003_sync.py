"""Marketplace sync: products, stream watermarks, recorded runs and their record errors; the
integration's last sync time and outcome.

Revision ID: 0003_sync
Revises: 0002
Create Date: 2026-11-30

Written out in full (no imports from the application), like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import SchemaItem

revision: str = "0003_sync"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
NAME = sa.String(255)
STATUS = sa.String(16)
RUNNING = sa.text("status = 'running'")


def _base(table: str) -> list[SchemaItem]:
    return [
        sa.Column("id", ID, nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.Column("tenant_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
        ),
    ]


def _owned(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "integration_id"],
        ["integrations.tenant_id", "integrations.id"],
        name=f"fk_{table}_tenant_id_integration_id_integrations",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    with op.batch_alter_table("integrations") as batch:
        batch.add_column(sa.Column("last_sync_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("sync_status", STATUS, nullable=True))
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("previous_status", STATUS, nullable=True))
    op.create_table(
        "products",
        *_base("products"),
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("external_id", NAME, nullable=False),
        sa.Column("offer_id", NAME, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("barcodes", JSON, nullable=False),
        sa.Column("stock_keys", JSON, nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("seen_run_id", ID, nullable=True),
        sa.Column("deleted_at", TIMESTAMP, nullable=True),
        sa.UniqueConstraint(
            "tenant_id",
            "integration_id",
            "external_id",
            name="uq_products_tenant_id_integration_id_external_id",
        ),
        _owned("products"),
    )
    op.create_index(
        "ix_products_integration_id_seen_run_id", "products", ["integration_id", "seen_run_id"]
    )
    op.create_table(
        "sync_state",
        *_base("sync_state"),
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("stream", sa.String(32), nullable=False),
        sa.Column("watermark", TIMESTAMP, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("integration_id", "stream", name="uq_sync_state_integration_id_stream"),
        _owned("sync_state"),
    )
    op.create_table(
        "sync_runs",
        *_base("sync_runs"),
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("stream", sa.String(32), nullable=False),
        sa.Column("sync_type", STATUS, nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("slot", sa.String(64), nullable=True),
        sa.Column("since", TIMESTAMP, nullable=True),
        sa.Column("until", TIMESTAMP, nullable=False),
        sa.Column("page_cursor", JSON, nullable=True),
        sa.Column("high_water", TIMESTAMP, nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", TIMESTAMP, nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint(
            "integration_id", "stream", "slot", name="uq_sync_runs_integration_id_stream_slot"
        ),
        _owned("sync_runs"),
    )
    op.create_index("ix_sync_runs_status_lease_until", "sync_runs", ["status", "lease_until"])
    op.create_index(
        "ix_sync_runs_integration_id_stream_id", "sync_runs", ["integration_id", "stream", "id"]
    )
    op.create_index(
        "ix_sync_runs_one_running",
        "sync_runs",
        ["integration_id", "stream"],
        unique=True,
        sqlite_where=RUNNING,
        postgresql_where=RUNNING,
    )
    op.create_table(
        "sync_errors",
        *_base("sync_errors"),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("external_id", NAME, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["sync_runs.id"],
            name="fk_sync_errors_run_id_sync_runs",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_sync_errors_run_id", "sync_errors", ["run_id"])


def downgrade() -> None:
    op.drop_table("sync_errors")
    op.drop_table("sync_runs")
    op.drop_table("sync_state")
    op.drop_table("products")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("previous_status")
    with op.batch_alter_table("integrations") as batch:
        batch.drop_column("sync_status")
        batch.drop_column("last_sync_at")
