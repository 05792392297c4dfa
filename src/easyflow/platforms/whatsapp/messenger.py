"""The Messenger port on the WhatsApp Cloud API: `POST /{version}/{phone_number_id}/messages`.

Shapes: text (≤ 4096 characters, split beyond), interactive reply buttons (≤ 3, title ≤ 20,
body ≤ 1024), an interactive list when there are more choices (≤ 10 rows, title ≤ 24), and
templates (the only type delivered outside the 24-hour window). A 200 means "accepted" only:
delivery, and failures such as 131047, arrive later as status webhooks.

Outside the customer-service window (window.py) a free-form message goes out as the
integration's fallback template, or is refused with the reason; a 131047 answered at once is
handled the same way, and so is one reported later in a `failed` status: the hub queues the
message again with `window_closed` set, and it goes out as the template (once).

The webhook is registered by the seller in the Meta app dashboard, not through the API, so
`set_webhook` has nothing to call; the hub shows the URL and verify token to paste instead.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from easyflow.domain.errors import RejectedError
from easyflow.domain.messaging import (
    BotIdentity,
    Button,
    DeliveryResult,
    MessageTemplate,
    OutboundMessage,
    WebhookInfo,
    WebhookRegistration,
    WebhookSetup,
)
from easyflow.http import PlatformClient
from easyflow.platforms.fields import split_text
from easyflow.platforms.whatsapp import window
from easyflow.platforms.whatsapp.spec import GRAPH_VERSION, SPEC, ServiceWindowClosedError

MAX_TEXT = 4096
MAX_BODY = 1024  # interactive body
MAX_REPLY_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_LIST_ROWS = 10
MAX_ROW_TITLE = 24
MAX_BUTTON_ID = 256


class WhatsAppMessenger:
    """The Messenger port for one business phone number."""

    def __init__(
        self,
        client: PlatformClient,
        phone_number_id: str,
        version: str,
        fallback: MessageTemplate | None = None,
    ) -> None:
        self._client = client
        self._phone = phone_number_id
        self._version = version
        self._fallback = fallback  # sent instead of free text outside the 24-hour window

    def _path(self, suffix: str = "") -> str:
        return f"/{self._version}/{self._phone}{suffix}"

    async def identity(self) -> BotIdentity:
        number = await self._client.call(
            "phone_number",
            path=self._path(),
            http_method="GET",
            params={"fields": "display_phone_number,verified_name"},
        )
        return BotIdentity(
            str(number.get("id") or self._phone),
            number.get("display_phone_number"),
            number.get("verified_name") or "",
        )

    async def set_webhook(self, registration: WebhookRegistration) -> WebhookSetup:
        """Registered by the seller in the app dashboard: what to paste there."""
        return WebhookSetup(
            "Meta app dashboard → WhatsApp → Configuration → Webhook",
            (
                ("Callback URL", registration.url),
                ("Verify token", registration.secret),
                ("Webhook fields", "messages"),
            ),
        )

    async def delete_webhook(self) -> None:
        return None

    async def webhook_info(self) -> WebhookInfo:
        return WebhookInfo(url="", pending_update_count=0)

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        if message.template is None and (
            message.window_closed or window.outside(message.customer_wrote_at, datetime.now(UTC))
        ):
            message = self._as_template(message)
        try:
            return await self._send(message)
        except ServiceWindowClosedError:
            if message.template is not None:
                raise  # a template is never refused for the window: something else is wrong
            return await self._send(self._as_template(message))

    def _as_template(self, message: OutboundMessage) -> OutboundMessage:
        """The free-form `message` as the fallback template, which the window lets through."""
        if self._fallback is None:
            why = window.REPORTED_CLOSED if message.window_closed else window.WINDOW_CLOSED
            raise ServiceWindowClosedError(why, platform=SPEC.name)
        template = window.with_text(self._fallback, message.text)
        return replace(message, template=template, buttons=())

    async def _send(self, message: OutboundMessage) -> DeliveryResult:
        ids = []
        for payload in _payloads(message):
            body = {"messaging_product": "whatsapp", "recipient_type": "individual"} | payload
            body["to"] = message.chat_id
            sent = await self._client.call("messages", path=self._path("/messages"), json=body)
            ids.append(_message_id(sent))
        return DeliveryResult(platform_message_ids=tuple(ids), sent_at=datetime.now(UTC))

    async def answer_callback(self, callback_id: str, text: str | None = None) -> None:
        return None  # a button reply is an ordinary message: nothing waits for an answer


def create_adapter(client: PlatformClient, settings: dict[str, Any]) -> WhatsAppMessenger:
    phone = str(client.credential("phone_number_id"))
    version = str(settings.get("graph_version") or GRAPH_VERSION)
    return WhatsAppMessenger(client, phone, version, window.fallback_template(settings))


# --------------------------------------------------------------------------- shapes


def _payloads(message: OutboundMessage) -> list[dict[str, Any]]:
    if message.template is not None:
        return [_template(message.template)]
    chunks = split_text(message.text, MAX_TEXT)
    buttons = [b for row in message.buttons for b in row]
    payloads = [_text(chunk) for chunk in chunks]
    if buttons:
        last = chunks[-1]
        # The interactive body is shorter than a text message: a long last chunk goes as
        # text, and the choices follow with a short prompt.
        if len(last) > MAX_BODY:
            payloads.append(_interactive(buttons, "…"))
        else:
            payloads[-1] = _interactive(buttons, last or "…")
    return payloads


def _text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"preview_url": False, "body": body}}


def _template(template: MessageTemplate) -> dict[str, Any]:
    shaped: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if template.parameters:
        parameters = [{"type": "text", "text": p} for p in template.parameters]
        shaped["components"] = [{"type": "body", "parameters": parameters}]
    return {"type": "template", "template": shaped}


def _interactive(buttons: list[Button], body: str) -> dict[str, Any]:
    links = [b for b in buttons if b.url]
    choices = [b for b in buttons if not b.url]
    if links:
        # Reply buttons cannot open a link; the links go into the body as text.
        body = "\n".join([body, *(f"{b.text}: {b.url}" for b in links)])[:MAX_BODY]
    if not choices:
        return _text(body)
    if len(choices) <= MAX_REPLY_BUTTONS:
        action: dict[str, Any] = {
            "buttons": [
                {"type": "reply", "reply": {"id": _id(b), "title": b.text[:MAX_BUTTON_TITLE]}}
                for b in choices
            ]
        }
        kind = "button"
    else:
        if len(choices) > MAX_LIST_ROWS:
            raise RejectedError(
                f"WhatsApp lists hold at most {MAX_LIST_ROWS} choices, got {len(choices)}",
                platform=SPEC.name,
            )
        rows = [{"id": _id(b), "title": b.text[:MAX_ROW_TITLE]} for b in choices]
        action = {"button": "Choose", "sections": [{"title": "Options", "rows": rows}]}
        kind = "list"
    return {
        "type": "interactive",
        "interactive": {"type": kind, "body": {"text": body}, "action": action},
    }


def _id(button: Button) -> str:
    value = button.callback_data or button.text
    if len(value) > MAX_BUTTON_ID:
        raise RejectedError(f"button id over {MAX_BUTTON_ID} characters", platform=SPEC.name)
    return value


def _message_id(sent: Any) -> str:
    messages = sent.get("messages") if isinstance(sent, dict) else None
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        raise RejectedError("send answer has no messages[].id", platform=SPEC.name)
    return str(messages[0].get("id"))
