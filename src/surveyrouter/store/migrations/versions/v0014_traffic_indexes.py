"""Traffic indexes: clicks by when they were made and when they ended, and ledger entries by
when they were written, across every app (the dashboard's traffic pages, store/traffic.py, read
a range of days; without them each page scanned the whole table).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_clicks_created_at", "clicks", ["created_at"])
    op.create_index("ix_clicks_ended_at", "clicks", ["ended_at"])
    op.create_index("ix_ledger_entries_created_at", "ledger_entries", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_created_at", table_name="ledger_entries")
    op.drop_index("ix_clicks_ended_at", table_name="clicks")
    op.drop_index("ix_clicks_created_at", table_name="clicks")
