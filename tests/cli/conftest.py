"""Fixtures of the `easyflow` command's tests: its environment and a sandbox on a real port.

The command reads its settings from the environment, like in production: a database of the
test's own (a fresh SQLite file, or a fresh PostgreSQL database with EASYFLOW_SECRET_KEYS),
EASYFLOW_SANDBOX_URL pointing at a sandbox served by uvicorn in a background thread, and
EASYFLOW_PUBLIC_URL where the sandbox would deliver webhooks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog

from easyflow.sandbox.server import Sandbox, SandboxConfig, create_sandbox_app
from support.live_server import live_server

PUBLIC_URL = "http://127.0.0.1:18080"


@dataclass
class CliEnv:
    database_url: str
    data_dir: Path
    sandbox: Sandbox
    sandbox_url: str


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The command configures structlog onto the runner's stderr, closed after each invoke."""
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.reset_defaults()
        structlog.configure(**saved)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No EASYFLOW_* setting from the machine, no .env file, wide output."""
    for name in list(os.environ):
        if name.startswith("EASYFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def sandbox_server() -> Iterator[tuple[Sandbox, str]]:
    sandbox = create_sandbox_app(SandboxConfig.demo())
    with live_server(sandbox.app) as url:
        yield sandbox, url


@pytest.fixture
def cli_env(
    clean_env: None,
    db_backend: str,
    database_url: str,
    encryption_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sandbox_server: tuple[Sandbox, str],
) -> CliEnv:
    """A database with no schema yet (SQLite file or PostgreSQL database) and the sandbox."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("EASYFLOW_DATA_DIR", str(data_dir))
    monkeypatch.setenv("EASYFLOW_DATABASE_URL", database_url)
    if db_backend == "postgresql":  # the embedded default keeps a key in the data dir
        monkeypatch.setenv("EASYFLOW_SECRET_KEYS", encryption_key)
    sandbox, url = sandbox_server
    monkeypatch.setenv("EASYFLOW_SANDBOX_URL", url)
    monkeypatch.setenv("EASYFLOW_PUBLIC_URL", PUBLIC_URL)
    monkeypatch.setenv("EASYFLOW_LOG_LEVEL", "WARNING")
    return CliEnv(database_url, data_dir, sandbox, url)
