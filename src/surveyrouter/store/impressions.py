"""Survey impressions: how many of each network's surveys an app's users were shown, per UTC
hour. Counts are added with one atomic upsert, so concurrent API processes never lose one."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Executable, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from surveyrouter.store.db import table_of
from surveyrouter.store.schema import ImpressionRow


@dataclass(frozen=True, slots=True)
class Impression:
    network_id: str
    hour: datetime  # the hour's start, UTC
    count: int


def hour_of(at: datetime) -> datetime:
    """The start of the UTC hour ``at`` falls in (a naive time is taken to be UTC)."""
    moment = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def count_impressions(
    session: Session, app_id: int, counts: Mapping[str, int], at: datetime
) -> None:
    """Add ``counts`` (surveys shown, by network id) to the app's bucket for ``at``'s hour."""
    check_counts(counts)
    hour = hour_of(at)
    rows = [
        {"app_id": app_id, "network_id": network_id, "hour": hour, "count": count}
        for network_id, count in sorted(counts.items())
        if count > 0
    ]
    if rows:
        session.execute(_increment_statement(session.get_bind().dialect.name), rows)


def check_counts(counts: Mapping[str, int]) -> None:
    """Raise ``ValueError`` naming the networks whose impression count is negative."""
    negative = sorted(network_id for network_id, count in counts.items() if count < 0)
    if negative:
        raise ValueError(f"impression counts must not be negative: {', '.join(negative)}")


def impressions(session: Session, app_id: int) -> list[Impression]:
    """The app's hourly counts, oldest hour first."""
    rows = session.scalars(
        select(ImpressionRow)
        .where(ImpressionRow.app_id == app_id)
        .order_by(ImpressionRow.hour, ImpressionRow.network_id)
        .execution_options(populate_existing=True)
    )
    return [Impression(row.network_id, row.hour, row.count) for row in rows]


@functools.lru_cache(maxsize=4)
def _increment_statement(dialect: str) -> Executable:
    """``INSERT … ON CONFLICT DO UPDATE SET count = impressions.count + excluded.count``: both
    backends add to the stored count in the statement itself, never read-then-write."""
    table = table_of(ImpressionRow)
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.app_id, table.c.network_id, table.c.hour],
        set_={"count": table.c["count"] + statement.excluded["count"]},
    )
