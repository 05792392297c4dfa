"""Outgoing webhooks: one POST of signed bytes to a URL a tenant configured.

Not a platform call (no spec, no rate budget, no classification beyond the status): the
caller signs the body and decides about retries. A network failure or timeout is a
RetryableError; redirects are not followed (a signed body is for the URL that was set).
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from easyflow.domain.errors import RetryableError

USER_AGENT = "EasyFlow-Webhooks/1"


class HttpWebhookPoster:
    def __init__(self, client: httpx.AsyncClient, timeout_seconds: float = 10.0) -> None:
        self._client = client
        self._timeout = timeout_seconds

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        try:
            response = await self._client.post(
                url,
                content=body,
                headers={**headers, "user-agent": USER_AGENT},
                timeout=self._timeout,
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            raise RetryableError(f"no answer from the webhook: {type(exc).__name__}") from exc
        return response.status_code
