"""PostgreSQL: stored exchange documents (opportunity payloads, downloaded collections) as
``json`` instead of ``jsonb``.

They are only ever written and read whole; nothing queries inside them. ``jsonb`` parsed each
one into its binary form on every write and printed it back as text on every read: for the
sandbox's 4.5 kB opportunities (lz4-compressed either way) about 96 against 46 µs of the
server's CPU per insert and 34 against 10 µs per read, measured on the development machine,
in a sync whose whole budget on two cores is 1 ms per opportunity. ``json`` also keeps the
document exactly as the exchange sent it (key order, spacing), which is what an audit copy is
for. A type change forgets the column's compression, so 0004's lz4 is set again for the
payloads, and for collections too (thousands of postal codes each); as in 0004 a server that
knows no lz4 keeps pglz. SQLite stores both as text: nothing to change.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOCUMENTS = (("opportunities", "raw"), ("collections", "values"))


def _retype(to: str) -> None:
    for table, column in DOCUMENTS:
        op.execute(f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE {to} USING "{column}"::{to}')


def _compress(method: str) -> None:
    for table, column in DOCUMENTS:
        # Dynamic SQL, so that a server without lz4 raises at run time, inside the handler.
        alter = f'ALTER TABLE {table} ALTER COLUMN "{column}" SET COMPRESSION {method}'
        op.execute(
            f"DO $$ BEGIN EXECUTE '{alter}'; EXCEPTION WHEN OTHERS THEN "
            f"RAISE NOTICE '{table}.{column} compression left as it was: %', SQLERRM; END $$"
        )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _retype("json")
    _compress("lz4")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _retype("jsonb")
    _compress("lz4")  # as 0004 left the payloads (collections had the default, pglz)
