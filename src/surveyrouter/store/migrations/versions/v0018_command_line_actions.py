"""Operator actions made at the command line: ``operator_id`` may be empty where
``shell_user`` names the machine account that ran ``surveyrouter`` (one of the two, always).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.sql.elements import conv

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SURROGATE_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ONE_ACTOR = "(operator_id IS NULL) <> (shell_user IS NULL)"
# Final as written (conv): the metadata's naming convention would prefix it a second time.
ONE_ACTOR_NAME = conv("ck_operator_actions_one_actor")


def upgrade() -> None:
    # SQLite changes a column's nullability by rebuilding the table; nothing refers to it.
    with op.batch_alter_table("operator_actions") as batch:
        batch.add_column(sa.Column("shell_user", sa.String(100), nullable=True))
        batch.alter_column("operator_id", existing_type=SURROGATE_KEY, nullable=True)
        batch.create_check_constraint(ONE_ACTOR_NAME, ONE_ACTOR)


def downgrade() -> None:
    # The command line's actions have no operator to keep them under.
    op.execute("DELETE FROM operator_actions WHERE operator_id IS NULL")
    with op.batch_alter_table("operator_actions") as batch:
        batch.drop_constraint(ONE_ACTOR_NAME, type_="check")
        batch.alter_column("operator_id", existing_type=SURROGATE_KEY, nullable=False)
        batch.drop_column("shell_user")
