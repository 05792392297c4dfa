"""Request and response bodies of the admin API. Credentials go in, never come out."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    field_validator,
    model_validator,
)

from easyflow.domain.messaging import ConversationStatus


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# Request bodies are parsed by the standard json module, which accepts NaN, Infinity and
# 1e309 (as inf) and nests as deep as its recursion limit; neither database stores those,
# and recursive code after it would overflow. Checked iteratively, before field validation.
MAX_BODY_DEPTH = 32
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# NUL, and surrogates left unpaired by a `\\ud800` escape: no UTF-8 encoder takes them.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _check_json(value: Any, max_depth: int = MAX_BODY_DEPTH) -> None:
    """ValueError with the reason if `value` holds NUL, a non-finite number, or nests deeper."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if _UNSTORABLE.search(node):
                raise ValueError("text must not contain NUL (U+0000) or unpaired surrogates")
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise ValueError("numbers must be finite (no NaN, Infinity or overflow)")
        elif isinstance(node, dict | list | tuple):
            if depth >= max_depth:
                raise ValueError(f"nested deeper than {max_depth} levels")
            items = [*node.keys(), *node.values()] if isinstance(node, dict) else list(node)
            stack.extend((item, depth + 1) for item in items)


class In(BaseModel):
    """A request body: no NUL (PostgreSQL text and JSONB cannot hold it), finite numbers,
    bounded nesting."""

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        _check_json(data)
        return data


Name = Annotated[str, StringConstraints(max_length=255)]
Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100)]


# Settings are a handful of options per integration, not documents.
MAX_SETTINGS_DEPTH = 8
MAX_SETTINGS_BYTES = 16 * 1024
CredentialName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
CredentialValue = Annotated[str, StringConstraints(max_length=4096)]


class IntegrationIn(In):
    platform: str = Field(max_length=64, examples=["telegram"])
    name: Name = ""
    credentials: dict[CredentialName, CredentialValue] = Field(
        max_length=20, examples=[{"token": "123456:ABC..."}]
    )
    settings: dict[str, Any] = Field(default_factory=dict)

    @field_validator("credentials")
    @classmethod
    def _printable(cls, credentials: dict[str, str]) -> dict[str, str]:
        # Credentials end up in URLs and headers: a control character there is never valid
        # and, in a header, is an injection.
        for name, value in credentials.items():
            if _CONTROL.search(name) or _CONTROL.search(value):
                raise ValueError(f"credential {name!r} contains control characters")
        return credentials

    @field_validator("settings")
    @classmethod
    def _bounded(cls, settings: dict[str, Any]) -> dict[str, Any]:
        _check_json(settings, MAX_SETTINGS_DEPTH)
        if len(json.dumps(settings, ensure_ascii=False).encode()) > MAX_SETTINGS_BYTES:
            raise ValueError(f"settings are larger than {MAX_SETTINGS_BYTES} bytes")
        return settings


class IntegrationSettingsIn(RootModel[dict[str, Any]]):
    """`PATCH /integrations/{id}/settings`: the settings to set; null removes one."""

    @field_validator("root")
    @classmethod
    def _bounded(cls, settings: dict[str, Any]) -> dict[str, Any]:
        _check_json(settings, MAX_SETTINGS_DEPTH)
        if len(json.dumps(settings, ensure_ascii=False).encode()) > MAX_SETTINGS_BYTES:
            raise ValueError(f"settings are larger than {MAX_SETTINGS_BYTES} bytes")
        if any(not key.strip() or len(key) > 64 for key in settings):
            raise ValueError("setting names have 1 to 64 characters")
        return settings


class IntegrationOut(Out):
    id: int
    platform: str
    kind: str
    name: str
    status: str
    settings: dict[str, Any]
    created_at: datetime


class ConversationOut(Out):
    id: int
    integration_id: int
    contact_id: int
    chat_id: str
    status: ConversationStatus
    last_message_at: datetime | None
    created_at: datetime | None


class ConversationStatusIn(In):
    status: ConversationStatus


class MessageOut(Out):
    id: int
    conversation_id: int
    direction: str
    author: str
    text: str
    status: str
    platform_message_id: str | None
    error: str | None
    sent_at: datetime | None
    created_at: datetime


class OutboxOut(Out):
    id: int
    integration_id: int
    conversation_id: int | None
    message_id: int | None
    kind: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime


class FaqIn(In):
    topic: Name
    keywords: list[Keyword] = Field(min_length=1, max_length=50)
    answer: str = Field(min_length=1, max_length=4000)


class AiProfileIn(In):
    system_prompt: str = Field(min_length=1, max_length=8000)
    faq: list[FaqIn] = Field(default_factory=list, max_length=200)
    providers: list[str] = Field(default_factory=lambda: ["local"], min_length=1, max_length=5)


class DeliveryAttemptOut(Out):
    attempt: int
    outcome: str  # sent, retry, dead, unconfirmed, replayed
    at: datetime
    error: str | None
    platform_message_id: str | None


class OutboxDeliveryOut(OutboxOut):
    """An outbox row with its delivery history, oldest attempt first."""

    payload: dict[str, Any]
    history: list[DeliveryAttemptOut]
