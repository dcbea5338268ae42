"""The callback outbox: callbacks written with the reward they report, claimed by delivery
workers (several may run), finished as delivered or dead."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from surveyrouter.domain.callbacks import redacted_callback_url
from surveyrouter.store.db import insert_unless_present
from surveyrouter.store.schema import CallbackOutboxRow, LedgerEntryRow, UserRow


class CallbackStatus(enum.Enum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # the retry window closed without a 2xx


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    app_id: int
    transaction_id: str
    kind: str
    url: str
    status: CallbackStatus
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_status_code: int | None = None
    last_error: str | None = None
    finished_at: datetime | None = None


def enqueue_callback(
    session: Session, app_id: int, transaction_id: str, kind: str, url: str, at: datetime
) -> bool:
    """Add a callback, due now; one per transaction id, so recording the same reward again
    adds nothing. True if this call added it."""
    return insert_unless_present(
        session,
        CallbackOutboxRow,
        {
            "app_id": app_id,
            "transaction_id": transaction_id,
            "kind": kind,
            "url": url,
            "status": CallbackStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
        },
        keys=("transaction_id",),
    )


def claim_due(session: Session, at: datetime, limit: int, lease: timedelta) -> list[OutboxItem]:
    """Take up to ``limit`` pending callbacks due at ``at``, oldest first, for ``lease``.

    A claim moves the item's next attempt past the lease, so no other worker takes it while
    it is in flight; a worker that dies mid-delivery leaves it to be retried when the lease
    ends (at least once, never lost). PostgreSQL workers skip rows another is claiming.
    """
    query = (
        select(CallbackOutboxRow)
        .where(
            CallbackOutboxRow.status == CallbackStatus.PENDING.value,
            CallbackOutboxRow.next_attempt_at <= at,
        )
        .order_by(CallbackOutboxRow.next_attempt_at, CallbackOutboxRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list(session.scalars(query))
    for row in rows:
        row.next_attempt_at = at + lease
    session.flush()
    return [outbox_item(row) for row in rows]


def renew_claim(session: Session, item_id: int, held_until: datetime, until: datetime) -> bool:
    """Hold a claimed callback until ``until``, if it is still the claim that ended at
    ``held_until``: False when another worker took it once that lease ran out, or it has
    finished, and then it is not sent here."""
    renewed = session.execute(
        update(CallbackOutboxRow)
        .where(
            CallbackOutboxRow.id == item_id,
            CallbackOutboxRow.status == CallbackStatus.PENDING.value,
            CallbackOutboxRow.next_attempt_at == held_until,
        )
        .values(next_attempt_at=until)
    )
    return bool(renewed.rowcount)  # type: ignore[attr-defined]


def record_delivered(session: Session, item_id: int, at: datetime, status_code: int) -> None:
    """A 2xx answer: the callback is delivered, even if it was dead-lettered meanwhile (the
    publisher has it); delivered once is delivered, another worker's answer changes nothing."""
    session.execute(
        update(CallbackOutboxRow)
        .where(
            CallbackOutboxRow.id == item_id,
            CallbackOutboxRow.status != CallbackStatus.DELIVERED.value,
        )
        .values(
            status=CallbackStatus.DELIVERED.value,
            attempts=CallbackOutboxRow.attempts + 1,
            last_status_code=status_code,
            last_error=None,
            finished_at=at,
        )
    )
    redact_if_erased(session, item_id)


def record_failure(
    session: Session,
    item_id: int,
    at: datetime,
    *,
    retry_at: datetime | None,
    status_code: int | None,
    error: str,
) -> bool:
    """A failed attempt: tried again at ``retry_at``, or dead when it is None. Only a pending
    callback takes it: a late failure never turns one another worker delivered into a dead
    letter. True if it took."""
    values: dict[str, object] = {
        "attempts": CallbackOutboxRow.attempts + 1,
        "last_status_code": status_code,
        "last_error": error[:2000],
    }
    if retry_at is None:
        values |= {"status": CallbackStatus.DEAD.value, "finished_at": at}
    else:
        values["next_attempt_at"] = retry_at
    taken = session.execute(
        update(CallbackOutboxRow)
        .where(
            CallbackOutboxRow.id == item_id,
            CallbackOutboxRow.status == CallbackStatus.PENDING.value,
        )
        .values(**values)
    )
    if not taken.rowcount:  # type: ignore[attr-defined]
        return False
    if retry_at is None:
        redact_if_erased(session, item_id)
    return True


# The callback reports a reward of a user the publisher had erased (every callback is
# written with its ledger entry, under the same transaction id: services.rewards).
_OF_AN_ERASED_USER = exists(
    select(LedgerEntryRow.id)
    .join(UserRow, UserRow.id == LedgerEntryRow.user_id)
    .where(
        LedgerEntryRow.transaction_id == CallbackOutboxRow.transaction_id,
        UserRow.erased_at.is_not(None),
    )
)


def redact_user_callbacks(session: Session, user_id: int) -> None:
    """The user is being erased: their finished callbacks' URLs are redacted now
    (``redacted_callback_url``). Their pending ones are still owed to the publisher and are
    sent as written; the row lock taken here makes a delivery that finishes one meanwhile
    wait for the erasure, and then redact it as it records the result (``redact_if_erased``).
    """
    theirs = select(LedgerEntryRow.transaction_id).where(LedgerEntryRow.user_id == user_id)
    rows = session.execute(
        select(CallbackOutboxRow.id, CallbackOutboxRow.url, CallbackOutboxRow.status)
        .where(CallbackOutboxRow.transaction_id.in_(theirs))
        .with_for_update()
    ).all()
    for item_id, url, status in rows:
        if status != CallbackStatus.PENDING.value:
            _set_url(session, item_id, redacted_callback_url(url))


def redact_if_erased(session: Session, item_id: int) -> None:
    """A callback that has just finished (delivered or dead): redact its URL if its user has
    been erased meanwhile, as ``redact_user_callbacks`` did the finished ones."""
    url = session.execute(
        select(CallbackOutboxRow.url).where(CallbackOutboxRow.id == item_id, _OF_AN_ERASED_USER)
    ).scalar()
    if url is not None:
        _set_url(session, item_id, redacted_callback_url(url))


def of_an_erased_user(session: Session, transaction_id: str) -> bool:
    """Whether the callback ``transaction_id`` reports a reward of an erased user."""
    found = session.execute(
        select(CallbackOutboxRow.id).where(
            CallbackOutboxRow.transaction_id == transaction_id, _OF_AN_ERASED_USER
        )
    ).first()
    return found is not None


def _set_url(session: Session, item_id: int, url: str) -> None:
    session.execute(
        update(CallbackOutboxRow).where(CallbackOutboxRow.id == item_id).values(url=url)
    )


def get_callback(session: Session, transaction_id: str) -> OutboxItem | None:
    row = session.scalars(
        select(CallbackOutboxRow)
        .where(CallbackOutboxRow.transaction_id == transaction_id)
        .execution_options(populate_existing=True)
    ).first()
    return outbox_item(row) if row is not None else None


def outbox_item(row: CallbackOutboxRow) -> OutboxItem:
    """The outbox row as the domain's item."""
    return OutboxItem(
        id=row.id,
        app_id=row.app_id,
        transaction_id=row.transaction_id,
        kind=row.kind,
        url=row.url,
        status=CallbackStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        finished_at=row.finished_at,
    )
