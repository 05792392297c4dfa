"""VK communities: Callback API in, `messages.send` out. Everything the hub knows about VK.

Docs: https://dev.vk.com/ru/api/callback/getting-started,
https://dev.vk.com/method/messages.send; the contract the adapter and the sandbox follow is
summarised in docs/messengers.md.

Quirks kept as code: errors arrive inside HTTP 200 (`{"error": {"error_code", ...}}`); the
webhook's proof is the `secret` field of the unsigned body; the server is confirmed by
answering `confirmation` with a per-community string, and every other event must be answered
with the bare text `ok`; `random_id` makes a repeated send idempotent; `keyboard` and button
`payload` are JSON strings inside the request.
"""

from easyflow.platforms.vk.inbound import SECRET, VkWebhook, parse_callback
from easyflow.platforms.vk.messenger import VkMessenger, create_adapter, keyboard, random_id
from easyflow.platforms.vk.spec import API_VERSION, CREDENTIALS, ERROR_CODES, SPEC, classify

__all__ = [
    "API_VERSION",
    "CREDENTIALS",
    "ERROR_CODES",
    "SECRET",
    "SETTINGS",
    "SPEC",
    "WEBHOOK",
    "VkMessenger",
    "VkWebhook",
    "classify",
    "create_adapter",
    "keyboard",
    "parse_callback",
    "random_id",
]

WEBHOOK = VkWebhook()  # the one instance the registry hands to intake
SETTINGS = ()  # the adapter reads none: every setting is refused
