"""Each network's sync health: last success, lag, last error, opportunity counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from surveyrouter.domain.opportunity import OpportunityStatus
from surveyrouter.store.db import upsert
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
    _ensure_row(session, network_id)
    row = session.get(SyncStateRow, network_id, populate_existing=True)
    previous = row.newest_notified if row is not None else None
    newest = previous
    if newest_notified is not None and (previous is None or newest_notified > previous):
        newest = newest_notified
    lag = 0.0 if newest_notified is None else max(0.0, (at - newest_notified).total_seconds())
    values: dict[str, Any] = {
        "last_success_at": at,
        "newest_notified": newest,
        "lag_seconds": lag,
        "rejected_total": SyncStateRow.rejected_total + rejected,
    }
    if recount:
        counts = status_counts(session, network_id)
        values["live_count"] = counts[OpportunityStatus.OPEN]
        values["paused_count"] = counts[OpportunityStatus.PAUSED]
        values["closed_count"] = counts[OpportunityStatus.CLOSED]
    session.execute(
        update(SyncStateRow).where(SyncStateRow.network_id == network_id).values(values)
    )


def record_sync_error(session: Session, network_id: str, at: datetime, error: str) -> None:
    """Record that a sync step failed at ``at`` with ``error``; successes are left as they were."""
    _ensure_row(session, network_id)
    session.execute(
        update(SyncStateRow)
        .where(SyncStateRow.network_id == network_id)
        .values(last_error=error, last_error_at=at)
    )


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


def _ensure_row(session: Session, network_id: str) -> None:
    upsert(session, SyncStateRow, [{"network_id": network_id}], keys=("network_id",))


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
