"""The callback outbox as the operator dashboard sees it: deliveries listed newest first with
filters, and the two hands-on changes an operator makes to one (send it again now, or stop
retrying it). ``store.outbox`` keeps the delivery workers' side; nothing here changes how
they claim or finish callbacks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from surveyrouter.store.outbox import (
    CallbackStatus,
    OutboxItem,
    of_an_erased_user,
    outbox_item,
    redact_if_erased,
)
from surveyrouter.store.schema import CallbackOutboxRow


class CallbackNotFound(LookupError):
    """No outbox item has that id."""


class CallbackFinished(ValueError):
    """The callback was delivered, or its user erased (its URL is redacted): there is
    nothing left to retry or stop."""


@dataclass(frozen=True, slots=True)
class OutboxChange:
    """A callback after an operator's change, and the status it had before it."""

    item: OutboxItem
    previous: CallbackStatus

    @property
    def changed(self) -> bool:
        return self.previous is not self.item.status


def list_callbacks(
    session: Session,
    *,
    app_id: int | None = None,
    status: CallbackStatus | None = None,
    offset: int = 0,
    limit: int = 50,
) -> list[OutboxItem]:
    """Up to ``limit`` callbacks after the first ``offset``, newest first (by the order they
    were written), of ``app_id`` and in ``status`` when given."""
    query = select(CallbackOutboxRow)
    if app_id is not None:
        query = query.where(CallbackOutboxRow.app_id == app_id)
    if status is not None:
        query = query.where(CallbackOutboxRow.status == status.value)
    # The id is the primary key and grows with every insert: newest first without a sort
    # over the whole outbox.
    query = query.order_by(CallbackOutboxRow.id.desc()).offset(max(offset, 0)).limit(limit)
    return [outbox_item(row) for row in session.scalars(query)]


def retry_now(session: Session, item_id: int, at: datetime) -> OutboxChange:
    """Make a pending or dead callback pending and due at ``at``; its attempts are kept, so
    the delivery worker's backoff goes on from them (past the retry window, one failed
    attempt makes it dead again). Raises ``CallbackNotFound`` or ``CallbackFinished``."""
    row = _locked(session, item_id)
    previous = CallbackStatus(row.status)
    if previous is CallbackStatus.DELIVERED:
        raise CallbackFinished(f"callback {row.transaction_id} was delivered already")
    if previous is CallbackStatus.DEAD and of_an_erased_user(session, row.transaction_id):
        raise CallbackFinished(f"callback {row.transaction_id} reports a reward of an erased user")
    row.status = CallbackStatus.PENDING.value
    row.next_attempt_at = at
    row.finished_at = None
    session.flush()
    return OutboxChange(outbox_item(row), previous)


def dead_letter(session: Session, item_id: int, at: datetime) -> OutboxChange:
    """Stop retrying a pending callback: it is dead as of ``at``. A dead one stays as it is.
    Raises ``CallbackNotFound`` or ``CallbackFinished``.

    A delivery already in flight still records its result: a 2xx makes it delivered (it
    was), a failure counts the attempt and leaves it dead."""
    row = _locked(session, item_id)
    previous = CallbackStatus(row.status)
    if previous is CallbackStatus.DELIVERED:
        raise CallbackFinished(f"callback {row.transaction_id} was delivered already")
    if previous is CallbackStatus.PENDING:
        row.status = CallbackStatus.DEAD.value
        row.finished_at = at
        session.flush()
        redact_if_erased(session, item_id)
        session.refresh(row)
    return OutboxChange(outbox_item(row), previous)


def _locked(session: Session, item_id: int) -> CallbackOutboxRow:
    # FOR UPDATE: a PostgreSQL worker claiming due callbacks skips the row until we commit
    # (SQLite's write transaction holds the whole database already).
    row = session.scalars(
        select(CallbackOutboxRow)
        .where(CallbackOutboxRow.id == item_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        raise CallbackNotFound(f"no callback has id {item_id}")
    return row
