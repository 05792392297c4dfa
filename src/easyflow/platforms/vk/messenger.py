"""The Messenger port on the VK API: `messages.send`, `messages.sendMessageEventAnswer`.

Methods are POSTed form-encoded to `/method/<name>` with `v`; the token goes in a Bearer
header. `random_id` (int32, required) is derived from the outbox row's idempotency key, so a
retried send returns the first message instead of a second copy; each part of a split text
gets its own. `keyboard` is a JSON *string* (a dict would be form-mangled into error 911).

The Callback API server is added by the seller in the community settings, so `set_webhook`
has nothing to call; the hub shows the URL, secret key and the expected confirmation.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from easyflow.domain.errors import RejectedError
from easyflow.domain.messaging import (
    BotIdentity,
    Button,
    DeliveryResult,
    OutboundMessage,
    WebhookInfo,
    WebhookRegistration,
    WebhookSetup,
)
from easyflow.http import PlatformClient
from easyflow.platforms.fields import split_text
from easyflow.platforms.vk.spec import API_VERSION, SPEC

MAX_TEXT = 4096  # the schema says 9000; libraries split at 4096 to stay clear of error 914
MAX_LABEL = 40
MAX_PAYLOAD = 255
MAX_INLINE_BUTTONS = 10
HALF = 2**30  # random_id is an int32: row ids below, hashed keys above


def random_id(key: str | None, part: int = 0) -> int:
    """A stable int32 for (idempotency key, part); 0 (no dedup) when there is no key.

    The outbox row id itself when the key ends in it (`easyflow-outbox-4711` -> 4711), so VK's
    logs name the row; other keys and later parts of a split text hash into the upper half of
    the range, which row ids below 2**30 never reach.
    """
    if key is None:
        return 0
    tail = key.rsplit("-", 1)[-1]
    if part == 0 and tail.isdigit() and 0 < int(tail) < HALF:
        return int(tail)
    digest = hashlib.sha256(f"{key}#{part}".encode()).digest()
    return HALF + int.from_bytes(digest[:4], "big") % HALF


def callback_id(event_id: str, user_id: str, peer_id: str) -> str:
    """What `sendMessageEventAnswer` needs, packed into the one callback id the port carries."""
    return json.dumps([event_id, user_id, peer_id], separators=(",", ":"))


class VkMessenger:
    """The Messenger port for one community."""

    def __init__(self, client: PlatformClient, group_id: str) -> None:
        self._client = client
        self._group_id = group_id

    async def _call(self, method: str, params: dict[str, str], chat: str | None = None) -> Any:
        form = {"v": API_VERSION} | params
        scopes = {"chat": chat} if chat else None
        return await self._client.call(method, path=f"/method/{method}", form=form, scopes=scopes)

    async def identity(self) -> BotIdentity:
        found = await self._call("groups.getById", {"group_id": self._group_id})
        groups = found.get("groups") if isinstance(found, dict) else found
        if not isinstance(groups, list) or not groups or not isinstance(groups[0], dict):
            raise RejectedError("groups.getById answered no group", platform=SPEC.name)
        group = groups[0]
        return BotIdentity(str(group.get("id")), group.get("screen_name"), group.get("name", ""))

    async def set_webhook(self, registration: WebhookRegistration) -> WebhookSetup:
        """Added by the seller in the community settings: what to enter there."""
        return WebhookSetup(
            "Community → Manage → API usage → Callback API",
            (
                ("Server address", registration.url),
                ("Secret key", registration.secret),
                ("API version", API_VERSION),
                ("Event types", "message_new, message_event"),
                (
                    "Confirmation string the hub will answer",
                    self._client.credential("confirmation"),
                ),
            ),
        )

    async def delete_webhook(self) -> None:
        return None

    async def webhook_info(self) -> WebhookInfo:
        return WebhookInfo(url="", pending_update_count=0)

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        chunks = split_text(message.text, MAX_TEXT)
        ids = []
        for index, chunk in enumerate(chunks):
            params = {
                "peer_id": message.chat_id,
                "random_id": str(random_id(message.idempotency_key, index)),
                "message": chunk,
            }
            if message.buttons and index == len(chunks) - 1:
                params["keyboard"] = keyboard(message.buttons)
            sent = await self._call("messages.send", params, chat=message.chat_id)
            ids.append(str(sent))
        return DeliveryResult(platform_message_ids=tuple(ids), sent_at=datetime.now(UTC))

    async def answer_callback(self, callback_id: str, text: str | None = None) -> None:
        try:
            event_id, user_id, peer_id = json.loads(callback_id)
        except (ValueError, TypeError):
            raise RejectedError("not a VK message_event callback id", platform=SPEC.name) from None
        params = {"event_id": str(event_id), "user_id": str(user_id), "peer_id": str(peer_id)}
        if text:
            params["event_data"] = json.dumps({"type": "show_snackbar", "text": text[:90]})
        await self._call("messages.sendMessageEventAnswer", params)


def keyboard(rows: tuple[tuple[Button, ...], ...]) -> str:
    """An inline keyboard as the JSON string VK expects."""
    if sum(len(row) for row in rows) > MAX_INLINE_BUTTONS:
        raise RejectedError(
            f"VK inline keyboards hold at most {MAX_INLINE_BUTTONS} buttons", platform=SPEC.name
        )
    shaped = [[_button(b) for b in row] for row in rows if row]
    return json.dumps(
        {"inline": True, "buttons": shaped}, ensure_ascii=False, separators=(",", ":")
    )


def _button(button: Button) -> dict[str, Any]:
    label = button.text[:MAX_LABEL]
    if button.url:
        return {"action": {"type": "open_link", "link": button.url, "label": label}}
    payload = json.dumps({"cmd": button.callback_data or button.text}, ensure_ascii=False)
    if len(payload) > MAX_PAYLOAD:
        raise RejectedError(f"button payload over {MAX_PAYLOAD} characters", platform=SPEC.name)
    # Callback buttons answer with message_event (the spinner stops on our answer) instead of
    # posting the label into the chat as the customer's message.
    return {"action": {"type": "callback", "label": label, "payload": payload}, "color": "primary"}


def create_adapter(client: PlatformClient, settings: dict[str, Any]) -> VkMessenger:
    return VkMessenger(client, client.credential("group_id"))
