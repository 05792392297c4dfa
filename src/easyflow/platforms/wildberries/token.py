"""The Wildberries API token: a JWT whose payload names its categories, seller and expiry.

The hub reads the payload (it cannot verify WB's signature, and need not: WB does) to refuse a
call to a host the token has no category for before sending it, and to tell the seller the
token expires (180 days) before it does.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from easyflow.domain.errors import ConfigurationError
from easyflow.platforms.wildberries.facts import CATEGORY_BITS, READ_ONLY_BIT


@dataclass(frozen=True, slots=True)
class TokenInfo:
    seller_id: str
    categories: frozenset[str]
    read_only: bool
    test: bool
    expires_at: datetime | None


def _segment(text: str) -> Any:
    padded = text + "=" * (-len(text) % 4)
    return json.loads(base64.urlsafe_b64decode(padded))


def decode(token: str) -> TokenInfo:
    """The token's payload; ConfigurationError when it is not a WB JWT."""
    raw = token.removeprefix("Bearer ").strip()
    parts = raw.split(".")
    try:
        if len(parts) != 3:
            raise ValueError("not three segments")
        payload = _segment(parts[1])
        if not isinstance(payload, dict):
            raise ValueError("payload is not an object")
        bits = int(payload.get("s", 0))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ConfigurationError(
            f"the Wildberries token is not a JWT ({exc})", platform="wildberries"
        ) from None
    exp = payload.get("exp")
    return TokenInfo(
        seller_id=str(payload.get("sid", "")),
        categories=frozenset(n for n, bit in CATEGORY_BITS.items() if bits >> bit & 1),
        read_only=bool(bits >> READ_ONLY_BIT & 1),
        test=bool(payload.get("t", False)),
        expires_at=datetime.fromtimestamp(int(exp), UTC) if exp else None,
    )


def encode(payload: dict[str, Any], signature: str = "sandbox") -> str:
    """A token of this shape (the sandbox issues them; WB signs real ones)."""

    def part(value: Any) -> str:
        data = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    return f"{part({'alg': 'ES256', 'kid': 'sandbox', 'typ': 'JWT'})}.{part(payload)}.{signature}"


def category_bits(categories: list[str] | tuple[str, ...], read_only: bool = False) -> int:
    bits = sum(1 << CATEGORY_BITS[c] for c in categories)
    return bits | (1 << READ_ONLY_BIT if read_only else 0)


def require(info: TokenInfo, family: str, *, write: bool = False) -> None:
    """ConfigurationError unless the token may call `family` (and write, when asked)."""
    if family not in info.categories:
        raise ConfigurationError(
            f"the Wildberries token lacks the {family!r} category "
            "(Settings → API access: create a token with it)",
            platform="wildberries",
        )
    if write and info.read_only:
        raise ConfigurationError("the Wildberries token is read-only", platform="wildberries")
