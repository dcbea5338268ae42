"""The publisher callback outbox.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
SURROGATE_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "callback_outbox",
        sa.Column("id", SURROGATE_KEY, autoincrement=True, nullable=False),
        sa.Column("app_id", SURROGATE_KEY, nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_callback_outbox"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name="fk_callback_outbox_app_id_apps"),
        sa.UniqueConstraint("transaction_id", name="uq_callback_outbox_transaction_id"),
    )
    op.create_index(
        "ix_callback_outbox_status_next_attempt_at",
        "callback_outbox",
        ["status", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_callback_outbox_status_next_attempt_at", table_name="callback_outbox")
    op.drop_table("callback_outbox")
