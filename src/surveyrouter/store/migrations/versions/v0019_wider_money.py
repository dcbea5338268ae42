"""Money columns on PostgreSQL: NUMERIC(18,4) instead of NUMERIC(12,4).

Eight digits before the point were too few for rewards in a currency of many units per dollar:
a $100 complete at 1,000,000 points per USD is 10^8 points, which NUMERIC(12,4) refused, so
the outcome could not be recorded at all. Fourteen digits hold any reward the app settings
allow (a factor under 10^8, a bonus up to 1000 %) for any CPI under $90,000; SQLite keeps
1/10000 units in a 64-bit integer, which holds more still. Widening a NUMERIC's precision at
the same scale does not rewrite the table.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY_COLUMNS = (
    ("opportunities", "cpi", False),
    ("apps", "revenue_share", False),
    ("apps", "currency_factor", False),
    ("apps", "screenout_reward", True),
    ("apps", "start_bonus_reward", True),
    ("ledger_entries", "usd", False),
    ("ledger_entries", "value", False),
    ("clicks", "exchange_cpi", False),
)


def _retype(precision: int, to: int) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite stores money as an integer of 1/10000 units (column_types.Money)
    for table, column, nullable in MONEY_COLUMNS:
        op.alter_column(
            table,
            column,
            type_=sa.Numeric(to, 4),
            existing_type=sa.Numeric(precision, 4),
            existing_nullable=nullable,
        )


def upgrade() -> None:
    _retype(12, to=18)


def downgrade() -> None:
    _retype(18, to=12)
