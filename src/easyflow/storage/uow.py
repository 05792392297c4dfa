"""`SqlUnitOfWork`: one connection and one transaction shared by every repository.

    async with uow_factory() as uow:
        event = await uow.inbound.get(event_id)
        ...
        await uow.commit()

Leaving the block without `commit()` rolls back, whether or not an exception left it.
Work done after a `commit()` starts a new transaction that needs its own commit.
Don't open a second unit of work inside a first one in the same task: on SQLite units are
serialised (one writer), so the inner one would wait for the outer one until it times out.

A transient database failure (a dropped connection, SQLite locked past its busy timeout)
leaves the block as `TransientStorageError` (storage/failures.py), whichever statement met
it: callers retry later without knowing the driver. A rollback that fails on a dead
connection is not an error of the caller's: the server discards the transaction anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any, Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from easyflow.ports import (
    AiCostRepository,
    AiUsageRepository,
    ApiKeyRepository,
    ContactRepository,
    ConversationRepository,
    HandoverRepository,
    InboundEventRepository,
    IntegrationRepository,
    MessageRepository,
    NotificationRepository,
    OrderRepository,
    OutboxRepository,
    ProductRepository,
    StockLevelRepository,
    SyncRepository,
    TenantRepository,
)
from easyflow.storage.crypto import CredentialCipher
from easyflow.storage.engine import AUTOCOMMIT_OPTION
from easyflow.storage.failures import translated
from easyflow.storage.repositories import (
    SqlAiCostRepository,
    SqlAiUsageRepository,
    SqlApiKeyRepository,
    SqlContactRepository,
    SqlConversationRepository,
    SqlInboundEventRepository,
    SqlIntegrationRepository,
    SqlMessageRepository,
    SqlOrderRepository,
    SqlOutboxRepository,
    SqlTenantRepository,
)
from easyflow.storage.repositories.handover import SqlHandoverRepository
from easyflow.storage.repositories.integrations import ReencryptReport, UnreadableRow
from easyflow.storage.repositories.notifications import SqlNotificationRepository
from easyflow.storage.repositories.sync import (
    SqlProductRepository,
    SqlStockLevelRepository,
    SqlSyncRepository,
)

LOCK_TIMEOUT_SECONDS = 30.0  # as SQLite's own busy_timeout
# Execution options of an autocommit unit. PostgreSQL: the driver sends no BEGIN/COMMIT.
# SQLite: the driver never begins (engine.py), so skipping our BEGIN IMMEDIATE is enough; its
# isolation-level switch would cost thread hops and a PRAGMA on every checkout and return.
_AUTOCOMMIT: dict[str, dict[str, Any]] = {
    "postgresql": {"isolation_level": "AUTOCOMMIT"},
    "sqlite": {AUTOCOMMIT_OPTION: True},
}


class WriteLock:
    """The SQLite write lock of one process: FIFO, except that urgent units go first.

    Urgent is intake's insert: a platform waits for its answer, and in the embedded default
    the jobs that process those events run in the same process, each several units long.
    In plain FIFO order every group of webhooks would wait behind a unit of each of them.
    Intake stores one group at a time, so an urgent unit waits at most for the unit that
    holds the lock, and the units behind it still get every other turn.
    """

    def __init__(self) -> None:
        self._locked = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._others: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        return self._locked

    async def acquire(self, urgent: bool = False) -> bool:
        if not self._locked and not self._urgent and not self._others:
            self._locked = True
            return True
        waiters = self._urgent if urgent else self._others
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters.append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.release()  # handed the lock, then cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # release() may have dropped it
                    waiters.remove(turn)
            raise
        return True

    def release(self) -> None:
        """Hand the lock to the next waiter (urgent ones first), else unlock."""
        for waiters in (self._urgent, self._others):
            while waiters:
                turn = waiters.popleft()
                if not turn.done():
                    turn.set_result(None)  # the lock stays taken: it is theirs now
                    return
        self._locked = False


class SqlUnitOfWork:
    """Implements `ports.UnitOfWork`; use it once, as an `async with` block."""

    # Typed as the ports: a Protocol's attributes are invariant.
    tenants: TenantRepository
    api_keys: ApiKeyRepository
    integrations: IntegrationRepository
    contacts: ContactRepository
    conversations: ConversationRepository
    messages: MessageRepository
    inbound: InboundEventRepository
    outbox: OutboxRepository
    orders: OrderRepository
    ai_usage: AiUsageRepository
    sync: SyncRepository
    products: ProductRepository
    stocks: StockLevelRepository
    ai_costs: AiCostRepository
    handover: HandoverRepository
    notifications: NotificationRepository

    def __init__(
        self,
        engine: AsyncEngine,
        cipher: CredentialCipher,
        write_lock: WriteLock | None = None,
        *,
        autocommit: bool = False,
        urgent: bool = False,
    ) -> None:
        self._engine = engine
        self._autocommit = autocommit
        self._urgent = urgent
        self._cipher = cipher
        self._write_lock = write_lock
        self._holds_lock = False
        self._connection: AsyncConnection | None = None

    @property
    def connection(self) -> AsyncConnection:
        """The block's connection, for storage code beyond the repository ports."""
        if self._connection is None:
            raise RuntimeError("the unit of work is used outside its `async with` block")
        return self._connection

    async def __aenter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("a unit of work cannot be entered twice")
        if self._write_lock is not None:
            # Bounded, so a unit opened inside another (a bug) fails instead of hanging.
            try:
                await asyncio.wait_for(
                    self._write_lock.acquire(self._urgent), timeout=LOCK_TIMEOUT_SECONDS
                )
            except TimeoutError as exc:
                raise translated(exc) from exc
            self._holds_lock = True
        try:
            connection = await self._engine.connect()
            if self._autocommit:
                await connection.execution_options(**_AUTOCOMMIT[self._engine.dialect.name])
        except Exception as exc:
            self._release()
            error = translated(exc)
            if error is exc:
                raise
            raise error from exc
        except BaseException:
            self._release()
            raise
        self._connection = connection
        self.tenants = SqlTenantRepository(connection)
        self.api_keys = SqlApiKeyRepository(connection)
        self.integrations = SqlIntegrationRepository(connection, self._cipher)
        self.contacts = SqlContactRepository(connection)
        self.conversations = SqlConversationRepository(connection)
        self.messages = SqlMessageRepository(connection)
        self.inbound = SqlInboundEventRepository(connection)
        self.outbox = SqlOutboxRepository(connection)
        self.orders = SqlOrderRepository(connection)
        self.ai_usage = SqlAiUsageRepository(connection)
        self.sync = SqlSyncRepository(connection)
        self.products = SqlProductRepository(connection)
        self.stocks = SqlStockLevelRepository(connection)
        self.ai_costs = SqlAiCostRepository(connection)
        self.handover = SqlHandoverRepository(connection, self._cipher)
        self.notifications = SqlNotificationRepository(connection)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        connection, self._connection = self.connection, None
        try:
            await _end(connection)
        finally:
            self._release()
        exc = exc_info[1] if len(exc_info) > 1 else None
        if isinstance(exc, Exception):
            error = translated(exc)
            if error is not exc:
                raise error from exc

    def _release(self) -> None:
        if self._write_lock is not None and self._holds_lock:
            self._holds_lock = False
            self._write_lock.release()

    async def commit(self) -> None:
        if self._autocommit:
            return  # every statement committed as it ran
        try:
            await self.connection.commit()
        except Exception as exc:
            error = translated(exc)
            if error is exc:
                raise
            raise error from exc

    async def rollback(self) -> None:
        await self.connection.rollback()

    async def reencrypt_secrets(self) -> ReencryptReport:
        """Re-encrypt every stored secret with the cipher's first key (key rotation)."""
        report = await SqlIntegrationRepository(self.connection, self._cipher).reencrypt_all()
        await SqlHandoverRepository(self.connection, self._cipher).reencrypt_secrets()
        return report

    async def unreadable_secrets(self) -> tuple[list[UnreadableRow], int]:
        """Integrations the configured keys cannot decrypt, and the number of integrations."""
        return await SqlIntegrationRepository(self.connection, self._cipher).unreadable()


async def _end(connection: AsyncConnection) -> None:
    """Roll back what was not committed and give the connection back to the pool.

    On a dropped connection the rollback fails too: the connection is invalidated (the pool
    discards it) and the failure is not raised, since nothing uncommitted survives a drop.
    """
    try:
        if connection.in_transaction():
            await connection.rollback()
    except Exception:
        with contextlib.suppress(Exception):
            await connection.invalidate()
    with contextlib.suppress(Exception):
        await connection.close()


class SqlUnitOfWorkFactory:
    """Implements `ports.UnitOfWorkFactory`: `factory()` is a new, not yet entered, unit."""

    def __init__(self, engine: AsyncEngine, cipher: CredentialCipher) -> None:
        self.engine = engine
        self._cipher = cipher
        # SQLite has one writer, and every unit here begins IMMEDIATE: queueing the units of
        # this process on a lock is fair and instant, where SQLite's busy handler polls with
        # sleeps of up to 100 ms (p99 of ~0.9 s under load; 60 ms with the lock). Other
        # processes on the same file still wait through busy_timeout.
        self._write_lock = WriteLock() if engine.dialect.name == "sqlite" else None

    def __repr__(self) -> str:
        return f"SqlUnitOfWorkFactory({self.engine.url!r})"

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self._cipher, self._write_lock)

    def single_write(self) -> SqlUnitOfWork:
        """See `ports.UnitOfWorkFactory.single_write`."""
        return self.autocommit() if self.engine.dialect.name == "postgresql" else self()

    def autocommit(self, *, urgent: bool = False) -> SqlUnitOfWork:
        """A unit whose statements each commit as they run (no BEGIN/COMMIT round trips).

        On SQLite it still queues on the write lock: a statement is a write transaction;
        `urgent` queues it ahead of the units that are not (`WriteLock`).
        """
        return SqlUnitOfWork(
            self.engine, self._cipher, self._write_lock, autocommit=True, urgent=urgent
        )
