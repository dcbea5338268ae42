"""What operators did, in the dashboard or at the command line
(``schema.OperatorActionRow``), newest first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from surveyrouter.domain.operators import ActionKind, Actor, OperatorAction
from surveyrouter.store.schema import SHELL_USER_LENGTH, OperatorActionRow, OperatorRow

SUBJECT_LENGTH = 200


def record_action(
    session: Session,
    actor: Actor,
    kind: ActionKind,
    subject: str,
    detail: str,
    at: datetime,
) -> None:
    """Add one action, in the caller's transaction."""
    session.add(
        OperatorActionRow(
            operator_id=actor.operator_id,
            shell_user=None if actor.shell_user is None else actor.shell_user[:SHELL_USER_LENGTH],
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
        .outerjoin(OperatorRow, OperatorRow.id == OperatorActionRow.operator_id)
        .order_by(OperatorActionRow.id.desc())
        .offset(offset)
        .limit(limit)
    )
    if kind is not None:
        statement = statement.where(OperatorActionRow.action == kind.value)
    return [
        OperatorAction(
            id=row.id,
            operator=username if username is not None else row.shell_user or "",
            command_line=row.operator_id is None,
            at=row.at,
            kind=ActionKind(row.action),
            subject=row.subject,
            detail=row.detail,
        )
        for row, username in session.execute(statement)
    ]
