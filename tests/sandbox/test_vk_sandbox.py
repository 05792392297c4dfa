"""The VK emulator on its own: errors inside HTTP 200, limits, random_id idempotency, the
confirmation step and callbacks retried with X-Retry-Counter until the answer is `ok`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from easyflow.sandbox.base import ControlError, ManualClock
from easyflow.sandbox.server import Sandbox, SandboxConfig, create_sandbox_app
from easyflow.sandbox.vk import DEMO_COMMUNITY, VkConfig

GROUP, TOKEN = DEMO_COMMUNITY.group_id, DEMO_COMMUNITY.access_token
URL = "http://127.0.0.1:9/hook"


class Hook:
    def __init__(self) -> None:
        self.answers: list[str] = []  # scripted answers; then `ok`
        self.posts: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        document = json.loads(request.content)
        if document["type"] == "confirmation":
            return httpx.Response(200, text=DEMO_COMMUNITY.confirmation)
        self.posts.append(request)
        return httpx.Response(200, text=self.answers.pop(0) if self.answers else "ok")


@pytest.fixture
def hook() -> Hook:
    return Hook()


@pytest.fixture
async def sandbox(hook: Hook) -> AsyncIterator[Sandbox]:
    config = SandboxConfig(
        vk=VkConfig(
            communities=[DEMO_COMMUNITY],
            retry_delay_scale=0.0,
            disable_after_failures=3,
            requests_per_second=5,
        )
    )
    async with create_sandbox_app(
        config, webhook_transport=httpx.MockTransport(hook), clock=ManualClock()
    ) as s:
        await s.vk.add_server(GROUP, URL, "s3cret")
        yield s


async def _call(sandbox: Sandbox, method: str, **params: str) -> dict:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(sandbox.app), base_url="http://sandbox"
    ) as client:
        form = {"access_token": TOKEN, "v": "5.199"} | params
        return (await client.post(f"/vk/method/{method}", data=form)).json()


async def test_errors_come_inside_http_200(sandbox: Sandbox) -> None:
    assert (await _call(sandbox, "groups.getById", access_token="bad"))["error"]["error_code"] == 5
    assert (await _call(sandbox, "messages.send", peer_id="5550001", random_id="1", message="x"))[
        "error"
    ]["error_code"] == 901
    sandbox.vk.customer_writes(GROUP, 5550001, "hi")
    mangled = await _call(
        sandbox, "messages.send", peer_id="5550001", random_id="2", message="x", keyboard="buttons"
    )
    assert mangled["error"]["error_code"] == 911
    assert (
        await _call(sandbox, "messages.send", peer_id="5550001", random_id="3", message="x" * 9001)
    )["error"]["error_code"] == 914


async def test_random_id_makes_a_repeat_the_same_message(sandbox: Sandbox) -> None:
    sandbox.vk.customer_writes(GROUP, 5550001, "hi")
    first = await _call(
        sandbox, "messages.send", peer_id="5550001", random_id="4711", message="once"
    )
    again = await _call(
        sandbox, "messages.send", peer_id="5550001", random_id="4711", message="once"
    )
    assert first == again and len(sandbox.vk.sent(GROUP)) == 1


async def test_over_the_rate_is_error_6(sandbox: Sandbox) -> None:
    results = [await _call(sandbox, "groups.getById") for _ in range(6)]
    assert ["error" in r for r in results] == [False] * 5 + [True]
    assert results[-1]["error"]["error_code"] == 6


async def test_callbacks_carry_the_secret_and_are_retried_until_ok(
    sandbox: Sandbox, hook: Hook
) -> None:
    hook.answers = ["OK", '{"status": "ok"}']  # not exactly `ok`: VK resends
    sandbox.vk.customer_writes(GROUP, 5550001, "hi")
    await sandbox.wait_idle()
    assert [r.headers.get("x-retry-counter") for r in hook.posts] == [None, "1", "2"]
    assert len({r.content for r in hook.posts}) == 1
    assert json.loads(hook.posts[0].content)["secret"] == "s3cret"


async def test_a_failing_server_is_turned_off_until_enabled(sandbox: Sandbox, hook: Hook) -> None:
    hook.answers = ["error"] * 3
    sandbox.vk.customer_writes(GROUP, 5550001, "one")
    await sandbox.wait_idle()
    community = sandbox.vk.community(GROUP)
    assert community.sender.disabled and len(hook.posts) == 3
    sandbox.vk.enable_server(GROUP)
    await sandbox.wait_idle()
    assert len(hook.posts) == 4 and not community.sender.pending()


async def test_a_wrong_confirmation_answer_refuses_the_server() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, text="ok"))
    async with create_sandbox_app(
        SandboxConfig(vk=VkConfig(communities=[DEMO_COMMUNITY])), webhook_transport=transport
    ) as s:
        with pytest.raises(ControlError, match="confirmation failed"):
            await s.vk.add_server(GROUP, URL, None)
