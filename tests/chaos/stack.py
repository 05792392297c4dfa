"""The whole hub as separate processes, for one chaos scenario, torn down whatever happens.

    async with ChaosStack(workdir, postgres_dsn, tuning) as stack:
        stack.sandbox_url, stack.api_url, stack.token, stack.api_key, stack.integration_id
        await stack.kill_and_restart(stack.workers[0], pause=1.0)
        await stack.terminate_db_connections()

Brought up: a private `redis-server` on a free port (no persistence: a restart loses every
queued task and lock, as a crashed Redis without AOF does), `easyflow sandbox`, a fresh
PostgreSQL database migrated with `easyflow db upgrade`, a tenant and an API key from the
CLI, `easyflow serve` and `easyflow worker` processes on the Redis broker, and a Telegram
integration added through the admin API (the hub calls getMe and setWebhook on the sandbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import asyncpg
import httpx
import redis.asyncio as aioredis
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from chaos.processes import ManagedProcess, free_port, run_command, wait_http, wait_tcp
from easyflow.jobs.redis_broker import idle_readers

HARNESS_APP = "easyflow-chaos-harness"  # our own connections are spared by the terminator


@dataclass(frozen=True)
class HubTuning:
    """How the hub processes are configured (EASYFLOW_* settings)."""

    workers: int = 2
    recovery_interval_seconds: float = 2.0
    stuck_after_seconds: float = 10.0
    lock_ttl_seconds: float = 30.0
    log_level: str = "WARNING"


def _easyflow() -> str:
    path = Path(sys.executable).with_name("easyflow")
    if not path.exists():
        raise RuntimeError(f"{path} not found: install the project into the venv (scripts/setup)")
    return str(path)


def _redis_server() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise RuntimeError("redis-server is not installed: the chaos suite needs its own Redis")
    return path


class ChaosStack:
    def __init__(self, workdir: Path, postgres_dsn: str, tuning: HubTuning) -> None:
        self.workdir = workdir
        self.tuning = tuning
        self._server_dsn = make_url(postgres_dsn).set(drivername="postgresql")
        self.db_name = f"easyflow_chaos_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.database_dsn = self._server_dsn.set(database=self.db_name).render_as_string(False)
        self._db_created = False
        self.redis_port, self.sandbox_port, self.api_port = free_port(), free_port(), free_port()
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.token = ""
        self.api_key = ""
        self.tenant_id = 0
        self.integration_id = 0
        self._logs = workdir / "logs"
        self._logs.mkdir(parents=True, exist_ok=True)
        self.env = self._hub_env()
        redis_argv = f"--port {self.redis_port} --bind 127.0.0.1 --appendonly no --daemonize no"
        # --save "" switches snapshots off: a restarted Redis comes back empty.
        self.redis = self._process("redis", [_redis_server(), *redis_argv.split(), "--save", ""])
        self.sandbox = self._process(
            "sandbox", [_easyflow(), "sandbox", "--port", str(self.sandbox_port)]
        )
        self.api = self._process("api", [_easyflow(), "serve", "--port", str(self.api_port)])
        self.workers = [
            self._process(f"worker-{n}", [_easyflow(), "worker"])
            for n in range(1, tuning.workers + 1)
        ]

    def _process(self, name: str, argv: list[str]) -> ManagedProcess:
        return ManagedProcess(name, argv, env=self.env, cwd=self.workdir, log_dir=self._logs)

    @property
    def processes(self) -> list[ManagedProcess]:
        return [self.redis, self.sandbox, self.api, *self.workers]

    def _hub_env(self) -> dict[str, str]:
        # Nothing of the caller's EASYFLOW_* leaks in; the cwd is the workdir, so no .env either.
        env = {k: v for k, v in os.environ.items() if not k.startswith("EASYFLOW_")}
        database_url = make_url(self.database_dsn).set(drivername="postgresql+asyncpg")
        env.update(
            EASYFLOW_DATA_DIR=str(self.workdir / "data"),
            EASYFLOW_DATABASE_URL=database_url.render_as_string(hide_password=False),
            EASYFLOW_SECRET_KEYS=Fernet.generate_key().decode(),
            EASYFLOW_PUBLIC_URL=self.api_url,
            EASYFLOW_SANDBOX_URL=self.sandbox_url,
            EASYFLOW_BROKER_URL=f"redis://127.0.0.1:{self.redis_port}/0",
            EASYFLOW_LOG_LEVEL=self.tuning.log_level,
            EASYFLOW_LOG_JSON="true",
            EASYFLOW_RECOVERY_INTERVAL_SECONDS=str(self.tuning.recovery_interval_seconds),
            EASYFLOW_STUCK_AFTER_SECONDS=str(self.tuning.stuck_after_seconds),
            EASYFLOW_LOCK_TTL_SECONDS=str(self.tuning.lock_ttl_seconds),
        )
        return env

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> ChaosStack:
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _start(self) -> None:
        await self._admin(f'CREATE DATABASE "{self.db_name}"')
        self._db_created = True
        await asyncio.gather(self.redis.start(), self.sandbox.start())
        await run_command([_easyflow(), "db", "upgrade"], env=self.env, cwd=self.workdir)
        await wait_tcp(self.redis_port, self.redis)
        await wait_http(f"{self.sandbox_url}/_sandbox", self.sandbox)
        async with httpx.AsyncClient(base_url=self.sandbox_url, timeout=10) as sandbox:
            bot = await sandbox.post("/_sandbox/telegram/bots", json={"username": "chaos_bot"})
            bot.raise_for_status()
            self.token = bot.json()["token"]
        self.tenant_id, self.api_key = await self._tenant_and_key()
        await asyncio.gather(*(p.start() for p in (self.api, *self.workers)))
        await wait_http(f"{self.api_url}/health", self.api)
        await self.wait_workers_listening(len(self.workers))
        async with self.admin_client() as admin:
            added = await admin.post(
                "/api/v1/integrations",
                json={"platform": "telegram", "credentials": {"token": self.token}},
            )
            if added.status_code != 201:
                raise RuntimeError(f"adding the integration: {added.status_code} {added.text}")
            self.integration_id = int(added.json()["id"])

    async def _tenant_and_key(self) -> tuple[int, str]:
        easyflow = _easyflow()
        out = await run_command(
            [easyflow, "tenants", "create", "Chaos Shop"], env=self.env, cwd=self.workdir
        )
        found = re.search(r"tenant (\d+) created", out)
        if found is None:
            raise RuntimeError(f"unexpected output of `tenants create`: {out!r}")
        tenant_id = int(found.group(1))
        out = await run_command(
            [easyflow, "keys", "create", "--tenant", str(tenant_id), "--name", "chaos"],
            env=self.env,
            cwd=self.workdir,
        )
        return tenant_id, out.strip().splitlines()[-1].strip()

    async def close(self) -> None:
        """Kill every process we started and drop the database; never raises."""
        await asyncio.gather(*(p.stop() for p in self.processes), return_exceptions=True)
        if self._db_created:
            with contextlib.suppress(Exception):
                await self._admin(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
                self._db_created = False

    # ------------------------------------------------------------------ helpers

    def admin_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=30,
        )

    async def _admin(self, statement: str) -> None:
        dsn = self._server_dsn.render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn, timeout=10)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    async def db(self) -> asyncpg.Connection:
        """A connection to the run's database, named so the terminator leaves it alone."""
        return await asyncpg.connect(
            self.database_dsn, timeout=10, server_settings={"application_name": HARNESS_APP}
        )

    async def terminate_db_connections(self) -> int:
        """pg_terminate_backend every connection of the hub's processes; how many died."""
        dsn = self._server_dsn.render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn, timeout=10)
        try:
            killed = await connection.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid() AND application_name <> $2",
                self.db_name,
                HARNESS_APP,
            )
        finally:
            await connection.close()
        return int(killed or 0)

    async def kill_and_restart(self, process: ManagedProcess, pause: float) -> None:
        await process.kill9()
        await asyncio.sleep(pause)
        await process.start()
        if process is self.api:
            await wait_http(f"{self.api_url}/health", self.api)
        elif process is self.redis:
            await wait_tcp(self.redis_port, self.redis)

    async def wait_workers_listening(self, count: int, timeout: float = 60.0) -> None:
        """Until `count` workers are waiting on the task stream."""
        redis = aioredis.from_url(f"redis://127.0.0.1:{self.redis_port}/0")
        deadline = time.monotonic() + timeout
        try:
            while True:
                for worker in self.workers:
                    if worker.exited_unexpectedly():
                        raise RuntimeError(f"{worker.name} exited while starting\n{worker.tail()}")
                if await idle_readers(redis) >= count:
                    return
                if time.monotonic() > deadline:
                    logs = "\n".join(w.tail() for w in self.workers)
                    raise TimeoutError(f"{count} workers not listening after {timeout} s\n{logs}")
                await asyncio.sleep(0.2)
        finally:
            await redis.aclose()

    def unexpected_exits(self) -> list[str]:
        """Processes that died without us killing them (a crash is a finding)."""
        return [
            f"{p.name} exited with {p.process.returncode if p.process else '?'}"
            for p in self.processes
            if p.exited_unexpectedly()
        ]

    def tails(self, lines: int = 30) -> str:
        return "\n".join(p.tail(lines) for p in self.processes)
