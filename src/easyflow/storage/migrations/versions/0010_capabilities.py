"""Integrations are stored under the capability they were connected for.

The `kind` column held a platform kind (messenger, ai, commerce); it now holds a capability
(messenger, chat_model, marketplace, ...), the one the platform declares first.

Revision ID: 0010_capabilities
Revises: 0009_notification_templates
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010_capabilities"
down_revision: str | Sequence[str] | None = "0009_notification_templates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Old kind -> capability; "messenger" is the same word in both.
RENAMED = (("ai", "chat_model"), ("commerce", "marketplace"))


def upgrade() -> None:
    for old, new in RENAMED:
        op.execute(f"UPDATE integrations SET kind = '{new}' WHERE kind = '{old}'")  # noqa: S608


def downgrade() -> None:
    for old, new in RENAMED:
        op.execute(f"UPDATE integrations SET kind = '{old}' WHERE kind = '{new}'")  # noqa: S608
