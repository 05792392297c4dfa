"""Viber REST Bot API emulator: `/pa/<method>` under `/viber`, callbacks signed like Viber's.

Every answer is HTTP 200 with an application `status`. A request without a valid
`X-Viber-Auth-Token` gets status 2. `set_webhook` POSTs the `event: "webhook"` probe to the
URL at once and fails (status 1) unless it gets a 200. `send_message` needs a webhook (10), a
subscribed receiver (6; a customer who only opened the chat is not subscribed), a sender name
(≤ 28) and text (≤ 7,000); over the rate budget it answers 12. After a send the bot's webhook
gets `delivered` and `seen` for its `message_token`. Callbacks carry
`X-Viber-Content-Signature` from the production `sign()`, millisecond timestamps and int64
message tokens, one chat at a time in order, retried per `ViberConfig.retry`.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from fastapi import APIRouter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from easyflow.platforms.viber import SIGNATURE
from easyflow.sandbox.base import ControlError, SandboxContext, dumps
from easyflow.sandbox.faults import Fault
from easyflow.sandbox.kit import Accounts, SendingAccounts, WebhookSender, Window, apply_fault
from easyflow.sandbox.kit.delivery import Pending
from easyflow.sandbox.viber.state import (
    FORCED_EVENTS,
    BotState,
    SentMessage,
    ViberBot,
    ViberConfig,
)

HOSTNAME = "SN-CHAT-07_"
_BUTTON_ACTIONS = frozenset({"reply", "open-url", "location-picker", "share-phone", "none"})


class ViberError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ViberSandbox(SendingAccounts):
    slug = "viber"

    def __init__(self, config: ViberConfig, ctx: SandboxContext) -> None:
        self.config = config
        self._ctx = ctx
        self._bots: Accounts[BotState] = Accounts(
            "viber bot", lambda s: s.bot.auth_token, lambda s: s.bot.auth_token
        )
        self._tokens = itertools.count(5791234567890123456)
        self._app = Starlette(routes=[Route("/pa/{method}", self._endpoint, methods=["POST"])])
        self._seed()

    @property
    def app(self) -> Starlette:
        return self._app

    def control_router(self) -> APIRouter:
        from easyflow.sandbox.viber.control import router

        return router(self)

    def demo_credentials(self) -> list[dict[str, str]]:
        return [{"auth_token": s.bot.auth_token} for s in self._bots]

    # -- accounts

    def register_bot(self, bot: ViberBot) -> BotState:
        sender = WebhookSender(
            prepare=lambda document: _signed(bot.auth_token, document),
            clock=self._ctx.clock,
            transport=self._ctx.webhook_transport,
            schedule=self.config.retry,
            scale=self.config.retry_delay_scale,
        )
        window = Window(self.config.rate_limit_per_second, 1.0, self._ctx.clock)
        state = self._bots.add(BotState(bot, sender, window))
        sender.on_response = lambda pending, response: self._welcome(state, pending, response)
        return state

    def bot(self, auth_token: str) -> BotState:
        return self._bots.get(auth_token)

    # -- customers act

    def customer_opens(
        self, auth_token: str, user_id: str, name: str = "Ivan Demo", context: str | None = None
    ) -> dict[str, Any]:
        """The customer opens the chat (not subscribed yet): `conversation_started`."""
        state = self.bot(auth_token)
        user = _user(user_id, name)
        state.opened[user_id] = user
        event = {
            "event": "conversation_started",
            "type": "open",
            "subscribed": user_id in state.subscribed,
            "user": user,
        }
        if context:
            event["context"] = context
        return self._emit(state, user_id, event)

    def customer_subscribes(
        self, auth_token: str, user_id: str, name: str = "Ivan Demo"
    ) -> dict[str, Any]:
        state = self.bot(auth_token)
        state.subscribed[user_id] = _user(user_id, name)
        return self._emit(
            state, user_id, {"event": "subscribed", "user": state.subscribed[user_id]}
        )

    def customer_unsubscribes(self, auth_token: str, user_id: str) -> dict[str, Any]:
        state = self.bot(auth_token)
        state.subscribed.pop(user_id, None)
        return self._emit(state, user_id, {"event": "unsubscribed", "user_id": user_id})

    def customer_writes(
        self, auth_token: str, user_id: str, text: str, name: str = "Ivan Demo"
    ) -> dict[str, Any]:
        """A text message (a keyboard reply is one too, with the button's ActionBody)."""
        return self.customer_sends(auth_token, user_id, {"type": "text", "text": text}, name)

    def customer_sends(
        self, auth_token: str, user_id: str, message: dict[str, Any], name: str = "Ivan Demo"
    ) -> dict[str, Any]:
        """Any message object (picture, location, contact, ...); the sender becomes subscribed."""
        state = self.bot(auth_token)
        user = state.subscribed.get(user_id) or _user(user_id, name)
        state.subscribed[user_id] = user
        return self._emit(
            state,
            user_id,
            {"event": "message", "sender": user, "message": message, "silent": False},
        )

    def delivery_fails(self, auth_token: str, message_token: int, desc: str) -> dict[str, Any]:
        """A sent message could not be delivered: the `failed` callback."""
        state = self.bot(auth_token)
        sent = next((m for m in state.sent if m.message_token == message_token), None)
        if sent is None:
            raise ControlError(f"the bot sent no message {message_token}")
        event = {"event": "failed", "message_token": message_token, "user_id": sent.receiver}
        return self._emit(state, sent.receiver, event | {"desc": desc}, keep_token=True)

    # -- read back

    def sent(self, auth_token: str, receiver: str | None = None) -> list[SentMessage]:
        return [m for m in self.bot(auth_token).sent if receiver is None or m.receiver == receiver]

    def deliveries(self, auth_token: str) -> list[dict[str, Any]]:
        return [a.to_dict() for a in self.bot(auth_token).sender.log.all()]

    # -- lifecycle

    @property
    def _registry(self) -> Accounts[Any]:
        return self._bots

    # -- the API

    async def _endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        fault = await apply_fault(self._ctx, self.slug, method, f"/pa/{method}", _render_fault)
        if fault is not None:
            return fault
        try:
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                raise ViberError(3, "badData: not JSON") from None
            if not isinstance(body, dict):
                raise ViberError(3, "badData: not an object")
            # The documented place is the header; the official Python SDK still sends the
            # token as `auth_token` in the body, and Viber accepts both.
            token = request.headers.get("x-viber-auth-token") or body.pop("auth_token", None)
            state = self._bots.by_token(token if isinstance(token, str) else None)
            if state is None:
                raise ViberError(2, "invalidAuthToken")
            handler = {
                "set_webhook": self._set_webhook,
                "send_message": self._send_message,
                "get_account_info": self._account_info,
            }.get(method)
            if handler is None:
                raise ViberError(3, f"badData: unknown method {method}")
            result = await handler(state, body)
        except ViberError as error:
            return _answer(
                {"status": error.status, "status_message": error.message, "chat_hostname": HOSTNAME}
            )
        return _answer({"status": 0, "status_message": "ok", **result})

    async def _set_webhook(self, state: BotState, body: dict[str, Any]) -> dict[str, Any]:
        url = body.get("url")
        if not isinstance(url, str):
            raise ViberError(4, "missingData: url")
        if url == "":
            state.sender.url = None
            return {}
        if not url.startswith(("https://", "http://")):
            raise ViberError(1, "invalidUrl")
        probe = {
            "event": "webhook",
            "timestamp": self._ms(),
            "chat_hostname": HOSTNAME,
            "message_token": next(self._tokens),
        }
        response = await state.sender.post_now(url, probe)
        if response is None or response.status_code != 200:
            status = "no answer" if response is None else f"HttpResponse({response.status_code})"
            raise ViberError(1, f"invalidUrl: Result[{status}] is not 200")
        requested = body.get("event_types")
        chosen = (
            tuple(requested)
            if isinstance(requested, list)
            else ("delivered", "seen", "failed", "conversation_started")
        )
        state.event_types = tuple(dict.fromkeys([*chosen, *FORCED_EVENTS]))
        state.sender.url = url
        state.sender.kick()
        return {"event_types": list(state.event_types)}

    async def _account_info(self, state: BotState, body: dict[str, Any]) -> dict[str, Any]:
        bot = state.bot
        return {
            "id": bot.id,
            "name": bot.name,
            "uri": bot.uri,
            "webhook": state.sender.url or "",
            "event_types": list(state.event_types),
            "subscribers_count": len(state.subscribed),
        }

    async def _send_message(self, state: BotState, body: dict[str, Any]) -> dict[str, Any]:
        if not state.sender.url:
            raise ViberError(10, "webhookNotSet")
        message = _checked_message(body, self.config)
        receiver = body.get("receiver")
        if not isinstance(receiver, str) or not receiver:
            raise ViberError(4, "missingData: receiver")
        if receiver not in state.subscribed:
            if receiver in state.opened:
                raise ViberError(6, "notSubscribed")
            raise ViberError(5, "receiverNotRegistered")
        if not state.window.allow():
            raise ViberError(12, "tooManyRequests")
        token = next(self._tokens)
        state.sent.append(SentMessage(token, receiver, welcome=False, **message))
        for receipt in self.config.receipts:
            if receipt in state.event_types:
                self._emit(
                    state,
                    receiver,
                    {"event": receipt, "message_token": token, "user_id": receiver},
                    keep_token=True,
                )
        return {"message_token": token, "chat_hostname": HOSTNAME, "billing_status": 1}

    async def _welcome(self, state: BotState, pending: Pending, response: Any) -> None:
        """A conversation_started answered with a message body: Viber shows it as a welcome."""
        if pending.document.get("event") != "conversation_started" or not response.content:
            return
        try:
            body = json.loads(response.content)
            message = _checked_message(body, self.config) if isinstance(body, dict) else None
        except (ValueError, ViberError):
            return
        if message is not None:
            user = pending.document["user"]["id"]
            state.sent.append(SentMessage(next(self._tokens), user, welcome=True, **message))

    # -- helpers

    def _emit(
        self, state: BotState, chat: str, event: dict[str, Any], *, keep_token: bool = False
    ) -> dict[str, Any]:
        document = {"event": event["event"], "timestamp": self._ms(), "chat_hostname": HOSTNAME}
        if not keep_token:
            document["message_token"] = next(self._tokens)
        document |= event
        state.sender.send(chat, f"{document['event']}:{document['message_token']}", document)
        return document

    def _ms(self) -> int:
        return int(self._ctx.clock() * 1000)

    def _seed(self) -> None:
        for bot in self.config.bots:
            self.register_bot(bot)


def _signed(auth_token: str, document: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = dumps(document)
    return body, SIGNATURE.sign(auth_token, body)


def _user(user_id: str, name: str) -> dict[str, Any]:
    return {
        "id": user_id,
        "name": name,
        "avatar": "https://example.org/a.jpg",
        "country": "RU",
        "language": "ru",
        "api_version": 10,
    }


def _checked_message(body: dict[str, Any], config: ViberConfig) -> dict[str, Any]:
    sender = body.get("sender")
    if (
        not isinstance(sender, dict)
        or not isinstance(sender.get("name"), str)
        or not sender["name"]
    ):
        raise ViberError(4, "missingData: sender.name")
    if len(sender["name"]) > config.max_sender_name:
        raise ViberError(3, f"badData: sender.name over {config.max_sender_name} characters")
    kind = body.get("type")
    text = body.get("text")
    if kind != "text" or not isinstance(text, str) or not text:
        raise ViberError(3, "badData: only text messages are emulated")
    if len(text) > config.max_text:
        raise ViberError(3, f"badData: text over {config.max_text} characters")
    keyboard = body.get("keyboard")
    if keyboard is not None:
        _check_keyboard(keyboard)
    tracking = body.get("tracking_data")
    return {
        "type": kind,
        "text": text,
        "sender": sender,
        "keyboard": keyboard,
        "tracking_data": tracking if isinstance(tracking, str) else None,
    }


def _check_keyboard(keyboard: Any) -> None:
    # Viber ignores lower-cased keys; the emulator refuses them so the mistake is visible.
    if not isinstance(keyboard, dict) or keyboard.get("Type") != "keyboard":
        raise ViberError(3, 'badData: keyboard.Type must be "keyboard"')
    buttons = keyboard.get("Buttons")
    if not isinstance(buttons, list) or not buttons:
        raise ViberError(3, "badData: keyboard.Buttons is empty")
    for button in buttons:
        if not isinstance(button, dict) or button.get("ActionType") not in _BUTTON_ACTIONS:
            raise ViberError(3, "badData: keyboard button without a valid ActionType")
        if not isinstance(button.get("ActionBody"), str):
            raise ViberError(3, "badData: keyboard button without ActionBody")
        if not 1 <= int(button.get("Columns", 6)) <= 6 or not 1 <= int(button.get("Rows", 1)) <= 2:
            raise ViberError(3, "badData: keyboard button Columns 1-6, Rows 1-2")


def _answer(body: dict[str, Any]) -> Response:
    return JSONResponse(body)


def _render_fault(fault: Fault) -> Response:
    spec = fault.spec
    if fault.kind == "rate_limit":
        return _answer({"status": 12, "status_message": spec.message or "tooManyRequests"})
    if fault.kind == "timeout":
        return Response(status_code=504)
    if spec.status >= 500:
        return Response(spec.message or "Internal Server Error", status_code=spec.status)
    return _answer({"status": 3, "status_message": spec.message or "badData"})
