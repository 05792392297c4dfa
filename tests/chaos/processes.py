"""Child processes the chaos harness owns: start, `kill -9`, restart, and always clean up.

Every process is started in a session of its own, so the SIGKILL of teardown reaches
whatever it spawned too, by its own process-group id and nothing else. Output goes to a log
file per process (appended across restarts), whose tail is shown when a scenario fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx


def free_port() -> int:
    """A loopback port that was free a moment ago (the child binds it itself)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ManagedProcess:
    """One long-running child (a server or worker) that can be killed and started again."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_dir: Path,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_dir / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.kills = 0
        self._killed = False  # by us: its exit is expected until it is started again

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        if self.running():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.starts += 1
        self._killed = False
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts} at {time.time():.3f}\n".encode())
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its own process group: teardown reaches its children
            )

    async def kill9(self) -> None:
        """SIGKILL the process group, as a crashed machine would: no shutdown hooks run."""
        if not self.running():
            raise RuntimeError(f"{self.name} is not running: it cannot be killed")
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._killed = True
        await self.process.wait()
        self.kills += 1

    async def stop(self) -> None:
        """Teardown: SIGKILL whatever is left of it; never raises."""
        if self.process is None:
            return
        self._killed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.process.wait(), 10)

    def exited_unexpectedly(self) -> bool:
        return self.process is not None and self.process.returncode is not None and not self._killed

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return f"--- {self.name}: no log"
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {self.name} ({self.log_path}):\n" + "\n".join(text)


async def run_command(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float = 120.0
) -> str:
    """Run a short command to completion; its stdout, or an error with everything it said."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=dict(env),
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        raise RuntimeError(f"{' '.join(argv)} did not finish within {timeout} s") from None
    if process.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {process.returncode}:\n{out.decode()}\n{err.decode()}"
        )
    return out.decode()


async def wait_http(
    url: str, owner: ManagedProcess, *, timeout: float = 60.0, expect: int = 200
) -> None:
    """Until `url` answers `expect`; fails early, with the log, if the process died."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            if owner.exited_unexpectedly():
                raise RuntimeError(f"{owner.name} exited while starting\n{owner.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == expect:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} not up after {timeout} s\n{owner.tail()}")
            await asyncio.sleep(0.1)


async def wait_tcp(port: int, owner: ManagedProcess, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if owner.exited_unexpectedly():
            raise RuntimeError(f"{owner.name} exited while starting\n{owner.tail()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"port {port} not open after {timeout} s\n{owner.tail()}"
                ) from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
