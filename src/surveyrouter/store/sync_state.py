"""Each network's sync health: last success, lag, last error, opportunity counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from surveyrouter.domain.opportunity import OpportunityStatus
from surveyrouter.store.db import table_of, upsert
from surveyrouter.store.opportunities import status_counts
from surveyrouter.store.schema import SyncStateRow


@dataclass(frozen=True, slots=True)
class SyncState:
    """``lag_seconds`` is how far the newest ``notified`` synced was behind the clock when the
    last success was recorded (0 when the queue was empty: nothing was waiting)."""

    network_id: str
    last_success_at: datetime | None
    newest_notified: datetime | None
    lag_seconds: float | None
    last_error: str | None
    last_error_at: datetime | None
    live_count: int
    paused_count: int
    closed_count: int
    rejected_total: int


def record_sync_success(
    session: Session,
    network_id: str,
    at: datetime,
    newest_notified: datetime | None,
    rejected: int = 0,
    recount: bool = True,
) -> None:
    """Record a successful sync step at ``at``, recounting the network's opportunities unless
    ``recount`` is false (the counts then stay as last recounted).

    ``newest_notified`` is the newest stamp in what the step synced (None when it synced
    nothing); the stored newest only moves forward. ``rejected`` adds to the running total.
    """
    lag = 0.0 if newest_notified is None else max(0.0, (at - newest_notified).total_seconds())
    values: dict[str, Any] = {
        "network": network_id,
        "at": at,
        "lag": lag,
        "rejected": rejected,
        "newest": newest_notified,
    }
    if not recount:
        _update_row(session, _SUCCESS, values)
        return
    counts = status_counts(session, network_id)
    values["live"] = counts[OpportunityStatus.OPEN]
    values["paused"] = counts[OpportunityStatus.PAUSED]
    values["closed"] = counts[OpportunityStatus.CLOSED]
    _update_row(session, _SUCCESS_RECOUNTED, values)


def record_sync_error(session: Session, network_id: str, at: datetime, error: str) -> None:
    """Record that a sync step failed at ``at`` with ``error``; successes are left as they were."""
    _update_row(session, _ERROR, {"network": network_id, "error": error, "at": at})


def get_sync_state(session: Session, network_id: str) -> SyncState | None:
    row = session.get(SyncStateRow, network_id, populate_existing=True)
    return None if row is None else _state(row)


def list_sync_states(session: Session) -> list[SyncState]:
    rows = session.scalars(
        select(SyncStateRow)
        .order_by(SyncStateRow.network_id)
        .execution_options(populate_existing=True)
    )
    return [_state(row) for row in rows]


def _update_row(session: Session, statement: Executable, values: dict[str, Any]) -> None:
    """Run one of the updates below, creating the network's row the first time."""
    if session.execute(statement, values).first() is None:
        upsert(session, SyncStateRow, [{"network_id": values["network"]}], keys=("network_id",))
        session.execute(statement, values)


# Built once, run with parameters: a sync step records its success every time, and building
# the statement would cost more than running it. Core statements on the table, because the
# ORM's bulk-update machinery costs more again.
_TABLE = table_of(SyncStateRow)
_NEWEST = bindparam("newest", type_=_TABLE.c.newest_notified.type)
_SUCCESS = (
    update(_TABLE)
    .where(_TABLE.c.network_id == bindparam("network"))
    .values(
        last_success_at=bindparam("at"),
        lag_seconds=bindparam("lag"),
        rejected_total=_TABLE.c.rejected_total + bindparam("rejected"),
        # Only moves forward; a step that synced nothing (NULL) leaves it as it was.
        newest_notified=case(
            (or_(_TABLE.c.newest_notified.is_(None), _TABLE.c.newest_notified < _NEWEST), _NEWEST),
            else_=_TABLE.c.newest_notified,
        ),
    )
    .returning(_TABLE.c.network_id)
)
_SUCCESS_RECOUNTED = _SUCCESS.values(
    live_count=bindparam("live"),
    paused_count=bindparam("paused"),
    closed_count=bindparam("closed"),
)
_ERROR = (
    update(_TABLE)
    .where(_TABLE.c.network_id == bindparam("network"))
    .values(last_error=bindparam("error"), last_error_at=bindparam("at"))
    .returning(_TABLE.c.network_id)
)


def _state(row: SyncStateRow) -> SyncState:
    return SyncState(
        network_id=row.network_id,
        last_success_at=row.last_success_at,
        newest_notified=row.newest_notified,
        lag_seconds=row.lag_seconds,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        live_count=row.live_count,
        paused_count=row.paused_count,
        closed_count=row.closed_count,
        rejected_total=row.rejected_total,
    )
