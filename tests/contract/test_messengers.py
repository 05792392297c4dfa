"""One contract suite over every messenger adapter, its sandbox and its inbound code.

Parametrized over Telegram, WhatsApp, VK and Viber: credentials on the wire, webhook proofs
(valid, missing, wrong secret, tampered, re-serialized), handshakes, parsing of every event
type the platform sends, sending, error classification, 429 handling and idempotency keys.
The adapters talk real HTTP to the sandboxes; the sandboxes deliver real, signed webhooks to
the production verify/parse code (tests/support/messengers.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from easyflow.domain.errors import (
    AuthenticationError,
    ConfigurationError,
    MalformedPayloadError,
    RateLimitedError,
    RejectedError,
    RetryableError,
    WebhookSignatureError,
)
from easyflow.domain.messaging import (
    Button,
    DeliveryState,
    DeliveryUpdate,
    InboundKind,
    InboundMessage,
    LifecycleEvent,
    MessageTemplate,
    OutboundMessage,
    WebhookReply,
)
from easyflow.http import RawResponse
from easyflow.platforms import viber, vk, whatsapp
from easyflow.platforms.whatsapp.spec import ServiceWindowClosedError
from easyflow.sandbox.base import ControlError
from easyflow.sandbox.faults import FaultSpec
from easyflow.sandbox.server import SandboxConfig, create_sandbox_app
from easyflow.webhooks.inbound import HandshakeRefusedError, MethodNotAllowedError
from support.messengers import (
    HOOK,
    REGISTRY,
    SECRET,
    Messenger,
    adapter_for,
    integration_for,
    open_messenger,
)

PLATFORMS = tuple(REGISTRY.webhook_platforms())  # every messenger; each needs its CHATS entry
CHATS = {
    "telegram": "5550001",
    "whatsapp": "79990001122",
    "vk": "5550001",
    "viber": "01234567890A=",
}
# Non-ASCII, an emoji and a slash: what breaks signatures checked over re-serialized JSON.
TRICKY = "Привет! Где мой заказ 42/1? 🙂"


@pytest.fixture(params=PLATFORMS)
async def m(request: pytest.FixtureRequest) -> AsyncIterator[Messenger]:
    messenger = await open_messenger(request.param)
    await messenger.connect()
    try:
        yield messenger
    finally:
        await messenger.sandbox.aclose()


async def writes(m: Messenger, text: str) -> None:
    """The customer of CHATS[platform] writes; waits until the sandbox delivered it."""
    await m.sandbox.customer_writes(m.platform, m.credentials, CHATS[m.platform], text)
    await m.sandbox.wait_idle()


def sent_texts(m: Messenger) -> list[str | None]:
    return m.sandbox.sent_texts(m.platform, m.credentials, CHATS[m.platform])


# --------------------------------------------------------------------------- credentials


async def test_credentials_travel_where_the_platform_wants_them(m: Messenger) -> None:
    identity = await m.adapter.identity()
    assert identity.id
    request = m.wire.requests[-1]
    url, headers = str(request.url), request.headers
    if m.platform == "telegram":
        assert url.endswith(f"/bot{m.credentials['token']}/getMe")
        return
    secret = {"whatsapp": "access_token", "vk": "access_token", "viber": "auth_token"}[m.platform]
    token = m.credentials[secret]
    assert token not in url  # a header, never the URL (URLs end up in logs)
    if m.platform == "viber":
        assert headers["x-viber-auth-token"] == token
    else:
        assert headers["authorization"] == f"Bearer {token}"
    if m.platform == "vk":
        form = dict(x.split("=", 1) for x in request.content.decode().split("&"))
        assert form["v"] == vk.API_VERSION and form["group_id"] == m.credentials["group_id"]


def test_every_sandbox_account_listed_is_accepted_by_the_hub_as_is() -> None:
    """`GET /_sandbox/` credentials pasted into `integrations add` pass the format check."""
    sandbox = create_sandbox_app(SandboxConfig.demo())
    for item in sandbox.catalog():
        assert item["credentials"], item["platform"]
        for credentials in item["credentials"]:
            REGISTRY.check_credentials(item["platform"], credentials)


# --------------------------------------------------------------------------- webhook proofs


async def _delivery(m: Messenger) -> Any:
    await writes(m, TRICKY)
    [delivery] = [
        r for r in m.receiver.received if any(isinstance(e, InboundMessage) for e in r.events)
    ]
    return delivery


def _verify(m: Messenger, headers: dict[str, str], body: bytes, secret: str | None = None) -> None:
    integration = m.receiver.integration
    keys = m.webhook.signing_secrets(integration) if secret is None else [secret]
    m.webhook.scheme.verify(keys, headers, body)


async def test_a_delivery_proves_its_sender_and_forgeries_do_not(m: Messenger) -> None:
    delivery = await _delivery(m)
    headers, body = dict(delivery.request.headers), delivery.body
    _verify(m, headers, body)  # valid as sent
    proof = {
        "whatsapp": "x-hub-signature-256",
        "viber": "x-viber-content-signature",
        "telegram": "x-telegram-bot-api-secret-token",
    }
    # Missing proof.
    if m.platform == "vk":
        document = json.loads(body)
        del document["secret"]
        stripped = json.dumps(document, ensure_ascii=False).encode()
    else:
        stripped = body
        headers_without = {k: v for k, v in headers.items() if k != proof[m.platform]}
    with pytest.raises(WebhookSignatureError):
        _verify(m, headers if m.platform == "vk" else headers_without, stripped)
    # The wrong key.
    with pytest.raises(WebhookSignatureError):
        if m.platform == "vk":
            wrong = json.dumps({**json.loads(body), "secret": "not-the-secret"}).encode()
            _verify(m, headers, wrong)
        else:
            _verify(m, headers, body, secret="not-the-right-key-0000000000000000")


async def test_tampered_and_reserialized_bodies_fail_where_the_proof_covers_the_body(
    m: Messenger,
) -> None:
    delivery = await _delivery(m)
    headers, body = dict(delivery.request.headers), delivery.body
    tampered = body.replace(b"42", b"43")
    reserialized = json.dumps(json.loads(body)).encode()
    assert tampered != body and reserialized != body  # the test would prove nothing otherwise
    signs_body = m.platform in ("whatsapp", "viber")  # an HMAC of the exact bytes
    for forged in (tampered, reserialized):
        if signs_body:
            with pytest.raises(WebhookSignatureError):
                _verify(m, headers, forged)
        else:  # Telegram's header and VK's body field are shared secrets, not signatures
            _verify(m, headers, forged)


async def test_non_ascii_and_escaped_slashes_arrive_signed_and_parse(m: Messenger) -> None:
    delivery = await _delivery(m)
    [message] = [e for e in delivery.events if isinstance(e, InboundMessage)]
    assert message.text == TRICKY
    assert message.chat_id == CHATS[m.platform]
    if m.platform == "whatsapp":  # Meta's bytes: \uXXXX escapes and \/
        assert b"\\u041f" in delivery.body and b"42\\/1" in delivery.body


# --------------------------------------------------------------------------- handshakes


async def test_handshakes(m: Messenger) -> None:
    webhook, integration = m.webhook, m.receiver.integration
    if m.platform == "whatsapp":
        query = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": SECRET}
        reply = webhook.handshake(integration, query)
        assert reply == WebhookReply(b"1158201444", "text/plain; charset=utf-8")
        for wrong in ({**query, "hub.verify_token": "nope"}, {**query, "hub.mode": "unsubscribe"}):
            with pytest.raises(HandshakeRefusedError):
                webhook.handshake(integration, wrong)
        # The sandbox's dashboard step went through the same code; a wrong token fails there.
        with pytest.raises(ControlError, match="couldn't be validated"):
            await m.sandbox.whatsapp.configure_webhook(
                m.credentials["phone_number_id"], HOOK + "/whatsapp", "nope"
            )
        return
    with pytest.raises(MethodNotAllowedError):
        webhook.handshake(integration, {})
    if m.platform == "vk":
        confirmation = {
            "type": "confirmation",
            "group_id": int(m.credentials["group_id"]),
            "event_id": "x",
            "v": "5.199",
            "secret": SECRET,
        }
        assert webhook.challenge(integration, confirmation) == WebhookReply.text("5f1d0a9c")
        with pytest.raises(WebhookSignatureError):
            webhook.challenge(integration, {**confirmation, "group_id": 1})
        other = integration_for("vk", {**m.credentials, "confirmation": "deadbeef"})
        m.receiver.integration = other
        with pytest.raises(ControlError, match="confirmation failed"):
            await m.sandbox.vk.add_server(int(m.credentials["group_id"]), HOOK + "/vk", SECRET)
    if m.platform == "viber":  # set_webhook was probed with a signed `webhook` event
        probes = [r for r in m.receiver.received if json.loads(r.body)["event"] == "webhook"]
        assert len(probes) == 1 and probes[0].events == []


# --------------------------------------------------------------------------- parsing


async def test_every_event_type_parses_into_a_typed_event(m: Messenger) -> None:
    await writes(m, "hello")
    await m.adapter.send(
        OutboundMessage(CHATS[m.platform], "Pick", ((Button("Yes", callback_data="yes"),),))
    )
    await m.sandbox.wait_idle()
    scenario = SCENARIOS[m.platform]
    await scenario(m)
    await m.sandbox.wait_idle()
    events = m.receiver.events()
    kinds = {_kind(e) for e in events}
    assert kinds >= EXPECTED[m.platform], kinds
    for event in events:
        if isinstance(event, InboundMessage | LifecycleEvent):
            assert event.chat_id == CHATS[m.platform]


def _kind(event: Any) -> str:
    if isinstance(event, InboundMessage):
        if event.attachments:
            return f"attachment:{event.attachments[0].kind}"
        if event.kind is InboundKind.CALLBACK:
            return "callback"
        return "button" if event.callback_data else "text"
    if isinstance(event, DeliveryUpdate):
        return f"status:{event.state.value}"
    return f"lifecycle:{event.kind.value}"


async def _telegram(m: Messenger) -> None:
    token, chat = m.credentials["token"], int(CHATS["telegram"])
    pick = m.sandbox.telegram.sent(token, chat)[-1]
    await m.sandbox.telegram.customer_presses(token, chat, pick.message_id, "yes")


async def _whatsapp(m: Messenger) -> None:
    s, phone, chat = m.sandbox.whatsapp, m.credentials["phone_number_id"], CHATS["whatsapp"]
    pick = s.sent(phone, chat)[-1]
    s.customer_presses(phone, chat, pick.id, "yes")
    s.customer_sends(
        phone,
        chat,
        {
            "type": "image",
            "image": {
                "id": "1479537139650973",
                "mime_type": "image/jpeg",
                "sha256": "abc",
                "caption": "the parcel",
            },
        },
    )
    s.customer_sends(
        phone,
        chat,
        {"type": "location", "location": {"latitude": 55.75, "longitude": 37.62, "name": "Office"}},
    )
    s.customer_sends(
        phone,
        chat,
        {
            "type": "contacts",
            "contacts": [
                {
                    "name": {"formatted_name": "Ivan"},
                    "phones": [{"phone": "+7 999 000-11-22", "wa_id": chat}],
                }
            ],
        },
    )
    s.customer_reads(phone, pick.id)
    await m.adapter.send(OutboundMessage("79990009999", "nobody wrote from here"))  # 131047


async def _vk(m: Messenger) -> None:
    s, group, chat = m.sandbox.vk, int(m.credentials["group_id"]), int(CHATS["vk"])
    pick = s.sent(group, chat)[-1]
    payload = pick.keyboard["buttons"][0][0]["action"]["payload"]  # type: ignore[index]
    s.customer_presses(group, chat, pick.id, payload)
    s.customer_writes(group, chat, "Да", payload='{"cmd":"yes"}')
    s.customer_writes(
        group,
        chat,
        "",
        attachments=[{"type": "photo", "photo": {"id": 457239017, "owner_id": chat}}],
    )
    s.community_event(group, "group_join", {"user_id": chat, "join_type": "join"}, chat)


async def _viber(m: Messenger) -> None:
    s, token, chat = m.sandbox.viber, m.credentials["auth_token"], CHATS["viber"]
    pick = s.sent(token, chat)[-1]
    s.customer_writes(token, chat, pick.keyboard["Buttons"][0]["ActionBody"])  # type: ignore[index]
    s.customer_sends(
        token, chat, {"type": "picture", "text": "", "media": "https://example.org/p.jpg"}
    )
    s.customer_sends(token, chat, {"type": "location", "location": {"lat": 55.75, "lon": 37.62}})
    s.customer_sends(
        token, chat, {"type": "contact", "contact": {"name": "Ivan", "phone_number": "79990001122"}}
    )
    s.delivery_fails(token, pick.message_token, "receiver offline")
    s.customer_opens(token, chat, context="promo42")
    s.customer_unsubscribes(token, chat)
    s.customer_subscribes(token, chat)


SCENARIOS = {"telegram": _telegram, "whatsapp": _whatsapp, "vk": _vk, "viber": _viber}
EXPECTED = {
    "telegram": {"text", "callback"},
    "whatsapp": {
        "text",
        "button",
        "attachment:photo",
        "attachment:location",
        "attachment:contact",
        "status:sent",
        "status:delivered",
        "status:read",
        "status:failed",
    },
    "vk": {"text", "callback", "button", "attachment:photo"},
    "viber": {
        "text",
        "attachment:photo",
        "attachment:location",
        "attachment:contact",
        "status:delivered",
        "status:read",
        "status:failed",
        "lifecycle:conversation_started",
        "lifecycle:subscribed",
        "lifecycle:unsubscribed",
    },
}


async def test_delivery_failures_carry_the_platform_reason(m: Messenger) -> None:
    if m.platform not in ("whatsapp", "viber"):
        pytest.skip("no failed-delivery callbacks on this platform")
    await writes(m, "hello")
    await m.adapter.send(
        OutboundMessage(CHATS[m.platform], "Pick", ((Button("Yes", callback_data="yes"),),))
    )
    await SCENARIOS[m.platform](m)
    await m.sandbox.wait_idle()
    [failed] = [
        e
        for e in m.receiver.events()
        if isinstance(e, DeliveryUpdate) and e.state is DeliveryState.FAILED
    ]
    if m.platform == "whatsapp":
        assert failed.error_code == "131047" and "24 hours" in (failed.error or "")
        assert failed.window_closed  # a template could still reach the customer
    else:
        assert failed.error == "receiver offline"
        assert not failed.window_closed


async def test_button_answers_reach_the_platform(m: Messenger) -> None:
    await writes(m, "hello")
    await m.adapter.send(
        OutboundMessage(CHATS[m.platform], "Pick", ((Button("Yes", callback_data="yes"),),))
    )
    await SCENARIOS[m.platform](m)
    await m.sandbox.wait_idle()
    # Viber sends a reply button's ActionBody back as the customer's text.
    presses = [
        e
        for e in m.receiver.events()
        if isinstance(e, InboundMessage)
        and (e.callback_data == "yes" or (m.platform == "viber" and e.text == "yes"))
    ]
    assert presses, "the button press carries the button's data"
    callback = next((e for e in presses if e.callback_id), None)
    if m.platform in ("telegram", "vk"):  # the customer's client waits for this answer
        assert callback is not None
        await m.adapter.answer_callback(callback.callback_id, "Noted")
    if m.platform == "vk":
        [answer] = m.sandbox.vk.answers(int(m.credentials["group_id"]))
        assert answer.event_data == {"type": "show_snackbar", "text": "Noted"}


# --------------------------------------------------------------------------- sending


async def test_text_and_buttons_go_out_in_the_platform_shape(m: Messenger) -> None:
    await writes(m, "hello")
    buttons = (
        (
            Button("Track", callback_data="track:1001"),
            Button("Site", url="https://shop.example/o/1001"),
        ),
    )
    result = await m.adapter.send(
        OutboundMessage(CHATS[m.platform], "Order 1001 is on its way", buttons)
    )
    assert result.platform_message_ids
    s, c, chat = m.sandbox, m.credentials, CHATS[m.platform]
    if m.platform == "whatsapp":
        [sent] = s.whatsapp.sent(c["phone_number_id"], chat)
        reply = sent.payload["interactive"]["action"]["buttons"]
        assert reply == [{"type": "reply", "reply": {"id": "track:1001", "title": "Track"}}]
        assert "https://shop.example/o/1001" in sent.payload["interactive"]["body"]["text"]
        assert result.platform_message_ids == (sent.id,)
    elif m.platform == "vk":
        [sent] = s.vk.sent(int(c["group_id"]), int(chat))
        assert sent.text == "Order 1001 is on its way"
        [[track, site]] = sent.keyboard["buttons"]  # type: ignore[index]
        assert track["action"] == {
            "type": "callback",
            "label": "Track",
            "payload": '{"cmd": "track:1001"}',
        }
        assert site["action"]["type"] == "open_link"
        assert result.platform_message_ids == (str(sent.id),)
    elif m.platform == "viber":
        [sent] = s.viber.sent(c["auth_token"], chat)
        assert sent.text == "Order 1001 is on its way" and sent.sender["name"] == "Hub Sandbox Shop"
        assert [b["ActionType"] for b in sent.keyboard["Buttons"]] == ["reply", "open-url"]  # type: ignore[index]
        assert result.platform_message_ids == (str(sent.message_token),)
    else:
        assert sent_texts(m) == ["Order 1001 is on its way"]


async def test_long_texts_are_split_within_the_platform_limit(m: Messenger) -> None:
    await writes(m, "hello")
    limit = {"telegram": 4096, "whatsapp": 4096, "vk": 4096, "viber": 7000}[m.platform]
    text = " ".join(["word"] * (limit // 5 * 2 + 10))
    result = await m.adapter.send(OutboundMessage(CHATS[m.platform], text))
    texts = sent_texts(m)
    assert len(texts) == len(result.platform_message_ids) >= 2
    assert all(t is not None and len(t) <= limit for t in texts)
    assert " ".join(t or "" for t in texts) == text


async def test_whatsapp_templates_go_out_even_outside_the_window() -> None:
    m = await open_messenger("whatsapp")
    await m.connect()
    try:
        template = MessageTemplate("order_shipped", "ru", ("1001", "RR1RU"))
        await m.adapter.send(OutboundMessage("79990007777", "", template=template))
        await m.sandbox.wait_idle()
        [sent] = m.sandbox.whatsapp.sent(m.credentials["phone_number_id"], "79990007777")
        assert sent.payload["template"]["components"][0]["parameters"] == [
            {"type": "text", "text": "1001"},
            {"type": "text", "text": "RR1RU"},
        ]
        states = [e.state for e in m.receiver.events() if isinstance(e, DeliveryUpdate)]
        assert DeliveryState.FAILED not in states and DeliveryState.DELIVERED in states
        with pytest.raises(RejectedError, match="132000"):
            await m.adapter.send(
                OutboundMessage(
                    "79990007777", "", template=MessageTemplate("order_shipped", "ru", ("1001",))
                )
            )
        with pytest.raises(RejectedError, match="132001"):
            await m.adapter.send(
                OutboundMessage("79990007777", "", template=MessageTemplate("nope", "ru"))
            )
    finally:
        await m.sandbox.aclose()


# --------------------------------------------------------------------------- errors


async def test_refusals_and_bad_credentials_are_typed_errors(m: Messenger) -> None:
    stranger = {
        "telegram": "5559999",
        "whatsapp": "not-a-number",
        "vk": "5559999",
        "viber": "never-wrote=",
    }[m.platform]
    with pytest.raises(RejectedError):
        await m.adapter.send(OutboundMessage(stranger, "hello"))
    wrong = dict(m.credentials)
    field = REGISTRY.get(m.platform).spec.auth.credential
    wrong[field] = {
        "telegram": "123456789:" + "Z" * 35,
        "whatsapp": "EAAwrong" + "0" * 20,
        "vk": "vk1.a.wrong-token-000000000",
        "viber": "0000000000000000-0000000000000000",
    }[m.platform]
    with pytest.raises(AuthenticationError):
        await adapter_for(m.sandbox, m.platform, wrong).identity()


def _graph(code: int, status: int = 400) -> RawResponse:
    body = {
        "error": {
            "message": f"(#{code}) x",
            "type": "OAuthException",
            "code": code,
            "error_data": {"details": "why"},
        }
    }
    return RawResponse(status, {}, json.dumps(body).encode())


def _vk(code: int) -> RawResponse:
    return RawResponse(
        200,
        {},
        json.dumps(
            {"error": {"error_code": code, "error_msg": "x", "request_params": []}}
        ).encode(),
    )


def _viber(status: int) -> RawResponse:
    return RawResponse(200, {}, json.dumps({"status": status, "status_message": "x"}).encode())


@pytest.mark.parametrize(
    ("classify", "response", "error"),
    [
        (whatsapp.classify, _graph(131047), ServiceWindowClosedError),  # a RejectedError
        (whatsapp.classify, _graph(130429), RateLimitedError),
        (whatsapp.classify, _graph(131056), RetryableError),
        (whatsapp.classify, _graph(131026), RejectedError),
        (whatsapp.classify, _graph(190, 401), AuthenticationError),
        (whatsapp.classify, _graph(80007), RateLimitedError),
        (whatsapp.classify, _graph(131000, 500), RetryableError),
        (whatsapp.classify, _graph(132001), RejectedError),
        (vk.classify, _vk(6), RateLimitedError),
        (vk.classify, _vk(9), RateLimitedError),
        (vk.classify, _vk(10), RetryableError),
        (vk.classify, _vk(901), RejectedError),
        (vk.classify, _vk(914), RejectedError),
        (vk.classify, _vk(5), AuthenticationError),
        (vk.classify, _vk(912), ConfigurationError),
        (viber.classify, _viber(12), RateLimitedError),
        (viber.classify, _viber(6), RejectedError),
        (viber.classify, _viber(2), AuthenticationError),
        (viber.classify, _viber(10), ConfigurationError),
        (viber.classify, _viber(99), RetryableError),
    ],
)
def test_error_codes_are_classified_by_what_to_do(
    classify: Any, response: RawResponse, error: type
) -> None:
    with pytest.raises(error) as caught:
        classify(response)
    assert type(caught.value) is error  # not a broader or narrower class than the table says


def test_errors_inside_http_200_are_errors() -> None:
    assert vk.classify(RawResponse(200, {}, b'{"response":1043}')) == 1043
    assert (
        viber.classify(RawResponse(200, {}, b'{"status":0,"status_message":"ok"}'))["status"] == 0
    )
    with pytest.raises(RejectedError):
        vk.classify(RawResponse(200, {}, b'{"error":{"error_code":901,"error_msg":"x"}}'))


async def test_a_429_is_waited_out_and_the_message_sent_once(m: Messenger) -> None:
    await writes(m, "hello")
    m.sandbox.faults.add(FaultSpec(platform=m.platform, kind="rate_limit", retry_after=1, count=1))
    await m.adapter.send(OutboundMessage(CHATS[m.platform], "after the storm"))
    assert sent_texts(m) == ["after the storm"]
    assert [f.hits for f in m.sandbox.faults.installed()] == [1]


# --------------------------------------------------------------------------- idempotency


async def test_idempotency_keys(m: Messenger) -> None:
    await writes(m, "hello")
    chat = CHATS[m.platform]
    first = await m.adapter.send(OutboundMessage(chat, "once", idempotency_key="4711"))
    again = await m.adapter.send(OutboundMessage(chat, "once", idempotency_key="4711"))
    other = await m.adapter.send(OutboundMessage(chat, "twice", idempotency_key="4712"))
    spec_says = {"telegram": False, "whatsapp": False, "vk": True, "viber": False}[m.platform]
    assert REGISTRY.get(m.platform).spec.idempotency_keys is spec_says
    if spec_says:  # a repeat with the same key is the same message
        assert first.platform_message_ids == again.platform_message_ids
        assert sent_texts(m) == ["once", "twice"]
        [one, _] = m.sandbox.vk.sent(int(m.credentials["group_id"]), int(chat))
        assert one.random_id == vk.random_id("4711") == 4711
    else:  # no key on the wire: a repeat is a second copy (hence "unconfirmed" in the outbox)
        assert sent_texts(m) == ["once", "once", "twice"]
    assert other.platform_message_ids != first.platform_message_ids


# --------------------------------------------------------------------------- hostile content

SAMPLES: dict[str, dict[str, Any]] = {
    "whatsapp": {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "contacts": [{"profile": {"name": "Ivan"}, "wa_id": "79990001122"}],
                            "messages": [
                                {
                                    "from": "79990001122",
                                    "id": "wamid.A",
                                    "timestamp": "1790000200",
                                    "type": "text",
                                    "text": {"body": "hi"},
                                },
                                {
                                    "from": "79990001122",
                                    "id": "wamid.B",
                                    "timestamp": "1790000201",
                                    "type": "interactive",
                                    "interactive": {
                                        "type": "button_reply",
                                        "button_reply": {"id": "yes", "title": "Yes"},
                                    },
                                },
                                {
                                    "from": "79990001122",
                                    "id": "wamid.C",
                                    "timestamp": "1790000202",
                                    "type": "contacts",
                                    "contacts": [
                                        {"phones": [{"phone": "+7", "wa_id": "79990001122"}]}
                                    ],
                                },
                            ],
                            "statuses": [
                                {
                                    "id": "wamid.D",
                                    "status": "failed",
                                    "timestamp": "1790000203",
                                    "recipient_id": "79990001122",
                                    "errors": [{"code": 131047, "error_data": {"details": "x"}}],
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    },
    "vk": {
        "type": "message_new",
        "event_id": "e1",
        "group_id": 1,
        "v": "5.199",
        "object": {
            "message": {
                "date": 1790000300,
                "from_id": 5,
                "peer_id": 5,
                "id": 7,
                "conversation_message_id": 3,
                "text": "hi",
                "payload": '{"cmd":"yes"}',
                "attachments": [{"type": "photo", "photo": {"id": 1}}],
                "geo": {"coordinates": {"latitude": 1}},
            }
        },
    },
    "vk_event": {
        "type": "message_event",
        "event_id": "e2",
        "group_id": 1,
        "object": {
            "user_id": 5,
            "peer_id": 5,
            "event_id": "abc",
            "payload": {"cmd": "yes"},
            "conversation_message_id": 3,
        },
    },
    "viber": {
        "event": "message",
        "timestamp": 1790000402000,
        "message_token": 5791234567890123458,
        "sender": {"id": "u=", "name": "Ivan"},
        "message": {"type": "picture", "text": "", "media": "https://x/p.jpg"},
    },
    "viber_failed": {
        "event": "failed",
        "timestamp": 1790000407000,
        "message_token": 5791234567890123462,
        "user_id": "u=",
        "desc": "x",
    },
    "viber_started": {
        "event": "conversation_started",
        "timestamp": 1790000401000,
        "message_token": 5791234567890123457,
        "user": {"id": "u="},
        "context": "promo",
    },
}
PARSE = {
    "whatsapp": whatsapp.parse_notification,
    "vk": vk.parse_callback,
    "vk_event": vk.parse_callback,
    "viber": viber.parse_callback,
    "viber_failed": viber.parse_callback,
    "viber_started": viber.parse_callback,
}
HOSTILE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=300),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*path, index))
    return found


def _replaced(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(node))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_field_replaced_by_anything_is_parsed_or_refused_never_a_crash(
    sample: str, data: Any
) -> None:
    document = SAMPLES[sample]
    path = data.draw(st.sampled_from(_paths(document)))
    hostile = _replaced(document, path, data.draw(HOSTILE))
    try:
        events = PARSE[sample](hostile)
    except MalformedPayloadError:
        return  # a 400, or (UnprocessableEventError) stored failed and acknowledged
    for event in events:
        assert isinstance(event, InboundMessage | DeliveryUpdate | LifecycleEvent)
        assert isinstance(event.event_id, str) and 0 < len(event.event_id) <= 300
        assert isinstance(event.chat_id, str) and len(event.chat_id) <= 255
        for name in ("platform_message_id", "callback_id", "callback_data", "text", "error"):
            value = getattr(event, name, None)
            assert value is None or isinstance(value, str), (name, value)
        if isinstance(event, InboundMessage):
            assert len(event.platform_message_id or "") <= 255
            assert all(isinstance(a.metadata, dict) for a in event.attachments)
            json.dumps([dict(a.metadata) for a in event.attachments])  # storable
