"""``surveyrouter operators``: the accounts that sign in to the dashboard at ``/admin``."""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from surveyrouter.bootstrap import prepared_runtime
from surveyrouter.cli.activity import record_command
from surveyrouter.cli.root import app as root
from surveyrouter.clock import utc_now
from surveyrouter.domain.operators import (
    ActionKind,
    Operator,
    OperatorInvalid,
    check_username,
    operator_subject,
)
from surveyrouter.services.operators import AlongOperator, change_password, create_operator
from surveyrouter.settings import Settings
from surveyrouter.store.db import transaction
from surveyrouter.store.operators import UsernameTaken, find_operator, list_operators, set_disabled

operators = typer.Typer(help="Operator accounts for the dashboard (/admin).", no_args_is_help=True)
root.add_typer(operators, name="operators")
console = Console()

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from standard input instead of a prompt."
    ),
]


@operators.command()
def create(
    username: Annotated[str, typer.Argument(help="3-64 letters, digits and . _ @ -")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Create an operator; the password (at least 12 characters) is asked for twice."""
    password = _password(password_stdin)
    with prepared_runtime(Settings()) as runtime:
        try:
            operator = create_operator(
                runtime.sessions,
                utc_now,
                username,
                password,
                along=_recording(ActionKind.OPERATOR_CREATE, "created"),
            )
        except (OperatorInvalid, UsernameTaken) as error:
            _fail(str(error))
    console.print(f"operator {operator.username} created (id {operator.id}); sign in at /admin")


@operators.command(name="list")
def list_() -> None:
    """List the operators."""
    with prepared_runtime(Settings()) as runtime, runtime.sessions() as session:
        found = list_operators(session)
    table = Table("id", "username", "disabled", "created", "last sign-in")
    for operator in found:
        table.add_row(
            str(operator.id),
            operator.username,
            "yes" if operator.disabled else "no",
            operator.created_at.isoformat(timespec="seconds"),
            "" if operator.last_sign_in_at is None else operator.last_sign_in_at.isoformat(),
        )
    console.print(table)


@operators.command()
def password(username: str, password_stdin: PasswordStdin = False) -> None:
    """Set an operator's password."""
    new = _password(password_stdin)
    with prepared_runtime(Settings()) as runtime:
        try:
            changed = change_password(
                runtime.sessions,
                username,
                new,
                along=_recording(ActionKind.OPERATOR_PASSWORD, "set a new password"),
            )
        except OperatorInvalid as error:
            _fail(str(error))
        if changed is None:
            _fail(f"no operator is called {username!r}")
    console.print(f"password of {username} changed")


@operators.command()
def disable(username: str) -> None:
    """Stop an operator from signing in; their sessions end at once."""
    _set_disabled(username, True)


@operators.command()
def enable(username: str) -> None:
    """Let a disabled operator sign in again."""
    _set_disabled(username, False)


def _set_disabled(username: str, disabled: bool) -> None:
    with prepared_runtime(Settings()) as runtime, transaction(runtime.sessions) as session:
        try:
            found = find_operator(session, check_username(username))
        except OperatorInvalid as error:
            _fail(str(error))
        if found is None:
            _fail(f"no operator is called {username!r}")
        operator = found[0]
        set_disabled(session, operator.id, disabled)
        if operator.disabled != disabled:  # disabling twice changes nothing the second time
            kind = ActionKind.OPERATOR_DISABLE if disabled else ActionKind.OPERATOR_ENABLE
            detail = "disabled: signed out, cannot sign in" if disabled else "enabled"
            record_command(session, kind, operator_subject(operator), detail)
    console.print(f"{username} {'disabled' if disabled else 'enabled'}")


def _recording(kind: ActionKind, detail: str) -> AlongOperator:
    """The change's activity record, written in the change's own transaction."""

    def record(session: Session, operator: Operator) -> None:
        record_command(session, kind, operator_subject(operator), detail)

    return record


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first: str = typer.prompt("Password", hide_input=True)
    second: str = typer.prompt("Again", hide_input=True)
    if first != second:
        _fail("the two passwords differ")
    return first


def _fail(message: str) -> NoReturn:
    typer.echo(f"surveyrouter operators: {message}", err=True)
    raise typer.Exit(2)
