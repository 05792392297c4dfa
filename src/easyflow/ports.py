"""Ports: the small protocols services depend on. Adapters and storage implement them.

Services import this module and `domain`, never a concrete adapter, engine or broker; the
composition root (`bootstrap.py`) decides what stands behind each port.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, Self

from easyflow.domain.ai import AiCostLine, AiProfile, ChatReply, ChatRequest, TokenUsage
from easyflow.domain.commerce import (
    Order,
    OrderFilters,
    OrderStatusChanged,
    Product,
    ProductFilters,
    SalesReport,
    StockChange,
    StockLevel,
    StockReport,
)
from easyflow.domain.messaging import (
    Attachment,
    BotIdentity,
    ChatBacklog,
    Contact,
    Conversation,
    ConversationStatus,
    ConversationSummary,
    DeliveryAttempt,
    DeliveryChange,
    DeliveryResult,
    DeliveryStatus,
    EventStatus,
    HandoverRules,
    InboundEvent,
    InboundMessage,
    MessageAuthor,
    MessageDirection,
    NewInboundEvents,
    OperatorEvent,
    OperatorEventType,
    OutboundMessage,
    OutboxItem,
    OutboxKind,
    OutboxPayload,
    Sender,
    StoredMessage,
    WebhookEvent,
    WebhookInfo,
    WebhookRegistration,
    WebhookReply,
    WebhookSetup,
)
from easyflow.domain.notifications import (
    NotificationTarget,
    NotificationTemplate,
    StagedNotification,
)
from easyflow.domain.sync import (
    Page,
    RecordFailure,
    RunStatus,
    SyncRun,
    SyncStream,
    SyncType,
    SyncWindow,
)
from easyflow.domain.tenancy import (
    ApiKeyInfo,
    Capability,
    Integration,
    IntegrationStatus,
    Tenant,
)

# --------------------------------------------------------------------------- platforms


class WebhookScheme(Protocol):
    """How a platform authenticates its webhooks (see `webhooks/schemes.py`)."""

    @property
    def covers_body(self) -> bool:
        """False when the headers alone prove the sender: verified before the body is read."""
        ...

    def sign(self, secret: str, body: bytes) -> dict[str, str]: ...

    def verify(self, secrets: Sequence[str], headers: Mapping[str, str], body: bytes) -> None: ...

    def presented_secret(self, headers: Mapping[str, str]) -> str | None: ...


class WebhookParser(Protocol):
    """A messenger's inbound side: scheme, parsing and the answer the platform expects."""

    @property
    def platform(self) -> str: ...

    @property
    def scheme(self) -> WebhookScheme: ...

    @property
    def ack(self) -> dict[str, Any]:
        """The body the platform expects once the delivery is stored."""
        ...

    def parse(self, body: bytes) -> list[InboundMessage]:
        """Unified messages in the body; [] for update types the hub ignores.

        Raises MalformedPayloadError with the reason when the body is not the platform's shape.
        """
        ...

    def parse_document(self, document: Any) -> list[InboundMessage]:
        """`parse` of a body intake decoded already (`webhooks.payloads.decode_json`).

        Raises UnprocessableEventError (a MalformedPayloadError) when the event has an id but
        content the hub cannot process: intake stores it as failed and acknowledges it.
        """
        ...


class MessengerWebhook(WebhookParser, Protocol):
    """The whole inbound side of a messenger; a plain `WebhookParser` (Telegram) is adapted to it
    by `webhooks.inbound.full_parser` with Telegram's behaviour as the defaults.

    Order of work in intake: `handshake` (GET) or verify with `signing_secrets` (POST, before
    anything is stored) -> `challenge` (an answer owed before storing, VK `confirmation`) ->
    `parse_events` -> store -> `reply`.
    """

    @property
    def verifies_by_get(self) -> bool:
        """Whether the platform verifies the URL with a GET (else a GET is a 405)."""
        ...

    def signing_secrets(self, integration: Integration) -> Sequence[str]:
        """The keys the scheme checks with: a hub-made webhook secret or a seller credential."""
        ...

    def handshake(self, integration: Integration, query: Mapping[str, str]) -> WebhookReply:
        """Answer the platform's GET verification; HandshakeRefusedError (403) if it fails."""
        ...

    def challenge(self, integration: Integration, document: Any) -> WebhookReply | None:
        """An authenticated request that is a handshake, answered before anything is stored."""
        ...

    def parse_events(self, document: Any) -> list[WebhookEvent]:
        """Customer messages, delivery updates and lifecycle events in a decoded body."""
        ...

    def reply(self, events: Sequence[WebhookEvent]) -> WebhookReply:
        """The answer once the events are stored (Telegram JSON, VK `ok`, Viber empty 200)."""
        ...


class DeliveryTracker(Protocol):
    """Applies delivery updates and lifecycle events to what the hub stored (core's side)."""

    async def record(self, integration: Integration, events: Sequence[WebhookEvent]) -> None: ...


class Messenger(Protocol):
    async def identity(self) -> BotIdentity: ...

    async def set_webhook(self, registration: WebhookRegistration) -> WebhookSetup | None:
        """Register the webhook; where only the seller can (in the platform's console), return
        what they must paste there instead."""
        ...

    async def delete_webhook(self) -> None: ...

    async def webhook_info(self) -> WebhookInfo: ...

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """Deliver it; a platform with idempotency keys gets `message.idempotency_key`.

        Typed errors (domain/errors.py) for what the platform answered; anything else is a bug.
        """
        ...

    async def answer_callback(self, callback_id: str, text: str | None = None) -> None: ...


class ChatModel(Protocol):
    name: str
    currency: str  # what its tokens are billed in (ISO 4217); "" when they cost nothing

    async def check(self) -> None:
        """Prove the credentials work (a cheap call); raise the platform's typed error."""
        ...

    async def complete(self, request: ChatRequest) -> ChatReply: ...


class Adapters(Protocol):
    """The port a capability of an integration offers; services ask by capability, never by
    platform name. Asking for a capability the platform does not offer is an
    InvalidRequestError naming both."""

    def offers(self, platform: str, capability: Capability) -> bool:
        """Whether `platform` offers `capability`; NotFoundError for an unknown platform."""
        ...

    def primary_capability(self, platform: str) -> Capability:
        """The capability its integrations are stored and listed under."""
        ...

    def platforms_offering(self, capability: Capability) -> tuple[str, ...]:
        """Every registered platform that offers `capability`: how services select the
        integrations that can do something (a row's stored `kind` is its first only)."""
        ...

    def idempotency_keys(self, platform: str) -> bool:
        """Whether the platform delivers a repeated send with the same key once."""
        ...

    def webhook_parser(self, platform: str) -> WebhookParser: ...

    def check_settings(self, platform: str, settings: Mapping[str, Any]) -> None:
        """InvalidRequestError naming a setting the platform does not declare or whose value
        its declaration refuses (settings given when an account is connected)."""
        ...

    def with_settings(self, integration: Integration, changes: Mapping[str, Any]) -> dict[str, Any]:
        """The integration's settings with `changes` applied (None removes one), checked
        against what its platform declares and by building its adapter with them:
        InvalidRequestError with the reason when the platform cannot take them."""
        ...

    def messenger(self, integration: Integration) -> Messenger: ...

    def chat_model(self, integration: Integration | None, platform: str) -> ChatModel:
        """The integration's model; with None, a chat model that needs no account (local)."""
        ...

    def marketplace(self, integration: Integration) -> Marketplace: ...


# --------------------------------------------------------------------------- storage


class TenantRepository(Protocol):
    async def add(self, name: str, profile: AiProfile) -> Tenant: ...

    async def get(self, tenant_id: int) -> Tenant: ...

    async def list(self) -> list[Tenant]: ...

    async def set_ai_profile(self, tenant_id: int, profile: AiProfile) -> None: ...


class ApiKeyRepository(Protocol):
    async def add(self, tenant_id: int, name: str, prefix: str, key_hash: str) -> ApiKeyInfo: ...

    async def tenant_for_hash(self, key_hash: str) -> int | None:
        """The tenant owning an unrevoked key with this hash."""
        ...

    async def list(self, tenant_id: int) -> list[ApiKeyInfo]: ...

    async def revoke(self, tenant_id: int, key_id: int) -> None: ...


class IntegrationRepository(Protocol):
    async def add(
        self,
        tenant_id: int,
        platform: str,
        kind: Capability,
        name: str,
        credentials: dict[str, str],
        settings: dict[str, Any],
        webhook_secret: str | None = None,
    ) -> Integration: ...

    async def get(
        self, tenant_id: int, integration_id: int, *, for_update: bool = False
    ) -> Integration:
        """`for_update`: the row stays locked until the unit ends, for a read-modify-write."""
        ...

    async def get_for_webhook(self, platform: str, integration_id: int) -> Integration | None:
        """Any tenant's integration: an inbound webhook names no tenant."""
        ...

    async def find_by_webhook_secret(self, platform: str, secret: str) -> Integration | None:
        """The integration whose current or previous webhook secret this is."""
        ...

    async def list(
        self,
        tenant_id: int,
        *,
        platform: str | None = None,
        platforms: Collection[str] | None = None,
    ) -> list[Integration]:
        """With `platforms`, only the integrations of those platforms."""
        ...

    async def list_all_active(
        self, platforms: Collection[str] | None = None
    ) -> builtins.list[Integration]:
        """Every tenant's active integrations; with `platforms`, only of those platforms."""
        ...

    async def set_status(
        self, tenant_id: int, integration_id: int, status: IntegrationStatus
    ) -> None: ...

    async def set_webhook_secret(
        self, tenant_id: int, integration_id: int, secret: str, *, previous_expires_at: datetime
    ) -> None:
        """Make `secret` current; the old one is accepted until `previous_expires_at`."""
        ...

    async def account_holders(
        self, platform: str, account_id: object
    ) -> builtins.list[tuple[int, int]]:
        """(tenant id, integration id) of every integration of that account, any status."""
        ...

    async def set_settings(
        self, tenant_id: int, integration_id: int, settings: Mapping[str, Any]
    ) -> None:
        """Replace the integration's settings (NotFoundError for another tenant's)."""
        ...

    async def delete(self, tenant_id: int, integration_id: int) -> None: ...


class ContactRepository(Protocol):
    async def upsert(self, tenant_id: int, integration_id: int, sender: Sender) -> Contact: ...

    async def get(self, tenant_id: int, contact_id: int) -> Contact: ...

    async def phone(self, tenant_id: int, contact_id: int) -> str | None:
        """The phone number the contact proved (digits only), or None."""
        ...

    async def set_phone(self, tenant_id: int, contact_id: int, phone: str) -> None: ...


class ConversationRepository(Protocol):
    async def upsert(
        self, tenant_id: int, integration_id: int, contact_id: int, chat_id: str, at: datetime
    ) -> Conversation: ...

    async def upsert_with_contact(
        self, tenant_id: int, integration_id: int, sender: Sender, chat_id: str, at: datetime
    ) -> tuple[Contact, Conversation]:
        """`ContactRepository.upsert` of the sender, then `upsert` of the chat with that
        contact, in one round trip where the database allows."""
        ...

    async def get(self, tenant_id: int, conversation_id: int) -> Conversation: ...

    async def list(
        self,
        tenant_id: int,
        *,
        integration_id: int | None = None,
        status: ConversationStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Conversation]: ...

    async def set_status(
        self, tenant_id: int, conversation_id: int, status: ConversationStatus
    ) -> None: ...


class MessageRepository(Protocol):
    async def add(
        self,
        tenant_id: int,
        conversation_id: int,
        *,
        direction: MessageDirection,
        author: MessageAuthor,
        text: str,
        status: DeliveryStatus,
        inbound_event_id: int | None = None,
        platform_message_id: str | None = None,
        attachments: tuple[Attachment, ...] = (),
    ) -> StoredMessage:
        """Append a message; with `inbound_event_id`, a second add returns the first row."""
        ...

    async def add_inbound_with_history(
        self,
        tenant_id: int,
        conversation_id: int,
        *,
        text: str,
        inbound_event_id: int,
        platform_message_id: str | None = None,
        attachments: tuple[Attachment, ...] = (),
        limit: int,
    ) -> tuple[StoredMessage, builtins.list[StoredMessage]]:
        """A customer's message stored once per event; it, and the last `limit` messages with
        it, oldest first (one round trip where the database allows)."""
        ...

    async def apply_delivery_states(
        self, tenant_id: int, integration_id: int, changes: Sequence[DeliveryChange]
    ) -> builtins.list[DeliveryChange]:
        """Messages of the integration, by the platform's id, moved forward to the reported
        states; the changes whose message is not stored come back."""
        ...

    async def history(
        self, tenant_id: int, conversation_id: int, limit: int
    ) -> list[StoredMessage]:
        """The last `limit` messages, oldest first."""
        ...

    async def list(
        self, tenant_id: int, conversation_id: int, *, limit: int = 100, after_id: int = 0
    ) -> list[StoredMessage]: ...

    async def set_delivery(
        self,
        tenant_id: int,
        message_id: int,
        *,
        status: DeliveryStatus,
        platform_message_id: str | None = None,
        error: str | None = None,
        sent_at: datetime | None = None,
    ) -> None: ...


class InboundEventRepository(Protocol):
    async def add_many(
        self,
        tenant_id: int,
        integration_id: int,
        platform: str,
        events: Sequence[tuple[str, str, InboundMessage]],
        raw: dict[str, Any],
        *,
        failure: str | None = None,
    ) -> list[int]:
        """Store (event_id, conversation_key, message) rows; ids of the rows that were new.

        A row whose (integration, event_id) exists already is skipped, not an error. With a
        `failure`, the rows are stored `failed` with that reason (content the hub cannot use).
        """
        ...

    async def add_deliveries(self, deliveries: Sequence[NewInboundEvents]) -> list[list[int]]:
        """`add_many` for several deliveries at once, in one statement; the new ids of each.

        An event id repeated across them is new for the first that carries it. Raises
        NotFoundError if one's integration is gone (then nothing is stored).
        """
        ...

    async def get(self, event_id: int) -> InboundEvent | None: ...

    async def pending_for_key(
        self, integration_id: int, conversation_key: str
    ) -> list[InboundEvent]:
        """Pending events of one conversation in arrival order."""
        ...

    async def pending_in_chat_of(self, event_id: int) -> ChatBacklog | None:
        """Pending events of `event_id`'s conversation in arrival order, and their tenant, in
        one statement; None when none is pending."""
        ...

    async def mark(self, event_id: int, status: EventStatus, *, error: str | None = None) -> bool:
        """Record an attempt's outcome on a pending event; False if it was not pending."""
        ...

    async def retry_later(self, event_id: int, error: str, next_attempt_at: datetime) -> bool:
        """A transient failure: count the attempt, keep it pending until `next_attempt_at`."""
        ...

    async def stuck(
        self, received_before: datetime, limit: int, *, now: datetime | None = None
    ) -> builtins.list[int]:
        """Pending events whose retry is due, or never tried and received before the deadline."""
        ...

    async def list(
        self,
        tenant_id: int,
        *,
        status: EventStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[InboundEvent]:
        """The tenant's events, newest first."""
        ...

    async def replay(self, tenant_id: int, event_id: int) -> InboundEvent:
        """Make a failed event pending again (NotFoundError, InvalidRequestError)."""
        ...


class OutboxRepository(Protocol):
    async def add(
        self,
        tenant_id: int,
        integration_id: int,
        kind: OutboxKind,
        payload: OutboxPayload,
        *,
        conversation_id: int | None = None,
        message_id: int | None = None,
        lease_until: datetime | None = None,
        lease_if_first: bool = False,
    ) -> OutboxItem:
        """A pending row; claimed until `lease_until` when given (with `lease_if_first`:
        only if its conversation has nothing older unsent — the row's lease tells)."""
        ...

    async def add_reply(
        self,
        event: InboundEvent,
        conversation_id: int,
        reply: ChatReply,
        *,
        lease_until: datetime | None,
    ) -> OutboxItem | None:
        """A reply to `event`, if it is still pending: the event marked done (its attempt
        counted), the reply's AI usage recorded, its text appended to the conversation as a
        pending outbound message and queued here; claimed until `lease_until` when given,
        only if the conversation has nothing older unsent (the row's lease tells). None,
        with nothing written, when the event was no longer pending. One statement on
        PostgreSQL."""
        ...

    async def get(self, outbox_id: int) -> OutboxItem | None: ...

    async def unsent_for_conversation(self, conversation_id: int) -> builtins.list[OutboxItem]:
        """Pending and failed rows of one conversation, oldest first (its send queue)."""
        ...

    async def claim(
        self, outbox_id: int, now: datetime, lease_until: datetime
    ) -> OutboxItem | None:
        """Take the row for sending if it is due and nobody holds it; None otherwise."""
        ...

    async def mark_sent(
        self,
        outbox_id: int,
        now: datetime,
        *,
        message: tuple[int, int] | None = None,
        platform_message_id: str | None = None,
    ) -> None:
        """Sent; with `message` (tenant id, message id), that message too, atomically in
        one statement where the database can (see `UnitOfWorkFactory.single_write`)."""
        ...

    async def mark_failed(
        self,
        outbox_id: int,
        error: str,
        *,
        next_attempt_at: datetime,
        dead: bool,
        lease_until: datetime | None = None,
    ) -> bool:
        """Release the row (only while `lease_until` still holds it, when given)."""
        ...

    async def mark_unconfirmed(self, outbox_id: int, reason: str) -> None:
        """The outcome of an attempt is unknown: kept for a person to review and replay."""
        ...

    async def due(
        self, now: datetime, limit: int, *, fresh_before: datetime | None = None
    ) -> builtins.list[int]:
        """Rows to hand out: lapsed lease, failed and due, or pending since `fresh_before`."""
        ...

    async def list(
        self, tenant_id: int, *, status: DeliveryStatus | None = None, limit: int = 100
    ) -> list[OutboxItem]: ...

    async def replay(self, tenant_id: int, outbox_id: int, now: datetime) -> None:
        """Send a dead or unconfirmed row again."""
        ...

    async def requeue_window_closed(
        self,
        tenant_id: int,
        integration_id: int,
        platform_message_ids: Sequence[str],
        reason: str,
        now: datetime,
    ) -> builtins.list[tuple[int, str]]:
        """Sent messages of the integration the platform then reported undelivered for a
        closed customer-service window, queued again to go out as a template: (outbox id,
        platform message id) of each. A row that was a template already, or was queued so
        before, is left alone (it is not sent a third time)."""
        ...

    async def history(
        self, tenant_id: int, outbox_id: int
    ) -> tuple[OutboxItem, builtins.list[DeliveryAttempt]]:
        """The tenant's row and its recorded attempts, oldest first."""
        ...


class OrderRepository(Protocol):
    async def upsert_many(self, tenant_id: int, orders: Sequence[Order]) -> int: ...

    async def find_by_numbers(self, tenant_id: int, numbers: Sequence[str]) -> list[Order]: ...


class AiUsageRepository(Protocol):
    async def record(
        self,
        tenant_id: int,
        conversation_id: int | None,
        provider: str,
        model: str,
        usage: TokenUsage,
    ) -> None: ...

    async def totals(self, tenant_id: int) -> dict[str, int]:
        """prompt_tokens, completion_tokens, total_tokens, requests."""
        ...


class AiCostRepository(Protocol):
    """What a tenant's AI replies cost, and the monthly budgets that bound it."""

    async def budgets(self, tenant_id: int) -> dict[str, Decimal]:
        """Monthly limit per currency; empty when the tenant set none."""
        ...

    async def set_budget(self, tenant_id: int, currency: str, limit: Decimal | None) -> None:
        """Set a currency's monthly limit; None removes it."""
        ...

    async def spent(self, tenant_id: int, since: datetime) -> dict[str, Decimal]:
        """Estimated cost per currency of the replies since `since`."""
        ...

    async def breakdown(self, tenant_id: int, since: datetime) -> builtins.list[AiCostLine]:
        """Requests, tokens and cost since `since`, per provider, model and currency."""
        ...


class HandoverRepository(Protocol):
    """Handover rules, conversations in a person's hands and the operators' event feed."""

    async def rules(self, tenant_id: int) -> HandoverRules: ...

    async def set_rules(self, tenant_id: int, rules: HandoverRules) -> None: ...

    async def webhook_secret(self, tenant_id: int) -> str | None: ...

    async def set_webhook_secret(self, tenant_id: int, secret: str) -> None: ...

    async def hand_over(
        self, tenant_id: int, conversation_id: int, reason: str, at: datetime
    ) -> None: ...

    async def summaries(
        self,
        tenant_id: int,
        *,
        status: ConversationStatus | None = ConversationStatus.HANDOVER,
        conversation_id: int | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> builtins.list[ConversationSummary]: ...

    async def orders_for_phone(
        self, tenant_id: int, phone: str | None, limit: int = 20
    ) -> builtins.list[Order]: ...

    async def add_event(
        self,
        tenant_id: int,
        conversation_id: int | None,
        type_: OperatorEventType,
        data: dict[str, Any],
        *,
        deliver: bool,
    ) -> OperatorEvent: ...

    async def events(
        self, tenant_id: int, *, after_id: int = 0, limit: int = 100
    ) -> builtins.list[OperatorEvent]: ...

    async def claim_due(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> builtins.list[OperatorEvent]: ...

    async def delivered(self, event_ids: Sequence[int], now: datetime) -> None: ...

    async def delivery_failed(
        self, event_id: int, error: str, *, next_attempt_at: datetime, dead: bool
    ) -> None: ...


class NotificationRepository(Protocol):
    """A tenant's notification templates, the contacts to notify, and bulk staging."""

    async def templates(
        self, tenant_id: int, event: str | None = None
    ) -> builtins.list[NotificationTemplate]: ...

    async def save(self, tenant_id: int, template: NotificationTemplate) -> None: ...

    async def delete(self, tenant_id: int, event: str, language: str) -> None: ...

    async def targets(
        self, tenant_id: int, contact_ids: Sequence[int]
    ) -> builtins.list[NotificationTarget]:
        """The tenant's contacts among `contact_ids` that have a chat, with the latest one."""
        ...

    async def stage(
        self, tenant_id: int, notifications: Sequence[StagedNotification]
    ) -> builtins.list[int]:
        """Message and outbox rows for each, in bulk; the outbox ids in the order given."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every repository. Leaving the block without commit() rolls back."""

    tenants: TenantRepository
    api_keys: ApiKeyRepository
    integrations: IntegrationRepository
    contacts: ContactRepository
    conversations: ConversationRepository
    messages: MessageRepository
    inbound: InboundEventRepository
    outbox: OutboxRepository
    orders: OrderRepository
    ai_usage: AiUsageRepository
    ai_costs: AiCostRepository
    handover: HandoverRepository
    products: ProductRepository
    sync: SyncRepository
    notifications: NotificationRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...

    def single_write(self) -> UnitOfWork:
        """A unit for one repository write that the database does in one statement
        (PostgreSQL: data-modifying CTEs), then in autocommit with no BEGIN/COMMIT round
        trips; where it takes several statements (SQLite), an ordinary transaction."""
        ...

    def autocommit(self, *, urgent: bool = False) -> UnitOfWork:
        """A unit in which every statement commits on its own: no BEGIN/COMMIT round trips.

        For work that is one statement (intake's insert); `commit()` has nothing to do.
        `urgent`: where writers queue (SQLite), ahead of the units that are not: for a
        caller that holds a platform's answer until it is done.
        """
        ...


class IntegrationCache(Protocol):
    """Integrations as webhook intake needs them, kept in process (state/integration_cache)."""

    def get(self, platform: str, integration_id: int) -> Integration | None: ...

    def find(self, platform: str, secret: str) -> Integration | None:
        """By a webhook secret it accepts; the caller still verifies in constant time."""
        ...

    def put(self, integration: Integration) -> None: ...

    def chat_models(self, tenant_id: int) -> tuple[Integration, ...] | None:
        """The tenant's chat-model integrations, None when not cached."""
        ...

    def put_chat_models(self, tenant_id: int, integrations: tuple[Integration, ...]) -> None: ...

    async def invalidate(self, integration_id: int) -> None:
        """Forget it here and, where processes share state, in every process (and every
        tenant's chat-model integrations: an added one is known by its id alone)."""
        ...


# --------------------------------------------------------------------------- jobs and shared state


class TaskQueue(Protocol):
    """Enqueues work by id; the database row is the truth, the task only a nudge."""

    async def process_inbound(self, event_id: int) -> None: ...

    async def send_outbox(self, outbox_id: int) -> None: ...


class Cooldowns(Protocol):
    """Which providers are cooling down, shared by every worker (in-process or Redis)."""

    async def cooling(self, keys: Sequence[str]) -> set[str]: ...

    async def cool(self, key: str, seconds: float) -> None:
        """Cool `key` down for at least `seconds` from now."""
        ...

    async def failed(self, key: str, *, threshold: int, window: float, seconds: float) -> bool:
        """Count a failure; the `threshold`-th within `window` cools it down. True if it did."""
        ...

    async def succeeded(self, key: str) -> None: ...


@dataclass(slots=True)
class Turn:
    """A try at a lock that never waits (`Locks.turn`)."""

    mine: bool  # False: another worker holds it, and was told to look again before leaving
    again: bool = False  # set when the block ends: another worker came by meanwhile


class Locks(Protocol):
    """Named mutual exclusion shared by every worker (in-process or Redis)."""

    def hold(self, key: str, ttl_seconds: float) -> AbstractAsyncContextManager[None]:
        """Held inside the block; waits up to `ttl_seconds` for it (TimeoutError after)."""
        ...

    def turn(self, key: str, ttl_seconds: float) -> AbstractAsyncContextManager[Turn]:
        """The lock if it is free, without waiting. If it is held, its holder is told
        (its `Turn.again` will be True), so the caller can leave the work to it: nobody
        queues on a busy lock, and nothing is left behind. Held for at most `ttl_seconds`
        past a crash of the holder (then the word left for it lapses too)."""
        ...


# --------------------------------------------------------------------------- marketplaces and sync


class Marketplace(Protocol):
    """A marketplace account: the seed's adapter methods plus the streams the sync reads."""

    platform: str

    def streams(self) -> tuple[SyncStream, ...]: ...

    async def check(self) -> None:
        """Prove the credentials with one cheap call; the platform's typed error if not."""
        ...

    async def read_page(
        self, stream: str, window: SyncWindow, cursor: dict[str, Any] | None
    ) -> Page:
        """One page of `stream` inside `window`, after `cursor` (None: the first page)."""
        ...

    async def get_orders(self, filters: OrderFilters, limit: int = 100) -> builtins.list[Order]: ...

    async def get_order_details(self, order_id: str) -> Order: ...

    async def get_products(self, filters: ProductFilters) -> builtins.list[Product]: ...

    async def update_product_stock(self, product_id: str, quantity: int) -> StockReport: ...

    async def update_stocks(self, changes: Sequence[StockChange]) -> StockReport:
        """Many changes, batched as the platform allows; per-item failures in the report."""
        ...

    async def get_analytics(self, date_from: datetime, date_to: datetime) -> SalesReport: ...


class MarketplaceAdapters(Protocol):
    def offers(self, platform: str, capability: Capability) -> bool: ...

    def marketplace(self, integration: Integration) -> Marketplace: ...


class ProductRepository(Protocol):
    async def upsert_many(
        self, tenant_id: int, integration_id: int, products: Sequence[Product], run_id: int
    ) -> int: ...

    async def mark_unseen_deleted(self, tenant_id: int, integration_id: int, run_id: int) -> int:
        """Products a complete read (`run_id`) did not return: marked deleted, kept."""
        ...

    async def list(
        self, tenant_id: int, integration_id: int, *, limit: int = 100
    ) -> builtins.list[Product]: ...

    async def search(
        self, tenant_id: int, words: Sequence[str], *, limit: int = 5
    ) -> builtins.list[Product]:
        """Listed products whose name or article holds one of `words` (any case)."""
        ...


class StockLevelRepository(Protocol):
    async def upsert_many(
        self, tenant_id: int, integration_id: int, levels: Sequence[StockLevel], run_id: int
    ) -> int: ...

    async def drop_unseen(self, tenant_id: int, integration_id: int, run_id: int) -> int:
        """Levels a complete read (`run_id`) did not return: removed."""
        ...

    async def list(
        self, tenant_id: int, integration_id: int, *, limit: int = 1000
    ) -> builtins.list[StockLevel]: ...


class SyncRepository(Protocol):
    async def start_run(
        self,
        tenant_id: int,
        integration_id: int,
        stream: str,
        sync_type: SyncType,
        window: SyncWindow,
        *,
        slot: str | None = None,
        page_cursor: dict[str, Any] | None = None,
    ) -> SyncRun | None:
        """A new running run, or None when one runs already (or `slot` was taken).

        With `page_cursor`, the run resumes a failed one from its last committed page.
        """
        ...

    async def get_run(self, run_id: int) -> SyncRun | None: ...

    async def claim(
        self,
        run_id: int,
        owner: str,
        lease_until: datetime,
        now: datetime,
        ticket: int | None = None,
    ) -> bool:
        """Take the run's lease if it is running and nobody holds a live lease; with `ticket`,
        only if the run has had exactly that many steps (a repeated task is a no-op)."""
        ...

    async def save_page(
        self,
        run_id: int,
        owner: str,
        page_cursor: dict[str, Any] | None,
        records: int,
        failures: Sequence[RecordFailure],
        high_water: datetime | None,
        lease_until: datetime,
        pages: int = 1,
    ) -> bool:
        """Advance the run by `pages` committed pages; False if `owner` lost the lease."""
        ...

    async def release(self, run_id: int, owner: str) -> None: ...

    async def finish(
        self, run_id: int, status: RunStatus, at: datetime, error: str | None = None
    ) -> SyncRun | None:
        """End a running run; with success the stream's watermark moves to the run's end."""
        ...

    async def count_attempt(self, run_id: int) -> int: ...

    async def watermark(self, integration_id: int, stream: str) -> datetime | None: ...

    async def reset(self, tenant_id: int, integration_id: int, stream: str) -> None:
        """Forget the watermark: the next run reads the stream's whole window again."""
        ...

    async def last_runs(
        self, tenant_id: int | None, integration_id: int | None = None
    ) -> builtins.list[SyncRun]:
        """The latest run of every (integration, stream), optionally of one integration."""
        ...

    async def last_started(
        self, integration_ids: Sequence[int]
    ) -> dict[tuple[int, str], datetime]: ...

    async def stalled(self, now: datetime) -> builtins.list[int]:
        """Running runs whose lease lapsed or was never taken: their worker is gone."""
        ...

    async def failures(self, run_id: int, limit: int = 100) -> builtins.list[RecordFailure]: ...

    async def recipients(self, tenant_id: int, phones: Sequence[str]) -> builtins.list[Recipient]:
        """Contacts whose proved phone is one of `phones`, each with its latest conversation."""
        ...

    async def upsert_orders(
        self, tenant_id: int, orders: Sequence[Order]
    ) -> builtins.list[tuple[str, str, Any]]:
        """The orders upserted; (source, external id, status before or None) of every row
        written (a stale version is not written)."""
        ...


@dataclass(frozen=True, slots=True)
class Recipient:
    """A contact who proved a phone number, and where to write to them."""

    integration_id: int
    contact_id: int
    conversation_id: int
    chat_id: str
    phone: str
    language: str | None


class SyncQueue(Protocol):
    async def sync_step(self, run_id: int, ticket: int | None = None) -> None:
        """Enqueue the next step of a run; `ticket`: the steps it has had (None: any)."""
        ...


class OrderEvents(Protocol):
    """Where the sync hands order status changes (notifications, analytics)."""

    async def publish(self, events: Sequence[OrderStatusChanged]) -> None: ...


class SyncUnitOfWork(UnitOfWork, Protocol):
    sync: SyncRepository
    products: ProductRepository
    stocks: StockLevelRepository


class SyncUnitOfWorkFactory(Protocol):
    def __call__(self) -> SyncUnitOfWork: ...
