"""Opportunities as stored: normalized columns for queries, the exchange's JSON kept whole,
and the change feed (``change_seq``) that API processes follow to refresh their index.

A stored row is not turned back into a domain ``Opportunity`` here: the network adapter
re-parses ``raw``, so the stored form never has to keep up with the targeting model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import false, func, select, update
from sqlalchemy.orm import Session

from surveyrouter.domain.opportunity import (
    Device,
    Opportunity,
    OpportunityStatus,
    Requirements,
)
from surveyrouter.store.db import upsert
from surveyrouter.store.schema import CHANGE_SEQ, NetworkRow, OpportunityRow


@dataclass(frozen=True, slots=True)
class StoredOpportunity:
    """One opportunities row: what the router normalized, what the exchange sent, and when."""

    network_id: str
    external_id: int
    status: OpportunityStatus
    project_id: int | None
    group_id: int | None
    country: str
    language: str
    cpi: Decimal
    loi_minutes: int
    incidence_rate: int
    completes: int | None
    days_in_field: int | None
    evaluation: str | None
    order_number: str | None
    client_id: int | None
    category_ids: tuple[int, ...]
    category_exclusions: frozenset[int]
    project_exclusions: frozenset[int]
    devices: frozenset[Device]
    requirements: Requirements
    live_link: str
    created: datetime | None
    notified: datetime | None
    raw: dict[str, Any]
    change_seq: int
    updated_at: datetime


def upsert_opportunities(
    session: Session,
    network_id: str,
    items: Iterable[tuple[Opportunity, Mapping[str, Any]]],
    at: datetime | None = None,
) -> list[int]:
    """Write each (opportunity, raw JSON) pair as ``network_id``'s row for its id.

    Idempotent by (network, external id): writing an opportunity again replaces its row. Every
    write takes a new ``change_seq``, even when nothing changed, so followers of the feed see it.
    The row belongs to ``network_id`` whatever ``Opportunity.network`` says, because one
    adapter (REX) serves several networks. When the same id comes twice, the last one wins.
    Returns the change sequence numbers written, in write order.
    """
    latest: dict[int, tuple[Opportunity, Mapping[str, Any]]] = {}
    for opportunity, raw in items:
        latest[opportunity.id] = (opportunity, raw)
    if not latest:
        return []
    written_at = at or datetime.now(UTC)
    sequence_numbers = _next_change_seqs(session, len(latest))
    rows = [
        _row(network_id, opportunity, raw, seq, written_at)
        for (opportunity, raw), seq in zip(latest.values(), sequence_numbers, strict=True)
    ]
    upsert(session, OpportunityRow, rows, keys=("network_id", "external_id"))
    return sequence_numbers


def _next_change_seqs(session: Session, count: int) -> list[int]:
    """``count`` change sequence numbers above every one handed out before.

    PostgreSQL draws them from a SEQUENCE, so concurrent writers never share a number. Numbers
    are handed out before commit, though, so a follower reading ``change_seq > n`` can see 12
    commit before 11 and move past 11 for good; a later issue closes that gap (for instance by
    reading only up to the oldest number still in flight). SQLite needs none of this: it lets
    one writer in at a time, so max + 1 inside the write transaction is unique and in order (a
    transaction that read before another writer committed fails with "database is locked"
    here instead of reusing a number).
    """
    if session.get_bind().dialect.name == "postgresql":
        numbers = select(CHANGE_SEQ.next_value()).select_from(
            func.generate_series(1, count).table_valued("n")
        )
        return sorted(session.scalars(numbers))
    # A write that matches nothing takes SQLite's write lock (waiting for it if need be), so no
    # other writer can commit between reading the maximum and writing past it.
    session.execute(
        update(OpportunityRow).where(false()).values(change_seq=OpportunityRow.change_seq)
    )
    highest = session.scalar(select(func.coalesce(func.max(OpportunityRow.change_seq), 0)))
    start = int(highest or 0) + 1
    return list(range(start, start + count))


def _row(
    network_id: str,
    opportunity: Opportunity,
    raw: Mapping[str, Any],
    change_seq: int,
    written_at: datetime,
) -> dict[str, Any]:
    return {
        "network_id": network_id,
        "external_id": opportunity.id,
        "status": opportunity.status.value,
        "project_id": opportunity.project_id,
        "group_id": opportunity.group_id,
        "country": opportunity.country,
        "language": opportunity.language,
        "cpi": opportunity.cpi,
        "loi_minutes": opportunity.loi_minutes,
        "incidence_rate": opportunity.incidence_rate,
        "completes": opportunity.completes,
        "days_in_field": opportunity.days_in_field,
        "evaluation": opportunity.evaluation,
        "order_number": opportunity.order_number,
        "client_id": opportunity.client_id,
        "category_ids": list(opportunity.category_ids),
        "category_exclusions": sorted(opportunity.category_exclusions),
        "project_exclusions": sorted(opportunity.project_exclusions),
        "devices": sorted(device.value for device in opportunity.devices),
        "requirements": dataclasses.asdict(opportunity.requirements),
        "live_link": opportunity.live_link,
        "created": opportunity.created,
        "notified": opportunity.notified,
        "raw": dict(raw),
        "change_seq": change_seq,
        "updated_at": written_at,
    }


def get_opportunity(
    session: Session, network_id: str, external_id: int
) -> StoredOpportunity | None:
    row = session.scalar(
        select(OpportunityRow)
        .where(OpportunityRow.network_id == network_id, OpportunityRow.external_id == external_id)
        # Upserts bypass the identity map, so a row loaded earlier in this session may be stale.
        .execution_options(populate_existing=True)
    )
    return None if row is None else _stored(row)


def changes_since(session: Session, seq: int, limit: int = 1000) -> list[StoredOpportunity]:
    """Rows written after change ``seq``, oldest change first, at most ``limit`` of them.

    A follower passes the last ``change_seq`` it applied; 0 reads the feed from the start.
    """
    rows = session.scalars(
        select(OpportunityRow)
        .where(OpportunityRow.change_seq > seq)
        .order_by(OpportunityRow.change_seq)
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    return [_stored(row) for row in rows]


def live_counts(session: Session) -> dict[str, int]:
    """Open opportunities per network, with 0 for a network that has none."""
    live = func.count(OpportunityRow.id)
    rows = session.execute(
        select(NetworkRow.id, live)
        .outerjoin(
            OpportunityRow,
            (OpportunityRow.network_id == NetworkRow.id)
            & (OpportunityRow.status == OpportunityStatus.OPEN.value),
        )
        .group_by(NetworkRow.id)
    )
    return {network_id: int(count) for network_id, count in rows}


def _stored(row: OpportunityRow) -> StoredOpportunity:
    return StoredOpportunity(
        network_id=row.network_id,
        external_id=row.external_id,
        status=OpportunityStatus(row.status),
        project_id=row.project_id,
        group_id=row.group_id,
        country=row.country,
        language=row.language,
        cpi=row.cpi,
        loi_minutes=row.loi_minutes,
        incidence_rate=row.incidence_rate,
        completes=row.completes,
        days_in_field=row.days_in_field,
        evaluation=row.evaluation,
        order_number=row.order_number,
        client_id=row.client_id,
        category_ids=tuple(row.category_ids),
        category_exclusions=frozenset(row.category_exclusions),
        project_exclusions=frozenset(row.project_exclusions),
        devices=frozenset(Device(value) for value in row.devices),
        requirements=_requirements(row.requirements),
        live_link=row.live_link,
        created=row.created,
        notified=row.notified,
        raw=row.raw,
        change_seq=row.change_seq,
        updated_at=row.updated_at,
    )


def _requirements(stored: Mapping[str, Any]) -> Requirements:
    # Flags written by an older or newer version are dropped rather than breaking reads.
    known = {f.name for f in dataclasses.fields(Requirements)}
    return Requirements(**{name: bool(value) for name, value in stored.items() if name in known})
