"""Clicks and their outcomes, hourly survey impressions, and the networks' client API ids.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
# As store.column_types.Money: NUMERIC(12,4), or 1/10000 units in an integer on SQLite.
MONEY = sa.Numeric(12, 4).with_variant(sa.BigInteger(), "sqlite")
SURROGATE_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The client API ids of the networks configured so far; any other network gets the next free.
KNOWN_API_IDS = {"sandbox": 1, "rex": 2}


def upgrade() -> None:
    _add_network_api_ids()
    op.create_table(
        "clicks",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("app_id", SURROGATE_KEY, nullable=False),
        sa.Column("user_id", SURROGATE_KEY, nullable=False),
        sa.Column("network_id", sa.String(32), nullable=False),
        sa.Column("opportunity_id", sa.BigInteger(), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=True),
        sa.Column("category_ids", JSON_DOCUMENT, nullable=False),
        sa.Column("exchange_cpi", MONEY, nullable=False),
        sa.Column("loi_minutes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("ended_at", TIMESTAMP, nullable=True),
        sa.Column("disposition", sa.Integer(), nullable=True),
        sa.Column("disposition_status", sa.Integer(), nullable=True),
        sa.Column("outcome_source", sa.String(16), nullable=True),
        sa.Column("left_at", TIMESTAMP, nullable=True),
        sa.Column("leave_reason", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_clicks"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name="fk_clicks_app_id_apps"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_clicks_user_id_users"),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name="fk_clicks_network_id_networks"
        ),
    )
    op.create_index("ix_clicks_user_id_created_at", "clicks", ["user_id", "created_at"])
    op.create_index(
        "ix_clicks_network_id_opportunity_id", "clicks", ["network_id", "opportunity_id"]
    )
    op.create_table(
        "impressions",
        sa.Column("app_id", SURROGATE_KEY, nullable=False),
        sa.Column("network_id", sa.String(32), nullable=False),
        sa.Column("hour", TIMESTAMP, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("app_id", "network_id", "hour", name="pk_impressions"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name="fk_impressions_app_id_apps"),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name="fk_impressions_network_id_networks"
        ),
    )


def downgrade() -> None:
    op.drop_table("impressions")
    op.drop_index("ix_clicks_network_id_opportunity_id", table_name="clicks")
    op.drop_index("ix_clicks_user_id_created_at", table_name="clicks")
    op.drop_table("clicks")
    op.drop_index("ix_networks_api_id", table_name="networks")
    if op.get_bind().dialect.name == "sqlite":
        # Native since SQLite 3.35, and in place: see _add_network_api_ids.
        op.execute("ALTER TABLE networks DROP COLUMN api_id")
    else:
        op.drop_column("networks", "api_id")


def _add_network_api_ids() -> None:
    """``networks.api_id``: NOT NULL and unique, every existing network numbered.

    Done in place on SQLite, never by batch mode's copy-and-swap: other tables' rows refer to
    networks, and with foreign keys enforced (as the store's connections are) SQLite refuses
    to drop a referenced table inside a transaction, so the copy would fail on any database
    that has opportunities. SQLite adds a NOT NULL column in place only with a default, which
    it then keeps (unused: every write names the id); PostgreSQL drops it.
    """
    with op.batch_alter_table("networks") as batch:
        batch.add_column(sa.Column("api_id", sa.Integer(), server_default="0", nullable=False))
    bind = op.get_bind()
    ids = bind.execute(sa.text("SELECT id FROM networks ORDER BY id")).scalars().all()
    update = sa.text("UPDATE networks SET api_id = :api_id WHERE id = :id")
    for network_id, api_id in _api_ids(list(ids)).items():
        bind.execute(update, {"api_id": api_id, "id": network_id})
    if bind.dialect.name != "sqlite":
        op.alter_column("networks", "api_id", server_default=None)
    op.create_index("ix_networks_api_id", "networks", ["api_id"], unique=True)


def _api_ids(network_ids: list[str]) -> dict[str, int]:
    numbered = {i: KNOWN_API_IDS[i] for i in network_ids if i in KNOWN_API_IDS}
    following = max(KNOWN_API_IDS.values()) + 1
    for network_id in network_ids:
        if network_id not in numbered:
            numbered[network_id] = following
            following += 1
    return numbered
