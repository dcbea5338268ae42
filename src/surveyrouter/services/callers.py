"""Who is calling the client API: the app a token names and the user it speaks for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.domain.apps import App
from surveyrouter.domain.users import User, check_uid
from surveyrouter.store.apps import AppNotFound, find_app_by_token, get_app
from surveyrouter.store.db import transaction
from surveyrouter.store.users import find_user, user_on_sight


class UnknownApiToken(LookupError):
    """No app has the API token the caller sent."""


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated client call: the app, its user, and whether the user is new now."""

    app: App
    user: User
    created_user: bool


def identify(
    sessions: sessionmaker[Session], api_token: str, uid: str, clock: Callable[[], datetime]
) -> Caller:
    """The app for ``api_token`` and its user ``uid``, created on first sight.

    Raises ``UnknownApiToken``, or ``UserIdInvalid`` for a uid that breaks §1.2's rules; a
    refused call writes nothing.
    """
    check_uid(uid)
    with sessions() as session:
        app = find_app_by_token(session, api_token)
        if app is None or app.id is None:
            raise UnknownApiToken("invalid api token")
        known = find_user(session, app.id, uid)
    if known is not None:
        # Most calls come from users already seen: no write transaction for them.
        return Caller(app, known, created_user=False)
    with transaction(sessions) as session:
        user, created = user_on_sight(session, app.id, uid, clock())
    return Caller(app, user, created_user=created)


def known_caller(sessions: sessionmaker[Session], app_id: int, uid: str) -> Caller | None:
    """The app ``app_id`` and its user ``uid`` when both exist: who a signed survey link or
    impression names. Nothing is created."""
    with sessions() as session:
        try:
            app = get_app(session, app_id)
        except AppNotFound:
            return None
        user = find_user(session, app_id, uid)
    return None if user is None else Caller(app, user, created_user=False)
