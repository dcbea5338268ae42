"""Publishers' users: created on first sight, keyed by (app, uid)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, select, update
from sqlalchemy.orm import Session

from surveyrouter.domain.opportunity import Device
from surveyrouter.domain.users import User, respondent_id
from surveyrouter.store.db import insert_unless_present, table_of
from surveyrouter.store.schema import AppRow, ClickRow, UserRow
from surveyrouter.store.server_secrets import RESPONDENT_ID_SECRET, server_secret


def user_on_sight(session: Session, app_id: int, uid: str, at: datetime) -> tuple[User, bool]:
    """The user (``app_id``, ``uid``), created now if the router has never seen them; and
    whether this call created them. Safe under concurrent first requests for the same user:
    one inserts, all get the same row. ``uid`` must already be checked (``check_uid``)."""
    row = _find(session, app_id, uid)
    created = False
    if row is None:
        secret = server_secret(session, RESPONDENT_ID_SECRET, at)
        created = insert_unless_present(
            session,
            UserRow,
            {
                "app_id": app_id,
                "uid": uid,
                "respondent_id": respondent_id(secret, app_id, uid),
                "entered_survey": False,
                "created_at": at,
                "last_seen_at": at,
            },
            keys=("app_id", "uid"),
        )
        row = _find(session, app_id, uid)
        assert row is not None  # inserted by this call or a concurrent one
    return _user(row), created


def find_user(session: Session, app_id: int, uid: str) -> User | None:
    # Every client call reads its user: a prebuilt Core statement, rows rather than objects.
    row = session.execute(_USER_BY_UID, {"app_id": app_id, "uid": uid}).first()
    return _user(row) if row is not None else None


def find_user_as_app_changed(
    session: Session, app_id: int, uid: str
) -> tuple[User | None, datetime | None]:
    """The app's user ``uid`` (None when not seen yet) and when the app last changed (None
    when no app has the id), in one read: what an API process checks the app it keeps
    against on every client call (``services.callers.AppsByToken``)."""
    row = session.execute(_USER_AND_APP_CHANGED, {"app_id": app_id, "uid": uid}).first()
    if row is None:
        return None, None
    return (_user(row) if row.id is not None else None), row.app_updated_at


_USERS = table_of(UserRow)
_APPS = table_of(AppRow)
_USER_BY_UID = select(_USERS).where(
    _USERS.c.app_id == bindparam("app_id"), _USERS.c.uid == bindparam("uid")
)
_USER_AND_APP_CHANGED = (
    select(_APPS.c.updated_at.label("app_updated_at"), *_USERS.c)
    .select_from(
        _APPS.outerjoin(
            _USERS, and_(_USERS.c.app_id == _APPS.c.id, _USERS.c.uid == bindparam("uid"))
        )
    )
    .where(_APPS.c.id == bindparam("app_id"))
)


def user_by_id(session: Session, user_id: int) -> User:
    row = session.get(UserRow, user_id)
    if row is None:
        raise LookupError(f"no user has id {user_id}")
    return _user(row)


def remember_context(
    session: Session,
    user_id: int,
    at: datetime,
    *,
    country: str | None = None,
    language: str | None = None,
    device: Device | None = None,
    username: str | None = None,
) -> None:
    """Record when the user was last seen, and what this request said about them (a value
    left None keeps what is stored)."""
    values: dict[str, object] = {"last_seen_at": at}
    if country is not None:
        values["country"] = country
    if language is not None:
        values["language"] = language
    if device is not None:
        values["device"] = device.value
    if username is not None:
        values["username"] = username
    session.execute(update(UserRow).where(UserRow.id == user_id).values(**values))


def ban_user(
    session: Session, user_id: int, until: datetime | None, reason: str | None = None
) -> None:
    """Ban the user until ``until`` (None lifts a ban)."""
    session.execute(
        update(UserRow).where(UserRow.id == user_id).values(banned_until=until, ban_reason=reason)
    )


def _find(session: Session, app_id: int, uid: str) -> UserRow | None:
    return session.scalars(
        select(UserRow)
        .where(UserRow.app_id == app_id, UserRow.uid == uid)
        .execution_options(populate_existing=True)
    ).first()


def _user(row: UserRow | Row[Any]) -> User:
    return User(
        id=row.id,
        app_id=row.app_id,
        uid=row.uid,
        respondent_id=row.respondent_id,
        created_at=row.created_at,
        country=row.country,
        language=row.language,
        device=Device(row.device) if row.device is not None else None,
        username=row.username,
        banned_until=row.banned_until,
        ban_reason=row.ban_reason,
        entered_survey=row.entered_survey,
        state_version=row.state_version,
        erased_at=row.erased_at,
    )


def mark_entered_survey(session: Session, user_id: int) -> None:
    """The user has joined a survey: Get Actions' ``is_new_user`` is false from now on."""
    session.execute(
        update(UserRow)
        .where(UserRow.id == user_id, UserRow.entered_survey.is_(False))
        .values(entered_survey=True)
    )


def erase_user(
    session: Session, user_id: int, at: datetime, *, uid: str, respondent_id: str
) -> None:
    """Forget who the user is, as of ``at``: ``uid`` and ``respondent_id`` (tombstones the
    caller makes up) replace the publisher's and the exchanges' ids, and what the user's calls
    told us about them (username, country, language, device, ban) is cleared. The row itself
    stays, so the ledger, outbox and clicks that reference it stay whole, now anonymous."""
    session.execute(
        update(UserRow)
        .where(UserRow.id == user_id)
        .values(
            erased_at=at,
            uid=uid,
            respondent_id=respondent_id,
            username=None,
            country=None,
            language=None,
            device=None,
            banned_until=None,
            ban_reason=None,
        )
    )


def bump_state_version(session: Session, user_id: int) -> None:
    """The user's answers, clicks or hidden surveys change in this transaction.

    Every store function that writes those tables calls this in the same transaction, so an
    API process that kept what it read of them (``services.user_state.UserStates``) knows,
    from the user's row alone, when to read again; a write that skipped it would leave a kept
    state stale until the user's next change.
    """
    session.execute(_BUMP, {"user_id": user_id})


def bump_state_version_of_click(session: Session, click_id: str) -> None:
    """``bump_state_version`` for the user whose click ``click_id`` changes."""
    session.execute(_BUMP_FOR_CLICK, {"click_id": click_id})


_CLICKS = table_of(ClickRow)
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


def lock_user(session: Session, user_id: int) -> None:
    """Hold the user's row until the transaction ends, so two of their requests that would
    both write (two entries into one survey) run one after the other. SQLite's write
    transactions are serialised already (``store.db``: BEGIN IMMEDIATE)."""
    session.execute(select(UserRow.id).where(UserRow.id == user_id).with_for_update())


def user_last_seen(session: Session, user_id: int) -> datetime | None:
    """When the user last called the client API (``User`` does not carry it)."""
    return session.scalar(select(UserRow.last_seen_at).where(UserRow.id == user_id))
