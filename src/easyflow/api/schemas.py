"""Request and response bodies of the admin API. Credentials go in, never come out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from easyflow.domain.messaging import ConversationStatus


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class IntegrationIn(BaseModel):
    platform: str = Field(examples=["telegram"])
    name: str = ""
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


class ConversationStatusIn(BaseModel):
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


class FaqIn(BaseModel):
    topic: str
    keywords: list[str]
    answer: str


class AiProfileIn(BaseModel):
    system_prompt: str = Field(min_length=1, max_length=8000)
    faq: list[FaqIn] = Field(default_factory=list)
    providers: list[str] = Field(default_factory=lambda: ["local"])
