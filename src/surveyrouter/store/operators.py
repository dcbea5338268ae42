"""Operator accounts, their sessions and failed sign-ins (``schema.Operator*Row``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from surveyrouter.domain.operators import Operator, OperatorSession
from surveyrouter.store.schema import OperatorRow, OperatorSessionRow, OperatorSignInFailureRow


class UsernameTaken(ValueError):
    pass


def insert_operator(session: Session, username: str, password_hash: str, at: datetime) -> Operator:
    """Raises ``UsernameTaken`` when an operator already has ``username``."""
    if session.scalar(select(OperatorRow.id).where(OperatorRow.username == username)) is not None:
        raise UsernameTaken(f"an operator is already called {username!r}")
    row = OperatorRow(username=username, password_hash=password_hash, disabled=False, created_at=at)
    session.add(row)
    session.flush()
    return _operator(row)


def find_operator(session: Session, username: str) -> tuple[Operator, str] | None:
    """The operator called ``username`` and their password hash."""
    row = session.scalar(select(OperatorRow).where(OperatorRow.username == username))
    return None if row is None else (_operator(row), row.password_hash)


def list_operators(session: Session) -> list[Operator]:
    return [_operator(row) for row in session.scalars(select(OperatorRow).order_by(OperatorRow.id))]


def set_password_hash(session: Session, operator_id: int, password_hash: str) -> None:
    session.execute(
        update(OperatorRow).where(OperatorRow.id == operator_id).values(password_hash=password_hash)
    )


def set_disabled(session: Session, operator_id: int, disabled: bool) -> None:
    """A disabled operator cannot sign in, and their sessions end now."""
    session.execute(
        update(OperatorRow).where(OperatorRow.id == operator_id).values(disabled=disabled)
    )
    if disabled:
        session.execute(
            delete(OperatorSessionRow).where(OperatorSessionRow.operator_id == operator_id)
        )


def record_sign_in(session: Session, operator_id: int, at: datetime) -> None:
    session.execute(
        update(OperatorRow).where(OperatorRow.id == operator_id).values(last_sign_in_at=at)
    )


def add_session(
    session: Session,
    token_hash: str,
    operator_id: int,
    csrf_token: str,
    at: datetime,
    expires_at: datetime,
) -> None:
    session.add(
        OperatorSessionRow(
            token_hash=token_hash,
            operator_id=operator_id,
            csrf_token=csrf_token,
            created_at=at,
            expires_at=expires_at,
        )
    )


def live_session(session: Session, token_hash: str, at: datetime) -> OperatorSession | None:
    """The session of ``token_hash`` if it has not expired and its operator is enabled."""
    found = session.execute(
        select(OperatorSessionRow, OperatorRow)
        .join(OperatorRow, OperatorRow.id == OperatorSessionRow.operator_id)
        .where(
            OperatorSessionRow.token_hash == token_hash,
            OperatorSessionRow.expires_at > at,
            OperatorRow.disabled.is_(False),
        )
    ).first()
    if found is None:
        return None
    row, operator = found
    return OperatorSession(_operator(operator), row.csrf_token, row.expires_at)


def delete_session(session: Session, token_hash: str) -> None:
    session.execute(delete(OperatorSessionRow).where(OperatorSessionRow.token_hash == token_hash))


def delete_expired_sessions(session: Session, at: datetime) -> None:
    session.execute(delete(OperatorSessionRow).where(OperatorSessionRow.expires_at <= at))


def add_sign_in_failure(
    session: Session, username: str, ip_address: str | None, at: datetime
) -> None:
    session.add(OperatorSignInFailureRow(username=username, ip_address=ip_address, at=at))


def sign_in_failures(
    session: Session, username: str, ip_address: str | None, since: datetime
) -> tuple[int, int]:
    """Failed sign-ins since ``since``: for ``username``, and from ``ip_address``."""
    recent = OperatorSignInFailureRow.at > since
    by_name = session.scalar(
        select(func.count()).where(recent, OperatorSignInFailureRow.username == username)
    )
    by_address = 0
    if ip_address is not None:
        by_address = (
            session.scalar(
                select(func.count()).where(
                    recent, OperatorSignInFailureRow.ip_address == ip_address
                )
            )
            or 0
        )
    return by_name or 0, by_address


def forget_sign_in_failures(session: Session, username: str, before: datetime) -> None:
    """Drops ``username``'s failures (after a success) and everyone's older than ``before``."""
    session.execute(
        delete(OperatorSignInFailureRow).where(
            or_(OperatorSignInFailureRow.username == username, OperatorSignInFailureRow.at < before)
        )
    )


def _operator(row: OperatorRow) -> Operator:
    return Operator(row.id, row.username, row.disabled, row.created_at, row.last_sign_in_at)
