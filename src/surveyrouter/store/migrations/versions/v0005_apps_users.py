"""Publisher apps, their users, and the server's own secrets.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
# As store.column_types.Money: NUMERIC(12,4), or 1/10000 units in an integer on SQLite.
MONEY = sa.Numeric(12, 4).with_variant(sa.BigInteger(), "sqlite")
SURROGATE_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_server_secrets"),
    )
    op.create_table(
        "apps",
        sa.Column("id", SURROGATE_KEY, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("api_token", sa.String(64), nullable=False),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("s2s_token", sa.String(64), nullable=False),
        sa.Column("revenue_share", MONEY, nullable=False),
        sa.Column("currency_factor", MONEY, nullable=False),
        sa.Column("currency_bonus_percent", sa.Integer(), nullable=False),
        sa.Column("currency_whole_units", sa.Boolean(), nullable=False),
        sa.Column("currency_symbol", sa.Text(), nullable=False),
        sa.Column("currency_symbol_is_image", sa.Boolean(), nullable=False),
        sa.Column("default_country", sa.String(2), nullable=False),
        sa.Column("allowed_countries", JSON_DOCUMENT, nullable=False),
        sa.Column("client_overrides_allowed", sa.Boolean(), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=True),
        sa.Column("redirect_complete_url", sa.Text(), nullable=True),
        sa.Column("redirect_screenout_url", sa.Text(), nullable=True),
        sa.Column("redirect_start_bonus_url", sa.Text(), nullable=True),
        sa.Column("redirect_termination_url", sa.Text(), nullable=True),
        sa.Column("screenout_reward", MONEY, nullable=True),
        sa.Column("start_bonus_reward", MONEY, nullable=True),
        sa.Column("start_bonus_questions", sa.Integer(), nullable=False),
        sa.Column("leaderboard_enabled", sa.Boolean(), nullable=False),
        sa.Column("leaderboard_rewards", JSON_DOCUMENT, nullable=False),
        sa.Column("colors", JSON_DOCUMENT, nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("ranking_variants", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_apps"),
        sa.UniqueConstraint("api_token", name="uq_apps_api_token"),
        sa.UniqueConstraint("s2s_token", name="uq_apps_s2s_token"),
    )
    op.create_table(
        "users",
        sa.Column("id", SURROGATE_KEY, autoincrement=True, nullable=False),
        sa.Column("app_id", SURROGATE_KEY, nullable=False),
        sa.Column("uid", sa.String(65), nullable=False),
        sa.Column("respondent_id", sa.String(64), nullable=False),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("device", sa.String(16), nullable=True),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("banned_until", TIMESTAMP, nullable=True),
        sa.Column("ban_reason", sa.Text(), nullable=True),
        sa.Column("entered_survey", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name="fk_users_app_id_apps"),
        sa.UniqueConstraint("app_id", "uid", name="uq_users_app_id_uid"),
        sa.UniqueConstraint("respondent_id", name="uq_users_respondent_id"),
    )


def downgrade() -> None:
    op.drop_table("users")
    op.drop_table("apps")
    op.drop_table("server_secrets")
