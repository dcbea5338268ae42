"""Opportunities as stored: normalized columns for queries, the exchange's JSON kept whole,
and the change feed (``change_seq``) that API processes follow to refresh their index.

A stored row is not turned back into a domain ``Opportunity`` here: the network adapter
re-parses ``raw``, so the stored form never has to keep up with the targeting model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Text, bindparam, cast, false, func, select, update
from sqlalchemy.orm import Session

from surveyrouter import json_codec
from surveyrouter.domain.opportunity import (
    Device,
    Opportunity,
    OpportunityStatus,
    Requirements,
)
from surveyrouter.store.db import in_chunks, table_of, upsert
from surveyrouter.store.schema import CHANGE_SEQ, NetworkRow, OpportunityRow

Payload = Mapping[str, Any] | bytes
"""An exchange's JSON for one opportunity: its value, or its text exactly as it came (stored
without being read and written again)."""


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


# PostgreSQL advisory lock key that serialises opportunity writes (any constant bigint would do;
# this one spells "opportun" in ASCII so it is recognisable in pg_locks).
OPPORTUNITY_WRITE_LOCK = 0x6F70706F7274756E

# The statements the sync worker and the index feed run on every batch, built once: building a
# SQLAlchemy statement costs more than running it on a small table, and these run hundreds of
# times a second while a market is synced.
_TABLE = table_of(OpportunityRow)
_ADVISORY_LOCK = select(func.pg_advisory_xact_lock(OPPORTUNITY_WRITE_LOCK))
_SQLITE_WRITE_LOCK = update(_TABLE).where(false()).values(change_seq=_TABLE.c.change_seq)
_STORED_VERSIONS = select(_TABLE.c.external_id, _TABLE.c.notified, _TABLE.c.updated_at).where(
    _TABLE.c.network_id == bindparam("network"),
    _TABLE.c.external_id.in_(bindparam("ids", expanding=True)),
)
# The text itself: JSON on both backends, so a cast reads it back without parsing it.
_RAW_DOCUMENTS = select(_TABLE.c.change_seq, cast(_TABLE.c.raw, Text)).where(
    _TABLE.c.change_seq.in_(bindparam("seqs", expanding=True))
)
_LATEST_CHANGE_SEQ = select(func.coalesce(func.max(_TABLE.c.change_seq), 0))
_CHANGE_FEED = (
    select(_TABLE.c.network_id, _TABLE.c.external_id, _TABLE.c.status, _TABLE.c.change_seq)
    .where(_TABLE.c.change_seq > bindparam("after"))
    .order_by(_TABLE.c.change_seq)
    .limit(bindparam("limit"))
)


def upsert_opportunities(
    session: Session,
    network_id: str,
    items: Iterable[tuple[Opportunity, Payload]],
    at: datetime | None = None,
    *,
    unless_written_since: datetime | None = None,
) -> list[int]:
    """Write each (opportunity, raw JSON) pair as ``network_id``'s row for its id.

    Idempotent by (network, external id): writing an opportunity again replaces its row, and
    every write takes a new ``change_seq``, even when nothing changed, so followers see it.
    Exchanges deliver out of order (a re-delivered notification, a refresh racing one), so when
    both the stored row and the incoming one carry ``notified``, an older one never overwrites a
    newer one: it is skipped and takes no ``change_seq``. One without ``notified`` (REX
    get-opportunity answers carry none) is current as of now: it is written, keeping the stored
    ``notified``. The row belongs to ``network_id`` whatever ``Opportunity.network`` says,
    because one adapter (REX) serves several networks. When the same id comes twice in
    ``items``, the later one wins under the same rule. With ``unless_written_since``, a row
    written at or after that time is left alone too (a refresh that read the exchange before
    a notification was stored must not undo it). Returns the change sequence numbers written,
    in write order; skipped opportunities have none.
    """
    written = write_opportunities(
        session, network_id, items, at, unless_written_since=unless_written_since
    )
    return [change_seq for _opportunity, change_seq in written]


def write_opportunities(
    session: Session,
    network_id: str,
    items: Iterable[tuple[Opportunity, Payload]],
    at: datetime | None = None,
    *,
    unless_written_since: datetime | None = None,
) -> list[tuple[Opportunity, int]]:
    """``upsert_opportunities``, returning each opportunity written with its change number."""
    latest: dict[int, tuple[Opportunity, Payload]] = {}
    for opportunity, raw in items:
        before = latest.get(opportunity.id)
        if before is None or not _is_older(opportunity.notified, before[0].notified):
            latest[opportunity.id] = (opportunity, raw)
    if not latest:
        return []
    _lock_opportunity_writes(session)
    # Read under the write lock, so no other writer can slip a newer version in between.
    versions = _stored_versions(session, network_id, list(latest))
    written_at = at or datetime.now(UTC)
    fresh: list[tuple[Opportunity, Payload, datetime | None]] = []
    for external_id, (opportunity, raw) in latest.items():
        stored, updated_at = versions.get(external_id, (None, None))
        if _is_older(opportunity.notified, stored):
            continue
        since = unless_written_since
        if since is not None and updated_at is not None and updated_at >= since:
            continue
        fresh.append((opportunity, raw, opportunity.notified or stored))
    if not fresh:
        return []
    sequence_numbers = _next_change_seqs(session, len(fresh))
    rows = [
        _row(network_id, opportunity, raw, notified, seq, written_at)
        for (opportunity, raw, notified), seq in zip(fresh, sequence_numbers, strict=True)
    ]
    upsert(session, OpportunityRow, rows, keys=("network_id", "external_id"))
    return [
        (opportunity, seq)
        for (opportunity, _raw, _notified), seq in zip(fresh, sequence_numbers, strict=True)
    ]


def close_opportunities(
    session: Session, network_id: str, external_ids: Iterable[int], at: datetime
) -> list[int]:
    """Mark these opportunities CLOSED (e.g. the exchange no longer knows them).

    The exchange's last payload stays in ``raw`` as it sent it; only the normalized status
    changes, with a new ``change_seq`` each so followers drop them. Returns the numbers written.
    """
    wanted = sorted(set(external_ids))
    if not wanted:
        return []
    _lock_opportunity_writes(session)
    existing = session.scalars(
        select(OpportunityRow.external_id).where(
            OpportunityRow.network_id == network_id, OpportunityRow.external_id.in_(wanted)
        )
    ).all()
    ids = sorted(existing)
    numbers = _next_change_seqs(session, len(ids))
    for external_id, seq in zip(ids, numbers, strict=True):
        session.execute(
            update(OpportunityRow)
            .where(
                OpportunityRow.network_id == network_id,
                OpportunityRow.external_id == external_id,
            )
            .values(status=OpportunityStatus.CLOSED.value, change_seq=seq, updated_at=at)
        )
    return numbers


def _is_older(incoming: datetime | None, stored: datetime | None) -> bool:
    return incoming is not None and stored is not None and incoming < stored


def _stored_versions(
    session: Session, network_id: str, external_ids: list[int]
) -> dict[int, tuple[datetime | None, datetime]]:
    """(notified, updated_at) of the stored rows among ``external_ids``."""
    found: dict[int, tuple[datetime | None, datetime]] = {}
    for chunk in in_chunks(external_ids):
        rows = session.execute(_STORED_VERSIONS, {"network": network_id, "ids": chunk})
        for external_id, notified, updated_at in rows:
            found[external_id] = (notified, updated_at)
    return found


def _lock_opportunity_writes(session: Session) -> None:
    """Let one opportunity writer at a time in, until its transaction ends.

    This is what keeps the change feed free of gaps. Sequence numbers are drawn before commit;
    were two writers to interleave, a follower could see 12 committed, move its cursor past 12,
    and never read 11 when it committed a moment later. Holding the lock from drawing numbers
    through commit makes sequence order commit order: once a follower sees a number, no
    smaller one can still be in flight. PostgreSQL: a transaction-scoped advisory lock,
    released at commit or rollback (after the commit is visible), so a caller should commit
    soon after writing. SQLite: a write that matches nothing takes its single write lock,
    waiting for it if need be.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_ADVISORY_LOCK)
        return
    session.execute(_SQLITE_WRITE_LOCK)


def _next_change_seqs(session: Session, count: int) -> list[int]:
    """``count`` change sequence numbers above every one handed out before.

    The caller holds the write lock (``_lock_opportunity_writes``). PostgreSQL draws them from
    a SEQUENCE; SQLite, which lets one writer in at a time, takes max + 1 inside the write
    transaction.
    """
    if session.get_bind().dialect.name == "postgresql":
        numbers = select(CHANGE_SEQ.next_value()).select_from(
            func.generate_series(1, count).table_valued("n")
        )
        return sorted(session.scalars(numbers))
    start = latest_change_seq(session) + 1
    return list(range(start, start + count))


# ``dataclasses.asdict`` deep-copies recursively; these are flat booleans.
_REQUIREMENT_FIELDS = tuple(f.name for f in dataclasses.fields(Requirements))


def _row(
    network_id: str,
    opportunity: Opportunity,
    raw: Payload,
    notified: datetime | None,
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
        "requirements": {
            name: getattr(opportunity.requirements, name) for name in _REQUIREMENT_FIELDS
        },
        "live_link": opportunity.live_link,
        "created": opportunity.created,
        "notified": notified,
        "raw": json_codec.encoded(raw) if isinstance(raw, bytes) else dict(raw),
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


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the change feed: which opportunity was written, and its status then."""

    network_id: str
    external_id: int
    status: OpportunityStatus
    change_seq: int


def change_feed(session: Session, seq: int, limit: int = 1000) -> list[Change]:
    """``changes_since`` without the payloads: a follower that already holds most of them
    (``services.recently_parsed``) reads only the few it lacks, with ``raw_documents``."""
    rows = session.execute(_CHANGE_FEED, {"after": seq, "limit": limit})
    return [
        Change(network_id, external_id, OpportunityStatus(status), change_seq)
        for network_id, external_id, status, change_seq in rows
    ]


def raw_payloads(session: Session, change_seqs: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The stored payloads written as these changes, by change number; a change overwritten
    since by a newer one is absent (its row now carries the newer number)."""
    found: dict[int, dict[str, Any]] = {}
    for chunk in in_chunks(change_seqs):
        rows = session.execute(
            select(OpportunityRow.change_seq, OpportunityRow.raw).where(
                OpportunityRow.change_seq.in_(chunk)
            )
        )
        for change_seq, raw in rows:
            found[change_seq] = raw
    return found


def raw_documents(session: Session, change_seqs: Sequence[int]) -> dict[int, str]:
    """``raw_payloads`` as the JSON text stored, not yet read: for a reader that parses the
    text itself (the index feed, ``parse_document``)."""
    found: dict[int, str] = {}
    for chunk in in_chunks(change_seqs):
        rows = session.execute(_RAW_DOCUMENTS, {"seqs": chunk})
        for change_seq, document in rows:
            found[change_seq] = document
    return found


def latest_change_seq(session: Session) -> int:
    """The highest ``change_seq`` written so far (0 for none): a change feed cursor that a
    follower who has just read every row can resume from."""
    return int(session.scalar(_LATEST_CHANGE_SEQ) or 0)


def open_opportunity_documents(
    session: Session, network_id: str, batch_size: int = 500
) -> Iterator[dict[str, Any]]:
    """The exchange JSON (``raw``) of each of ``network_id``'s OPEN opportunities, by id,
    streamed: for scans of every live opportunity's targeting at once (which attributes they
    use, ``services.attributes``), where the change feed would read every closed one too."""
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


def status_counts(session: Session, network_id: str) -> dict[OpportunityStatus, int]:
    """How many of ``network_id``'s opportunities are in each status (0 for none)."""
    rows = session.execute(
        select(OpportunityRow.status, func.count(OpportunityRow.id))
        .where(OpportunityRow.network_id == network_id)
        .group_by(OpportunityRow.status)
    )
    counts = dict.fromkeys(OpportunityStatus, 0)
    for status, count in rows:
        counts[OpportunityStatus(status)] += int(count)
    return counts


def stale_open_ids(
    session: Session, network_id: str, written_before: datetime, limit: int
) -> list[int]:
    """Ids of ``network_id``'s OPEN opportunities last written before ``written_before``,
    least recently written first, at most ``limit``."""
    return list(
        session.scalars(
            select(OpportunityRow.external_id)
            .where(
                OpportunityRow.network_id == network_id,
                OpportunityRow.status == OpportunityStatus.OPEN.value,
                OpportunityRow.updated_at < written_before,
            )
            .order_by(OpportunityRow.updated_at, OpportunityRow.external_id)
            .limit(limit)
        )
    )


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
