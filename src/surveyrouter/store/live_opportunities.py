"""Reading every live opportunity of a network in bulk, as the exchange sent it.

For scans that need the targeting of all live opportunities at once (which attributes they use,
``services.attributes``), where the change feed (``store.opportunities.changes_since``) would
also read every closed one. Rows are streamed, so 50,000 opportunities are never all in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from surveyrouter.domain.opportunity import OpportunityStatus
from surveyrouter.store.schema import OpportunityRow


def open_opportunity_documents(
    session: Session, network_id: str, batch_size: int = 500
) -> Iterator[dict[str, Any]]:
    """The exchange JSON (``raw``) of each of ``network_id``'s OPEN opportunities, by id."""
    rows = session.execute(
        select(OpportunityRow.raw)
        .where(
            OpportunityRow.network_id == network_id,
            OpportunityRow.status == OpportunityStatus.OPEN.value,
        )
        .order_by(OpportunityRow.external_id)
        .execution_options(yield_per=batch_size)
    )
    for (raw,) in rows:
        yield raw


def latest_change_seq(session: Session) -> int:
    """The highest ``change_seq`` written so far (0 for none): a change feed cursor that a
    follower who has just read every row can resume from."""
    return int(session.scalar(select(func.coalesce(func.max(OpportunityRow.change_seq), 0))) or 0)
