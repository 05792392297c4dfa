"""The inbound side of every messenger behind one interface (`ports.MessengerWebhook`).

A platform module may implement only the original `WebhookParser` (Telegram): `full_parser`
wraps it with that platform's behaviour as the defaults — the hub's webhook secret is the key,
no GET handshake, no challenge, customer messages only, the `ack` as a JSON answer. So the
protocol grew without touching a parser that existed before it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from easyflow.domain.errors import EasyFlowError, WebhookSignatureError
from easyflow.domain.messaging import WebhookEvent, WebhookReply
from easyflow.domain.tenancy import Integration
from easyflow.ports import MessengerWebhook, WebhookParser, WebhookScheme


class HandshakeRefusedError(WebhookSignatureError):
    """A GET verification that does not prove the caller (WhatsApp answers it 403)."""


class MethodNotAllowedError(EasyFlowError):
    """The platform never sends this HTTP method to its webhook (405)."""


class _Legacy:
    """A `WebhookParser` seen as a `MessengerWebhook`."""

    def __init__(self, parser: WebhookParser) -> None:
        self._parser = parser
        self._reply: WebhookReply | None = None  # the ack, encoded once (it is a constant)

    verifies_by_get = False

    @property
    def platform(self) -> str:
        return self._parser.platform

    @property
    def scheme(self) -> WebhookScheme:
        return self._parser.scheme

    @property
    def ack(self) -> dict[str, Any]:
        return self._parser.ack

    def parse(self, body: bytes) -> list[Any]:
        return self._parser.parse(body)

    def parse_document(self, document: Any) -> list[Any]:
        return self._parser.parse_document(document)

    def signing_secrets(self, integration: Integration) -> Sequence[str]:
        return integration.webhook_secrets

    def handshake(self, integration: Integration, query: Mapping[str, str]) -> WebhookReply:
        raise MethodNotAllowedError(f"{self.platform} sends no GET to its webhook")

    def challenge(self, integration: Integration, document: Any) -> WebhookReply | None:
        return None

    def parse_events(self, document: Any) -> list[WebhookEvent]:
        return list(self._parser.parse_document(document))

    def reply(self, events: Sequence[WebhookEvent]) -> WebhookReply:
        if self._reply is None:
            self._reply = WebhookReply.json(self._parser.ack)
        return self._reply


def full_parser(parser: WebhookParser) -> MessengerWebhook:
    """`parser` itself when it implements the whole protocol, else wrapped with defaults."""
    if all(hasattr(parser, name) for name in ("parse_events", "handshake", "signing_secrets")):
        return parser  # type: ignore[return-value]
    return _Legacy(parser)
