"""A publisher's user, as the router knows them, and the id exchanges see instead of theirs."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from surveyrouter.domain.opportunity import Device

# Client API §1.2: "We only support up to 65 character long ids."
MAX_UID_LENGTH = 65


class UserIdInvalid(ValueError):
    """A publisher's user id that cannot be accepted, and why."""


@dataclass(frozen=True, slots=True)
class User:
    """One (app, uid). ``respondent_id`` is what exchanges see (see ``respondent_id``)."""

    id: int
    app_id: int
    uid: str
    respondent_id: str
    created_at: datetime
    country: str | None = None
    language: str | None = None
    device: Device | None = None
    username: str | None = None
    banned_until: datetime | None = None
    ban_reason: str | None = None
    entered_survey: bool = False
    # Changes whenever the user's answers, clicks or hidden surveys do
    # (store.users.bump_state_version).
    state_version: int = 0
    # When the publisher had the user erased: uid and respondent id are tombstones since.
    erased_at: datetime | None = None

    def banned_at(self, at: datetime) -> bool:
        return self.banned_until is not None and at < self.banned_until


# An erased user's uid and respondent id are replaced by this, plus 128 random bits: the row
# keeps (app, uid) and respondent_id unique but no longer says who it was, and the same uid
# can be imported again as a new user. No publisher's uid may start with it, so no caller can
# reach an erased row by its tombstone.
ERASED_PREFIX = "erased-"


def check_uid(uid: str) -> str:
    """``uid`` if a publisher may use it as a user id (§1.2: UUIDs, numbers or ASCII strings,
    at most 65 characters, not starting with ``erased-``); raises ``UserIdInvalid`` saying
    which rule it breaks."""
    if not uid:
        raise UserIdInvalid("the user id is empty")
    if len(uid) > MAX_UID_LENGTH:
        raise UserIdInvalid(f"the user id is longer than {MAX_UID_LENGTH} characters")
    if not uid.isascii() or not uid.isprintable():
        raise UserIdInvalid("the user id must be printable ASCII")
    if uid.startswith(ERASED_PREFIX):
        raise UserIdReserved(
            f"a user id may not start with {ERASED_PREFIX!r}: erased users' ids do"
        )
    return uid


class UserIdReserved(UserIdInvalid):
    """A uid of the form erased users' ids take. One a live user already has (given before the
    form was reserved) still names that user; no new user is created with it."""


def respondent_id(server_secret: bytes, app_id: int, uid: str) -> str:
    """The id exchanges know this user by: stable, unique across apps, and not personal.

    An HMAC of app and uid under the server's own secret, so two apps' "1" are two respondents,
    the exchange cannot recover the publisher's id, and the same user is always the same
    respondent (which exchanges' duplicate checks and our exclusions rely on). 128 bits in hex,
    well within REX's 100 characters.
    """
    message = f"{app_id}\x1f{uid}".encode()
    return hmac.new(server_secret, message, hashlib.sha256).hexdigest()[:32]
