"""Settings from the environment (prefix EASYFLOW_), with the embedded defaults.

Embedded default: a SQLite file under `data_dir`, the in-memory job broker, in-process
shared state, and a Fernet key generated once into `data_dir/secret.key`. Production sets
EASYFLOW_DATABASE_URL (PostgreSQL), EASYFLOW_BROKER_URL (redis://...) and
EASYFLOW_SECRET_KEYS explicitly.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_BASE_URLS = {
    "telegram": "https://api.telegram.org",
    "openai": "https://api.openai.com/v1",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EASYFLOW_", env_file=".env", extra="ignore")

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
    telegram_base_url: str | None = None
    openai_base_url: str | None = None
    recovery_interval_seconds: float = 30.0
    stuck_after_seconds: float = 60.0
    outbox_max_attempts: int = 8
    lock_ttl_seconds: float = 120.0
    job_concurrency: int = 16  # handlers running at once per process
    health_cache_seconds: float = 60.0
    ai_cooldown_seconds: float = 60.0

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'easyflow.db'}"

    @property
    def is_embedded_database(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def base_url(self, platform: str) -> str:
        """Explicit override, else the sandbox's mount, else the platform's real host."""
        override = getattr(self, f"{platform}_base_url", None)
        if override:
            return str(override)
        if self.sandbox_url:
            suffix = "/v1" if platform == "openai" else ""
            return f"{self.sandbox_url.rstrip('/')}/{platform}{suffix}"
        return DEFAULT_BASE_URLS[platform]

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
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(Fernet.generate_key().decode())
            path.chmod(0o600)
        return [path.read_text().strip()]
