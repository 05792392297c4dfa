"""Which database errors are transient, decided once, at the storage boundary.

The unit of work raises `TransientStorageError` in place of a driver error that says "the
same statement may succeed on another try": the connection was dropped or invalidated
(`pg_terminate_backend`, a restarted server, a network cut), the server refused connections
for now, or SQLite's file was locked past the busy timeout. Everything else (a constraint
violated, a missing table, bad SQL) is a bug or bad data and is left as it is: permanent.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from easyflow.domain.errors import EasyFlowError, TransientStorageError

# PostgreSQL SQLSTATE classes and codes worth retrying:
# 08 connection exception, 53 insufficient resources (too many connections, disk full),
# 57 operator intervention (admin shutdown, crash recovery, statement cancelled),
# 40001 serialization failure, 40P01 deadlock, 55P03 lock not available.
_TRANSIENT_CLASSES = ("08", "53", "57")
_TRANSIENT_CODES = ("40001", "40P01", "55P03")
# Driver messages without a SQLSTATE: SQLite's locks, asyncpg's dropped connections.
_TRANSIENT_MARKERS = (
    "database is locked",
    "database is busy",
    "connection is closed",
    "connection was closed",
    "another operation is in progress",  # asyncpg: a connection left mid-operation by a drop
)


def is_transient_database_error(exc: BaseException) -> bool:
    """True for a database failure that a later attempt may not meet (see module doc)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _transient_link(current):
            return True
        suppressed = current.__suppress_context__
        current = current.__cause__ or (None if suppressed else current.__context__)
    return False


def _transient_link(exc: BaseException) -> bool:
    if isinstance(exc, TransientStorageError):
        return True
    if isinstance(exc, (sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True  # a pool without a live connection, or none free in time
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if isinstance(code, str) and (code[:2] in _TRANSIENT_CLASSES or code in _TRANSIENT_CODES):
            return True
    if isinstance(exc, sa_exc.StatementError):
        # The statement is never the cause; the driver's error it wraps may be.
        return exc.orig is not None and exc.orig is not exc and _transient_link(exc.orig)
    # ConnectionError, refused or reset sockets, and TimeoutError are OSErrors here.
    if isinstance(exc, OSError):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _TRANSIENT_MARKERS)


def translated(exc: BaseException) -> BaseException:
    """`exc` itself, or a TransientStorageError caused by it when it is transient.

    The hub's own errors are classified already (a RetryableError keeps its retry_after).
    """
    if isinstance(exc, EasyFlowError) or not is_transient_database_error(exc):
        return exc
    first_line = (str(exc).splitlines() or [""])[0][:300]
    error = TransientStorageError(f"database unavailable: {type(exc).__name__}: {first_line}")
    error.__cause__ = exc
    return error
