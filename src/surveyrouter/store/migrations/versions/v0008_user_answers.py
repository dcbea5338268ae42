"""Users' answers to profile questions.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
SURROGATE_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "user_answers",
        sa.Column("user_id", SURROGATE_KEY, nullable=False),
        sa.Column("question_key", sa.String(64), nullable=False),
        sa.Column("answer", JSON_DOCUMENT, nullable=False),
        sa.Column("skipped", sa.Boolean(), nullable=False),
        sa.Column("answered_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "question_key", name="pk_user_answers"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_user_answers_user_id_users"),
    )


def downgrade() -> None:
    op.drop_table("user_answers")
