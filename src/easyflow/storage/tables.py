"""The schema: SQLAlchemy Core tables on one `metadata`, the source of the Alembic migrations.

Every tenant-owned table carries `tenant_id` (foreign key to tenants, ON DELETE CASCADE).
Children point at their parent through a composite key `(tenant_id, parent_id)`, so the
database itself refuses a row whose parent belongs to another tenant. Timestamps are UTC.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from easyflow.storage.types import ExternalString, ExternalText, Id, Json, UtcDateTime, utcnow

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

NAME = 255  # names, external ids, chat ids: generous, platforms document no common bound
STATUS = 16


def _id() -> Column:
    return Column("id", Id, primary_key=True)


def _tenant_id() -> Column:
    return Column("tenant_id", Id, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


def _created_at() -> Column:
    return Column("created_at", UtcDateTime, nullable=False, default=utcnow)


def _updated_at() -> Column:
    return Column("updated_at", UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow)


def _owned_by(parent: str, column: str) -> ForeignKeyConstraint:
    """`(tenant_id, column)` must name a row of `parent` of the same tenant."""
    return ForeignKeyConstraint(
        ["tenant_id", column], [f"{parent}.tenant_id", f"{parent}.id"], ondelete="CASCADE"
    )


tenants = Table(
    "tenants",
    metadata,
    _id(),
    Column("name", String(NAME), nullable=False),
    Column("ai_profile", Json, nullable=False),
    _created_at(),
)

api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    _tenant_id(),
    Column("name", String(NAME), nullable=False),
    Column("prefix", String(32), nullable=False),
    Column("key_hash", String(128), nullable=False, unique=True),
    _created_at(),
    Column("revoked_at", UtcDateTime),
    Index(None, "tenant_id"),
)

integrations = Table(
    "integrations",
    metadata,
    _id(),
    _tenant_id(),
    Column("platform", String(32), nullable=False),
    Column("kind", String(STATUS), nullable=False),
    Column("name", String(NAME), nullable=False),
    Column("status", String(STATUS), nullable=False),
    Column("credentials_encrypted", Text, nullable=False),  # Fernet token of a JSON object
    Column("webhook_secret_encrypted", Text),
    Column("previous_webhook_secret_encrypted", Text),
    # sha256 hex of the secrets: one indexed lookup finds the row for an inbound secret.
    Column("webhook_secret_hash", String(64), index=True),
    Column("previous_webhook_secret_hash", String(64), index=True),
    # After a rotation the previous secret is accepted only until then (queued deliveries).
    Column("previous_webhook_secret_expires_at", UtcDateTime),
    Column("settings", Json, nullable=False),
    _created_at(),
    _updated_at(),
    UniqueConstraint("tenant_id", "id"),
    Column("last_sync_at", UtcDateTime),  # 0003_sync: the last finished sync run of any stream
    Column("sync_status", String(STATUS)),  # and its outcome
)

contacts = Table(
    "contacts",
    metadata,
    _id(),
    _tenant_id(),
    Column("integration_id", Id, nullable=False),
    Column("external_id", String(NAME), nullable=False),
    Column("display_name", String(NAME), nullable=False, default=""),
    Column("username", String(NAME)),
    Column("language", String(STATUS)),
    # A phone number the customer proved (shared from the messenger, or confirmed against an
    # order): digits only. Orders with this phone are theirs to ask about.
    Column("phone", String(32)),
    _created_at(),
    _updated_at(),
    UniqueConstraint("tenant_id", "integration_id", "external_id"),
    UniqueConstraint("tenant_id", "id"),
    _owned_by("integrations", "integration_id"),
)

conversations = Table(
    "conversations",
    metadata,
    _id(),
    _tenant_id(),
    Column("integration_id", Id, nullable=False),
    Column("contact_id", Id, nullable=False),
    Column("chat_id", String(NAME), nullable=False),
    Column("status", String(STATUS), nullable=False),
    Column("last_message_at", UtcDateTime),
    _created_at(),
    _updated_at(),
    # Why and since when a person has it (status handover); kept after, for the record.
    Column("handover_reason", ExternalText),
    Column("handed_over_at", UtcDateTime),
    UniqueConstraint("integration_id", "chat_id"),
    UniqueConstraint("tenant_id", "id"),
    Index(None, "tenant_id", "last_message_at"),
    _owned_by("integrations", "integration_id"),
    _owned_by("contacts", "contact_id"),
)

inbound_events = Table(
    "inbound_events",
    metadata,
    _id(),
    _tenant_id(),
    Column("integration_id", Id, nullable=False),
    Column("platform", String(32), nullable=False),
    Column("event_id", String(NAME), nullable=False),
    Column("conversation_key", String(NAME), nullable=False),
    Column("message", Json, nullable=False),  # the serialized InboundMessage
    Column("raw", Json, nullable=False),
    Column("status", String(STATUS), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", ExternalText),
    Column("received_at", UtcDateTime, nullable=False, default=utcnow),
    # A transient failure (database, network, platform 5xx) sets the next try; NULL: now.
    Column("next_attempt_at", UtcDateTime),
    Column("processed_at", UtcDateTime),
    UniqueConstraint("integration_id", "event_id"),
    Index(None, "integration_id", "conversation_key", "status"),
    Index(None, "status", "received_at"),
    _owned_by("integrations", "integration_id"),
)

messages = Table(
    "messages",
    metadata,
    _id(),
    _tenant_id(),
    Column("conversation_id", Id, nullable=False),
    Column("direction", String(STATUS), nullable=False),
    Column("author", String(STATUS), nullable=False),
    Column("text", ExternalText, nullable=False),
    Column("status", String(STATUS), nullable=False),
    Column("platform_message_id", ExternalString(NAME)),
    Column("error", ExternalText),
    Column("sent_at", UtcDateTime),
    _created_at(),
    # One stored message per inbound event: a re-processed event cannot append it twice.
    Column(
        "inbound_event_id",
        Id,
        ForeignKey("inbound_events.id", ondelete="SET NULL"),
        unique=True,
    ),
    # Non-text content (photos, stickers, contacts ...): a list of {"kind", "metadata"}.
    Column("attachments", Json),
    Index(None, "tenant_id", "conversation_id", "id"),
    # Delivery states (read, failed …) arrive keyed by the platform's id for the message.
    Index(None, "platform_message_id"),
    _owned_by("conversations", "conversation_id"),
)

outbox = Table(
    "outbox",
    metadata,
    _id(),
    _tenant_id(),
    Column("integration_id", Id, nullable=False),
    Column("conversation_id", Id),
    Column("message_id", Id, ForeignKey("messages.id", ondelete="SET NULL")),
    Column("kind", String(32), nullable=False),
    Column("payload", Json, nullable=False),
    Column("status", String(STATUS), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    # Set while a worker holds the row for sending; a lapsed lease frees it again.
    Column("lease_until", UtcDateTime),
    Column("last_error", ExternalText),
    _created_at(),
    Column("sent_at", UtcDateTime),
    Index(None, "status", "next_attempt_at"),
    Index(None, "tenant_id", "status"),
    Index(None, "conversation_id", "status", "id"),  # a conversation's send queue
    _owned_by("integrations", "integration_id"),
    _owned_by("conversations", "conversation_id"),
)

orders = Table(
    "orders",
    metadata,
    _id(),
    _tenant_id(),
    Column("source", String(32), nullable=False),
    Column("external_id", String(NAME), nullable=False),
    Column("number", String(NAME), nullable=False),
    Column("status", String(STATUS), nullable=False),
    # SQLite keeps NUMERIC as a float: exact to the cent for totals below ~10^11.
    Column("total", Numeric(18, 4), nullable=False),
    Column("currency", String(8), nullable=False),
    Column("customer_name", String(NAME), nullable=False, default=""),
    Column("customer_phone", String(64)),
    Column("tracking_number", String(NAME)),
    Column("items", Json, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("tenant_id", "source", "external_id"),
    Index(None, "tenant_id", "number"),
    # 0003_sync: the status before the last write, so a sync learns of status changes from
    # its upsert's RETURNING instead of a lookup per page.
    Column("previous_status", String(STATUS)),
)

ai_usage = Table(
    "ai_usage",
    metadata,
    _id(),
    _tenant_id(),
    # Usage is billing history: it outlives the conversation it was spent on.
    Column("conversation_id", Id, ForeignKey("conversations.id", ondelete="SET NULL")),
    Column("provider", String(32), nullable=False),
    Column("model", String(NAME), nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("total_tokens", Integer, nullable=False),
    # The provider's list price of the tokens, in the currency it bills ("" when free).
    Column("cost", Numeric(18, 8), nullable=False, server_default="0"),
    Column("currency", String(3), nullable=False, server_default=""),
    _created_at(),
    Index(None, "tenant_id", "created_at"),
)


# --------------------------------------------------------------------------- sync (0003_sync)

products = Table(
    "products",
    metadata,
    _id(),
    _tenant_id(),
    Column("integration_id", Id, nullable=False),
    Column("source", String(32), nullable=False),
    Column("external_id", ExternalString(NAME), nullable=False),
    Column("offer_id", ExternalString(NAME), nullable=False),
    Column("name", ExternalText, nullable=False),
    Column("barcodes", Json, nullable=False),
    Column("stock_keys", Json, nullable=False),
    Column("archived", Boolean, nullable=False, default=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # The run that last returned it: a complete read that did not marks it deleted.
    Column("seen_run_id", Id),
    Column("deleted_at", UtcDateTime),
    UniqueConstraint("tenant_id", "integration_id", "external_id"),
    Index(None, "integration_id", "seen_run_id"),
    _owned_by("integrations", "integration_id"),
)

# Stock per (product, warehouse) as the marketplace last reported it (the `stocks` stream).
stock_levels = Table(
    "stock_levels",
    metadata,
    _id(),
    _tenant_id(),
    Column("integration_id", Id, nullable=False),
    Column("source", String(32), nullable=False),
    Column("product_id", ExternalString(NAME), nullable=False),  # the key stock updates take
    Column("warehouse_id", ExternalString(NAME), nullable=False),
    Column("offer_id", ExternalString(NAME), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # The run that last returned it: a complete read that did not drops the level.
    Column("seen_run_id", Id),
    # Named: the conventional name would pass PostgreSQL's 63-character limit.
    UniqueConstraint(
        "tenant_id", "integration_id", "product_id", "warehouse_id", name="uq_stock_levels_key"
    ),
    Index(None, "integration_id", "seen_run_id"),
    _owned_by("integrations", "integration_id"),
)

sync_state = Table(
    "sync_state",
    metadata,
    _id(),
    _tenant_id(),
    Column("integration_id", Id, nullable=False),
    Column("stream", String(32), nullable=False),
    # Every change up to here is committed; incremental runs start from it minus look-back.
    Column("watermark", UtcDateTime),
    _updated_at(),
    UniqueConstraint("integration_id", "stream"),
    _owned_by("integrations", "integration_id"),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    _id(),
    _tenant_id(),
    Column("integration_id", Id, nullable=False),
    Column("stream", String(32), nullable=False),
    Column("sync_type", String(STATUS), nullable=False),
    Column("status", String(STATUS), nullable=False),
    # A scheduled run's slot ("every-900s:1234"): two schedulers cannot both start it.
    Column("slot", String(64)),
    Column("since", UtcDateTime),
    Column("until", UtcDateTime, nullable=False),
    # The committed position inside the run: the next page starts after it.
    Column("page_cursor", Json),
    Column("high_water", UtcDateTime),
    Column("pages", Integer, nullable=False, default=0),
    Column("records", Integer, nullable=False, default=0),
    Column("errors", Integer, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),
    # The worker running a step holds the run until then; a lapsed lease frees it.
    Column("lease_owner", String(64)),
    Column("lease_until", UtcDateTime),
    Column("started_at", UtcDateTime, nullable=False, default=utcnow),
    Column("finished_at", UtcDateTime),
    Column("error", ExternalText),
    UniqueConstraint("integration_id", "stream", "slot"),
    Index(None, "status", "lease_until"),
    Index(None, "integration_id", "stream", "id"),
    # At most one running run per (integration, stream), whatever the number of workers.
    Index(
        "ix_sync_runs_one_running",
        "integration_id",
        "stream",
        unique=True,
        sqlite_where=text("status = 'running'"),
        postgresql_where=text("status = 'running'"),
    ),
    _owned_by("integrations", "integration_id"),
)

sync_errors = Table(
    "sync_errors",
    metadata,
    _id(),
    _tenant_id(),
    Column("run_id", Id, ForeignKey("sync_runs.id", ondelete="CASCADE"), nullable=False),
    Column("external_id", ExternalString(NAME), nullable=False),
    Column("reason", ExternalText, nullable=False),
    _created_at(),
    Index(None, "run_id"),
)


# A tenant's monthly AI budget per currency: once spent, providers billed in it are skipped.
ai_budgets = Table(
    "ai_budgets",
    metadata,
    _tenant_id(),
    Column("currency", String(3), nullable=False),
    Column("monthly_limit", Numeric(18, 4), nullable=False),
    _updated_at(),
    PrimaryKeyConstraint("tenant_id", "currency"),
)


# A tenant's handover rules (codecs: rules_to_json) and its operator webhook's signing secret.
handover_rules = Table(
    "handover_rules",
    metadata,
    Column("tenant_id", Id, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("rules", Json, nullable=False),
    Column("webhook_secret_encrypted", Text),  # Fernet token
    _updated_at(),
)

# The operators' feed (polled through the admin API) and its webhook deliveries.
operator_events = Table(
    "operator_events",
    metadata,
    _id(),
    _tenant_id(),
    # The feed is history: it outlives the conversation it tells of.
    Column("conversation_id", Id, ForeignKey("conversations.id", ondelete="SET NULL")),
    Column("type", String(64), nullable=False),
    Column("data", Json, nullable=False),
    # NULL: no webhook was configured when it happened; else pending, sent, failed or dead.
    Column("delivery", String(STATUS)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime),
    Column("lease_until", UtcDateTime),
    Column("last_error", ExternalText),
    _created_at(),
    Column("delivered_at", UtcDateTime),
    Index(None, "tenant_id", "id"),
    Index(None, "delivery", "next_attempt_at"),
)

# Every attempt to deliver an outbox row, and what became of it: the row's history for an
# operator (sent, retry, dead, unconfirmed), written by the statement that records the outcome.
outbox_attempts = Table(
    "outbox_attempts",
    metadata,
    _id(),
    Column("outbox_id", Id, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("outcome", String(STATUS), nullable=False),
    Column("error", ExternalText),
    Column("platform_message_id", ExternalString(NAME)),
    Column("at", UtcDateTime, nullable=False),
    Index(None, "outbox_id", "id"),
)

# A tenant's own notification templates (codec: storage/repositories/notifications.py); the
# built-in ones (domain/notifications.py DEFAULTS) serve every event and language not here.
notification_templates = Table(
    "notification_templates",
    metadata,
    _id(),
    _tenant_id(),
    Column("event", String(64), nullable=False),
    Column("language", String(STATUS), nullable=False),
    Column("template", Json, nullable=False),  # text, html, buttons, whatsapp
    _created_at(),
    _updated_at(),
    UniqueConstraint("tenant_id", "event", "language"),
)
