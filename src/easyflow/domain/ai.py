"""AI models: the request a ChatModel answers, its reply and the tokens it cost."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from easyflow.domain.commerce import Order


class Role(enum.StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


@dataclass(frozen=True, slots=True)
class ChatTurn:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class FaqEntry:
    topic: str  # e.g. "delivery", "returns"
    keywords: tuple[str, ...]
    answer: str


@dataclass(frozen=True, slots=True)
class AiProfile:
    """A tenant's assistant: its persona and the facts it may quote."""

    system_prompt: str = "You are a polite support assistant of an online shop."
    faq: tuple[FaqEntry, ...] = ()
    providers: tuple[str, ...] = ("local",)  # tried in order; local is always the last link


@dataclass(frozen=True, slots=True)
class GroundingFacts:
    """What the hub knows for certain; models must not contradict it."""

    orders: tuple[Order, ...] = ()
    asked_order_numbers: tuple[str, ...] = ()  # numbers in the last message, found or not


@dataclass(frozen=True, slots=True)
class ChatRequest:
    profile: AiProfile
    history: tuple[ChatTurn, ...]  # oldest first, the customer's last message at the end
    facts: GroundingFacts = field(default_factory=GroundingFacts)
    user_ref: str | None = None  # opaque per-tenant id for the provider's abuse tracking


@dataclass(frozen=True, slots=True)
class TokenUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class ChatReply:
    """A model's answer. `text is None` with `handover` set means: a person must answer."""

    text: str | None
    provider: str
    model: str
    usage: TokenUsage = field(default_factory=TokenUsage)
    handover: bool = False
    reason: str = ""
