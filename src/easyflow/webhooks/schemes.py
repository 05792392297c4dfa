"""How platforms prove a webhook is theirs: implementations of `ports.WebhookScheme`.

Each scheme can `sign()` and `verify()`; `verify()` is built on `sign()`, so the sandboxes
emit webhooks with exactly the bytes and headers production checks. Verification always
runs over the raw request body, compares in constant time, and treats a missing header as a
failure.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from easyflow.domain.errors import WebhookSignatureError


def _header(headers: Mapping[str, str], name: str) -> str:
    # Starlette's Headers are case-insensitive; a plain dict from a test may not be.
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    if not value:
        raise WebhookSignatureError(f"missing {name}")
    return value


def _matches_any(received: str, expected: Sequence[str]) -> bool:
    # Evaluate every candidate so timing does not tell which secret (old or new) matched.
    results = [hmac.compare_digest(received.encode(), e.encode()) for e in expected if e]
    return any(results)


@dataclass(frozen=True, slots=True)
class SecretTokenHeader:
    """The header carries the shared secret itself (Telegram). Not a signature: no body digest.

    So it is checked before the body is read: an unauthenticated sender never gets to make
    the hub read (and buffer) a body.
    """

    header: str
    covers_body = False

    def sign(self, secret: str, body: bytes) -> dict[str, str]:
        return {self.header: secret}

    def verify(self, secrets: Sequence[str], headers: Mapping[str, str], body: bytes) -> None:
        received = _header(headers, self.header)
        if not _matches_any(received, [self.sign(s, body)[self.header] for s in secrets]):
            raise WebhookSignatureError(f"{self.header} does not match")

    def presented_secret(self, headers: Mapping[str, str]) -> str | None:
        return headers.get(self.header) or headers.get(self.header.lower())


@dataclass(frozen=True, slots=True)
class HmacHeader:
    """An HMAC of the raw body in a header, hex encoded, with an optional prefix.

    WhatsApp: `X-Hub-Signature-256: sha256=<hex>`; Viber: `X-Viber-Content-Signature: <hex>`.
    """

    header: str
    prefix: str = ""
    digest: str = "sha256"
    covers_body = True

    def sign(self, secret: str, body: bytes) -> dict[str, str]:
        mac = hmac.new(secret.encode(), body, getattr(hashlib, self.digest)).hexdigest()
        return {self.header: f"{self.prefix}{mac}"}

    def verify(self, secrets: Sequence[str], headers: Mapping[str, str], body: bytes) -> None:
        received = _header(headers, self.header).strip()
        if not _matches_any(received, [self.sign(s, body)[self.header] for s in secrets]):
            raise WebhookSignatureError(f"{self.header} does not match")

    def presented_secret(self, headers: Mapping[str, str]) -> str | None:
        return None  # a signature proves the body, it does not name the sender


@dataclass(frozen=True, slots=True)
class BodySecretField:
    """The shared secret echoed in a top-level field of the JSON body (VK `secret`).

    Not a signature: the body is unsigned, so the secret proves the sender only. It is still
    read from the raw bytes and compared in constant time; a body without it fails.
    """

    field: str = "secret"
    covers_body = True

    def sign(self, secret: str, body: bytes) -> dict[str, str]:
        return {}  # the sender puts the secret in the body itself (see `embed`)

    def embed(self, secret: str, document: dict[str, object]) -> dict[str, object]:
        """`document` as the platform sends it with this secret."""
        return {**document, self.field: secret}

    def verify(self, secrets: Sequence[str], headers: Mapping[str, str], body: bytes) -> None:
        received = self.presented_in(body)
        if received is None:
            raise WebhookSignatureError(f"missing body field {self.field!r}")
        if not _matches_any(received, list(secrets)):
            raise WebhookSignatureError(f"body field {self.field!r} does not match")

    def presented_in(self, body: bytes) -> str | None:
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            return None  # not JSON: unauthenticated before it is malformed
        value = document.get(self.field) if isinstance(document, dict) else None
        return value if isinstance(value, str) and value else None

    def presented_secret(self, headers: Mapping[str, str]) -> str | None:
        return None  # in the body, which the single-channel route cannot read first
