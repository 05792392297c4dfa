"""Processes and databases of the pipeline benchmark.

* `Proc`: one child process (server, worker, sandbox, redis) with its log file, its CPU time
  (utime + stime of /proc/<pid>/stat, children included) and RSS, stopped by pid.
* `Databases`: a migrated and seeded template per run of the bench, and a fresh copy of it for
  every measurement (`CREATE DATABASE … TEMPLATE` on PostgreSQL, a file copy on SQLite), so no
  measurement inherits another's rows, backlog or caches.
* `seed(...)`: a tenant and `bots` Telegram integrations, added through the hub's own service
  (it calls getMe and setWebhook on the sandbox, which then delivers to the hub's port).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

BENCH = Path(__file__).resolve().parent
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def child_pythonpath() -> str:
    """PYTHONPATH for the processes a benchmark starts: the `easyflow` and `bench` this process
    imported come first, so a child runs the same code even when the measuring process was
    pointed at another tree (an A/B run against a worktree: `PYTHONPATH=<tree>/src:<tree>`)
    while the virtualenv's editable install names the main one."""
    import easyflow

    roots = [Path(easyflow.__file__).resolve().parents[1], BENCH.parent]
    return os.pathsep.join(dict.fromkeys(str(root) for root in roots))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def easyflow_bin() -> str:
    path = Path(sys.executable).with_name("easyflow")
    if not path.exists():
        raise RuntimeError(f"{path} not found: install the project into the venv")
    return str(path)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (and its reaped children), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime, stime, cutime, cstime are fields 14-17.
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS


def rss_mb(pid: int) -> float:
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE / 2**20


class Proc:
    """A child process in its own session; `stop()` signals it by pid only."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], logs: Path):
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = logs / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was not started"
        return self.process.pid

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                env=self.env,
                cwd=str(self.log_path.parent),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> float:
        return rss_mb(self.pid)

    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def stop(self, grace: float = 8.0) -> None:
        """SIGINT (graceful: uvicorn and atexit hooks run), SIGKILL after `grace` seconds."""
        if self.process is None or self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


async def wait_http(url: str, proc: Proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{proc.name} not answering {url} after {timeout} s:\n{proc.tail()}")


async def wait_tcp(port: int, proc: Proc, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{proc.name} not listening on {port}")


# --------------------------------------------------------------------------- databases


@dataclass
class Database:
    """One measurement's database: the URL both servers use, and how to count its rows."""

    kind: str  # "sqlite" | "postgresql"
    url: str  # SQLAlchemy URL (the hub's EASYFLOW_DATABASE_URL)
    name: str  # PostgreSQL database name, or the SQLite file path

    @property
    def raw_url(self) -> str:
        """The URL the reference takes: `postgresql://…` or `sqlite:///path`."""
        if self.kind == "sqlite":
            return f"sqlite:///{self.name}"
        return make_url(self.url).set(drivername="postgresql").render_as_string(False)


class Databases:
    """Template plus per-measurement copies, on SQLite files or a PostgreSQL server."""

    def __init__(self, kind: str, workdir: Path, server_dsn: str) -> None:
        self.kind = kind
        self.workdir = workdir
        self._server = make_url(server_dsn).set(drivername="postgresql")
        self._tag = f"efbench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.template = self._database(f"{self._tag}_tpl")
        self._made: list[Database] = [self.template]
        self._copies = 0

    def _database(self, name: str) -> Database:
        if self.kind == "sqlite":
            path = self.workdir / f"{name}.db"
            return Database("sqlite", f"sqlite+aiosqlite:///{path}", str(path))
        url = self._server.set(drivername="postgresql+asyncpg", database=name)
        return Database("postgresql", url.render_as_string(False), name)

    async def create_template(self) -> Database:
        if self.kind == "postgresql":
            await self._admin(f'CREATE DATABASE "{self.template.name}"')
        from easyflow.storage import upgrade

        await upgrade(self.template.url)
        return self.template

    async def seal_template(self) -> None:
        """Fold SQLite's WAL into the file, so a plain copy is the whole database."""
        if self.kind == "sqlite":
            with contextlib.closing(sqlite3.connect(self.template.name)) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def copy(self) -> Database:
        self._copies += 1
        db = self._database(f"{self._tag}_{self._copies}")
        if self.kind == "sqlite":
            shutil.copyfile(self.template.name, db.name)
        else:
            await self._admin(f'CREATE DATABASE "{db.name}" TEMPLATE "{self.template.name}"')
        self._made.append(db)
        return db

    async def drop(self, db: Database) -> None:
        if self.kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(db.name + suffix)
        else:
            await self._admin(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
        with contextlib.suppress(ValueError):
            self._made.remove(db)

    async def drop_all(self) -> None:
        for db in list(self._made):
            with contextlib.suppress(Exception):
                await self.drop(db)

    async def count(self, db: Database, table: str) -> int:
        if self.kind == "sqlite":
            with contextlib.closing(sqlite3.connect(db.name, timeout=30)) as conn:
                return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
        conn = await asyncpg.connect(db.raw_url, timeout=10)
        try:
            return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608
        finally:
            await conn.close()

    async def _admin(self, statement: str) -> None:
        conn = await asyncpg.connect(self._server.render_as_string(False), timeout=10)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()


# --------------------------------------------------------------------------- seeding


@dataclass(frozen=True)
class Seeded:
    integration_ids: list[int]
    tokens: list[str]
    secret: str  # the first integration's webhook secret (the intake figures post to it)
    api_key: str  # the tenant's admin API key (the broadcast bench calls the API with it)


async def seed(db: Database, env: Mapping[str, str], sandbox_url: str, bots: int) -> Seeded:
    """A tenant and `bots` Telegram integrations, through the hub's own services."""
    from easyflow.bootstrap import build_container
    from easyflow.config import Settings
    from easyflow.domain.ai import AiProfile

    settings = Settings(
        database_url=db.url,
        secret_keys=env["EASYFLOW_SECRET_KEYS"],
        data_dir=Path(env["EASYFLOW_DATA_DIR"]),
        public_url=env["EASYFLOW_PUBLIC_URL"],
        sandbox_url=sandbox_url,
        broker_url="memory://",
    )
    container = build_container(settings)
    await container.start()
    try:
        tenant = await container.tenants.create("Bench Shop", AiProfile())
        _, api_key = await container.tenants.create_api_key(tenant.id)
        ids, tokens = [], []
        async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as client:
            for n in range(bots):
                answer = await client.post(
                    "/_sandbox/telegram/bots", json={"username": f"bench_{n}_bot"}
                )
                answer.raise_for_status()
                token = answer.json()["token"]
                integration = await container.integrations.add(
                    tenant.id, "telegram", {"token": token}
                )
                ids.append(integration.id)
                tokens.append(token)
        async with container.uow() as uow:
            stored = await uow.integrations.get(tenant.id, ids[0])
            secret = stored.webhook_secrets[0]
    finally:
        await container.aclose()
    return Seeded(ids, tokens, secret, api_key)
