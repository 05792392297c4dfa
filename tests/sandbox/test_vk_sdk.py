"""vk_api, the common VK client, against the sandbox: methods, errors inside HTTP 200 and
random_id behave as it expects from VK."""

from __future__ import annotations

import json

import httpx
import pytest
import vk_api

from easyflow.sandbox.server import SandboxConfig, create_sandbox_app
from easyflow.sandbox.vk import DEMO_COMMUNITY, VkConfig
from support.live_server import live_server
from support.rewrite import RewriteAdapter

USER = 5550001


def test_vk_api_sends_with_random_id_and_raises_vk_errors() -> None:
    def hook(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        return httpx.Response(
            200, text=DEMO_COMMUNITY.confirmation if body["type"] == "confirmation" else "ok"
        )

    config = SandboxConfig(vk=VkConfig(communities=[DEMO_COMMUNITY], retry_delay_scale=0))
    sandbox = create_sandbox_app(config, webhook_transport=httpx.MockTransport(hook))
    with live_server(sandbox.app) as url:
        session = vk_api.VkApi(token=DEMO_COMMUNITY.access_token, api_version="5.199")
        session.http.mount("https://api.vk.ru/", RewriteAdapter("https://api.vk.ru/", f"{url}/vk"))
        vk = session.get_api()
        [group] = vk.groups.getById(group_id=DEMO_COMMUNITY.group_id)["groups"]
        assert group["id"] == DEMO_COMMUNITY.group_id
        with pytest.raises(vk_api.ApiError) as refused:
            vk.messages.send(peer_id=USER, random_id=1, message="nobody asked")
        assert refused.value.code == 901
        control = httpx.Client(base_url=f"{url}/_sandbox/vk/communities/{DEMO_COMMUNITY.group_id}")
        control.post("/server", json={"url": "http://127.0.0.1:9/hook", "secret": "s"})
        control.post("/messages", json={"user_id": USER, "text": "hi"})
        keyboard = json.dumps(
            {"inline": True, "buttons": [[{"action": {"type": "text", "label": "Да"}}]]}
        )
        first = vk.messages.send(
            peer_id=USER, random_id=4711, message="Заказ 42 готов", keyboard=keyboard
        )
        again = vk.messages.send(
            peer_id=USER, random_id=4711, message="Заказ 42 готов", keyboard=keyboard
        )
        [sent] = control.get("/sent").json()["sent"]
    assert first == again == sent["id"]
    assert sent["text"] == "Заказ 42 готов" and sent["random_id"] == 4711
