"""Ledger indexes: an app's entries by time (the weekly leaderboard) and a user's entries.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_ledger_entries_app_id_created_at", "ledger_entries", ["app_id", "created_at"]
    )
    op.create_index("ix_ledger_entries_user_id", "ledger_entries", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_user_id", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_app_id_created_at", table_name="ledger_entries")
