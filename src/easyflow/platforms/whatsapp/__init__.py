"""WhatsApp Business Cloud API (Meta Graph API): everything the hub knows about it.

Docs: https://developers.facebook.com/docs/whatsapp/cloud-api — the contract the adapter and
the sandbox follow is summarised in docs/messengers.md.

Quirks kept as code: the webhook is registered by the seller in the app dashboard (GET
`hub.verify_token` handshake answered with the bare `hub.challenge`); notifications are signed
with the *app secret* over the exact raw bytes (`X-Hub-Signature-256: sha256=<hex>`); a 200 on
send only means "accepted" — delivery and failures (131047 outside the 24-hour window) come
back as status webhooks; timestamps are strings; customers may have no phone number (BSUID).
"""

import re

from easyflow.platforms.credentials import SettingField
from easyflow.platforms.whatsapp import window
from easyflow.platforms.whatsapp.inbound import (
    SIGNATURE,
    WhatsAppWebhook,
    parse_notification,
)
from easyflow.platforms.whatsapp.messenger import WhatsAppMessenger, create_adapter
from easyflow.platforms.whatsapp.spec import CREDENTIALS, ERROR_CODES, GRAPH_VERSION, SPEC, classify

__all__ = [
    "CREDENTIALS",
    "ERROR_CODES",
    "GRAPH_VERSION",
    "SETTINGS",
    "SIGNATURE",
    "SPEC",
    "WEBHOOK",
    "WhatsAppMessenger",
    "WhatsAppWebhook",
    "classify",
    "create_adapter",
    "parse_notification",
]

WEBHOOK = WhatsAppWebhook()  # the one instance the registry hands to intake


def _graph_version(value: object) -> str | None:
    ok = isinstance(value, str) and re.fullmatch(r"v[0-9]{1,3}\.[0-9]{1,2}", value)
    return None if ok else "must be a Graph API version such as v23.0"


SETTINGS = (
    SettingField(
        window.SETTING,
        'Sent instead of free text outside the 24-hour window: {"name": ..., "language": ...}, '
        "an approved template with one body parameter",
        window.problem,
    ),
    SettingField("graph_version", f"Graph API version (default {GRAPH_VERSION})", _graph_version),
)
