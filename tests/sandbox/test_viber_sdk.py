"""The official Viber Python SDK (viberbot) against the sandbox: its set_webhook, sends and
keyboards work unchanged, and it accepts the sandbox's callback signatures and shapes."""

from __future__ import annotations

import httpx
from viberbot import Api, BotConfiguration
from viberbot.api.messages import TextMessage
from viberbot.api.viber_requests import ViberMessageRequest

from easyflow.sandbox.server import SandboxConfig, create_sandbox_app
from easyflow.sandbox.viber import DEMO_BOT, ViberConfig
from support.live_server import live_server

USER = "01234567890A="
KEYBOARD = {
    "Type": "keyboard",
    "Buttons": [{"ActionType": "reply", "ActionBody": "track:1001", "Text": "Track", "Columns": 6}],
}


def test_viberbot_sets_the_webhook_sends_and_verifies_callbacks() -> None:
    received: list[httpx.Request] = []

    def hook(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200)

    config = SandboxConfig(viber=ViberConfig(bots=[DEMO_BOT], retry_delay_scale=0))
    sandbox = create_sandbox_app(config, webhook_transport=httpx.MockTransport(hook))
    api = Api(BotConfiguration(auth_token=DEMO_BOT.auth_token, name="Shop", avatar=""))
    with live_server(sandbox.app) as url:
        api._request_sender._viber_bot_api_url = f"{url}/viber/pa"  # the SDK's one host constant
        events = api.set_webhook("http://127.0.0.1:9/hook")
        assert "message" in events
        assert api.get_account_info()["name"] == DEMO_BOT.name
        control = httpx.Client(base_url=f"{url}/_sandbox/viber/bots/{DEMO_BOT.auth_token}")
        control.post("/messages", json={"user_id": USER, "text": "Где мой заказ / 42?"})
        [token] = api.send_messages(USER, [TextMessage(text="On its way", keyboard=KEYBOARD)])
        httpx.post(f"{url}/_sandbox/wait-idle")
        [sent] = control.get("/sent").json()["sent"]
    assert sent["message_token"] == token and sent["keyboard"] == KEYBOARD
    assert sent["sender"]["name"] == "Shop"
    for request in received:  # the SDK's own (non-constant-time) check agrees with ours
        assert api.verify_signature(request.content, request.headers["x-viber-content-signature"])
    parsed = [api.parse_request(r.content) for r in received]
    [message] = [p for p in parsed if isinstance(p, ViberMessageRequest)]
    assert (message.sender.id, message.message.text) == (USER, "Где мой заказ / 42?")
