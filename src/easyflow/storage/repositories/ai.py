"""What a tenant's AI replies cost (from `ai_usage`), and the monthly budgets bounding it.

Sums run on the (tenant_id, created_at) index over one month at most. SQLite keeps NUMERIC
as a float, so sums are rounded back to the stored precision.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, func, select

from easyflow.domain.ai import AiCostLine
from easyflow.storage.codecs import money
from easyflow.storage.repositories.base import Repository, insert
from easyflow.storage.tables import ai_budgets, ai_usage
from easyflow.storage.types import utcnow

_COST = Decimal("0.00000001")


def _amount(value: object) -> Decimal:
    return Decimal(str(value or 0)).quantize(_COST)


class SqlAiCostRepository(Repository):
    async def budgets(self, tenant_id: int) -> dict[str, Decimal]:
        query = select(ai_budgets.c.currency, ai_budgets.c.monthly_limit).where(
            ai_budgets.c.tenant_id == tenant_id
        )
        rows = await self._connection.execute(query)
        return {row.currency: money(row.monthly_limit) for row in rows}

    async def set_budget(self, tenant_id: int, currency: str, limit: Decimal | None) -> None:
        if limit is None:
            await self._connection.execute(
                delete(ai_budgets).where(
                    ai_budgets.c.tenant_id == tenant_id, ai_budgets.c.currency == currency
                )
            )
            return
        statement = insert(self._connection, ai_budgets).values(
            tenant_id=tenant_id, currency=currency, monthly_limit=limit, updated_at=utcnow()
        )
        await self._connection.execute(
            statement.on_conflict_do_update(
                index_elements=["tenant_id", "currency"],
                set_={"monthly_limit": limit, "updated_at": utcnow()},
            )
        )

    async def spent(self, tenant_id: int, since: datetime) -> dict[str, Decimal]:
        query = (
            select(ai_usage.c.currency, func.sum(ai_usage.c.cost).label("cost"))
            .where(
                ai_usage.c.tenant_id == tenant_id,
                ai_usage.c.created_at >= since,
                ai_usage.c.currency != "",
            )
            .group_by(ai_usage.c.currency)
        )
        rows = await self._connection.execute(query)
        return {row.currency: _amount(row.cost) for row in rows}

    async def breakdown(self, tenant_id: int, since: datetime) -> builtins.list[AiCostLine]:
        c = ai_usage.c
        query = (
            select(
                c.provider,
                c.model,
                c.currency,
                func.count().label("requests"),
                func.coalesce(func.sum(c.prompt_tokens), 0).label("prompt_tokens"),
                func.coalesce(func.sum(c.completion_tokens), 0).label("completion_tokens"),
                func.coalesce(func.sum(c.cost), 0).label("cost"),
            )
            .where(c.tenant_id == tenant_id, c.created_at >= since)
            .group_by(c.provider, c.model, c.currency)
            .order_by(c.provider, c.model, c.currency)
        )
        return [
            AiCostLine(
                row.provider,
                row.model,
                row.currency,
                int(row.requests),
                int(row.prompt_tokens),
                int(row.completion_tokens),
                _amount(row.cost),
            )
            for row in await self._connection.execute(query)
        ]
