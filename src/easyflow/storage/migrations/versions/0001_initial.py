"""Initial schema: tenants, API keys, integrations, messaging, outbox, orders, AI usage.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Written out in full (no imports from the application) so the revision stays what it was
when later revisions change `tables.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import SchemaItem

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
NAME = sa.String(255)
STATUS = sa.String(16)


def _id(table: str) -> list[SchemaItem]:
    return [sa.Column("id", ID, nullable=False), sa.PrimaryKeyConstraint("id", name=f"pk_{table}")]


def _tenant_id(table: str) -> list[SchemaItem]:
    return [
        sa.Column("tenant_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
        ),
    ]


def _owned_by(table: str, parent: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", column],
        [f"{parent}.tenant_id", f"{parent}.id"],
        name=f"fk_{table}_tenant_id_{column}_{parent}",
        ondelete="CASCADE",
    )


def _unique(table: str, *columns: str) -> sa.UniqueConstraint:
    return sa.UniqueConstraint(*columns, name=f"uq_{table}_{'_'.join(columns)}")


def _index(table: str, *columns: str) -> None:
    op.create_index(f"ix_{table}_{'_'.join(columns)}", table, list(columns))


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "tenants",
        *_id("tenants"),
        sa.Column("name", NAME, nullable=False),
        sa.Column("ai_profile", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "api_keys",
        *_id("api_keys"),
        *_tenant_id("api_keys"),
        sa.Column("name", NAME, nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(128), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP),
        _unique("api_keys", "key_hash"),
    )
    _index("api_keys", "tenant_id")
    op.create_table(
        "integrations",
        *_id("integrations"),
        *_tenant_id("integrations"),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("kind", STATUS, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("credentials_encrypted", sa.Text(), nullable=False),
        sa.Column("webhook_secret_encrypted", sa.Text()),
        sa.Column("previous_webhook_secret_encrypted", sa.Text()),
        sa.Column("webhook_secret_hash", sa.String(64)),
        sa.Column("previous_webhook_secret_hash", sa.String(64)),
        sa.Column("settings", JSON, nullable=False),
        *_timestamps(),
        _unique("integrations", "tenant_id", "id"),
    )
    _index("integrations", "webhook_secret_hash")
    _index("integrations", "previous_webhook_secret_hash")
    op.create_table(
        "contacts",
        *_id("contacts"),
        *_tenant_id("contacts"),
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("external_id", NAME, nullable=False),
        sa.Column("display_name", NAME, nullable=False),
        sa.Column("username", NAME),
        sa.Column("language", STATUS),
        *_timestamps(),
        _unique("contacts", "tenant_id", "integration_id", "external_id"),
        _unique("contacts", "tenant_id", "id"),
        _owned_by("contacts", "integrations", "integration_id"),
    )
    op.create_table(
        "conversations",
        *_id("conversations"),
        *_tenant_id("conversations"),
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("chat_id", NAME, nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("last_message_at", TIMESTAMP),
        *_timestamps(),
        _unique("conversations", "integration_id", "chat_id"),
        _unique("conversations", "tenant_id", "id"),
        _owned_by("conversations", "integrations", "integration_id"),
        _owned_by("conversations", "contacts", "contact_id"),
    )
    _index("conversations", "tenant_id", "last_message_at")
    op.create_table(
        "inbound_events",
        *_id("inbound_events"),
        *_tenant_id("inbound_events"),
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("event_id", NAME, nullable=False),
        sa.Column("conversation_key", NAME, nullable=False),
        sa.Column("message", JSON, nullable=False),
        sa.Column("raw", JSON, nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("processed_at", TIMESTAMP),
        _unique("inbound_events", "integration_id", "event_id"),
        _owned_by("inbound_events", "integrations", "integration_id"),
    )
    _index("inbound_events", "integration_id", "conversation_key", "status")
    _index("inbound_events", "status", "received_at")
    op.create_table(
        "messages",
        *_id("messages"),
        *_tenant_id("messages"),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("direction", STATUS, nullable=False),
        sa.Column("author", STATUS, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("platform_message_id", NAME),
        sa.Column("error", sa.Text()),
        sa.Column("sent_at", TIMESTAMP),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("inbound_event_id", ID),
        sa.ForeignKeyConstraint(
            ["inbound_event_id"],
            ["inbound_events.id"],
            name="fk_messages_inbound_event_id_inbound_events",
            ondelete="SET NULL",
        ),
        _unique("messages", "inbound_event_id"),
        _owned_by("messages", "conversations", "conversation_id"),
    )
    _index("messages", "tenant_id", "conversation_id", "id")
    op.create_table(
        "outbox",
        *_id("outbox"),
        *_tenant_id("outbox"),
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("conversation_id", ID),
        sa.Column("message_id", ID),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("lease_until", TIMESTAMP),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_outbox_message_id_messages",
            ondelete="SET NULL",
        ),
        _owned_by("outbox", "integrations", "integration_id"),
        _owned_by("outbox", "conversations", "conversation_id"),
    )
    _index("outbox", "status", "next_attempt_at")
    _index("outbox", "tenant_id", "status")
    _index("outbox", "conversation_id", "status", "id")
    op.create_table(
        "orders",
        *_id("orders"),
        *_tenant_id("orders"),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("external_id", NAME, nullable=False),
        sa.Column("number", NAME, nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("total", sa.Numeric(18, 4), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("customer_name", NAME, nullable=False),
        sa.Column("customer_phone", sa.String(64)),
        sa.Column("tracking_number", NAME),
        sa.Column("items", JSON, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _unique("orders", "tenant_id", "source", "external_id"),
    )
    _index("orders", "tenant_id", "number")
    op.create_table(
        "ai_usage",
        *_id("ai_usage"),
        *_tenant_id("ai_usage"),
        sa.Column("conversation_id", ID),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("model", NAME, nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("total_tokens", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_ai_usage_conversation_id_conversations",
            ondelete="SET NULL",
        ),
    )
    _index("ai_usage", "tenant_id", "created_at")


def downgrade() -> None:
    # Dropping a table drops its indexes too; children go before their parents.
    for table in (
        "ai_usage",
        "orders",
        "outbox",
        "messages",
        "inbound_events",
        "conversations",
        "contacts",
        "integrations",
        "api_keys",
        "tenants",
    ):
        op.drop_table(table)
