"""Notification templates: what a customer is told when something happens (an order ships).

A template belongs to an event (`order_shipped`) and a language (`ru`) and holds one variant
per kind of messenger, each with `{placeholders}` filled from the event's data (`{name}` is
the contact's display name unless the data gives one):

- `text`: plain text, for messengers that show plain text (VK, Viber) and the fallback of
  every other one;
- `html`: Telegram's HTML subset; the data is HTML-escaped before it goes in, the
  template's own tags stay;
- `buttons`: a keyboard under the message (rows of buttons; text, callback data and URL
  may hold placeholders; a value in a URL is percent-encoded);
- `whatsapp`: a template approved in the WhatsApp Business Manager, by name and language,
  with the data fields that fill its `{{1}}`, `{{2}}` … in order: the only kind of message
  WhatsApp delivers outside its 24-hour customer-service window.

Rendering fills every variant into one `OutboundMessage`; each platform's adapter sends the
variant it supports. A field the data lacks is an `InvalidRequestError` naming it, raised
before anything is stored. Built-in templates (`DEFAULTS`) serve every tenant that has not
stored its own for that event and language.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from easyflow.domain.errors import InvalidRequestError
from easyflow.domain.messaging import Button, MessageTemplate, OutboundMessage, OutboxPayload

# `{name}`: a letter or underscore, then letters, digits, underscores. Other braces are text.
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}$")
FALLBACK_LANGUAGES = ("en", "ru")  # when a template is missing in the customer's language
DEFAULT_LANGUAGE = "ru"  # a customer whose messenger told no language


@dataclass(frozen=True, slots=True)
class ButtonTemplate:
    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class WhatsAppTemplate:
    """An approved WhatsApp template and the data fields of its body parameters, in order."""

    name: str
    language: str
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NotificationTemplate:
    event: str
    language: str
    text: str
    html: str | None = None
    buttons: tuple[tuple[ButtonTemplate, ...], ...] = ()
    whatsapp: WhatsAppTemplate | None = None
    builtin: bool = False  # one of DEFAULTS, not stored by the tenant

    def variants_to_json(self) -> dict[str, Any]:
        """The variants (text, html, buttons, WhatsApp template) as JSON: how they are stored
        and shown."""
        whatsapp = self.whatsapp
        return {
            "text": self.text,
            "html": self.html,
            "buttons": [
                [{"text": b.text, "callback_data": b.callback_data, "url": b.url} for b in row]
                for row in self.buttons
            ],
            "whatsapp": None
            if whatsapp is None
            else {
                "name": whatsapp.name,
                "language": whatsapp.language,
                "parameters": list(whatsapp.parameters),
            },
        }

    @classmethod
    def from_json(cls, event: str, language: str, data: Mapping[str, Any]) -> NotificationTemplate:
        """The template of `variants_to_json`'s form."""
        whatsapp = data.get("whatsapp")
        return cls(
            event=event,
            language=language,
            text=data["text"],
            html=data.get("html"),
            buttons=tuple(
                tuple(ButtonTemplate(b["text"], b.get("callback_data"), b.get("url")) for b in row)
                for row in data.get("buttons") or ()
            ),
            whatsapp=None
            if whatsapp is None
            else WhatsAppTemplate(
                whatsapp["name"], whatsapp["language"], tuple(whatsapp.get("parameters") or ())
            ),
        )

    def fields(self) -> set[str]:
        """Every data field some variant needs."""
        found = set(PLACEHOLDER.findall(self.text))
        found |= set(PLACEHOLDER.findall(self.html or ""))
        for row in self.buttons:
            for button in row:
                for value in (button.text, button.callback_data, button.url):
                    found |= set(PLACEHOLDER.findall(value or ""))
        if self.whatsapp is not None:
            found |= set(self.whatsapp.parameters)
        return found

    def render(self, chat_id: str, data: Mapping[str, Any]) -> OutboundMessage:
        """The message for `chat_id`, every variant filled; InvalidRequestError if `data`
        lacks a field."""
        missing = self.fields() - set(data)
        if missing:
            raise InvalidRequestError(
                f"template {self.event!r} ({self.language}) needs data for "
                + ", ".join(sorted(missing))
            )
        values = {name: _text(value) for name, value in data.items()}
        whatsapp = self.whatsapp
        return OutboundMessage(
            chat_id=chat_id,
            text=fill(self.text, values),
            buttons=tuple(tuple(_button(b, values) for b in row) for row in self.buttons if row),
            template=None
            if whatsapp is None
            else MessageTemplate(
                whatsapp.name, whatsapp.language, tuple(values[p] for p in whatsapp.parameters)
            ),
            html=None if self.html is None else fill(self.html, values, html.escape),
        )


@dataclass(frozen=True, slots=True)
class NotificationTarget:
    """A contact and where to write to them: their latest conversation."""

    contact_id: int
    integration_id: int
    conversation_id: int
    chat_id: str
    language: str | None
    display_name: str = ""  # the data's `name` unless the data gives one


@dataclass(frozen=True, slots=True)
class StagedNotification:
    """A rendered notification to store: a message row and the outbox row that sends it."""

    integration_id: int
    conversation_id: int
    text: str  # the message row's text (history, operators)
    payload: OutboxPayload  # the outbox row's


def fill(pattern: str, values: Mapping[str, str], escape: Any = None) -> str:
    """`pattern` with each `{name}` replaced by its value (escaped by `escape` if given)."""

    def value(match: re.Match[str]) -> str:
        found = values[match.group(1)]
        return escape(found) if escape else found

    return PLACEHOLDER.sub(value, pattern)


def _text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        raise InvalidRequestError("template data values must be text or numbers")
    if isinstance(value, str | int | float):
        return str(value)
    raise InvalidRequestError("template data values must be text or numbers")


def _button(button: ButtonTemplate, values: Mapping[str, str]) -> Button:
    url = None
    if button.url is not None:
        url = fill(button.url, values, lambda v: quote(v, safe=""))
    callback = None if button.callback_data is None else fill(button.callback_data, values)
    return Button(fill(button.text, values), callback_data=callback, url=url)


def validate(template: NotificationTemplate) -> None:
    """InvalidRequestError with the reason if `template` cannot be stored."""
    if not EVENT_NAME.match(template.event):
        raise InvalidRequestError(
            "event must be lowercase letters, digits and underscores, starting with a letter"
        )
    if not LANGUAGE.match(template.language):
        raise InvalidRequestError("language must be a two- or three-letter code such as 'ru'")
    if not template.text.strip():
        raise InvalidRequestError("text must not be empty")
    if template.html is not None and not template.html.strip():
        raise InvalidRequestError("html must not be empty (leave it out to use the text)")
    for row in template.buttons:
        for button in row:
            if not button.text.strip():
                raise InvalidRequestError("every button needs a text")
            if button.url is not None and not button.url.startswith(("https://", "http://")):
                raise InvalidRequestError("a button URL must start with https:// or http://")


def language_of(language: str | None) -> str:
    """The primary subtag of a messenger's language tag (`en-US` -> `en`)."""
    if not language:
        return DEFAULT_LANGUAGE
    return re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0] or DEFAULT_LANGUAGE


def choose(
    templates: Iterable[NotificationTemplate], event: str, language: str | None
) -> NotificationTemplate | None:
    """The template for a customer: theirs, else English, else Russian; the tenant's own
    before the built-in one of the same language."""
    by_key: dict[tuple[str, bool], NotificationTemplate] = {}
    for t in (*templates, *DEFAULTS):
        if t.event == event:
            by_key.setdefault((t.language, t.builtin), t)
    for wanted in (language_of(language), *FALLBACK_LANGUAGES):
        for builtin in (False, True):
            if (wanted, builtin) in by_key:
                return by_key[(wanted, builtin)]
    return None


def events_of(templates: Sequence[NotificationTemplate]) -> set[str]:
    return {t.event for t in (*templates, *DEFAULTS)}


DEFAULTS: tuple[NotificationTemplate, ...] = (
    NotificationTemplate(
        "order_shipped",
        "ru",
        "Ваш заказ №{number} отправлен.",
        html="Ваш заказ <b>№{number}</b> отправлен.",
        buttons=((ButtonTemplate("Где мой заказ?", callback_data="order {number}"),),),
        whatsapp=WhatsAppTemplate("order_shipped", "ru", ("name", "number")),
        builtin=True,
    ),
    NotificationTemplate(
        "order_shipped",
        "en",
        "Your order #{number} has shipped.",
        html="Your order <b>#{number}</b> has shipped.",
        buttons=((ButtonTemplate("Where is my order?", callback_data="order {number}"),),),
        whatsapp=WhatsAppTemplate("order_shipped", "en", ("name", "number")),
        builtin=True,
    ),
    NotificationTemplate(
        "payment_received",
        "ru",
        "Оплата заказа №{number} получена: {amount}. Спасибо!",
        html="Оплата заказа <b>№{number}</b> получена: {amount}. Спасибо!",
        whatsapp=WhatsAppTemplate("payment_received", "ru", ("number", "amount")),
        builtin=True,
    ),
    NotificationTemplate(
        "payment_received",
        "en",
        "Payment for order #{number} received: {amount}. Thank you!",
        html="Payment for order <b>#{number}</b> received: {amount}. Thank you!",
        whatsapp=WhatsAppTemplate("payment_received", "en", ("number", "amount")),
        builtin=True,
    ),
)
