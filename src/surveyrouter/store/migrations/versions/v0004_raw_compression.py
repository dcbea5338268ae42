"""PostgreSQL: compress stored exchange payloads with lz4 instead of pglz.

A REX opportunity's raw JSON is about 4.5 kB, past the 2 kB at which PostgreSQL compresses a
value; pglz made about a fifth of each batch write in ``bench/sync.py``, lz4 is several times
cheaper at a similar ratio. A server built without lz4 (or older than PostgreSQL 14) keeps
pglz: the change is skipped, not failed. SQLite has nothing to change.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _set_compression(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Dynamic SQL, so that a server which knows no lz4 (or no SET COMPRESSION) raises at run
    # time, where the handler can catch it.
    op.execute(
        "DO $$ BEGIN "
        f"EXECUTE 'ALTER TABLE opportunities ALTER COLUMN raw SET COMPRESSION {method}'; "
        "EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'raw compression left as it was: %', SQLERRM; "
        "END $$"
    )


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("pglz")
