"""The reference webhook handler: verify the secret, insert the raw body, nothing else.

    python bench/reference_server.py --port N --database-url URL --secret S

It answers `POST /webhook/telegram/{integration_id}` the way the hub must at the least:
compare `X-Telegram-Bot-Api-Secret-Token` with the secret in constant time (401 otherwise),
read the body, take its `update_id` (one `json.loads`), and insert the raw body with one
`INSERT … ON CONFLICT DO NOTHING` in autocommit (one statement, one transaction, one round
trip): raw asyncpg on a pool the size of the hub's on PostgreSQL, one aiosqlite connection in
WAL mode with the hub's pragmas on SQLite. Then `{"ok": true}`.

It is a bare Starlette route served by `uvicorn.run(app, host=..., port=...,
http=HeaderLimitedHttp)`, the call `easyflow serve` makes, so both servers run with the same
uvicorn settings.
"""

from __future__ import annotations

import argparse
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from easyflow.api.limits import HeaderLimitedHttp

HEADER = "x-telegram-bot-api-secret-token"
TABLE = "bench_reference_events"
PATH = "/webhook/telegram/{integration_id:int}"
SQLITE_PRAGMAS = (  # the hub's (storage/engine.py), so both write the same way
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA synchronous=NORMAL",
)
POOL_SIZE = 10  # the hub engine's pool_size

Insert = Callable[[int, str], Awaitable[None]]


@asynccontextmanager
async def postgres_insert(dsn: str) -> AsyncIterator[Insert]:
    import asyncpg

    async def keep(_: Any) -> None:
        # asyncpg's default reset sends `RESET ALL; UNLISTEN *; …` on every release: one more
        # round trip per request for session state this handler never sets.
        return None

    pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE, reset=keep)
    async with pool.acquire() as conn:
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (update_id BIGINT PRIMARY KEY, body TEXT)"
        )
    statement = f"INSERT INTO {TABLE} (update_id, body) VALUES ($1, $2) ON CONFLICT DO NOTHING"  # noqa: S608

    async def insert(update_id: int, body: str) -> None:
        await pool.execute(statement, update_id, body)

    try:
        yield insert
    finally:
        await pool.close()


@asynccontextmanager
async def sqlite_insert(path: str) -> AsyncIterator[Insert]:
    import aiosqlite

    # isolation_level=None: autocommit, so one INSERT is one transaction and one thread hop.
    db = await aiosqlite.connect(path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        await db.execute(pragma)
    await db.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (update_id INTEGER PRIMARY KEY, body TEXT)"
    )
    statement = f"INSERT INTO {TABLE} (update_id, body) VALUES (?, ?) ON CONFLICT DO NOTHING"  # noqa: S608

    async def insert(update_id: int, body: str) -> None:
        await db.execute(statement, (update_id, body))

    try:
        yield insert
    finally:
        await db.close()


def storage(database_url: str) -> Any:
    """`postgresql://…` (any driver suffix) or `sqlite…:///path`."""
    scheme, _, rest = database_url.partition("://")
    if scheme.startswith("postgres"):
        return postgres_insert(f"postgresql://{rest}")
    if scheme.startswith("sqlite"):
        return sqlite_insert(rest.removeprefix("/"))
    raise SystemExit(f"unsupported database URL {database_url!r}")


def create_app(database_url: str, secret: str) -> Starlette:
    expected = secret.encode()
    state: dict[str, Insert] = {}

    async def receive(request: Request) -> Response:
        presented = (request.headers.get(HEADER) or "").encode()
        if not hmac.compare_digest(presented, expected):
            return JSONResponse({"detail": "unauthorized"}, status_code=401)
        body = await request.body()
        try:
            update_id = int(json.loads(body)["update_id"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"detail": "not a Telegram update"}, status_code=400)
        await state["insert"](update_id, body.decode())
        return JSONResponse({"ok": True})

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with storage(database_url) as insert:
            state["insert"] = insert
            yield

    routes = [Route(PATH, receive, methods=["POST"]), Route("/health", health)]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.database_url, args.secret),
        host=args.host,
        port=args.port,
        http=HeaderLimitedHttp,
    )


if __name__ == "__main__":
    main()
