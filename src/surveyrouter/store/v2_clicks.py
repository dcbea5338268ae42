"""v2 clicks (``domain.v2_clicks``) and the surveys users hid from their listings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from surveyrouter.domain.impressions import ClickType
from surveyrouter.domain.v2_clicks import V2Click, V2ClickState
from surveyrouter.store.db import insert_unless_present
from surveyrouter.store.schema import HiddenSurveyRow, V2ClickRow
from surveyrouter.store.users import bump_state_version


def add_v2_click(session: Session, click: V2Click) -> None:
    session.add(
        V2ClickRow(
            id=click.id,
            app_id=click.app_id,
            user_id=click.user_id,
            network_id=click.network_id,
            opportunity_id=click.opportunity_id,
            type=click.type.value,
            session_id=click.session_id,
            tags=dict(click.tags),
            state=click.state.value,
            entered_click_id=click.entered_click_id,
            answered_count=click.answered_count,
            created_at=click.created_at,
            updated_at=click.updated_at,
        )
    )
    session.flush()


def get_v2_click(session: Session, click_id: str) -> V2Click | None:
    row = session.scalars(
        select(V2ClickRow)
        .where(V2ClickRow.id == click_id)
        .execution_options(populate_existing=True)
    ).first()
    return None if row is None else _v2_click(row)


def enter_v2_click(session: Session, click_id: str, entered_click_id: str, at: datetime) -> None:
    """The exchange's entry link was issued for the click ``entered_click_id``; a v2 click
    that is no longer qualifying (entered, left or done meanwhile) keeps what it has."""
    session.execute(
        update(V2ClickRow)
        .where(V2ClickRow.id == click_id, V2ClickRow.state == V2ClickState.QUALIFYING.value)
        .values(state=V2ClickState.ENTERED.value, entered_click_id=entered_click_id, updated_at=at)
        .execution_options(synchronize_session=False)
    )


def set_v2_click_state(session: Session, click_id: str, state: V2ClickState, at: datetime) -> None:
    session.execute(
        update(V2ClickRow)
        .where(V2ClickRow.id == click_id)
        .values(state=state.value, updated_at=at)
        .execution_options(synchronize_session=False)
    )


def count_v2_answer(session: Session, click_id: str, at: datetime) -> None:
    """One more question answered in the click's flow; counted in SQL, so two answers sent at
    once both count."""
    session.execute(
        update(V2ClickRow)
        .where(V2ClickRow.id == click_id)
        .values(answered_count=V2ClickRow.answered_count + 1, updated_at=at)
        .execution_options(synchronize_session=False)
    )


def clear_v2_click_tags(session: Session, user_id: int) -> None:
    """Forget the custom tags of the user's v2 clicks: the user is being erased."""
    session.execute(
        update(V2ClickRow)
        .where(V2ClickRow.user_id == user_id)
        .values(tags={})
        .execution_options(synchronize_session=False)
    )


def hide_survey(
    session: Session, user_id: int, network_id: str, opportunity_id: int, at: datetime
) -> None:
    """Hide the survey from the user's listings for good; hiding it again, even at the same
    moment from another request, changes nothing."""
    hidden = insert_unless_present(
        session,
        HiddenSurveyRow,
        {
            "user_id": user_id,
            "network_id": network_id,
            "opportunity_id": opportunity_id,
            "hidden_at": at,
        },
        keys=("user_id", "network_id", "opportunity_id"),
    )
    if hidden:
        bump_state_version(session, user_id)


def hidden_surveys(session: Session, user_id: int) -> frozenset[tuple[str, int]]:
    """The (network, opportunity) pairs the user hid."""
    rows = session.execute(_HIDDEN, {"user_id": user_id})
    return frozenset((network_id, int(opportunity_id)) for network_id, opportunity_id in rows)


# Read on every listing: built once.
_HIDDEN = select(HiddenSurveyRow.network_id, HiddenSurveyRow.opportunity_id).where(
    HiddenSurveyRow.user_id == bindparam("user_id")
)


def _v2_click(row: V2ClickRow) -> V2Click:
    return V2Click(
        id=row.id,
        app_id=row.app_id,
        user_id=row.user_id,
        type=ClickType(row.type),
        network_id=row.network_id,
        opportunity_id=row.opportunity_id,
        session_id=row.session_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        tags={str(name): str(value) for name, value in row.tags.items()},
        state=V2ClickState(row.state),
        entered_click_id=row.entered_click_id,
        answered_count=row.answered_count,
    )
