"""Webhook delivery the way the Bot API server does it (https://core.telegram.org/bots/api#setwebhook),
on the kit's `WebhookSender` (sandbox/kit/delivery.py), one per bot.

- `POST <url>`, `Content-Type: application/json`, body = one Update, and the secret header
  produced by the production `SecretTokenHeader.sign()`;
- per chat: one update at a time in update_id order, the next only after a 2xx (a failing
  update blocks its chat); chats in parallel, at most `max_connections` requests in flight;
- after a failure: retry immediately, then 2, 4, 8 ... s capped at a random 60-120 s, or the
  `Retry-After` of the failed response clamped to 3600 s (`TelegramBackoff`); drop the update
  24 h after it was created (`update_ttl`);
- a 2xx JSON body carrying `method` is executed as a Bot API call ("reply to webhook");
- failures are described as getWebhookInfo's `last_error_message` words them.

Only what is Telegram's lives here; the queues, workers and attempt log are the kit's.
Waits are multiplied by `retry_delay_scale` so tests run the real schedule in milliseconds.
"""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from easyflow.sandbox.base import SandboxContext, dumps
from easyflow.sandbox.kit import Attempt, WebhookSender
from easyflow.sandbox.kit.delivery import Pending
from easyflow.sandbox.telegram.state import BotState, TelegramConfig
from easyflow.webhooks.schemes import SecretTokenHeader

SECRET_HEADER = SecretTokenHeader("X-Telegram-Bot-Api-Secret-Token")
MAX_RETRY_AFTER = 3600.0
# Methods Telegram ignores when they come back in a webhook reply.
_NOT_IN_REPLY = frozenset({"setwebhook", "deletewebhook", "close", "logout"})

ReplyHandler = Callable[[BotState, dict[str, Any]], Awaitable[None]]


class TelegramBackoff:
    """Telegram's retry waits: the response's Retry-After (clamped), else immediately, then
    doubling from 2 s up to a cap drawn once per update between 60 and 120 s. Never gives up:
    the update's 24 h lifetime (the sender's `expire_after`) ends the retries."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def next_delay(
        self, pending: Pending, response: httpx.Response | None, age: float
    ) -> float | None:
        hinted = _retry_after(response)
        if hinted is not None:
            return min(hinted, MAX_RETRY_AFTER)
        if pending.attempts <= 1:
            return 0.0
        if "retry_cap" not in pending.extra:  # drawn once, when the first cap could apply
            pending.extra["retry_cap"] = self._rng.uniform(60.0, 120.0)
        return float(min(2.0 ** (pending.attempts - 1), pending.extra["retry_cap"]))


def bot_sender(
    bot: BotState, config: TelegramConfig, ctx: SandboxContext, on_reply: ReplyHandler
) -> WebhookSender:
    """The delivery of `bot`'s updates to its webhook (idle until `setWebhook`)."""

    def prepare(update: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = dumps(update)
        headers = {"Accept-Encoding": "gzip, deflate"}
        if bot.webhook.secret_token:
            headers.update(SECRET_HEADER.sign(bot.webhook.secret_token, body))
        return body, headers

    def remember_error(attempt: Attempt) -> None:
        if attempt.error is not None and attempt.error != "expired":
            bot.last_error_date = int(attempt.at)
            bot.last_error_message = attempt.error

    async def reply(_pending: Pending, response: httpx.Response) -> None:
        call = _reply_call(response)
        if call is not None:
            await on_reply(bot, call)

    return WebhookSender(
        prepare=prepare,
        clock=ctx.clock,
        transport=ctx.webhook_transport,
        schedule=TelegramBackoff(ctx.rng),
        scale=config.retry_delay_scale,
        on_response=reply,
        on_attempt=remember_error,
        failure_text=_failure_text,
        expire_after=config.update_ttl,
        max_in_flight=bot.webhook.max_connections,
        timeout=config.delivery_timeout,
    )


def _failure_text(failure: httpx.Response | BaseException) -> str:
    if isinstance(failure, httpx.Response):
        reason = f"{failure.status_code} {failure.reason_phrase}".strip()
        return f"Wrong response from the webhook: {reason}"
    if isinstance(failure, httpx.TimeoutException):
        return "Read timeout expired"
    return f"Connection failed: {type(failure).__name__}: {failure}"


def _reply_call(response: httpx.Response) -> dict[str, Any] | None:
    """The Bot API call a webhook answer carries, if Telegram would execute it."""
    try:
        data = json.loads(response.content) if response.content else None
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("method"), str):
        return None
    method = data["method"].lower()
    if method.startswith("get") or method in _NOT_IN_REPLY:
        return None
    return data


def _retry_after(response: httpx.Response | None) -> float | None:
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
