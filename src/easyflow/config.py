"""Settings from the environment (prefix EASYFLOW_), with the embedded defaults.

Embedded default: a SQLite file under `data_dir`, the in-memory job broker, in-process
shared state, and a Fernet key generated once into `data_dir/secret.key`. Production sets
EASYFLOW_DATABASE_URL (PostgreSQL), EASYFLOW_BROKER_URL (redis://...) and
EASYFLOW_SECRET_KEYS explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # extra="allow": `<platform>_base_url` from .env or the constructor, for any platform.
    model_config = SettingsConfigDict(env_prefix="EASYFLOW_", env_file=".env", extra="allow")

    data_dir: Path = Path(".easyflow")
    database_url: str = ""  # empty: sqlite file in data_dir
    secret_keys: str = Field(default="", repr=False)  # comma-separated Fernet keys, newest first
    public_url: str = "http://127.0.0.1:8000"
    sandbox_url: str | None = None  # point every platform at a running `easyflow sandbox`
    broker_url: str = "memory://"  # or redis://host:6379/0
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    # Recovery (docs/operations.md, "Failures, retries and recovery"): how soon work a dead
    # worker or a lost task left behind is handed out again.
    recovery_interval_seconds: float = Field(default=10.0, gt=0)
    operator_webhook_interval_seconds: float = Field(default=2.0, gt=0)  # docs/operators.md
    stuck_after_seconds: float = Field(default=30.0, ge=0)  # a never-tried row's task is late
    send_lease_seconds: float = Field(default=60.0, gt=0)  # a send's claim; lapsed = in doubt
    broker_idle_timeout_seconds: float = Field(default=60.0, gt=0)  # Redis Streams redelivery
    # Shared state on Redis (locks, rate limits, the integration cache): a command whose reply
    # has not come in this long fails as transient instead of holding its job forever (a
    # half-open connection after a failover); dead peers are also found by TCP keepalive.
    redis_timeout_seconds: float = Field(default=5.0, gt=0)
    retry_base_seconds: float = Field(default=5.0, ge=0)  # backoff: base * 2^(n-1), jittered
    inbound_max_attempts: int = Field(default=8, ge=1)
    outbox_max_attempts: int = 8
    lock_ttl_seconds: float = 120.0
    job_concurrency: int = 16  # inbound handlers at once per process, and as many sends
    # Connections kept per process: enough for every handler and as many requests at once,
    # so none is opened and closed per request under load (overflow ones are closed on
    # return). Keep processes × (pool + overflow) under the server's max_connections.
    database_pool_size: int = Field(default=32, ge=1, le=1000)
    database_max_overflow: int = Field(default=16, ge=0, le=1000)
    health_cache_seconds: float = 60.0
    # How long intake keeps an integration it read (state/integration_cache.py); changes made
    # through the hub invalidate it at once, this bounds what they cannot reach. 0: no cache.
    webhook_cache_seconds: float = Field(default=10.0, ge=0, le=3600)
    ai_cooldown_seconds: float = 60.0
    # The AI provider chain (docs/ai.md): failures within ai_cooldown_seconds that cool a
    # provider down; how long a refused key or exhausted quota keeps it out; the default
    # per-provider timeout (an integration's `timeout_seconds` setting overrides it).
    ai_failure_threshold: int = Field(default=3, ge=1)
    ai_config_cooldown_seconds: float = Field(default=600.0, ge=0)
    ai_timeout_seconds: float = Field(default=20.0, gt=0)
    demo_ai_provider: str = "local"  # the demo's assistant: local, openai, yandexgpt, anthropic
    # Request bodies (api/limits.py): a Telegram update is a few KiB; the largest valid admin
    # body, an AI profile at its schema maxima, is 1.8 MiB in ASCII. Unauthenticated admin
    # requests are refused before their body is read, whatever these are.
    max_webhook_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_api_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # After a rotation the previous webhook secret is accepted this long (queued deliveries).
    webhook_secret_overlap_seconds: float = Field(default=3600.0, ge=0, le=7 * 86_400)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'easyflow.db'}"

    @property
    def is_embedded_database(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def base_url(self, platform: str, sandbox_mount: str | None = None) -> str | None:
        """Where to reach `platform`: EASYFLOW_<PLATFORM>_BASE_URL when set (environment,
        .env or constructor), else its mount in the sandbox at EASYFLOW_SANDBOX_URL, else
        None: the real host its SPEC states. Any registered platform, no field per platform."""
        key = f"{platform}_base_url"
        override = os.environ.get(f"EASYFLOW_{key.upper()}") or (self.model_extra or {}).get(key)
        if override:
            return str(override)
        if self.sandbox_url:
            return f"{self.sandbox_url.rstrip('/')}{sandbox_mount or '/' + platform}"
        return None

    def fernet_keys(self) -> list[str]:
        """The configured keys; on the embedded database, a key kept in data_dir."""
        keys = [k.strip() for k in self.secret_keys.split(",") if k.strip()]
        if keys:
            return keys
        if not self.is_embedded_database:
            raise RuntimeError(
                "EASYFLOW_SECRET_KEYS must be set when the database is not the embedded SQLite "
                "file (generate one with: easyflow keys generate-secret)"
            )
        path = self.data_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Created 0600, never readable by others even for a moment; O_EXCL: of two
            # processes starting at once, one writes the key and both read it.
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(Fernet.generate_key().decode())
        return [path.read_text().strip()]
