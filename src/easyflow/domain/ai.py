"""AI models: the request a ChatModel answers, its reply and the tokens it cost."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal

from easyflow.domain.commerce import Order, Product


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


class PhoneCheck(enum.StrEnum):
    """What became of a phone number in the customer's last message (see GroundingFacts)."""

    NONE = "none"  # no phone number in it
    CONFIRMED = "confirmed"  # proven: shared by the messenger, or it matches an asked order
    MISMATCH = "mismatch"  # typed, and on none of the orders asked about
    NO_ORDER = "no_order"  # typed with no order question to check it against
    LOCKED_OUT = "locked_out"  # too many wrong numbers: a person takes over


@dataclass(frozen=True, slots=True)
class GroundingFacts:
    """What the hub knows for certain and this customer may hear; models must not contradict it.

    `orders` holds only orders linked to the customer (their proven phone number is on the
    order). An asked number without an order here is *locked*: it may be someone else's order
    or no order at all, and the customer must not learn which — nothing is said about it but
    a request to confirm the phone number on the order (or, once checked, that no such order
    was found with their phone number).
    """

    orders: tuple[Order, ...] = ()
    asked_order_numbers: tuple[str, ...] = ()  # the order question being answered
    phone_check: PhoneCheck = PhoneCheck.NONE
    linked: bool = False  # the customer has a proven phone number
    # A group chat: whatever is said is read by everyone in it, so no order is discussed.
    shared_chat: bool = False
    # The shop's catalogue entries the customer's words name (public: anyone may hear them).
    products: tuple[Product, ...] = ()

    @property
    def locked_order_numbers(self) -> tuple[str, ...]:
        visible = {o.number for o in self.orders}
        return tuple(n for n in self.asked_order_numbers if n not in visible)


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
    # The provider's list price of these tokens (an estimate: the bill is the provider's).
    cost: Decimal = Decimal(0)
    currency: str = ""  # ISO 4217 of `cost`; "" when it cost nothing (the local responder)

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


@dataclass(frozen=True, slots=True)
class AiCostLine:
    """Replies of one provider and model in one currency over a period, and their cost."""

    provider: str
    model: str
    currency: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal
