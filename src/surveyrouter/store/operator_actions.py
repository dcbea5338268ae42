"""What operators did in the dashboard (``schema.OperatorActionRow``), newest first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from surveyrouter.domain.operators import ActionKind, OperatorAction
from surveyrouter.store.schema import OperatorActionRow, OperatorRow

SUBJECT_LENGTH = 200


def record_action(
    session: Session,
    operator_id: int,
    kind: ActionKind,
    subject: str,
    detail: str,
    at: datetime,
) -> None:
    """Add one action, in the caller's transaction."""
    session.add(
        OperatorActionRow(
            operator_id=operator_id,
            at=at,
            action=kind.value,
            subject=subject[:SUBJECT_LENGTH],
            detail=detail,
        )
    )
    session.flush()


def rename_subject(session: Session, old: str, new: str) -> None:
    """The actions recorded about ``old`` name ``new`` from now on (an erased user's subject
    names their tombstone uid, not the one the publisher had us forget)."""
    session.execute(
        update(OperatorActionRow)
        .where(OperatorActionRow.subject == old[:SUBJECT_LENGTH])
        .values(subject=new[:SUBJECT_LENGTH])
    )


def list_actions(
    session: Session,
    *,
    kind: ActionKind | None = None,
    offset: int = 0,
    limit: int = 50,
) -> list[OperatorAction]:
    """Actions newest first (by id: the order they were written), optionally of one kind."""
    statement = (
        select(OperatorActionRow, OperatorRow.username)
        .join(OperatorRow, OperatorRow.id == OperatorActionRow.operator_id)
        .order_by(OperatorActionRow.id.desc())
        .offset(offset)
        .limit(limit)
    )
    if kind is not None:
        statement = statement.where(OperatorActionRow.action == kind.value)
    return [
        OperatorAction(
            id=row.id,
            operator=username,
            at=row.at,
            kind=ActionKind(row.action),
            subject=row.subject,
            detail=row.detail,
        )
        for row, username in session.execute(statement)
    ]
