"""What the repositories share: the connection, the dialect's INSERT … ON CONFLICT, batching
and the not-found rule (a row of another tenant does not exist)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table, bindparam, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Row
from sqlalchemy.ext.asyncio import AsyncConnection

from easyflow.domain.errors import NotFoundError

BATCH_SIZE = 500  # rows per INSERT: well under both databases' bound-parameter limits

T = TypeVar("T")

Insert = postgresql.Insert | sqlite.Insert


def insert(connection: AsyncConnection, table: Table) -> Insert:
    """The INSERT of the connection's dialect, the one that has `on_conflict_do_…`."""
    return insert_for(connection.dialect.name, table)


def insert_for(dialect: str, table: Table) -> Insert:
    """The INSERT of `dialect` (by name), the one that has `on_conflict_do_…`."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert support for the {dialect} dialect")


def owned_insert(
    dialect: str,
    table: Table,
    value_names: Sequence[str],
    *,
    owner: Table,
    computed: dict[str, ColumnElement[Any]] | None = None,
) -> Insert:
    """INSERT of one row only if `:owner_id` in `owner` is `:tenant_id`'s, in one statement:
    `INSERT … SELECT … WHERE EXISTS (…)`. Nothing inserted (no row returned) means the owner
    is not the tenant's; the composite foreign keys would refuse it anyway, but a
    NotFoundError is the caller's answer and keeps the transaction usable.

    The values are bind parameters named after their columns; execute with `owned_params`.
    `computed`: columns whose value the database works out in the same statement. Callers
    build the statement once per dialect and set of columns (functools.cache): building an
    INSERT … SELECT with its ON CONFLICT clause costs more CPU than running it."""
    computed = computed or {}
    names = list(insert_names(table, tuple(value_names)))
    names += [name for name in computed if name not in names]
    guard = exists().where(
        owner.c.id == bindparam("owner_id"), owner.c.tenant_id == bindparam("tenant_id")
    )
    source = select(*(computed.get(n, bindparam(n, type_=table.c[n].type)) for n in names)).where(
        guard
    )
    return insert_for(dialect, table).from_select(names, source)


def insert_names(table: Table, value_names: tuple[str, ...]) -> tuple[str, ...]:
    """The columns an INSERT … SELECT of `value_names` fills: those and the columns with a
    Python-side default (which INSERT … SELECT does not apply; `with_python_defaults`)."""
    return (*value_names, *(n for n in _python_defaults(table) if n not in value_names))


def owned_params(table: Table, values: dict[str, Any], owner_id: int) -> dict[str, Any]:
    """The parameters of an `owned_insert_template` statement for one row."""
    return {**with_python_defaults(table, values), "owner_id": owner_id}


def with_python_defaults(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """`values` and the Python-side defaults of the other columns, which INSERT … SELECT does
    not apply."""
    row = dict(values)
    for name, default in _python_defaults(table).items():
        if name not in row:
            row[name] = default.arg(None) if default.is_callable else default.arg
    return row


@functools.cache
def _python_defaults(table: Table) -> dict[str, Any]:
    return {
        column.name: column.default
        for column in table.c
        if column.default is not None
        and hasattr(column.default, "arg")
        and (column.default.is_callable or column.default.is_scalar)
    }


def batched(items: Sequence[T], size: int = BATCH_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def not_found(what: str, row_id: object) -> NotFoundError:
    return NotFoundError(f"{what} {row_id} not found")


def require_row(row: Row | None, what: str, row_id: object) -> Row:
    if row is None:
        raise not_found(what, row_id)
    return row


def require_changed(result: CursorResult, what: str, row_id: object) -> None:
    """An UPDATE or DELETE that matched nothing means the row is not this tenant's."""
    if result.rowcount == 0:
        raise not_found(what, row_id)


class Repository:
    """Base of the SQL repositories: they run on the unit of work's connection."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def _require_owned(self, table: Table, tenant_id: int, row_id: int, what: str) -> None:
        """Raise NotFoundError unless `row_id` in `table` belongs to the tenant."""
        query = select(table.c.id).where(table.c.id == row_id, table.c.tenant_id == tenant_id)
        require_row((await self._connection.execute(query)).first(), what, row_id)


def ids(rows: Iterable[Row]) -> list[int]:
    return [row.id for row in rows]
