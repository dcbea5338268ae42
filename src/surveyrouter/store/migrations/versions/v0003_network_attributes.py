"""Network attributes (an attribute's own question and answers, from the network's catalogue)
and who set each question mapping, so seeding never overwrites an operator's.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Every mapping before this revision came from start-up seeding.
    with op.batch_alter_table("question_mappings") as batch:
        batch.add_column(
            sa.Column("source", sa.String(16), server_default="library", nullable=False)
        )
    op.create_table(
        "network_attributes",
        sa.Column("network_id", sa.String(32), nullable=False),
        sa.Column("attribute_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("display_mode", sa.Text(), nullable=True),
        sa.Column("question_type", sa.String(16), nullable=True),
        sa.Column("question", JSON_DOCUMENT, nullable=True),
        sa.Column("unaskable", sa.Text(), nullable=True),
        sa.Column("raw", JSON_DOCUMENT, nullable=False),
        sa.Column("fetched_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("network_id", "attribute_id", name="pk_network_attributes"),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name="fk_network_attributes_network_id_networks"
        ),
    )


def downgrade() -> None:
    op.drop_table("network_attributes")
    with op.batch_alter_table("question_mappings") as batch:
        batch.drop_column("source")
