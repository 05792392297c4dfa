"""Request bodies are bounded and unauthenticated ones are never read, on the real app.

httpx's ASGI transport pulls the request body from its stream only when the app calls
`receive()`, so a counting stream says exactly how many bytes the hub read. Each test
sends far more than any limit, and asserts the status, the bytes read and the rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from support.hub import Hub

from .helpers import UNAUTHORIZED, rows

CHUNK = 64 * 1024
WEBHOOK_LIMIT = 1024 * 1024
API_LIMIT = 2 * 1024 * 1024


class Upload:
    """A lazily generated body of `total` bytes that counts what was pulled from it."""

    def __init__(self, total: int, fill: bytes = b" ") -> None:
        self.total = total
        self.pulled = 0
        self._chunk = fill * CHUNK

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            self.pulled += CHUNK
            yield self._chunk


async def _post(
    hub: Hub, path: str, upload: Upload, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await hub.http.post(path, content=upload, headers=headers or {})


def _webhook(hub: Hub) -> str:
    return f"/api/v1/messaging/webhook/telegram/{hub.integration_id}"


async def test_an_unauthenticated_admin_body_is_never_read(hub: Hub) -> None:
    for headers in ({}, {"Authorization": "Bearer ef_deadbeef_" + "x" * 43}):
        upload = Upload(50 * 1024 * 1024)
        response = await _post(hub, "/api/v1/integrations", upload, headers)
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED
        assert upload.pulled == 0
        assert response.headers["connection"] == "close"
    assert await rows(hub, "SELECT id FROM integrations") == [(hub.integration_id,)]


async def test_a_webhook_with_a_wrong_or_missing_secret_is_never_read(hub: Hub) -> None:
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
        for path in (_webhook(hub), "/api/v1/messaging/webhook/telegram"):
            upload = Upload(50 * 1024 * 1024)
            response = await _post(hub, path, upload, headers)
            assert response.status_code == 401, (path, headers)
            assert upload.pulled == 0
    assert await hub.count("inbound_events") == 0


async def test_an_authenticated_webhook_body_stops_being_read_at_the_limit(hub: Hub) -> None:
    secret = await hub.webhook_secret()
    upload = Upload(50 * 1024 * 1024)
    response = await _post(hub, _webhook(hub), upload, {"X-Telegram-Bot-Api-Secret-Token": secret})
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert response.headers["connection"] == "close"
    assert WEBHOOK_LIMIT < upload.pulled <= WEBHOOK_LIMIT + CHUNK
    assert await hub.count("inbound_events") == 0


async def test_an_authenticated_admin_body_stops_being_read_at_the_limit(hub: Hub) -> None:
    upload = Upload(50 * 1024 * 1024)
    response = await _post(hub, "/api/v1/integrations", upload, hub.auth)
    assert response.status_code == 413  # not FastAPI's "error parsing the body" 400
    assert API_LIMIT < upload.pulled <= API_LIMIT + CHUNK
    assert await rows(hub, "SELECT id FROM integrations") == [(hub.integration_id,)]


async def test_a_declared_length_over_the_limit_is_refused_before_reading(hub: Hub) -> None:
    secret = await hub.webhook_secret()
    cases = [
        (_webhook(hub), {"X-Telegram-Bot-Api-Secret-Token": secret}, WEBHOOK_LIMIT + 1),
        ("/api/v1/integrations", hub.auth, API_LIMIT + 1),
        ("/api/v1/integrations", {}, 10**12),
        ("/health", {}, 64 * 1024 + 1),
    ]
    for path, headers, length in cases:
        upload = Upload(length)
        response = await _post(hub, path, upload, {**headers, "Content-Length": str(length)})
        assert response.status_code == 413, path
        assert upload.pulled == 0
    assert await hub.count("inbound_events") == 0


async def test_bodies_within_the_limits_still_work(hub: Hub) -> None:
    # A real update of ~900 KiB (a long caption) is under the webhook limit: stored, answered.
    secret = await hub.webhook_secret()
    update = {
        "update_id": 77,
        "message": {
            "message_id": 1,
            "date": 1790000100,
            "chat": {"id": 5550001, "type": "private"},
            "from": {"id": 5550001, "first_name": "Ivan"},
            "text": "Hello!",
            "caption_entities": [{"type": "bold", "offset": 0, "length": 1}] * 20_000,
        },
    }
    response = await hub.post_update(update, secret)
    assert len(response.request.content) > 512 * 1024
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    await hub.settle()
    assert await rows(hub, "SELECT event_id, status FROM inbound_events") == [("77", "done")]
