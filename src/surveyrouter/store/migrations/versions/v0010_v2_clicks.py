"""Client API v2: its clicks, the surveys users hid, and custom tags on clicks.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
SURROGATE_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # SQLite adds a NOT NULL column in place only with a default; every click so far has no
    # tags, which is what the default says.
    with op.batch_alter_table("clicks") as batch:
        batch.add_column(
            sa.Column("tags", JSON_DOCUMENT, server_default=sa.text("'{}'"), nullable=False)
        )
    op.create_table(
        "v2_clicks",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("app_id", SURROGATE_KEY, nullable=False),
        sa.Column("user_id", SURROGATE_KEY, nullable=False),
        sa.Column("network_id", sa.String(32), nullable=True),
        sa.Column("opportunity_id", sa.BigInteger(), nullable=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("tags", JSON_DOCUMENT, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("entered_click_id", sa.String(32), nullable=True),
        sa.Column("answered_count", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_v2_clicks"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name="fk_v2_clicks_app_id_apps"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_v2_clicks_user_id_users"),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name="fk_v2_clicks_network_id_networks"
        ),
        sa.ForeignKeyConstraint(
            ["entered_click_id"], ["clicks.id"], name="fk_v2_clicks_entered_click_id_clicks"
        ),
    )
    op.create_index("ix_v2_clicks_user_id_created_at", "v2_clicks", ["user_id", "created_at"])
    op.create_table(
        "hidden_surveys",
        sa.Column("user_id", SURROGATE_KEY, nullable=False),
        sa.Column("network_id", sa.String(32), nullable=False),
        sa.Column("opportunity_id", sa.BigInteger(), nullable=False),
        sa.Column("hidden_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint(
            "user_id", "network_id", "opportunity_id", name="pk_hidden_surveys"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_hidden_surveys_user_id_users"),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name="fk_hidden_surveys_network_id_networks"
        ),
    )


def downgrade() -> None:
    op.drop_table("hidden_surveys")
    op.drop_index("ix_v2_clicks_user_id_created_at", table_name="v2_clicks")
    op.drop_table("v2_clicks")
    if op.get_bind().dialect.name == "sqlite":
        # Native since SQLite 3.35, and in place: batch mode would copy the referenced table.
        op.execute("ALTER TABLE clicks DROP COLUMN tags")
    else:
        op.drop_column("clicks", "tags")
