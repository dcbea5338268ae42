"""users.erased_at: when the publisher had the user erased (``DELETE /v1/publishers/users/{uid}``).

The tombstone uid alone cannot say so (a publisher may pick any printable uid), and the
callback outbox needs to know, whenever one of the user's callbacks finishes after the
erasure, that its URL (uid, IP address, custom tags) is to be redacted.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("erased_at")
