"""A counting TCP proxy in front of PostgreSQL: round trips, statements, connections.

Seen from the wire, whatever the driver or ORM does: a **round trip** is the client speaking
again after the server answered (a pipelined Parse/Bind/Execute/Sync batch is one); a
**statement** is a simple `Query` or an extended-protocol `Execute` message; a **transaction
block** is a statement whose text starts with BEGIN/START TRANSACTION (asyncpg sends those as
simple queries); a **transaction** is the server saying it is idle again (ReadyForQuery with
status `I`) after at least one statement: a BEGIN … COMMIT block, a statement run in
autocommit and a pipelined batch under one Sync (one implicit transaction) each count once,
which is what PostgreSQL commits, without `pg_stat_database`'s start-up and delayed flushes;
a **connection** is a new client connection (its startup is not counted as
a round trip). Only used in the short counting passes, never while timing: every byte takes a
detour through this Python process.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import asdict, dataclass

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


@dataclass
class WireCounts:
    connections: int = 0
    round_trips: int = 0
    statements: int = 0
    begins: int = 0
    transactions: int = 0

    def snapshot(self) -> dict[str, int]:
        return asdict(self)


class _ClientStream:
    """Splits the client's bytes into protocol messages and counts them."""

    def __init__(self, counts: WireCounts) -> None:
        self._counts = counts
        self._buffer = bytearray()
        self.started = False  # after the startup message: typed messages only
        self.ssl_answers_due = 0  # the server answers an SSL/GSSENC request with one byte
        self.working = False  # a statement went since the server was last idle

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while True:
            if not self.started:
                if len(self._buffer) < 8:
                    return
                (length,) = struct.unpack("!I", self._buffer[:4])
                if len(self._buffer) < length:
                    return
                (code,) = struct.unpack("!I", self._buffer[4:8])
                del self._buffer[:length]
                if code in (SSL_REQUEST, GSSENC_REQUEST):
                    self.ssl_answers_due += 1
                else:
                    self.started = True
                continue
            if len(self._buffer) < 5:
                return
            kind = bytes(self._buffer[0:1])
            (length,) = struct.unpack("!I", self._buffer[1:5])
            if len(self._buffer) < 1 + length:
                return
            payload = bytes(self._buffer[5 : 1 + length])
            del self._buffer[: 1 + length]
            self._message(kind, payload)

    def _message(self, kind: bytes, payload: bytes) -> None:
        if kind == b"Q":
            self._counts.statements += 1
            self._counts.begins += _is_begin(payload)
            self.working = True
        elif kind == b"E":
            self._counts.statements += 1
            self.working = True


class _ServerStream:
    """Splits the server's bytes into protocol messages and counts finished transactions.

    The client's bytes are fed before they are forwarded, so a statement is always seen
    before the ReadyForQuery that follows it."""

    def __init__(self, counts: WireCounts, client: _ClientStream) -> None:
        self._counts = counts
        self._client = client
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while True:
            if self._client.ssl_answers_due and self._buffer:
                del self._buffer[:1]  # 'N' (or 'S', and then TLS: not used here)
                self._client.ssl_answers_due -= 1
                continue
            if len(self._buffer) < 5:
                return
            (length,) = struct.unpack("!I", self._buffer[1:5])
            if len(self._buffer) < 1 + length:
                return
            kind, status = bytes(self._buffer[0:1]), bytes(self._buffer[5:6])
            del self._buffer[: 1 + length]
            if kind == b"Z" and status == b"I" and self._client.working:
                self._counts.transactions += 1
                self._client.working = False


def _is_begin(sql: bytes) -> bool:
    head = sql.lstrip()[:17].upper()
    return head.startswith(b"BEGIN") or head.startswith(b"START TRANSACTION")


class CountingProxy:
    """Listens on 127.0.0.1:<port> and forwards to (host, port), counting as it goes."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self.counts = WireCounts()
        self._server: asyncio.Server | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def reset(self) -> None:
        self.counts = WireCounts()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.close()
            self._tasks.discard(task)
            return
        self.counts.connections += 1
        stream = _ClientStream(self.counts)
        answers = _ServerStream(self.counts, stream)
        turn = {"server_spoke": False}

        async def client_to_server() -> None:
            while data := await reader.read(65536):
                if stream.started and turn["server_spoke"]:
                    self.counts.round_trips += 1
                    turn["server_spoke"] = False
                stream.feed(data)
                up_writer.write(data)
                await up_writer.drain()
            up_writer.close()

        async def server_to_client() -> None:
            while data := await up_reader.read(65536):
                if stream.started:
                    turn["server_spoke"] = True
                answers.feed(data)
                writer.write(data)
                await writer.drain()
            writer.close()

        try:
            await asyncio.gather(client_to_server(), server_to_client())
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, up_writer):
                with contextlib.suppress(Exception):
                    w.close()
            self._tasks.discard(task)
