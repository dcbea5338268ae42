"""Operators of the dashboard: their accounts (argon2 password hashes), their signed-in
sessions (only a hash of each session's token is kept) and failed sign-ins, which throttle
guessing.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
SURROGATE_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", SURROGATE_KEY, autoincrement=True, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_sign_in_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_operators"),
        sa.UniqueConstraint("username", name="uq_operators_username"),
    )
    op.create_table(
        "operator_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("operator_id", SURROGATE_KEY, nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_operator_sessions"),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name="fk_operator_sessions_operator_id_operators"
        ),
    )
    op.create_table(
        "operator_sign_in_failures",
        sa.Column("id", SURROGATE_KEY, autoincrement=True, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("ip_address", sa.String(64), nullable=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_operator_sign_in_failures"),
    )
    op.create_index(
        "ix_operator_sign_in_failures_username_at",
        "operator_sign_in_failures",
        ["username", "at"],
    )
    op.create_index(
        "ix_operator_sign_in_failures_ip_address_at",
        "operator_sign_in_failures",
        ["ip_address", "at"],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_operator_sign_in_failures_ip_address_at", table_name="operator_sign_in_failures"
    )
    op.drop_index(
        "ix_operator_sign_in_failures_username_at", table_name="operator_sign_in_failures"
    )
    op.drop_table("operator_sign_in_failures")
    op.drop_table("operator_sessions")
    op.drop_table("operators")
