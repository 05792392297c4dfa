"""Storage: SQLAlchemy tables, repositories, the unit of work and Alembic migrations.

What the rest of the app calls (the composition root, the CLI, tests):

    engine = create_engine(settings.database_url)          # SQLite file or PostgreSQL
    await upgrade(settings.database_url)                    # or upgrade_sync(...) in the CLI
    uow = SqlUnitOfWorkFactory(engine, CredentialCipher(settings.encryption_keys))
    ...
    await engine.dispose()

Services see only `ports.UnitOfWorkFactory`. Nothing here connects at import time.
"""

from easyflow.storage.crypto import CredentialCipher, UndecryptableError, generate_key
from easyflow.storage.engine import create_engine, normalise_url
from easyflow.storage.migrate import downgrade, upgrade, upgrade_sync
from easyflow.storage.uow import SqlUnitOfWork, SqlUnitOfWorkFactory

__all__ = [
    "CredentialCipher",
    "SqlUnitOfWork",
    "SqlUnitOfWorkFactory",
    "UndecryptableError",
    "create_engine",
    "downgrade",
    "generate_key",
    "normalise_url",
    "upgrade",
    "upgrade_sync",
]
