"""Run an `easyflow` command with its database work counted: statements, transactions.

    python bench/instrumented.py STATS.json serve --port N
    python bench/instrumented.py STATS.json worker

SQLAlchemy event listeners on the Engine and Pool classes (so on every engine the command
creates) count cursor executions (BEGIN IMMEDIATE included on SQLite), commits, rollbacks,
pool checkouts and new DBAPI connections; the totals are written to STATS.json twice a
second and at exit. Only the counting passes run the hub this way; the timed passes run the
plain `easyflow` command. On SQLite, where there is no wire, a round trip is a hop to the
driver's thread: every call aiosqlite queues there is counted (`hops`), which is what the
benchmark calls a round trip on SQLite.
"""

from __future__ import annotations

import atexit
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

COUNTS = {
    "statements": 0,
    "begins": 0,
    "commits": 0,
    "rollbacks": 0,
    "checkouts": 0,
    "connections": 0,
    "hops": 0,
}


def _bump(name: str) -> None:
    COUNTS[name] += 1  # the GIL makes this good enough from the driver's threads


def _on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    _bump("statements")
    if statement.lstrip()[:5].upper() == "BEGIN":
        _bump("begins")


def _count_hops() -> None:
    """Every call aiosqlite runs on a connection's thread goes through `Connection._execute`."""
    from aiosqlite.core import Connection

    run = Connection._execute

    async def counted(self: Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        _bump("hops")
        return await run(self, fn, *args, **kwargs)

    Connection._execute = counted  # type: ignore[method-assign]


def install() -> None:
    _count_hops()
    event.listen(Engine, "before_cursor_execute", _on_execute)
    event.listen(Engine, "commit", lambda conn: _bump("commits"))
    event.listen(Engine, "rollback", lambda conn: _bump("rollbacks"))
    event.listen(Pool, "checkout", lambda *a: _bump("checkouts"))
    event.listen(Pool, "connect", lambda *a: _bump("connections"))


def _writer(path: Path) -> None:
    def write() -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(COUNTS))
        tmp.replace(path)

    def loop() -> None:
        while True:
            write()
            time.sleep(0.5)

    threading.Thread(target=loop, daemon=True).start()
    atexit.register(write)


def main() -> None:
    path = Path(sys.argv[1])
    install()
    _writer(path)
    from easyflow.cli import main as easyflow

    sys.argv = ["easyflow", *sys.argv[2:]]
    easyflow()


if __name__ == "__main__":
    main()
