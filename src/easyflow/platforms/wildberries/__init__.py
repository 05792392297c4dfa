"""Wildberries Seller API: FBS orders and statuses, statistics orders, product cards, stocks,
sales analytics (docs: https://dev.wildberries.ru/en/openapi/api-information).

Quirks kept as code: one host per API family with a token category each (`token.py`), Moscow
time without an offset in statistics, the repeated boundary row of `lastChangeDate` paging,
money ×100 on the marketplace host and rubles in statistics, 409 bodies that are arrays,
content errors inside a 200, and `X-Ratelimit-Retry` instead of Retry-After (`errors.py`).
"""

from __future__ import annotations

from typing import Any

from easyflow.domain.tenancy import Capability
from easyflow.http import Auth, AuthStyle, PlatformClient, PlatformSpec
from easyflow.platforms.credentials import CredentialField, SettingField, whole_number
from easyflow.platforms.wildberries.adapter import STREAMS, WildberriesMarketplace
from easyflow.platforms.wildberries.errors import classify
from easyflow.platforms.wildberries.facts import RATE_LIMITS

SPEC = PlatformSpec(
    name="wildberries",
    capabilities=(Capability.MARKETPLACE,),
    base_url="https://{family}.wildberries.ru",
    auth=Auth(AuthStyle.HEADER, credential="token", template="Bearer {secret}"),
    rate_limits=RATE_LIMITS,
    timeout=180.0,  # a statistics page holds up to 80 000 rows: tens of megabytes
    docs="https://dev.wildberries.ru/en/openapi/api-information",
)
CREDENTIALS = (
    CredentialField(
        "token",
        pattern=r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
        expected="a Wildberries API token (a JWT, eyJ…) from Settings → API access",
    ),
)

SETTINGS = (
    SettingField(
        "warehouse_id", "Seller warehouse that stock updates go to", whole_number(1, 10**15)
    ),
    SettingField(
        "statistics_page_cap", "Rows a statistics page holds at most", whole_number(1, 100_000)
    ),
)


def create_adapter(client: PlatformClient, settings: dict[str, Any]) -> WildberriesMarketplace:
    return WildberriesMarketplace(client, settings)


__all__ = [
    "CREDENTIALS",
    "SETTINGS",
    "SPEC",
    "STREAMS",
    "WildberriesMarketplace",
    "classify",
    "create_adapter",
]
