"""Tenants, their API keys and their integrations (a connected platform account)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from easyflow.domain.ai import AiProfile


class Capability(enum.StrEnum):
    """What a platform offers. A platform declares its capabilities in its SPEC; services ask
    the adapters port for a capability of an integration and get that port back, never
    asking which platform it is."""

    MESSENGER = "messenger"  # ports.Messenger: customers write, the hub answers
    CHAT_MODEL = "chat_model"  # ports.ChatModel: writes the assistant's replies
    MARKETPLACE = "marketplace"  # ports.Marketplace: orders, products, stocks, sales
    CRM = "crm"
    PAYMENTS = "payments"
    ANALYTICS = "analytics"


class IntegrationStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # webhooks answered and dropped, nothing sent, no syncs


@dataclass(frozen=True, slots=True)
class Tenant:
    id: int
    name: str
    ai_profile: AiProfile
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """An API key as listed; the secret itself is shown once at creation and stored hashed."""

    id: int
    tenant_id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Integration:
    """A connected platform account. `credentials` are decrypted and never leave the hub."""

    id: int
    tenant_id: int
    platform: str
    # The capability it was connected for (its platform's first): stored, so lists of one
    # capability are one indexed query.
    kind: Capability
    name: str
    status: IntegrationStatus
    credentials: dict[str, str] = field(repr=False)
    settings: dict[str, Any]
    created_at: datetime
    # Secrets an inbound webhook may carry: the current one first, then the one it replaced
    # (accepted for a short overlap after rotation so queued deliveries are not rejected).
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    # When the previous secret stops being accepted (None: no previous secret accepted).
    previous_secret_expires_at: datetime | None = field(default=None, repr=False, compare=False)

    @property
    def is_active(self) -> bool:
        return self.status is IntegrationStatus.ACTIVE
