"""Who may hear about which order: the privacy rule every reply is grounded under.

An order's status, items and tracking number go only to the contact linked to it, that is, a
contact whose proven phone number is the one on the order. A phone number is proven when the
messenger vouches for it (Telegram: the customer shared their own contact) or when the
customer, asked about an order, types the phone number that is on that order.

Everything else about an order is *locked*, and a locked order looks the same whether it is
someone else's or does not exist: the customer is asked for the phone number on the order,
and after a check hears only that no such order was found with that number. So a stranger
learns nothing, not even that an order number exists. Guessing is bounded: the third
distinct wrong phone number in a conversation hands it to a person.

The functions here are pure; `ReplyService` reads the rows and stores what they decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from easyflow.domain.ai import PhoneCheck
from easyflow.domain.commerce import Order, extract_order_numbers
from easyflow.domain.messaging import MessageDirection, StoredMessage
from easyflow.domain.phones import digits, extract_phone, national, same_phone

WRONG_PHONES_BEFORE_HANDOVER = 3
GUESS_WINDOW = 50  # messages of the conversation searched for earlier wrong numbers


@dataclass(frozen=True, slots=True)
class Question:
    """What the customer's last message asks about and offers as proof."""

    numbers: tuple[str, ...]  # the order numbers in question
    phone: str | None = None  # digits
    vouched: bool = False  # the messenger vouches the phone number is the sender's


@dataclass(frozen=True, slots=True)
class Access:
    visible: tuple[Order, ...]  # what the customer may hear about
    check: PhoneCheck
    proven: str | None = None  # a phone number newly proven by this message: store it


def _inbound(history: Sequence[StoredMessage]) -> list[str]:
    return [m.text for m in history if m.direction is MessageDirection.INBOUND]


def read_question(history: Sequence[StoredMessage], shared_phone: str | None) -> Question:
    """The question the last inbound message asks, completed from the one before.

    A phone number alone answers the latest earlier order question ("Where is 1001?" … "Please
    send the phone number" … "+7 900 …"); an order number alone is checked against a phone
    number the customer sent just before it.
    """
    texts = _inbound(history)
    last, earlier = (texts[-1], texts[:-1]) if texts else ("", [])
    numbers = extract_order_numbers(last)
    phone = digits(shared_phone) if shared_phone else extract_phone(last)
    if phone and not numbers:
        numbers = next(
            (found for t in reversed(earlier) if (found := extract_order_numbers(t))), ()
        )
    elif numbers and not phone and earlier and not extract_order_numbers(earlier[-1]):
        phone = extract_phone(earlier[-1])
    return Question(numbers, phone or None, vouched=bool(shared_phone) and bool(phone))


def _owned(order: Order, phones: Sequence[str | None]) -> bool:
    return any(same_phone(order.customer_phone, phone) for phone in phones if phone)


def decide(question: Question, orders: Sequence[Order], stored_phone: str | None) -> Access:
    """Which of `orders` (the asked numbers' rows) the customer may see, and what their
    phone number (if they sent one) proved."""
    phone, check, proven = question.phone, PhoneCheck.NONE, None
    if phone and question.vouched:
        check, proven = PhoneCheck.CONFIRMED, phone
    elif phone and not question.numbers:
        check = PhoneCheck.NO_ORDER
    elif phone and same_phone(phone, stored_phone):
        pass  # proven before: nothing new to confirm (e.g. sent just before the order number)
    elif phone and any(_owned(o, [phone]) for o in orders):
        check, proven = PhoneCheck.CONFIRMED, phone
    elif phone:
        check = PhoneCheck.MISMATCH
    visible = tuple(o for o in orders if _owned(o, [stored_phone, proven]))
    return Access(visible, check, proven if proven != stored_phone else None)


def wrong_phones(history: Sequence[StoredMessage], proven: str | None) -> int:
    """Distinct phone numbers typed in `history` that are not the contact's proven one."""
    typed = {national(p) for text in _inbound(history) if (p := extract_phone(text))}
    return len({p for p in typed if not (proven and same_phone(p, proven))})


def bound_guessing(access: Access, window: Sequence[StoredMessage], proven: str | None) -> Access:
    """A mismatch becomes a lock-out (a person takes over) at the third distinct wrong number."""
    if access.check is not PhoneCheck.MISMATCH:
        return access
    if wrong_phones(window, proven) < WRONG_PHONES_BEFORE_HANDOVER:
        return access
    return Access(access.visible, PhoneCheck.LOCKED_OUT)
