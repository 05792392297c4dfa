"""Ozon Seller API: FBS postings (v4, cursor), products (v3, last_id), stocks (v2, per-item
errors inside a 200), analytics (docs: https://docs.ozon.ru/api/seller/).

Auth is two headers: `Client-Id` (the seller id, not secret) and `Api-Key`. The server works
in UTC. Deprecated calls (`/v3/posting/fbs/list`, `/v2/product/list`,
`/v1/product/import/stocks`) are not used.
"""

from __future__ import annotations

from typing import Any

from easyflow.domain.tenancy import Capability
from easyflow.http import Auth, AuthStyle, PlatformClient, PlatformSpec
from easyflow.platforms.credentials import CredentialField, SettingField, whole_number
from easyflow.platforms.ozon.adapter import STREAMS, OzonMarketplace
from easyflow.platforms.ozon.errors import classify
from easyflow.platforms.ozon.facts import RATE_LIMITS

SPEC = PlatformSpec(
    name="ozon",
    capabilities=(Capability.MARKETPLACE,),
    base_url="https://api-seller.ozon.ru",
    auth=Auth(AuthStyle.HEADER, credential="api_key", header="Api-Key", template="{secret}"),
    rate_limits=RATE_LIMITS,
    timeout=60.0,
    docs="https://docs.ozon.ru/api/seller/",
)
CREDENTIALS = (
    CredentialField("client_id", pattern=r"[0-9]{1,20}", expected="the numeric Client-Id"),
    CredentialField(
        "api_key",
        pattern=r"[A-Za-z0-9-]{16,64}",
        expected="an Ozon Api-Key (uuid-like) from Settings → Seller API",
    ),
)


def create_adapter(client: PlatformClient, settings: dict[str, Any]) -> OzonMarketplace:
    return OzonMarketplace(client, settings)


SETTINGS = (
    SettingField("warehouse_id", "Warehouse that stock updates go to", whole_number(1, 10**15)),
)

__all__ = [
    "CREDENTIALS",
    "SETTINGS",
    "SPEC",
    "STREAMS",
    "OzonMarketplace",
    "classify",
    "create_adapter",
]
