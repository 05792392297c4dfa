"""What a language model's tokens cost: price tables as data, read the same way by every adapter.

Each AI platform module keeps its own `PRICES` (list prices per million tokens, in the currency
the provider bills in). A model id is priced by the longest table key it starts with, so dated
snapshots (`gpt-4.1-mini-2025-04-14`, `claude-sonnet-4-5-20250929`) cost what their family
costs. An unknown model costs 0 and says so in the currency ("") rather than guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from easyflow.domain.ai import TokenUsage

MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Price:
    """List price of one model family per million tokens."""

    currency: str
    input_per_million: Decimal
    output_per_million: Decimal

    def of(self, usage: TokenUsage) -> Decimal:
        raw = (
            self.input_per_million * usage.prompt_tokens
            + self.output_per_million * usage.completion_tokens
        ) / MILLION
        return raw.quantize(Decimal("0.00000001"))


def price(table: Mapping[str, Price], model: str) -> Price | None:
    """The entry of the longest key `model` starts with, or None."""
    keys = [key for key in table if model.startswith(key)]
    return table[max(keys, key=len)] if keys else None


def priced(table: Mapping[str, Price], model: str, usage: TokenUsage) -> TokenUsage:
    """`usage` with its estimated cost filled in from `table`."""
    entry = price(table, model)
    if entry is None:
        return replace(usage, cost=Decimal(0), currency="")
    return replace(usage, cost=entry.of(usage), currency=entry.currency)


def add(a: TokenUsage, b: TokenUsage) -> TokenUsage:
    """Tokens of two calls of one reply (a tool round trip costs both)."""
    return TokenUsage(a.prompt_tokens + b.prompt_tokens, a.completion_tokens + b.completion_tokens)


def usd(input_per_million: str, output_per_million: str) -> Price:
    return Price("USD", Decimal(input_per_million), Decimal(output_per_million))


def rub(input_per_million: str, output_per_million: str) -> Price:
    return Price("RUB", Decimal(input_per_million), Decimal(output_per_million))
