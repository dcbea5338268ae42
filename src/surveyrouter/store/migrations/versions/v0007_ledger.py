"""The ledger: every reward and reversal, immutable, one per transaction id.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
# As store.column_types.Money: NUMERIC(12,4), or 1/10000 units in an integer on SQLite.
MONEY = sa.Numeric(12, 4).with_variant(sa.BigInteger(), "sqlite")
SURROGATE_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("id", SURROGATE_KEY, autoincrement=True, nullable=False),
        sa.Column("app_id", SURROGATE_KEY, nullable=False),
        sa.Column("user_id", SURROGATE_KEY, nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("usd", MONEY, nullable=False),
        sa.Column("value", MONEY, nullable=False),
        sa.Column("reference", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entries"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name="fk_ledger_entries_app_id_apps"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_ledger_entries_user_id_users"),
        sa.UniqueConstraint("transaction_id", name="uq_ledger_entries_transaction_id"),
    )


def downgrade() -> None:
    op.drop_table("ledger_entries")
