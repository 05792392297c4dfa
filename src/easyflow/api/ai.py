"""The admin API of a tenant's AI spending: this month's cost per provider and model, and the
monthly budgets after which paid providers are skipped (services/assistants.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field

from easyflow.api.deps import Container, TenantId

router = APIRouter(prefix="/api/v1/ai", tags=["ai"])

Currency = Path(pattern=r"^[A-Za-z]{3}$", description="ISO 4217, e.g. USD or RUB")


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    monthly_limit: Decimal = Field(ge=0, le=Decimal("1e12"), max_digits=18, decimal_places=4)


@router.get("/costs")
async def ai_costs(tenant: TenantId, c: Container) -> dict[str, Any]:
    """This month's replies, tokens and estimated cost per provider and model; budgets."""
    report = await c.ai_costs.report(tenant)
    return {
        "since": report.since.isoformat(),
        "lines": [
            {
                "provider": line.provider,
                "model": line.model,
                "currency": line.currency,
                "requests": line.requests,
                "prompt_tokens": line.prompt_tokens,
                "completion_tokens": line.completion_tokens,
                "cost": str(line.cost),
            }
            for line in report.lines
        ],
        "budgets": {k: str(v) for k, v in report.budgets.items()},
        "spent": {k: str(v) for k, v in report.spent.items()},
        "exhausted": report.exhausted,
    }


@router.put("/budgets/{currency}", status_code=status.HTTP_204_NO_CONTENT)
async def set_budget(
    body: BudgetIn, tenant: TenantId, c: Container, currency: str = Currency
) -> Response:
    """Once this month's cost in `currency` reaches the limit, providers billed in it are
    skipped and the local responder answers until the month ends."""
    await c.ai_costs.set_budget(tenant, currency, body.monthly_limit)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/budgets/{currency}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_budget(tenant: TenantId, c: Container, currency: str = Currency) -> Response:
    await c.ai_costs.set_budget(tenant, currency, None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
