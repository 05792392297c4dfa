"""Telegram bots: webhook updates in, `sendMessage` out. Everything the hub knows about Telegram.

Bot API 10.0 (https://core.telegram.org/bots/api); setup and sandbox: docs/messengers.md.

Quirks kept as code: the token is part of the URL path, so URLs are never logged
(PlatformClient logs methods); the webhook "signature" is the secret itself in
X-Telegram-Bot-Api-Secret-Token; errors mirror the HTTP status in the envelope; text is
limited to 4096 characters after entity parsing; `callback_data` to 64 bytes;
`allowed_updates` omitted keeps the previous filter, so the hub always sends it.
"""

from easyflow.platforms.telegram.inbound import TelegramWebhook, parse_document, parse_update
from easyflow.platforms.telegram.messenger import TelegramMessenger, create_adapter, split_text
from easyflow.platforms.telegram.spec import (
    ALLOWED_UPDATES,
    CREDENTIALS,
    MAX_CALLBACK_DATA_BYTES,
    MAX_TEXT,
    SECRET_PATTERNS,
    SPEC,
    classify,
)

__all__ = [
    "ALLOWED_UPDATES",
    "CREDENTIALS",
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_TEXT",
    "SECRET_PATTERNS",
    "SETTINGS",
    "SPEC",
    "WEBHOOK",
    "TelegramMessenger",
    "TelegramWebhook",
    "classify",
    "create_adapter",
    "parse_document",
    "parse_update",
    "split_text",
]

WEBHOOK = TelegramWebhook()  # the one instance the registry hands to intake
SETTINGS = ()  # the adapter reads none: every setting is refused
