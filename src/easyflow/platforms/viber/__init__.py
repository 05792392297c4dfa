"""Viber bots (REST Bot API): everything the hub knows about Viber.

Docs: https://developers.viber.com/docs/api/rest-bot-api/ — the contract the adapter and the
sandbox follow is summarised in docs/messengers.md.

Quirks kept as code: every answer is HTTP 200 with an application `status`; the auth token
goes in `X-Viber-Auth-Token` and is also the HMAC key of `X-Viber-Content-Signature` (hex, no
prefix) over the raw callback bytes; `set_webhook` is verified by Viber calling the URL back at
once; `message_token` is a 64-bit integer and timestamps are milliseconds; keyboards are
PascalCase; a customer who only opened the chat (conversation_started) cannot be messaged yet.
"""

from easyflow.platforms.credentials import SettingField, short_text
from easyflow.platforms.viber.inbound import SIGNATURE, ViberWebhook, parse_callback
from easyflow.platforms.viber.messenger import EVENT_TYPES, ViberMessenger, create_adapter, keyboard
from easyflow.platforms.viber.spec import CREDENTIALS, SPEC, STATUS_CODES, classify

__all__ = [
    "CREDENTIALS",
    "EVENT_TYPES",
    "SETTINGS",
    "SIGNATURE",
    "SPEC",
    "STATUS_CODES",
    "WEBHOOK",
    "ViberMessenger",
    "ViberWebhook",
    "classify",
    "create_adapter",
    "keyboard",
    "parse_callback",
]

WEBHOOK = ViberWebhook()  # the one instance the registry hands to intake
# The sender shown with every message: Viber takes up to 28 characters (default: the bot's name).
SETTINGS = (SettingField("sender_name", "Sender name shown to customers", short_text(28)),)
