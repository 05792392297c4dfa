"""Alembic migrations of the Easy Flow schema; run them with `easyflow.storage.migrate`."""
