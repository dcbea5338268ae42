"""Clicks: written when a user opens a survey, ended once by the exchange's first word on it,
and counted per opportunity for ranking."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Row,
    String,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session
from sqlalchemy.types import Interval

from surveyrouter.domain.clicks import (
    ABANDON_LOI_FACTOR,
    MIN_ABANDON_AFTER,
    Click,
    ClickStatus,
    LeaveReason,
    OutcomeSource,
)
from surveyrouter.domain.money import RewardKind
from surveyrouter.domain.ranking import ObservedOutcomes
from surveyrouter.store.column_types import UtcDateTime, entered_form
from surveyrouter.store.db import table_of
from surveyrouter.store.schema import ClickRow, LedgerEntryRow
from surveyrouter.store.users import bump_state_version, bump_state_version_of_click

_OPEN = tuple(status.value for status in ClickStatus if status.is_open)
_MIN_ABANDON_MINUTES = int(MIN_ABANDON_AFTER.total_seconds()) // 60


def add_click(session: Session, click: Click) -> None:
    session.add(
        ClickRow(
            id=click.id,
            app_id=click.app_id,
            user_id=click.user_id,
            network_id=click.network_id,
            opportunity_id=click.opportunity_id,
            project_id=click.project_id,
            category_ids=list(click.category_ids),
            exchange_cpi=click.exchange_cpi,
            loi_minutes=click.loi_minutes,
            status=click.status.value,
            created_at=click.created_at,
            ended_at=click.ended_at,
            disposition=click.disposition,
            disposition_status=click.disposition_status,
            outcome_source=None if click.outcome_source is None else click.outcome_source.value,
            left_at=click.left_at,
            leave_reason=None if click.leave_reason is None else click.leave_reason.value,
            tags=dict(click.tags),
        )
    )
    session.flush()
    bump_state_version(session, click.user_id)


def get_click(session: Session, click_id: str, *, for_update: bool = False) -> Click | None:
    """The click ``click_id``; ``for_update`` locks its row on PostgreSQL until the
    transaction ends (a SQLite write transaction holds the whole database already)."""
    query = (
        select(ClickRow).where(ClickRow.id == click_id).execution_options(populate_existing=True)
    )
    if for_update:
        query = query.with_for_update()
    row = session.scalars(query).first()
    return _click(row) if row is not None else None


def user_clicks(session: Session, user_id: int) -> list[Click]:
    """Every click of the user, oldest first: their participation history."""
    return [_click(row) for row in session.execute(_USER_CLICKS, {"user_id": user_id})]


# Read on every Get Actions call: built once, read as plain rows rather than ORM objects.
_CLICKS = table_of(ClickRow)
_USER_CLICKS = (
    select(_CLICKS)
    .where(_CLICKS.c.user_id == bindparam("user_id"))
    .order_by(_CLICKS.c.created_at, _CLICKS.c.id)
)


def clear_click_tags(session: Session, user_id: int) -> None:
    """Forget the custom tags of the user's clicks (the publisher's, and they may name the
    user): the user is being erased."""
    session.execute(
        update(ClickRow)
        .where(ClickRow.user_id == user_id)
        .values(tags={})
        .execution_options(synchronize_session=False)
    )
    bump_state_version(session, user_id)


def end_click(
    session: Session,
    click_id: str,
    status: ClickStatus,
    disposition: int,
    disposition_status: int,
    source: OutcomeSource,
    at: datetime,
) -> bool:
    """Give the click its outcome unless it has one: True if this call ended it.

    One guarded UPDATE, so of the exchange's redirect and its callback the first wins
    whatever the isolation level, and the second changes nothing.
    """
    if status.is_open:
        raise ValueError(f"{status.value} is not an outcome")
    ended = session.execute(
        update(ClickRow)
        .where(ClickRow.id == click_id, ClickRow.status.in_(_OPEN))
        .values(
            status=status.value,
            ended_at=at,
            disposition=disposition,
            disposition_status=disposition_status,
            outcome_source=source.value,
        )
        .returning(ClickRow.id)
        .execution_options(synchronize_session=False)
    ).first()
    if ended is None:
        return False
    bump_state_version_of_click(session, click_id)
    return True


def leave_click(
    session: Session,
    user_id: int,
    network_id: str,
    opportunity_id: int,
    reason: LeaveReason,
    at: datetime,
) -> Click | None:
    """Mark the user's latest click on the opportunity that is still waiting for its outcome
    as left (client API ``.../leave``); None when there is no such click."""
    latest = session.scalars(
        select(ClickRow.id)
        .where(
            ClickRow.user_id == user_id,
            ClickRow.network_id == network_id,
            ClickRow.opportunity_id == opportunity_id,
            ClickRow.status == ClickStatus.STARTED.value,
        )
        .order_by(ClickRow.created_at.desc(), ClickRow.id.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if latest is None:
        return None
    left = session.execute(
        update(ClickRow)
        # Guarded: an outcome that arrived since the SELECT is kept.
        .where(ClickRow.id == latest, ClickRow.status == ClickStatus.STARTED.value)
        .values(status=ClickStatus.LEFT.value, left_at=at, leave_reason=reason.value)
        .returning(ClickRow.id)
        .execution_options(synchronize_session=False)
    ).first()
    if left is None:
        return None
    bump_state_version(session, user_id)
    return get_click(session, latest)


def observed_outcomes(
    session: Session, since: datetime, now: datetime
) -> dict[tuple[str, int], ObservedOutcomes]:
    """What happened to the clicks created at or after ``since``, per (network, opportunity),
    counted in one aggregate query.

    A duplicate counts as a screenout, an error ending as an abandon, and so does a click
    that is abandoned at ``now`` (``Click.is_abandoned``). A reversal is a complete whose
    ledger entry has been reconciled (the reversal's reference is the click id).
    """
    dialect = session.get_bind().dialect.name
    status = ClickRow.status
    reversed_ = exists().where(
        LedgerEntryRow.reference == ClickRow.id,
        LedgerEntryRow.kind == RewardKind.RECONCILIATION.value,
    )
    abandoned = or_(
        status.in_((ClickStatus.ERROR.value, ClickStatus.LEFT.value)),
        and_(status == ClickStatus.STARTED.value, past_abandon_at(dialect, now)),
    )
    query = (
        select(
            ClickRow.network_id,
            ClickRow.opportunity_id,
            func.count(),
            _count(status == ClickStatus.COMPLETE.value),
            _count(status.in_((ClickStatus.SCREENOUT.value, ClickStatus.DUPLICATE.value))),
            _count(status == ClickStatus.OVERQUOTA.value),
            _count(status == ClickStatus.QUALITY.value),
            _count(abandoned),
            _count(and_(status == ClickStatus.COMPLETE.value, reversed_)),
        )
        .where(ClickRow.created_at >= since)
        .group_by(ClickRow.network_id, ClickRow.opportunity_id)
    )
    return {
        (network_id, int(opportunity_id)): ObservedOutcomes(
            entries=int(entries),
            completes=int(completes),
            screenouts=int(screenouts),
            overquotas=int(overquotas),
            quality=int(quality),
            abandons=int(abandons),
            reversals=int(reversals),
        )
        for (
            network_id,
            opportunity_id,
            entries,
            completes,
            screenouts,
            overquotas,
            quality,
            abandons,
            reversals,
        ) in session.execute(query)
    }


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def past_abandon_at(dialect: str, now: datetime) -> ColumnElement[bool]:
    """``now >= created_at + abandon_after(loi_minutes)`` in SQL, to the microsecond.

    ``abandon_after`` is max(3 × LOI, 60) minutes (a negative LOI counts as 0, which the 60
    minutes already cover). SQL has no portable date arithmetic: PostgreSQL adds an interval;
    SQLite holds the time as ``YYYY-MM-DD HH:MM:SS.ffffff`` text (UTC, as ``UtcDateTime``
    writes it), so the minutes are added to the seconds part and the fraction, unchanged by
    whole minutes, is put back; the text then compares as the times do.
    """
    moment = literal(now, UtcDateTime())
    if dialect == "sqlite":
        minutes = func.max(ABANDON_LOI_FACTOR * ClickRow.loi_minutes, _MIN_ABANDON_MINUTES)
        modifier = literal("+") + sql_cast(minutes, String) + literal(" minutes")
        shifted = func.strftime(
            "%Y-%m-%d %H:%M:%S", ClickRow.created_at, modifier, type_=String
        ) + func.substr(ClickRow.created_at, 20, type_=String)
        return shifted <= moment
    interval = func.make_interval(
        0,
        0,
        0,
        0,
        0,
        func.greatest(ABANDON_LOI_FACTOR * ClickRow.loi_minutes, _MIN_ABANDON_MINUTES),
        type_=Interval,
    )
    return type_coerce(ClickRow.created_at, DateTime(timezone=True)) + interval <= moment


def _click(row: ClickRow | Row[Any]) -> Click:
    return Click(
        id=row.id,
        app_id=row.app_id,
        user_id=row.user_id,
        network_id=row.network_id,
        opportunity_id=row.opportunity_id,
        exchange_cpi=entered_form(row.exchange_cpi),
        loi_minutes=row.loi_minutes,
        created_at=row.created_at,
        project_id=row.project_id,
        category_ids=tuple(int(category) for category in row.category_ids),
        status=ClickStatus(row.status),
        ended_at=row.ended_at,
        disposition=row.disposition,
        disposition_status=row.disposition_status,
        outcome_source=(None if row.outcome_source is None else OutcomeSource(row.outcome_source)),
        left_at=row.left_at,
        leave_reason=None if row.leave_reason is None else LeaveReason(row.leave_reason),
        tags={str(name): str(value) for name, value in (row.tags or {}).items()},
    )
