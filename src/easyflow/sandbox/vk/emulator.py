"""VK API and Callback API emulator, served under `/vk`.

API: `/method/<name>` by GET or POST (query or form parameters), the token as `access_token`
or a Bearer header, `v` required; every answer HTTP 200, `{"response": ...}` or `{"error":
{"error_code", "error_msg", "request_params"}}`: 5 bad token, 100 bad parameters, 6 over
`requests_per_second`, 9 flood control (when configured), 901 to a peer that never wrote,
911 a keyboard that is not a JSON string, 914 text too long. `messages.send` is idempotent
per (community, peer, random_id): a repeat returns the first message id and sends nothing.
Methods: messages.send, messages.sendMessageEventAnswer, groups.getById.

Callback API: the seller adds a server (control API) -> VK POSTs `confirmation` and expects
exactly the community's confirmation string; then events go out with the server's `secret`
in the body, one chat at a time, retried with `X-Retry-Counter: n` until the answer is
exactly `ok`, and the server is turned off after `disable_after_failures` failures in a row.
"""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from easyflow.platforms.vk import SECRET
from easyflow.sandbox.base import ControlError, SandboxContext, dumps
from easyflow.sandbox.faults import Fault
from easyflow.sandbox.kit import Accounts, SendingAccounts, WebhookSender, Window, apply_fault
from easyflow.sandbox.vk.state import (
    CommunityState,
    EventAnswer,
    SentMessage,
    VkCommunity,
    VkConfig,
)


class VkError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _accept_ok(response: Any) -> bool:
    return bool(response.status_code == 200 and response.content.strip() == b"ok")


class VkSandbox(SendingAccounts):
    slug = "vk"

    def __init__(self, config: VkConfig, ctx: SandboxContext) -> None:
        self.config = config
        self._ctx = ctx
        self._communities: Accounts[CommunityState] = Accounts(
            "vk community", lambda s: str(s.community.group_id), lambda s: s.community.access_token
        )
        self._ids = itertools.count(1043)
        self._app = Starlette(
            routes=[Route("/method/{name}", self._endpoint, methods=["GET", "POST"])]
        )
        self._seed()

    @property
    def app(self) -> Starlette:
        return self._app

    def control_router(self) -> APIRouter:
        from easyflow.sandbox.vk.control import router

        return router(self)

    def demo_credentials(self) -> list[dict[str, str]]:
        return [
            {
                "access_token": s.community.access_token,
                "group_id": str(s.community.group_id),
                "confirmation": s.community.confirmation,
            }
            for s in self._communities
        ]

    def register_community(self, community: VkCommunity) -> CommunityState:
        holder: dict[str, CommunityState] = {}
        sender = WebhookSender(
            prepare=lambda document: self._prepare(holder["state"], document),
            clock=self._ctx.clock,
            transport=self._ctx.webhook_transport,
            schedule=self.config.retry,
            scale=self.config.retry_delay_scale,
            accept=_accept_ok,
            retry_headers=lambda n: {"X-Retry-Counter": str(n)},
            disable_after=self.config.disable_after_failures,
        )
        window = Window(self.config.requests_per_second, 1.0, self._ctx.clock)
        state = self._communities.add(CommunityState(community, sender, window))
        holder["state"] = state
        return state

    def community(self, group_id: int | str) -> CommunityState:
        return self._communities.get(str(group_id))

    # -- the seller's settings

    async def add_server(self, group_id: int, url: str, secret: str | None) -> dict[str, Any]:
        """Callback API → add a server: VK confirms it with the `confirmation` event first."""
        state = self.community(group_id)
        state.secret = secret or None
        probe = self._document(state, "confirmation", None)
        response = await state.sender.post_now(url, probe)
        expected = state.community.confirmation.encode()
        if response is None or response.status_code != 200 or response.content.strip() != expected:
            got = (
                "no answer" if response is None else response.content[:100].decode(errors="replace")
            )
            raise ControlError(f"confirmation failed: expected {expected.decode()!r}, got {got!r}")
        state.sender.url = url
        state.sender.enable()
        return {"confirmed": True, "url": url}

    def enable_server(self, group_id: int) -> None:
        self.community(group_id).sender.enable()

    # -- customers act

    def customer_writes(
        self,
        group_id: int,
        user_id: int,
        text: str,
        *,
        payload: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        peer_id: int | None = None,
    ) -> dict[str, Any]:
        state = self.community(group_id)
        peer = peer_id or user_id
        state.peers.add(peer)
        message = {
            "date": int(self._ctx.clock()),
            "from_id": user_id,
            "id": next(self._ids),
            "out": 0,
            "version": 10000123,
            "peer_id": peer,
            "conversation_message_id": len(state.sent) + next(self._ids),
            "text": text,
            "attachments": attachments or [],
            "fwd_messages": [],
            "important": False,
            "is_hidden": False,
            "random_id": 0,
        }
        if payload is not None:
            message["payload"] = payload
        client_info = {
            "button_actions": ["text", "vkpay", "open_app", "location", "open_link", "callback"],
            "keyboard": True,
            "inline_keyboard": True,
            "carousel": True,
            "lang_id": 0,
        }
        return self._emit(
            state, peer, "message_new", {"message": message, "client_info": client_info}
        )

    def customer_presses(
        self, group_id: int, user_id: int, message_id: int, payload: str, peer_id: int | None = None
    ) -> dict[str, Any]:
        """A callback button of a message the community sent: `message_event`."""
        state = self.community(group_id)
        peer = peer_id or user_id
        sent = next((m for m in state.sent if m.id == message_id and m.peer_id == peer), None)
        if sent is None:
            raise ControlError(f"the community sent no message {message_id} to {peer}")
        payloads = [
            b["action"].get("payload")
            for row in (sent.keyboard or {}).get("buttons", [])
            for b in row
        ]
        if payload not in payloads:
            raise ControlError(f"message {message_id} has no button with payload {payload!r}")
        answer_id = uuid.uuid4().hex[:16]
        state.open_events[answer_id] = (user_id, peer)
        obj = {
            "user_id": user_id,
            "peer_id": peer,
            "event_id": answer_id,
            "payload": json.loads(payload),
            "conversation_message_id": sent.conversation_message_id,
        }
        return self._emit(state, peer, "message_event", obj)

    def community_event(
        self, group_id: int, kind: str, obj: dict[str, Any], chat: int = 0
    ) -> dict[str, Any]:
        """Any other Callback API event (group_join, message_typing_state, ...)."""
        return self._emit(self.community(group_id), chat, kind, obj)

    # -- read back

    def sent(self, group_id: int, peer_id: int | None = None) -> list[SentMessage]:
        return [m for m in self.community(group_id).sent if peer_id is None or m.peer_id == peer_id]

    def answers(self, group_id: int) -> list[EventAnswer]:
        return list(self.community(group_id).answers)

    def deliveries(self, group_id: int) -> list[dict[str, Any]]:
        return [a.to_dict() for a in self.community(group_id).sender.log.all()]

    # -- lifecycle

    @property
    def _registry(self) -> Accounts[Any]:
        return self._communities

    # -- the API

    async def _endpoint(self, request: Request) -> Response:
        name = request.path_params["name"]
        fault = await apply_fault(self._ctx, self.slug, name, f"/method/{name}", _render_fault)
        if fault is not None:
            return fault
        params = dict(request.query_params)
        if request.method == "POST":
            try:
                params |= dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
            except UnicodeDecodeError:
                return JSONResponse({"error": {"error_code": 8, "error_msg": "Invalid request"}})
        try:
            result = self._call(name, params, request.headers.get("authorization", ""))
        except VkError as error:
            request_params = [
                {"key": "method", "value": name},
                {"key": "v", "value": params.get("v", "")},
            ]
            return JSONResponse(
                {
                    "error": {
                        "error_code": error.code,
                        "error_msg": error.message,
                        "request_params": request_params,
                    }
                }
            )
        return JSONResponse({"response": result})

    def _call(self, name: str, params: dict[str, str], authorization: str) -> Any:
        token = params.get("access_token") or authorization.removeprefix("Bearer ").strip()
        state = self._communities.by_token(token)
        if state is None:
            raise VkError(5, "User authorization failed: invalid access_token (4).")
        if not params.get("v"):
            raise VkError(8, "Invalid request: v (version) is required")
        if not state.window.allow():
            raise VkError(6, "Too many requests per second")
        handler = {
            "messages.send": self._send,
            "messages.sendMessageEventAnswer": self._event_answer,
            "groups.getById": self._group,
        }.get(name)
        if handler is None:
            raise VkError(3, "Unknown method passed")
        return handler(state, params)

    def _group(self, state: CommunityState, params: dict[str, str]) -> Any:
        c = state.community
        return {
            "groups": [
                {
                    "id": c.group_id,
                    "name": c.name,
                    "screen_name": c.screen_name,
                    "is_closed": 0,
                    "type": "group",
                }
            ],
            "profiles": [],
        }

    def _send(self, state: CommunityState, params: dict[str, str]) -> Any:
        peer = _int(params, "peer_id")
        random_id = _int(params, "random_id")
        text = params.get("message", "")
        if not text and not params.get("attachment"):
            raise VkError(
                100, "One of the parameters specified was missing or invalid: message is empty"
            )
        if len(text) > self.config.max_text:
            raise VkError(914, "Message is too long")
        if peer not in state.peers:
            raise VkError(901, "Can't send messages for users without permission")
        if random_id and (peer, random_id) in state.by_random_id:
            return state.by_random_id[(peer, random_id)].id  # the same message, not a second one
        keyboard = _keyboard(params.get("keyboard"))
        if self.config.messages_per_peer_per_minute is not None:
            window = state.flood.setdefault(
                peer, Window(self.config.messages_per_peer_per_minute, 60.0, self._ctx.clock)
            )
            if not window.allow():
                raise VkError(9, "Flood control")
        message = SentMessage(next(self._ids), peer, random_id, text, keyboard, len(state.sent) + 1)
        state.sent.append(message)
        if random_id:
            state.by_random_id[(peer, random_id)] = message
        return message.id

    def _event_answer(self, state: CommunityState, params: dict[str, str]) -> Any:
        event_id = params.get("event_id", "")
        user_id, peer_id = _int(params, "user_id"), _int(params, "peer_id")
        if state.open_events.get(event_id) != (user_id, peer_id):
            raise VkError(100, "One of the parameters specified was missing or invalid: event_id")
        del state.open_events[event_id]
        data = params.get("event_data")
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            raise VkError(
                100, "One of the parameters specified was missing or invalid: event_data"
            ) from None
        state.answers.append(EventAnswer(event_id, user_id, peer_id, parsed))
        return 1

    # -- helpers

    def _document(
        self, state: CommunityState, kind: str, obj: dict[str, Any] | None
    ) -> dict[str, Any]:
        document: dict[str, Any] = {
            "type": kind,
            "event_id": uuid.uuid4().hex,
            "v": self.config.api_version,
            "group_id": state.community.group_id,
        }
        if obj is not None:
            document["object"] = obj
        return document

    def _prepare(
        self, state: CommunityState, document: dict[str, Any]
    ) -> tuple[bytes, dict[str, str]]:
        if state.secret:
            document = SECRET.embed(state.secret, document)
        body = dumps(document)
        return body, SECRET.sign(state.secret or "", body)

    def _emit(
        self, state: CommunityState, chat: int, kind: str, obj: dict[str, Any]
    ) -> dict[str, Any]:
        document = self._document(state, kind, obj)
        state.sender.send(str(chat), document["event_id"], document)
        return document

    def _seed(self) -> None:
        for community in self.config.communities:
            self.register_community(community)


def _int(params: dict[str, str], name: str) -> int:
    value = params.get(name, "")
    try:
        return int(value)
    except ValueError:
        raise VkError(
            100, f"One of the parameters specified was missing or invalid: {name} not integer"
        ) from None


def _keyboard(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        keyboard = json.loads(raw)
    except ValueError:
        raise VkError(911, "Keyboard format is invalid: not JSON") from None
    if not isinstance(keyboard, dict) or not isinstance(keyboard.get("buttons"), list):
        raise VkError(911, "Keyboard format is invalid: buttons")
    for row in keyboard["buttons"]:
        for button in row if isinstance(row, list) else [None]:
            action = button.get("action") if isinstance(button, dict) else None
            if not isinstance(action, dict) or "type" not in action:
                raise VkError(911, "Keyboard format is invalid: action")
            if "payload" in action and not isinstance(action["payload"], str):
                raise VkError(911, "Keyboard format is invalid: payload must be a JSON string")
    return keyboard


def _render_fault(fault: Fault) -> Response:
    spec = fault.spec
    if fault.kind == "rate_limit":
        error = {"error_code": 6, "error_msg": spec.message or "Too many requests per second"}
    elif fault.kind == "timeout":
        return Response(status_code=504)
    elif spec.status >= 500:
        error = {"error_code": 10, "error_msg": spec.message or "Internal server error"}
    else:
        error = {
            "error_code": 100,
            "error_msg": spec.message or "One of the parameters specified was missing or invalid",
        }
    return JSONResponse({"error": {**error, "request_params": []}})
