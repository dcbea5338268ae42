"""Who is calling the client API: the app a token names and the user it speaks for."""

from __future__ import annotations

import threading
import time
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


class AppsByToken:
    """Apps by client API token, each kept for ``ttl`` seconds after it was read.

    Nearly every client call names one of a few apps, and reading it was a third of
    authenticating one. An operator's change to an app (settings, a rotated token) reaches
    every API process within ``ttl``. Unknown tokens are not kept: an app created now works
    at once, and made-up tokens cannot fill the memory.
    """

    def __init__(self, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._apps: dict[str, tuple[App, float]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every app kept: the next call reads its app again."""
        with self._lock:
            self._apps.clear()

    def find(self, session: Session, api_token: str) -> App | None:
        now = self.clock()
        with self._lock:
            kept = self._apps.get(api_token)
        if kept is not None and now - kept[1] < self.ttl:
            return kept[0]
        app = find_app_by_token(session, api_token)
        with self._lock:
            if app is None:
                self._apps.pop(api_token, None)
            else:
                self._apps[api_token] = (app, now)
        return app


def identify(
    sessions: sessionmaker[Session],
    api_token: str,
    uid: str,
    clock: Callable[[], datetime],
    apps: AppsByToken | None = None,
    *,
    reads: sessionmaker[Session],
) -> Caller:
    """The app for ``api_token`` (through ``apps`` when given) and its user ``uid``, created
    on first sight. ``reads`` (``store.db.read_sessions``) serves the reads, ``sessions``
    the write of a new user.

    Raises ``UnknownApiToken``, or ``UserIdInvalid`` for a uid that breaks §1.2's rules; a
    refused call writes nothing.
    """
    check_uid(uid)
    with reads() as session:
        app = (
            find_app_by_token(session, api_token) if apps is None else apps.find(session, api_token)
        )
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
