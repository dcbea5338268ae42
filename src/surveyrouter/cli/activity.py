"""The command line's changes in the activity log (``/admin/activity``): recorded as made by
the account of this machine that ran ``surveyrouter``, since no operator signs in there."""

from __future__ import annotations

import getpass
import socket

from sqlalchemy.orm import Session

from surveyrouter.clock import utc_now
from surveyrouter.domain.operators import ActionKind, Actor
from surveyrouter.store.operator_actions import record_action


def shell_user() -> str:
    """``login@host`` of whoever runs this command: several machines may share one database."""
    try:
        login = getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment nor in the password file
        login = "unknown user"
    return f"{login}@{socket.gethostname()}"


def record_command(session: Session, kind: ActionKind, subject: str, detail: str) -> None:
    """Record a change made at the command line, in ``session``'s transaction."""
    record_action(session, Actor(shell_user=shell_user()), kind, subject, detail, utc_now())
