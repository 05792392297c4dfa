"""pywa, a WhatsApp Cloud API client, against the sandbox: what it sends is accepted as Meta
would, and the sandbox's webhook signatures pass its own validator."""

from __future__ import annotations

import httpx
from pywa import WhatsApp
from pywa import utils as pywa_utils
from pywa.types import Button

from easyflow.sandbox.server import SandboxConfig, create_sandbox_app
from easyflow.sandbox.whatsapp import DEMO_NUMBER, WhatsAppConfig
from support.live_server import live_server
from support.rewrite import RewriteTransport

CUSTOMER = "79990001122"


def test_pywa_sends_and_validates_the_sandbox_signatures() -> None:
    received: list[httpx.Request] = []

    def hook(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, text=request.url.params["hub.challenge"])
        received.append(request)
        return httpx.Response(200)

    config = SandboxConfig(whatsapp=WhatsAppConfig(numbers=[DEMO_NUMBER], retry_delay_scale=0))
    sandbox = create_sandbox_app(config, webhook_transport=httpx.MockTransport(hook))
    phone = DEMO_NUMBER.phone_number_id
    with live_server(sandbox.app) as url:
        control = httpx.Client(base_url=f"{url}/_sandbox/whatsapp/numbers/{phone}")
        hook_url = {"url": "http://127.0.0.1:9/hook", "verify_token": "vt"}
        assert control.post("/webhook", json=hook_url).status_code == 200
        assert (
            control.post("/messages", json={"wa_id": CUSTOMER, "text": "Привет/hi"}).status_code
            == 200
        )
        wa = WhatsApp(
            phone_id=phone,
            token=DEMO_NUMBER.access_token,
            session=httpx.Client(transport=RewriteTransport(f"{url}/whatsapp")),
            api_version="23.0",
        )
        sent = wa.send_message(
            to=CUSTOMER, text="Pick one", buttons=[Button("Yes", callback_data="yes")]
        )
        assert sent.id.startswith("wamid.")
        httpx.post(f"{url}/_sandbox/wait-idle")
        recorded = control.get("/sent").json()["sent"]
    [message] = recorded
    assert message["id"] == sent.id and message["type"] == "interactive"
    assert message["payload"]["interactive"]["action"]["buttons"][0]["reply"]["id"] == "yes"
    assert received, "the sandbox delivered the customer's message and the statuses"
    for request in received:
        assert pywa_utils.webhook_updates_validator(
            app_secret=DEMO_NUMBER.app_secret,
            request_body=request.content,
            x_hub_signature=request.headers["x-hub-signature-256"],
        )
