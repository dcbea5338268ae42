"""user_answers.imported: the answer came from the publisher's profile import
(``POST /v1/publishers/users``), not from the user.

The start bonus pays for questions the user answers (client API §3.5); an imported profile
answers questions the user never saw. Answers stored before this revision were all counted
as the user's, and stay so.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_answers") as batch:
        batch.add_column(
            sa.Column("imported", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("user_answers") as batch:
        batch.drop_column("imported")
