"""The ledger: rewards and reversals, written once and never changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from surveyrouter.domain.money import CENT, Reward, RewardKind
from surveyrouter.store.column_types import entered_form
from surveyrouter.store.db import insert_unless_present
from surveyrouter.store.schema import LedgerEntryRow


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: int
    app_id: int
    user_id: int
    transaction_id: str
    reward: Reward
    created_at: datetime
    reference: str | None = None
    reason: str | None = None


def add_entry(
    session: Session,
    app_id: int,
    user_id: int,
    transaction_id: str,
    reward: Reward,
    at: datetime,
    *,
    reference: str | None = None,
    reason: str | None = None,
) -> bool:
    """Write ``reward`` as ``transaction_id``; a transaction already written is left as it
    is (a replay). True if this call wrote it."""
    return insert_unless_present(
        session,
        LedgerEntryRow,
        {
            "app_id": app_id,
            "user_id": user_id,
            "transaction_id": transaction_id,
            "kind": reward.kind.value,
            "usd": reward.usd,
            "value": reward.value,
            "reference": reference,
            "reason": reason,
            "created_at": at,
        },
        keys=("transaction_id",),
    )


def get_entry(session: Session, transaction_id: str) -> LedgerEntry | None:
    row = session.scalars(
        select(LedgerEntryRow).where(LedgerEntryRow.transaction_id == transaction_id)
    ).first()
    return _entry(row) if row is not None else None


def user_entries(session: Session, user_id: int) -> list[LedgerEntry]:
    rows = session.scalars(
        select(LedgerEntryRow).where(LedgerEntryRow.user_id == user_id).order_by(LedgerEntryRow.id)
    )
    return [_entry(row) for row in rows]


def _entry(row: LedgerEntryRow) -> LedgerEntry:
    return LedgerEntry(
        id=row.id,
        app_id=row.app_id,
        user_id=row.user_id,
        transaction_id=row.transaction_id,
        reward=Reward(RewardKind(row.kind), row.usd.quantize(CENT), entered_form(row.value)),
        created_at=row.created_at,
        reference=row.reference,
        reason=row.reason,
    )


def entries_for_transactions(
    session: Session, user_id: int, transaction_ids: list[str]
) -> list[LedgerEntry]:
    """The user's entries that are one of ``transaction_ids`` or name one as their
    ``reference`` (a reversal), oldest first: what a set of clicks paid, and what was taken
    back, in one query."""
    if not transaction_ids:
        return []
    rows = session.scalars(
        select(LedgerEntryRow)
        .where(
            LedgerEntryRow.user_id == user_id,
            LedgerEntryRow.transaction_id.in_(transaction_ids)
            | LedgerEntryRow.reference.in_(transaction_ids),
        )
        .order_by(LedgerEntryRow.id)
    )
    return [_entry(row) for row in rows]
