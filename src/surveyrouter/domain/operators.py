"""Operators: the people who sign in to the dashboard, and the rules their names and
passwords keep. Checked where an account is made (the CLI), never discovered at sign-in."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

from surveyrouter.domain.apps import App
from surveyrouter.domain.users import User

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 hashes anything; this bounds the work one sign-in costs
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{2,63}")


class OperatorInvalid(ValueError):
    """A username or password that breaks its rule; ``field`` names which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Operator:
    id: int
    username: str
    disabled: bool
    created_at: datetime
    last_sign_in_at: datetime | None


@dataclass(frozen=True, slots=True)
class OperatorSession:
    """A signed-in operator; ``csrf_token`` must come back with every form they send."""

    operator: Operator
    csrf_token: str
    expires_at: datetime


def check_username(username: str) -> str:
    """``username`` lower-cased, if it is 3–64 letters, digits and ``._@-``."""
    cleaned = username.strip().lower()
    if not _USERNAME.fullmatch(cleaned):
        raise OperatorInvalid(
            "username",
            "3-64 characters: letters, digits and . _ @ - (starting with a letter or digit)",
        )
    return cleaned


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OperatorInvalid("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise OperatorInvalid("password", f"must be at most {MAX_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise OperatorInvalid("password", "must not be blank")
    return password


class ActionKind(enum.StrEnum):
    """What an operator did, in the dashboard or at the command line (``OperatorAction.kind``)."""

    APP_CREATE = "app.create"
    APP_UPDATE = "app.update"
    APP_ROTATE = "app.rotate"
    CALLBACK_RETRY = "callback.retry"
    CALLBACK_DEAD_LETTER = "callback.dead_letter"
    USER_BAN = "user.ban"
    USER_UNBAN = "user.unban"
    USER_REVERSE = "user.reverse"
    OPERATOR_CREATE = "operator.create"
    OPERATOR_PASSWORD = "operator.password"
    OPERATOR_DISABLE = "operator.disable"
    OPERATOR_ENABLE = "operator.enable"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: a signed-in operator of the dashboard, or the account of this
    machine that ran ``surveyrouter`` at the command line (which signs no one in)."""

    operator_id: int | None = None
    shell_user: str | None = None

    def __post_init__(self) -> None:
        if (self.operator_id is None) == (self.shell_user is None):
            raise ValueError("an actor is an operator or a command-line user, one of them")


@dataclass(frozen=True, slots=True)
class OperatorAction:
    """One change an operator made: ``subject`` names the record ("app 3", "user 12",
    "callback 40"), ``detail`` says what changed, in words."""

    id: int
    operator: str  # the operator's username, or the command-line user's account name
    command_line: bool  # made with the ``surveyrouter`` command, not in the dashboard
    at: datetime
    kind: ActionKind
    subject: str
    detail: str


def user_subject(user: User) -> str:
    """How the activity log names a user: the row, the publisher's uid and the app. Erasing
    the user renames their actions' subjects to the tombstone uid."""
    return f"user {user.id} ({user.uid} of app {user.app_id})"


def app_subject(app: App) -> str:
    """How the activity log names an app: its id and, as it was named then, its name."""
    return f"app {app.id} ({app.name})"


def operator_subject(operator: Operator) -> str:
    """How the activity log names an operator account."""
    return f"operator {operator.id} ({operator.username})"
