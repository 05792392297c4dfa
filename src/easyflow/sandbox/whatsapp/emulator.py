"""WhatsApp Cloud API emulator, served under `/whatsapp` (Graph paths beneath, any `vNN.N`).

API: `GET /{version}/{phone_number_id}` and `POST /{version}/{phone_number_id}/messages`
with `Authorization: Bearer <token>` (401, code 190, otherwise). Sends are validated as Meta
does (messaging_product, to, type limits: text ≤ 4096, ≤ 3 reply buttons with titles ≤ 20,
lists ≤ 10 rows, approved templates with their parameter count: 132001, 132000) and answered
`accepted`; over `messages_per_second` the answer is 130429. A free-form message to a customer
whose last message is older than the 24-hour window is accepted and then fails with a
`failed` status carrying 131047, as on the real platform; templates always go. `close_window`
(control: `POST …/customers/{wa_id}/close-window`) closes one customer's window at once.

Webhooks: the seller's dashboard step (control API) makes the GET verification request and
requires the bare challenge back; notifications are serialized with non-ASCII and "/"
escaped, signed `X-Hub-Signature-256: sha256=` by the production `sign()` with the app
secret, delivered one chat at a time and retried with backoff up to 7 days.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
from typing import Any

from fastapi import APIRouter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from easyflow.platforms.whatsapp import SIGNATURE
from easyflow.sandbox.base import ControlError, SandboxContext
from easyflow.sandbox.faults import Fault
from easyflow.sandbox.kit import Accounts, SendingAccounts, WebhookSender, Window, apply_fault
from easyflow.sandbox.whatsapp.state import NumberState, SentMessage, WhatsAppConfig, WhatsAppNumber

_WINDOW_CLOSED = (
    "Message failed to send because more than 24 hours have passed since the customer last "
    "replied to this number."
)
_VERSION = re.compile(r"v[0-9]{1,3}\.[0-9]{1,2}")


class GraphError(Exception):
    def __init__(
        self, code: int, message: str, status: int = 400, details: str | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.details = code, message, status, details

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": f"({'#'}{self.code}) {self.message}",
            "type": "OAuthException",
            "code": self.code,
            "fbtrace_id": "AbCdEfSandbox",
        }
        if self.details:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        return {"error": error}


class WhatsAppSandbox(SendingAccounts):
    slug = "whatsapp"

    def __init__(self, config: WhatsAppConfig, ctx: SandboxContext) -> None:
        self.config = config
        self._ctx = ctx
        self._numbers: Accounts[NumberState] = Accounts(
            "whatsapp number", lambda s: s.number.phone_number_id, lambda s: s.number.access_token
        )
        self._seq = itertools.count(1)
        self._app = Starlette(
            routes=[
                Route("/{version}/{phone_id}", self._number, methods=["GET"]),
                Route("/{version}/{phone_id}/messages", self._messages, methods=["POST"]),
            ]
        )
        self._seed()

    @property
    def app(self) -> Starlette:
        return self._app

    def control_router(self) -> APIRouter:
        from easyflow.sandbox.whatsapp.control import router

        return router(self)

    def demo_credentials(self) -> list[dict[str, str]]:
        return [
            {
                "access_token": s.number.access_token,
                "phone_number_id": s.number.phone_number_id,
                "app_secret": s.number.app_secret,
            }
            for s in self._numbers
        ]

    def register_number(self, number: WhatsAppNumber) -> NumberState:
        sender = WebhookSender(
            prepare=lambda document: self._prepare(number, document),
            clock=self._ctx.clock,
            transport=self._ctx.webhook_transport,
            schedule=self.config.retry,
            scale=self.config.retry_delay_scale,
        )
        window = Window(self.config.messages_per_second, 1.0, self._ctx.clock)
        return self._numbers.add(NumberState(number, sender, window))

    def number(self, phone_number_id: str) -> NumberState:
        return self._numbers.get(phone_number_id)

    # -- the seller's dashboard

    async def configure_webhook(
        self, phone_number_id: str, url: str, verify_token: str
    ) -> dict[str, Any]:
        """App dashboard → Webhooks → Callback URL + Verify token: Meta's GET verification."""
        state = self.number(phone_number_id)
        challenge = str(secrets.randbelow(10**9) + 10**9)
        params = {
            "hub.mode": "subscribe",
            "hub.challenge": challenge,
            "hub.verify_token": verify_token,
        }
        response = await state.sender.get_now(url, params)
        if response is None or response.status_code != 200 or response.text != challenge:
            got = (
                "no answer"
                if response is None
                else f"HTTP {response.status_code} {response.text[:60]!r}"
            )
            raise ControlError(f"The callback URL or verify token couldn't be validated ({got})")
        state.verify_token = verify_token
        state.sender.url = url
        state.sender.kick()
        return {"verified": True, "url": url}

    # -- customers act

    def customer_writes(
        self, phone_number_id: str, wa_id: str, text: str, name: str = "Ivan Demo"
    ) -> dict[str, Any]:
        return self.customer_sends(
            phone_number_id, wa_id, {"type": "text", "text": {"body": text}}, name
        )

    def customer_presses(
        self, phone_number_id: str, wa_id: str, wamid: str, button_id: str, name: str = "Ivan Demo"
    ) -> dict[str, Any]:
        """A reply button of an interactive message the business sent."""
        state = self.number(phone_number_id)
        sent = next((m for m in state.sent if m.id == wamid and m.to == wa_id), None)
        buttons = _reply_buttons(sent.payload) if sent is not None else {}
        if button_id not in buttons:
            raise ControlError(f"message {wamid} to {wa_id} has no reply button {button_id!r}")
        content = {
            "type": "interactive",
            "context": {"from": state.number.display_phone_number, "id": wamid},
            "interactive": {
                "type": "button_reply",
                "button_reply": {"id": button_id, "title": buttons[button_id]},
            },
        }
        return self.customer_sends(phone_number_id, wa_id, content, name)

    def customer_sends(
        self, phone_number_id: str, wa_id: str, content: dict[str, Any], name: str = "Ivan Demo"
    ) -> dict[str, Any]:
        """Any inbound message content (`type` plus its object); opens the 24-hour window."""
        state = self.number(phone_number_id)
        state.last_inbound[wa_id] = self._ctx.clock()
        message = {
            "from": wa_id,
            "id": self._wamid(),
            "timestamp": str(int(self._ctx.clock())),
            **content,
        }
        value = {"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [message]}
        self._notify(state, wa_id, value)
        return message

    def close_window(self, phone_number_id: str, wa_id: str) -> None:
        """WhatsApp holds the customer's window closed from now on (until they write again),
        whatever the hub thinks: its next free-form message is accepted, then fails with
        131047 in a status webhook."""
        self.number(phone_number_id).last_inbound.pop(wa_id, None)

    def customer_reads(self, phone_number_id: str, wamid: str) -> None:
        state = self.number(phone_number_id)
        sent = next((m for m in state.sent if m.id == wamid), None)
        if sent is None:
            raise ControlError(f"no message {wamid}")
        self._status(state, sent, "read")

    # -- read back

    def sent(self, phone_number_id: str, to: str | None = None) -> list[SentMessage]:
        return [m for m in self.number(phone_number_id).sent if to is None or m.to == to]

    def deliveries(self, phone_number_id: str) -> list[dict[str, Any]]:
        return [a.to_dict() for a in self.number(phone_number_id).sender.log.all()]

    # -- lifecycle

    @property
    def _registry(self) -> Accounts[Any]:
        return self._numbers

    # -- the API

    async def _number(self, request: Request) -> Response:
        return await self._serve(
            request, "phone_number", lambda state, _body: self._describe(state)
        )

    async def _messages(self, request: Request) -> Response:
        return await self._serve(request, "messages", self._send)

    async def _serve(self, request: Request, method: str, handler: Any) -> Response:
        version, phone_id = request.path_params["version"], request.path_params["phone_id"]
        fault = await apply_fault(self._ctx, self.slug, method, request.url.path, _render_fault)
        if fault is not None:
            return fault
        try:
            if not _VERSION.fullmatch(version):
                raise GraphError(2500, "Unknown path components", status=400)
            token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            state = self._numbers.by_token(token)
            if state is None:
                raise GraphError(
                    190, "Invalid OAuth access token - Cannot parse access token", status=401
                )
            if state.number.phone_number_id != phone_id:
                raise GraphError(
                    100, f"Unsupported post request. Object with ID '{phone_id}' does not exist"
                )
            body: Any = None
            if request.method == "POST":
                try:
                    body = json.loads(await request.body())
                except ValueError:
                    raise GraphError(100, "Invalid parameter", details="body is not JSON") from None
            return JSONResponse(handler(state, body))
        except GraphError as error:
            return JSONResponse(error.body(), status_code=error.status)

    def _describe(self, state: NumberState) -> dict[str, Any]:
        n = state.number
        return {
            "id": n.phone_number_id,
            "display_phone_number": n.display_phone_number,
            "verified_name": n.verified_name,
            "quality_rating": "GREEN",
        }

    def _send(self, state: NumberState, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            raise GraphError(100, "Invalid parameter", details="messaging_product must be whatsapp")
        if body.get("status") == "read":
            return {"success": True}
        to = body.get("to")
        if not isinstance(to, str) or not to.lstrip("+").isdigit():
            raise GraphError(100, "Invalid parameter", details="to is required")
        to = to.lstrip("+")
        kind = body.get("type", "text")
        _validate(kind, body, self.config.templates)
        if not state.window.allow():
            raise GraphError(
                130429, "Rate limit hit", details="Cloud API message throughput has been reached."
            )
        sent = SentMessage(self._wamid(), to, kind, body)
        state.sent.append(sent)
        last = state.last_inbound.get(to)
        outside = last is None or self._ctx.clock() - last > self.config.window_seconds
        if kind != "template" and outside:
            self._status(
                state,
                sent,
                "failed",
                error={
                    "code": 131047,
                    "title": "Re-engagement message",
                    "message": "Re-engagement message",
                    "error_data": {"details": _WINDOW_CLOSED},
                },
            )
        else:
            statuses = list(self.config.statuses)
            if self.config.read_before_delivered and "delivered" in statuses:
                statuses = [x for x in statuses if x != "delivered"] + ["read", "delivered"]
            for status in statuses:
                self._status(state, sent, status)
                if self.config.duplicate_statuses:
                    self._status(state, sent, status)
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": to}],
            "messages": [{"id": sent.id, "message_status": "accepted"}],
        }

    # -- webhooks

    def _status(
        self,
        state: NumberState,
        sent: SentMessage,
        status: str,
        error: dict[str, Any] | None = None,
    ) -> None:
        sent.status = status
        entry: dict[str, Any] = {
            "id": sent.id,
            "status": status,
            "timestamp": str(int(self._ctx.clock())),
            "recipient_id": sent.to,
        }
        if status != "failed":
            entry["pricing"] = {
                "billable": True,
                "pricing_model": "PMP",
                "category": "service",
                "type": "free_customer_service",
            }
        if error is not None:
            entry["errors"] = [error]
        self._notify(state, sent.to, {"statuses": [entry]})

    def _notify(self, state: NumberState, chat: str, value: dict[str, Any]) -> None:
        n = state.number
        body = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": n.display_phone_number,
                "phone_number_id": n.phone_number_id,
            },
            **value,
        }
        document = {
            "object": "whatsapp_business_account",
            "entry": [{"id": n.waba_id, "changes": [{"field": "messages", "value": body}]}],
        }
        state.sender.send(chat, f"n{next(self._seq)}", document)

    def _prepare(
        self, number: WhatsAppNumber, document: dict[str, Any]
    ) -> tuple[bytes, dict[str, str]]:
        text = json.dumps(document, ensure_ascii=True, separators=(",", ":"))
        if self.config.escape_slashes:
            text = text.replace("/", "\\/")
        body = text.encode()
        return body, SIGNATURE.sign(number.app_secret, body)

    def _wamid(self) -> str:
        raw = f"sandbox-{next(self._seq):012d}".encode()
        return "wamid." + base64.b64encode(raw).decode()

    def _seed(self) -> None:
        for number in self.config.numbers:
            self.register_number(number)


def _reply_buttons(payload: dict[str, Any]) -> dict[str, str]:
    interactive = payload.get("interactive") or {}
    action = interactive.get("action") or {}
    found = {b["reply"]["id"]: b["reply"]["title"] for b in action.get("buttons", [])}
    for section in action.get("sections", []):
        found |= {row["id"]: row["title"] for row in section.get("rows", [])}
    return found


def _validate(kind: Any, body: dict[str, Any], templates: dict[str, int]) -> None:
    if kind == "text":
        text = (body.get("text") or {}).get("body")
        if not isinstance(text, str) or not text:
            raise GraphError(100, "Invalid parameter", details="text.body is required")
        if len(text) > 4096:
            raise GraphError(
                100, "Invalid parameter", details="text.body is longer than 4096 characters"
            )
    elif kind == "interactive":
        _validate_interactive(body.get("interactive"))
    elif kind == "template":
        template = body.get("template") or {}
        name = template.get("name")
        if name not in templates:
            raise GraphError(
                132001,
                "Template name does not exist in the translation",
                details=f"template {name!r} is not approved",
            )
        given = sum(
            len(c.get("parameters", []))
            for c in template.get("components", [])
            if c.get("type") == "body"
        )
        if given != templates[name]:
            raise GraphError(
                132000,
                "Number of parameters does not match the expected number of params",
                details=f"{name} takes {templates[name]}, got {given}",
            )
    else:
        raise GraphError(100, "Invalid parameter", details=f"type {kind!r} is not emulated")


def _validate_interactive(interactive: Any) -> None:
    if not isinstance(interactive, dict):
        raise GraphError(100, "Invalid parameter", details="interactive is required")
    body = (interactive.get("body") or {}).get("text")
    if not isinstance(body, str) or not body or len(body) > 1024:
        raise GraphError(
            100, "Invalid parameter", details="interactive.body.text: 1 to 1024 characters"
        )
    action = interactive.get("action") or {}
    if interactive.get("type") == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= 3:
            raise GraphError(100, "Invalid parameter", details="buttons: 1 to 3")
        for button in buttons:
            title = (button.get("reply") or {}).get("title")
            if not isinstance(title, str) or not 0 < len(title) <= 20:
                raise GraphError(
                    100, "Invalid parameter", details="button title: 1 to 20 characters"
                )
    elif interactive.get("type") == "list":
        rows = [row for s in action.get("sections", []) for row in s.get("rows", [])]
        if not 1 <= len(rows) <= 10 or any(len(r.get("title", "")) > 24 for r in rows):
            raise GraphError(100, "Invalid parameter", details="list: 1 to 10 rows, titles ≤ 24")
    else:
        raise GraphError(100, "Invalid parameter", details="interactive.type is not emulated")


def _render_fault(fault: Fault) -> Response:
    spec = fault.spec
    if fault.kind == "rate_limit":
        error = GraphError(
            130429,
            spec.message or "Rate limit hit",
            details="Cloud API message throughput has been reached.",
        )
    elif fault.kind == "timeout":
        return Response(status_code=504)
    elif spec.status >= 500:
        error = GraphError(131000, spec.message or "Something went wrong", status=spec.status)
    else:
        error = GraphError(100, spec.message or "Invalid parameter", status=spec.status)
    return JSONResponse(error.body(), status_code=error.status)
