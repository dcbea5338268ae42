"""Sync state: one row per network with the sync worker's last success, lag, error and counts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sync_state",
        sa.Column("network_id", sa.String(32), nullable=False),
        sa.Column("last_success_at", TIMESTAMP, nullable=True),
        sa.Column("newest_notified", TIMESTAMP, nullable=True),
        sa.Column("lag_seconds", sa.Float(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", TIMESTAMP, nullable=True),
        sa.Column("live_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("paused_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("closed_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rejected_total", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("network_id", name="pk_sync_state"),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name="fk_sync_state_network_id_networks"
        ),
    )


def downgrade() -> None:
    op.drop_table("sync_state")
