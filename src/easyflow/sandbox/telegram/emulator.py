"""Telegram Bot API emulator (Bot API 10.0, https://core.telegram.org/bots/api).

Serves `/bot<token>/<method>` for the bots registered in the sandbox: a malformed token path
is 404 `Not Found`, a well-formed unknown token 401 `Unauthorized`, an unknown method 404
`Not Found: method not found`. Methods live in `methods`, HTML parsing in
`html`, webhook delivery in `webhooks` (Telegram's policy on the kit's sender, one per bot).

`TelegramSandbox` is also the Python API that drives scenarios (a customer writes, presses a
button, edits a message) and reads back what the bot did; the control routes in
`control` call it. Sandbox-only behaviour: plain-http webhooks to loopback hosts are
accepted unless `strict_webhook_urls`; only the HTML parse mode is parsed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import string
from typing import Any

from fastapi import APIRouter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from easyflow.sandbox.base import (
    AlreadyExists,
    ControlError,
    SandboxContext,
    UnknownObject,
    whole_seconds,
)
from easyflow.sandbox.faults import Fault, stall
from easyflow.sandbox.flood import FloodControl
from easyflow.sandbox.telegram.control import router
from easyflow.sandbox.telegram.methods import BotApi
from easyflow.sandbox.telegram.state import (
    TOKEN,
    BotState,
    CallbackAnswer,
    CallbackQuery,
    ChatState,
    DeliveryAttempt,
    SentMessage,
    TelegramBot,
    TelegramConfig,
    bot_user,
)
from easyflow.sandbox.telegram.webhooks import bot_sender
from easyflow.sandbox.telegram.wire import (
    Params,
    TelegramError,
    error_response,
    ok_response,
    read_params,
    too_many_requests,
)

__all__ = ["TelegramBot", "TelegramConfig", "TelegramSandbox"]

_ALPHABET = string.ascii_letters + string.digits + "_-"
_MALFORMED_BODY = b'{"ok":true,"result":{"message_id":'


class TelegramSandbox:
    """The emulator: Bot API app, scenario API and state of every sandbox bot."""

    slug = "telegram"

    def __init__(self, config: TelegramConfig, ctx: SandboxContext) -> None:
        self.config = config
        self._ctx = ctx
        self._bots: dict[str, BotState] = {}
        self._api = BotApi(config, ctx.clock)
        self._app = Starlette(
            routes=[Route("/{path:path}", self._endpoint, methods=["GET", "POST"])]
        )
        self._seed()

    @property
    def app(self) -> Starlette:
        return self._app

    def control_router(self) -> APIRouter:
        return router(self)

    # -- bots ------------------------------------------------------------------------------

    def register_bot(
        self,
        token: str | None = None,
        *,
        username: str | None = None,
        first_name: str | None = None,
    ) -> dict[str, Any]:
        """Make a bot known; a well-formed token is generated when none is given."""
        token = token or _new_token()
        if not TOKEN.fullmatch(token):
            raise ControlError(f"malformed bot token {token!r}: expected <digits>:<secret>")
        if token in self._bots:
            raise AlreadyExists(f"bot {token} is already registered")
        user = bot_user(token, username, first_name)
        bot = BotState(
            token,
            user,
            FloodControl(self.config.flood, self._ctx.clock),
            self.config.first_update_id,
        )
        bot.webhook_sender = bot_sender(bot, self.config, self._ctx, self._reply_to_webhook)
        self._bots[token] = bot
        return {"token": token, **user}

    def bots(self) -> list[dict[str, Any]]:
        return [{"token": b.token, **b.user} for b in self._bots.values()]

    # -- customers act ---------------------------------------------------------------------

    async def customer_writes(
        self,
        token: str,
        chat_id: int,
        text: str,
        *,
        first_name: str = "Ivan",
        username: str | None = None,
        chat_type: str | None = None,
        user_id: int | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        """A customer sends `text` to the bot; returns the `message` Update it produced."""
        bot = self._bot(token)
        sender = _user(user_id or abs(chat_id), first_name, username, language_code)
        chat = self._open_chat(bot, chat_id, chat_type, sender)
        message: dict[str, Any] = {
            "message_id": chat.take_message_id(),
            "from": sender,
            "chat": chat.chat,
            "date": int(self._ctx.clock()),
            "text": text,
        }
        if entities := _command_entities(text):
            message["entities"] = entities
        chat.customer_messages[message["message_id"]] = message
        return self._queue(bot, "message", chat_id, {"message": message})

    async def customer_edits(
        self, token: str, chat_id: int, message_id: int, text: str
    ) -> dict[str, Any]:
        """The customer edits one of their messages; returns the `edited_message` Update."""
        bot = self._bot(token)
        chat = self._chat(bot, chat_id)
        original = chat.customer_messages.get(message_id)
        if original is None:
            raise UnknownObject(f"chat {chat_id} has no customer message {message_id}")
        edited = {**original, "edit_date": int(self._ctx.clock()), "text": text}
        edited.pop("entities", None)
        if entities := _command_entities(text):
            edited["entities"] = entities
        chat.customer_messages[message_id] = edited
        return self._queue(bot, "edited_message", chat_id, {"edited_message": edited})

    async def customer_presses(
        self, token: str, chat_id: int, message_id: int, data: str, *, user_id: int | None = None
    ) -> dict[str, Any]:
        """The customer presses an inline button; returns the `callback_query` Update."""
        bot = self._bot(token)
        chat = self._chat(bot, chat_id)
        sent = chat.bot_messages.get(message_id)
        if sent is None:
            raise UnknownObject(f"the bot sent no message {message_id} to chat {chat_id}")
        if data not in _callback_data(sent):
            raise ControlError(f"message {message_id} has no button with callback_data {data!r}")
        query_id = str(4190327750000000000 + sum(len(b.callbacks) for b in self._bots.values()))
        bot.callbacks[query_id] = CallbackQuery(query_id, self._ctx.clock())
        sender = _user(user_id or abs(chat_id), chat.chat.get("first_name", "Ivan"), None, None)
        message = {
            "message_id": sent.message_id,
            "from": bot.sender,
            "chat": chat.chat,
            "date": sent.date,
            "text": sent.text,
        }
        query = {
            "id": query_id,
            "from": sender,
            "message": message,
            "chat_instance": _chat_instance(bot.bot_id, chat_id),
            "data": data,
        }
        return self._queue(bot, "callback_query", chat_id, {"callback_query": query})

    # -- read back -------------------------------------------------------------------------

    def sent(self, token: str, chat_id: int | None = None) -> list[SentMessage]:
        """What the bot sent (edits applied), oldest first."""
        return [m for m in self._bot(token).sent if chat_id is None or m.chat_id == chat_id]

    def callback_answers(self, token: str) -> list[CallbackAnswer]:
        return list(self._bot(token).answers)

    def deliveries(self, token: str) -> list[DeliveryAttempt]:
        return self._bot(token).deliveries()

    def pending_updates(self, token: str) -> list[dict[str, Any]]:
        return self._bot(token).pending_updates()

    def webhook_info(self, token: str) -> dict[str, Any]:
        return self._bot(token).webhook_info()

    # -- lifecycle -------------------------------------------------------------------------

    def busy(self) -> bool:
        return any(bot.webhook_sender.busy() for bot in self._bots.values())

    async def reset(self) -> None:
        await self.aclose()
        self._bots.clear()
        self._api = BotApi(self.config, self._ctx.clock)
        self._seed()

    async def aclose(self) -> None:
        await asyncio.gather(*(bot.webhook_sender.aclose() for bot in self._bots.values()))

    # -- the Bot API endpoint --------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        path = request.path_params["path"]
        token, _, method = path.removeprefix("bot").partition("/")
        if not path.startswith("bot") or not TOKEN.fullmatch(token) or not method or "/" in method:
            return error_response(TelegramError(404, "Not Found"))
        fault = await stall(self._ctx.faults.pick(self.slug, method, "/" + path))
        if fault is not None:
            return _render_fault(fault)
        try:
            bot = self._bots.get(token)
            if bot is None:
                raise TelegramError(401, "Unauthorized")
            if not self._api.knows(method):
                raise TelegramError(404, "Not Found: method not found")
            result, description = await self._api.call(bot, method, await read_params(request))
        except TelegramError as error:
            return error_response(error)
        return ok_response(result, description)

    async def _reply_to_webhook(self, bot: BotState, call: dict[str, Any]) -> None:
        params = Params({k: v for k, v in call.items() if k != "method"})
        # Telegram never reports the outcome of a webhook reply, whatever went wrong.
        with contextlib.suppress(Exception):
            await self._api.call(bot, call["method"], params)

    # -- helpers ---------------------------------------------------------------------------

    def _seed(self) -> None:
        for seed in self.config.bots:
            bot = seed if isinstance(seed, TelegramBot) else TelegramBot(seed)
            self.register_bot(bot.token, username=bot.username, first_name=bot.first_name)

    def _bot(self, token: str) -> BotState:
        bot = self._bots.get(token)
        if bot is None:
            raise UnknownObject(f"no sandbox bot with token {token}")
        return bot

    def _chat(self, bot: BotState, chat_id: int) -> ChatState:
        chat = bot.chats.get(chat_id)
        if chat is None:
            raise UnknownObject(f"chat {chat_id} never wrote to the bot")
        return chat

    def _open_chat(
        self, bot: BotState, chat_id: int, chat_type: str | None, sender: dict[str, Any]
    ) -> ChatState:
        if chat_id not in bot.chats:
            bot.chats[chat_id] = ChatState(_chat_dict(chat_id, chat_type, sender))
        return bot.chats[chat_id]

    def _queue(
        self, bot: BotState, kind: str, chat_id: int, body: dict[str, Any]
    ) -> dict[str, Any]:
        return bot.queue(kind, chat_id, body)


def _render_fault(fault: Fault) -> Response:
    spec = fault.spec
    if fault.kind == "malformed":
        return Response(_MALFORMED_BODY, media_type="application/json")
    if fault.kind == "rate_limit":
        return error_response(too_many_requests(whole_seconds(spec.retry_after or 1)))
    if fault.kind == "timeout":
        return error_response(TelegramError(504, spec.message or "Gateway Timeout"))
    return error_response(TelegramError(spec.status, spec.message or _describe(spec.status)))


def _describe(status: int) -> str:
    known = {
        400: "Bad Request: sandbox fault",
        401: "Unauthorized",
        403: "Forbidden: bot was blocked by the user",
        404: "Not Found",
        409: "Conflict: terminated by other getUpdates request; make sure that only one "
        "bot instance is running",
        429: "Too Many Requests: retry after 1",
        500: "Internal Server Error",
        502: "Bad Gateway",
    }
    return known.get(status, "Internal Server Error")


def _new_token() -> str:
    bot_id = 7_000_000_000 + secrets.randbelow(999_999_999)
    return f"{bot_id}:" + "".join(secrets.choice(_ALPHABET) for _ in range(35))


def _user(
    user_id: int, first_name: str, username: str | None, language_code: str | None
) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        user["username"] = username
    if language_code:
        user["language_code"] = language_code
    return user


def _chat_dict(chat_id: int, chat_type: str | None, sender: dict[str, Any]) -> dict[str, Any]:
    if chat_id > 0:
        chat = {"id": chat_id, "first_name": sender["first_name"]}
        if "username" in sender:
            chat["username"] = sender["username"]
        return {**chat, "type": chat_type or "private"}
    kind = chat_type or ("supergroup" if str(chat_id).startswith("-100") else "group")
    return {"id": chat_id, "title": f"Sandbox {kind} {chat_id}", "type": kind}


def _command_entities(text: str) -> list[dict[str, Any]]:
    if not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0]
    return [{"offset": 0, "length": len(command.encode("utf-16-le")) // 2, "type": "bot_command"}]


def _callback_data(sent: SentMessage) -> set[str]:
    rows = (sent.reply_markup or {}).get("inline_keyboard", [])
    return {str(b["callback_data"]) for row in rows for b in row if "callback_data" in b}


def _chat_instance(bot_id: int, chat_id: int) -> str:
    digest = hashlib.sha256(f"{bot_id}:{chat_id}".encode()).digest()
    return str(-int.from_bytes(digest[:8], "big") // 2)
