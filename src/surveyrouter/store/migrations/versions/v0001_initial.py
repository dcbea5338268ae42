"""Networks, opportunities with their change feed, collections, the question library.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types are spelled out rather than imported from the models, so this revision keeps creating
# the same schema whatever the models become.
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# SQLite has no exact decimal: there the amount is stored in 1/10000 units (store.column_types).
MONEY = sa.Numeric(12, 4).with_variant(sa.BigInteger(), "sqlite")
SURROGATE_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE opportunity_change_seq AS bigint")

    op.create_table(
        "networks",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_networks"),
    )

    op.create_table(
        "opportunities",
        sa.Column("id", SURROGATE_KEY, autoincrement=True, nullable=False),
        sa.Column("network_id", sa.String(32), nullable=False),
        sa.Column("external_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=True),
        sa.Column("group_id", sa.BigInteger(), nullable=True),
        sa.Column("country", sa.String(8), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("cpi", MONEY, nullable=False),
        sa.Column("loi_minutes", sa.Integer(), nullable=False),
        sa.Column("incidence_rate", sa.Integer(), nullable=False),
        sa.Column("completes", sa.Integer(), nullable=True),
        sa.Column("days_in_field", sa.Integer(), nullable=True),
        sa.Column("evaluation", sa.String(32), nullable=True),
        sa.Column("order_number", sa.String(64), nullable=True),
        sa.Column("client_id", sa.BigInteger(), nullable=True),
        sa.Column("category_ids", JSON_DOCUMENT, nullable=False),
        sa.Column("category_exclusions", JSON_DOCUMENT, nullable=False),
        sa.Column("project_exclusions", JSON_DOCUMENT, nullable=False),
        sa.Column("devices", JSON_DOCUMENT, nullable=False),
        sa.Column("requirements", JSON_DOCUMENT, nullable=False),
        sa.Column("live_link", sa.Text(), nullable=False),
        sa.Column("created", TIMESTAMP, nullable=True),
        sa.Column("notified", TIMESTAMP, nullable=True),
        sa.Column("raw", JSON_DOCUMENT, nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_opportunities"),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name="fk_opportunities_network_id_networks"
        ),
        sa.UniqueConstraint(
            "network_id", "external_id", name="uq_opportunities_network_id_external_id"
        ),
    )
    op.create_index("ix_opportunities_status", "opportunities", ["status"])
    op.create_index("ix_opportunities_country_language", "opportunities", ["country", "language"])
    op.create_index("ix_opportunities_change_seq", "opportunities", ["change_seq"], unique=True)

    op.create_table(
        "collections",
        sa.Column("network_id", sa.String(32), nullable=False),
        sa.Column("collection_id", sa.String(64), nullable=False),
        sa.Column("values", JSON_DOCUMENT, nullable=False),
        sa.Column("fetched_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("network_id", "collection_id", name="pk_collections"),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name="fk_collections_network_id_networks"
        ),
    )

    op.create_table(
        "questions",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("payload", JSON_DOCUMENT, nullable=False),
        sa.Column("standard", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_questions"),
        sa.UniqueConstraint("key", name="uq_questions_key"),
    )

    op.create_table(
        "question_mappings",
        sa.Column("network_id", sa.String(32), nullable=False),
        sa.Column("attribute_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=True),
        sa.Column("answers", JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("network_id", "attribute_id", name="pk_question_mappings"),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name="fk_question_mappings_network_id_networks"
        ),
        sa.ForeignKeyConstraint(
            ["question_id"], ["questions.id"], name="fk_question_mappings_question_id_questions"
        ),
    )


def downgrade() -> None:
    op.drop_table("question_mappings")
    op.drop_table("questions")
    op.drop_table("collections")
    op.drop_index("ix_opportunities_change_seq", table_name="opportunities")
    op.drop_index("ix_opportunities_country_language", table_name="opportunities")
    op.drop_index("ix_opportunities_status", table_name="opportunities")
    op.drop_table("opportunities")
    op.drop_table("networks")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE opportunity_change_seq")
