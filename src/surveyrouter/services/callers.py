"""Who is calling the client API: the app a token names and the user it speaks for."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.domain.apps import App
from surveyrouter.domain.users import User, UserIdReserved, check_uid
from surveyrouter.store.apps import (
    AppNotFound,
    find_app_by_token_as_changed,
    get_app,
)
from surveyrouter.store.db import transaction
from surveyrouter.store.users import find_user, find_user_as_app_changed, user_on_sight


class UnknownApiToken(LookupError):
    """No app has the API token the caller sent."""


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated client call: the app, its user, and whether the user is new now."""

    app: App
    user: User
    created_user: bool


@dataclass(frozen=True, slots=True)
class KeptApp:
    """An app as read, and when it had last changed then."""

    app: App
    changed_at: datetime


class AppsByToken:
    """Apps by client API token, each kept for ``ttl`` seconds after it was read.

    Nearly every client call names one of a few apps, and reading it was a third of
    authenticating one. ``identify`` checks a kept app against the store on every call, in
    the same read as the user (``find_user_as_app_changed``), so a change to it (settings, a
    rotated token) holds for every API process from the next call. Other readers (the
    offerwall page) see a change within ``ttl``. Unknown tokens are not kept: an app created
    now works at once, and made-up tokens cannot fill the memory.
    """

    def __init__(self, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._apps: dict[str, tuple[KeptApp, float]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every app kept: the next call reads its app again."""
        with self._lock:
            self._apps.clear()

    def find(self, session: Session, api_token: str, *, fresh: bool = False) -> KeptApp | None:
        """The app ``api_token`` names, read again when kept longer than ``ttl`` (or when
        ``fresh``)."""
        now = self.clock()
        with self._lock:
            kept = self._apps.get(api_token)
        if kept is not None and now - kept[1] < self.ttl and not fresh:
            return kept[0]
        found = find_app_by_token_as_changed(session, api_token)
        with self._lock:
            if found is None:
                self._apps.pop(api_token, None)
                return None
            read = self._apps[api_token] = (KeptApp(*found), now)
        return read[0]


@dataclass(frozen=True, slots=True)
class Identified:
    """An authentic caller before anything is written: the app, and its user ``uid`` when
    the router has seen them before (``user`` None: a new user, created by ``on_sight``)."""

    app: App
    uid: str
    user: User | None


def identify(
    api_token: str,
    uid: str,
    apps: AppsByToken,
    *,
    reads: sessionmaker[Session],
) -> Identified:
    """The app for ``api_token`` (kept in ``apps``) and its user ``uid`` if known;
    reads only (``reads``: ``store.db.read_sessions``), so a call refused after this (a bad
    parameter, a malformed body) has written nothing.

    Raises ``UnknownApiToken``, or ``UserIdInvalid`` for a uid that breaks §1.2's rules.
    """
    reserved: UserIdReserved | None = None
    try:
        check_uid(uid)
    except UserIdReserved as error:
        reserved = error  # names a live user who had it before it was reserved, or no one
    with reads() as session:
        app, known = _kept_app_and_user(session, apps, api_token, uid)
    if reserved is not None and (known is None or known.erased_at is not None):
        raise reserved
    return Identified(app, uid, known)


def on_sight(
    sessions: sessionmaker[Session], identified: Identified, clock: Callable[[], datetime]
) -> Caller:
    """The caller ``identify`` found, their user created now if new."""
    app = identified.app
    if identified.user is not None:
        # Most calls come from users already seen: no write transaction for them.
        return Caller(app, identified.user, created_user=False)
    if app.id is None:  # never, for an app read from the store
        raise UnknownApiToken("invalid api token")
    with transaction(sessions) as session:
        user, created = user_on_sight(session, app.id, identified.uid, clock())
    return Caller(app, user, created_user=created)


def _kept_app_and_user(
    session: Session, apps: AppsByToken, api_token: str, uid: str
) -> tuple[App, User | None]:
    """The kept app, read again if it changed since (the token rotated away, say), and the
    user: one round trip when it did not."""
    kept = apps.find(session, api_token)
    if kept is None or kept.app.id is None:
        raise UnknownApiToken("invalid api token")
    known, changed_at = find_user_as_app_changed(session, kept.app.id, uid)
    if changed_at == kept.changed_at:
        return kept.app, known
    again = apps.find(session, api_token, fresh=True)
    if again is None or again.app.id is None:
        raise UnknownApiToken("invalid api token")
    if again.app.id != kept.app.id:  # the token names another app now
        known = find_user(session, again.app.id, uid)
    return again.app, known


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
