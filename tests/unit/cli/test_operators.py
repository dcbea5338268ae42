"""`surveyrouter operators create|list|password|disable|enable` manage dashboard accounts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from surveyrouter.bootstrap import build_runtime
from surveyrouter.cli import app
from surveyrouter.cli.activity import shell_user
from surveyrouter.clock import utc_now
from surveyrouter.domain.operators import ActionKind
from surveyrouter.services.operators import SignInRefused, sign_in
from surveyrouter.settings import Settings
from surveyrouter.store.operator_actions import list_actions

PASSWORD = "a long enough password"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'surveyrouter.db'}"


def operators(database_url: str, *args: str, typed: str = "") -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, ["operators", *args], input=typed, env={"SURVEYROUTER_DATABASE_URL": database_url}
    )
    return result.exit_code, result.stdout, result.stderr


def can_sign_in(database_url: str, username: str, password: str) -> bool:
    runtime = build_runtime(Settings(database_url=database_url))
    try:
        sign_in(runtime.sessions, utc_now, username, password, None)
    except SignInRefused:
        return False
    finally:
        runtime.close()
    return True


def test_create_asks_the_password_twice_and_the_operator_can_sign_in(database_url: str) -> None:
    code, out, err = operators(database_url, "create", "Alice", typed=f"{PASSWORD}\n{PASSWORD}\n")

    assert code == 0, err
    assert "operator alice created" in out
    assert can_sign_in(database_url, "alice", PASSWORD)
    code, out, _ = operators(database_url, "list")
    assert "alice" in out


def test_create_refuses_differing_passwords_short_ones_and_taken_names(database_url: str) -> None:
    assert operators(database_url, "create", "bob", typed=f"{PASSWORD}\nother one\n")[0] == 2
    code, _, err = operators(database_url, "create", "bob", "--password-stdin", typed="short\n")
    assert code == 2
    assert "password: must be at least 12 characters" in err
    assert operators(database_url, "create", "bob", "--password-stdin", typed=PASSWORD)[0] == 0
    code, _, err = operators(database_url, "create", "bob", "--password-stdin", typed=PASSWORD)
    assert code == 2
    assert "already called 'bob'" in err


def test_password_disable_and_enable(database_url: str) -> None:
    operators(database_url, "create", "carol", "--password-stdin", typed=PASSWORD)
    new = "another long password"

    assert operators(database_url, "password", "carol", "--password-stdin", typed=new)[0] == 0
    assert not can_sign_in(database_url, "carol", PASSWORD)
    assert can_sign_in(database_url, "carol", new)
    assert operators(database_url, "disable", "carol")[0] == 0
    assert not can_sign_in(database_url, "carol", new)
    assert operators(database_url, "enable", "carol")[0] == 0
    assert can_sign_in(database_url, "carol", new)
    assert operators(database_url, "disable", "nobody")[0] == 2


def activity(database_url: str) -> list[tuple[ActionKind, str, str]]:
    """The activity log, oldest first, as (kind, subject, detail); every entry made at the
    command line under this machine's account."""
    runtime = build_runtime(Settings(database_url=database_url))
    try:
        with runtime.sessions() as session:
            found = list_actions(session)
    finally:
        runtime.close()
    assert all(action.command_line and action.operator == shell_user() for action in found)
    return [(action.kind, action.subject, action.detail) for action in reversed(found)]


def test_every_change_to_an_account_is_in_the_activity_log_once(database_url: str) -> None:
    operators(database_url, "create", "dave", "--password-stdin", typed=PASSWORD)
    operators(database_url, "password", "dave", "--password-stdin", typed="a new long password")
    operators(database_url, "disable", "dave")
    operators(database_url, "disable", "dave")  # disabled already: nothing changes
    operators(database_url, "enable", "dave")

    subject = "operator 1 (dave)"
    assert activity(database_url) == [
        (ActionKind.OPERATOR_CREATE, subject, "created"),
        (ActionKind.OPERATOR_PASSWORD, subject, "set a new password"),
        (ActionKind.OPERATOR_DISABLE, subject, "disabled: signed out, cannot sign in"),
        (ActionKind.OPERATOR_ENABLE, subject, "enabled"),
    ]


def test_refused_changes_to_accounts_record_nothing(database_url: str) -> None:
    assert operators(database_url, "create", "eve", "--password-stdin", typed="short\n")[0] == 2
    assert operators(database_url, "password", "nobody", "--password-stdin", typed=PASSWORD)[0] == 2
    assert operators(database_url, "enable", "nobody")[0] == 2
    assert activity(database_url) == []
