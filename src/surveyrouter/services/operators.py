"""Operator accounts and sign-in: argon2id password hashes (argon2-cffi), server-side
sessions whose cookie token is kept only as a hash, a CSRF token per session, and
throttling of failed sign-ins per username and per address."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.clock import Clock
from surveyrouter.domain.operators import (
    Operator,
    OperatorSession,
    check_password,
    check_username,
)
from surveyrouter.store.db import transaction
from surveyrouter.store.operators import (
    add_session,
    add_sign_in_failure,
    delete_expired_sessions,
    delete_session,
    find_operator,
    forget_sign_in_failures,
    insert_operator,
    live_session,
    record_sign_in,
    set_password_hash,
    sign_in_failures,
)

SESSION_LIFETIME = timedelta(hours=12)
# Five wrong passwords for one name, or twenty from one address, in a quarter of an hour: then
# every try is refused until the oldest ages out, right password or not.
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USERNAME = 5
MAX_FAILURES_PER_ADDRESS = 20

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a wrong name costs what a wrong password
# costs and the time taken does not say which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class SignInRefused(Exception):
    """Wrong username or password (never saying which), or a disabled account."""


class SignInThrottled(Exception):
    """Too many recent failures; ``retry_after`` seconds until the next try can count."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after // 60 + 1} minutes")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class SignedIn:
    """``token`` goes into the session cookie; only its hash is stored."""

    token: str
    session: OperatorSession


# Writes what goes with a change to an operator account (its activity record), in the
# change's own transaction.
AlongOperator = Callable[[Session, Operator], None]


def create_operator(
    sessions: sessionmaker[Session],
    clock: Clock,
    username: str,
    password: str,
    *,
    along: AlongOperator | None = None,
) -> Operator:
    """Raises ``OperatorInvalid`` for a bad name or password, ``UsernameTaken``."""
    name = check_username(username)
    hashed = _hasher.hash(check_password(password))
    with transaction(sessions) as session:
        created = insert_operator(session, name, hashed, clock())
        if along is not None:
            along(session, created)
        return created


def change_password(
    sessions: sessionmaker[Session],
    username: str,
    password: str,
    *,
    along: AlongOperator | None = None,
) -> Operator | None:
    """The operator whose password is now ``password``; None when no one is called
    ``username``."""
    hashed = _hasher.hash(check_password(password))
    with transaction(sessions) as session:
        found = find_operator(session, check_username(username))
        if found is None:
            return None
        operator = found[0]
        set_password_hash(session, operator.id, hashed)
        if along is not None:
            along(session, operator)
        return operator


def sign_in(
    sessions: sessionmaker[Session],
    clock: Clock,
    username: str,
    password: str,
    ip_address: str | None,
) -> SignedIn:
    """A new session for the operator, or ``SignInRefused`` / ``SignInThrottled``."""
    now = clock()
    name = username.strip().lower()[:64]
    password = password[:4096]
    with transaction(sessions) as session:
        by_name, by_address = sign_in_failures(session, name, ip_address, now - THROTTLE_WINDOW)
        if by_name >= MAX_FAILURES_PER_USERNAME or by_address >= MAX_FAILURES_PER_ADDRESS:
            raise SignInThrottled(int(THROTTLE_WINDOW.total_seconds()))
        found = find_operator(session, name)
        operator, hashed = found if found is not None else (None, _DUMMY_HASH)
        verified = _verified(hashed, password)  # also for an unknown name: the same work
        if operator is None or operator.disabled or not verified:
            add_sign_in_failure(session, name, ip_address, now)
            refused = True
        else:
            refused = False
            if _hasher.check_needs_rehash(hashed):
                set_password_hash(session, operator.id, _hasher.hash(password))
            forget_sign_in_failures(session, name, now - THROTTLE_WINDOW)
            delete_expired_sessions(session, now)
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            expires = now + SESSION_LIFETIME
            add_session(session, session_hash(token), operator.id, csrf, now, expires)
            record_sign_in(session, operator.id, now)
    # Raised after the commit: the failure must count even though the sign-in is refused.
    if refused or operator is None:
        raise SignInRefused("wrong username or password")
    return SignedIn(token, OperatorSession(operator, csrf, expires))


def signed_in(sessions: sessionmaker[Session], clock: Clock, token: str) -> OperatorSession | None:
    """The live session the cookie ``token`` names, if any."""
    if not token or len(token) > 128:
        return None
    with sessions() as session:
        return live_session(session, session_hash(token), clock())


def sign_out(sessions: sessionmaker[Session], token: str) -> None:
    with transaction(sessions) as session:
        delete_session(session, session_hash(token))


def session_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_matches(expected: str, sent: str | None) -> bool:
    return sent is not None and secrets.compare_digest(expected.encode(), sent.encode())


def _verified(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
