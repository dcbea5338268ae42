"""A user's state version: bumped in the same transaction as every write to their answers,
clicks or hidden surveys, so that an API process that kept what it read of them
(``services.user_state.UserStates``) knows, from the user's row alone, when to read again.

Every store function that writes those tables calls ``bump_state_version``; a write that
skipped it would leave a kept state stale until the user's next change.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from surveyrouter.store.schema import ClickRow, UserRow

_USERS = cast(Table, UserRow.__table__)
_CLICKS = cast(Table, ClickRow.__table__)
_BUMP = (
    update(_USERS)
    .where(_USERS.c.id == bindparam("user_id"))
    .values(state_version=_USERS.c.state_version + 1)
)
_BUMP_FOR_CLICK = (
    update(_USERS)
    .where(
        _USERS.c.id
        == select(_CLICKS.c.user_id).where(_CLICKS.c.id == bindparam("click_id")).scalar_subquery()
    )
    .values(state_version=_USERS.c.state_version + 1)
)


def bump_state_version(session: Session, user_id: int) -> None:
    """The user's answers, clicks or hidden surveys change in this transaction."""
    session.execute(_BUMP, {"user_id": user_id})


def bump_state_version_of_click(session: Session, click_id: str) -> None:
    """``bump_state_version`` for the user whose click ``click_id`` changes."""
    session.execute(_BUMP_FOR_CLICK, {"click_id": click_id})
