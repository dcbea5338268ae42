"""The weekly leaderboard in SQL: each named user's ledger total over a week, ranked in the
database (``domain.leaderboard.rank`` states the order) rather than by reading every entry.

Totals are the sum of ``ledger_entries.value`` (app currency; a reconciliation is negative)
for entries written in ``[since, until)``. Only what the query returns leaves the database:
ten rows for the top, one row and a count for the caller.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import NamedFromClause

from surveyrouter.domain.leaderboard import Standing
from surveyrouter.store.column_types import entered_form
from surveyrouter.store.schema import LedgerEntryRow, UserRow


def top_standings(
    session: Session, app_id: int, since: datetime, until: datetime, limit: int
) -> list[Standing]:
    """The best ``limit`` of the app's named users over ``[since, until)``, best first."""
    totals = _weekly_totals(app_id, since, until).subquery("totals")
    rows = session.execute(
        select(totals.c.user_id, totals.c.username, totals.c.total)
        .order_by(totals.c.total.desc(), totals.c.reached_at, totals.c.user_id)
        .limit(limit)
    )
    return [
        Standing(place, user_id, username, entered_form(total))
        for place, (user_id, username, total) in enumerate(rows, start=1)
    ]


def standing_of(
    session: Session, app_id: int, user_id: int, since: datetime, until: datetime
) -> Standing | None:
    """The user's place over ``[since, until)``: 1 + the users ranked before them. None when
    they take no part (no username, or nothing earned)."""
    totals = _weekly_totals(app_id, since, until).cte("totals")
    mine = totals.alias("mine")
    others = totals.alias("others")
    ahead = (
        select(func.count())
        .select_from(others)
        .where(_ranks_before(others, mine))
        .scalar_subquery()
    )
    row = session.execute(
        select(mine.c.username, mine.c.total, ahead).where(mine.c.user_id == user_id)
    ).first()
    if row is None:
        return None
    username, total, before = row
    return Standing(1 + int(before), user_id, username, entered_form(total))


def _weekly_totals(
    app_id: int, since: datetime, until: datetime
) -> Select[int, str | None, Decimal, datetime]:
    total = func.sum(LedgerEntryRow.value)
    return (
        select(
            LedgerEntryRow.user_id.label("user_id"),
            UserRow.username.label("username"),
            total.label("total"),
            # When the user reached this total: their latest entry in the window.
            func.max(LedgerEntryRow.created_at).label("reached_at"),
        )
        .join(UserRow, UserRow.id == LedgerEntryRow.user_id)
        .where(
            LedgerEntryRow.app_id == app_id,
            LedgerEntryRow.created_at >= since,
            LedgerEntryRow.created_at < until,
            UserRow.username.is_not(None),
        )
        .group_by(LedgerEntryRow.user_id, UserRow.username)
        .having(total > Decimal(0))
    )


def _ranks_before(other: NamedFromClause, mine: NamedFromClause) -> ColumnElement[bool]:
    """``domain.leaderboard.rank``'s order: more earned, else reached earlier, else lower id."""
    return or_(
        other.c.total > mine.c.total,
        and_(
            other.c.total == mine.c.total,
            or_(
                other.c.reached_at < mine.c.reached_at,
                and_(
                    other.c.reached_at == mine.c.reached_at,
                    other.c.user_id < mine.c.user_id,
                ),
            ),
        ),
    )
