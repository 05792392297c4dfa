"""Request and response bodies of the admin API. Credentials go in, never come out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from easyflow.domain.messaging import ConversationStatus


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class In(BaseModel):
    """A request body. NUL characters are refused: PostgreSQL text and JSONB cannot hold them."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("text must not contain NUL (U+0000) characters")
        return data


Name = Annotated[str, StringConstraints(max_length=255)]
Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100)]


class IntegrationIn(In):
    platform: str = Field(max_length=64, examples=["telegram"])
    name: Name = ""
    credentials: dict[str, str] = Field(examples=[{"token": "123456:ABC..."}])
    settings: dict[str, Any] = Field(default_factory=dict)


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
