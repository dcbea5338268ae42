"""`surveyrouter apps create|list|show|update` manage publisher apps in a SQLite file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from surveyrouter.bootstrap import build_runtime
from surveyrouter.cli import app
from surveyrouter.cli.activity import shell_user
from surveyrouter.cli.apps import parse_settings
from surveyrouter.domain.apps import AppSettingInvalid
from surveyrouter.domain.operators import ActionKind, OperatorAction
from surveyrouter.settings import Settings
from surveyrouter.store.operator_actions import list_actions


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'surveyrouter.db'}"


def apps(database_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, ["apps", *args], env={"SURVEYROUTER_DATABASE_URL": database_url}
    )
    return result.exit_code, result.stdout, result.stderr


def created(database_url: str, *args: str) -> dict[str, Any]:
    code, out, err = apps(database_url, "create", *args)
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


def test_create_prints_the_app_as_json_with_generated_credentials(database_url: str) -> None:
    document = created(
        database_url,
        "--name", "Quiz Kingdom",
        "--callback-url", "https://pub.example/cb?uid=[%UID%]&val=[%VAL%]&tx=[%TX%]",
        "--currency-factor", "500",
        "--screenout-reward=0.02",
        "--allowed-countries", "us,ca",
        "--client-overrides-allowed",
    )  # fmt: skip
    assert document["id"] == 1
    assert document["name"] == "Quiz Kingdom"
    assert document["currency_factor"] == "500"
    assert document["screenout_reward"] == "0.02"
    assert document["allowed_countries"] == ["CA", "US"]
    assert document["client_overrides_allowed"] is True
    assert document["revenue_share"] == "0.7"
    assert len(document["api_token"]) == 36
    assert len(document["secret"]) >= 32


def test_given_token_and_secret_are_kept(database_url: str) -> None:
    document = created(
        database_url, "--name", "A", "--token", "a-token-of-my-own-1", "--secret", "s" * 20
    )
    assert (document["api_token"], document["secret"]) == ("a-token-of-my-own-1", "s" * 20)
    code, out, _ = apps(database_url, "show", "--token", "a-token-of-my-own-1")
    assert code == 0
    assert json.loads(out) == document


def test_update_changes_only_what_it_names(database_url: str) -> None:
    before = created(database_url, "--name", "A", "--currency-factor", "250")
    code, out, err = apps(database_url, "update", "1", "--no-verified", "--screenout-reward", "")
    assert code == 0, err
    after = json.loads(out)
    assert after["verified"] is False
    assert after["screenout_reward"] is None
    assert {k: v for k, v in after.items() if k not in ("verified",)} == {
        k: v for k, v in before.items() if k not in ("verified",)
    }


def test_a_callback_url_with_macros_we_do_not_fill_is_kept_with_a_warning(
    database_url: str,
) -> None:
    code, out, err = apps(
        database_url,
        "create",
        "--name",
        "A",
        "--callback-url",
        "https://pub.example/cb?u=[%UID%]&o=[%OFFER_ID%]",
    )
    assert code == 0
    assert json.loads(out)["callback_url"].endswith("[%OFFER_ID%]")
    assert "[%OFFER_ID%]" in err
    assert "[%UID%]" not in err


def test_list_shows_every_app(database_url: str) -> None:
    created(database_url, "--name", "First")
    created(database_url, "--name", "Second")
    code, out, _ = apps(database_url, "list")
    assert code == 0
    assert "First" in out
    assert "Second" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--currency-factor", "5"], "name: is required"),
        (["create", "--name", "A", "--revenue-share", "1.5"], "--revenue-share: must be"),
        (["create", "--name", "A", "--currency-factor", "lots"], "--currency-factor: 'lots'"),
        (["create", "--name", "A", "--bogus", "1"], "--bogus: no such setting"),
        (["create", "--name", "A", "--token", "short"], "--token: must be at least 16"),
        (["create", "--name", "A", "--callback-url", "pub.example"], "--callback-url"),
        (["create", "--name", "A", "--callback-url", "https://pub.example/cb#x"], "--callback-url"),
        (["update", "1", "--callback-url", "http://exämple..com/cb"], "not a URL httpx can send"),
        (["update", "1", "--callback-url", "http://xn--a.com/cb"], "not a URL httpx can send"),
        (["create", "--name"], "--name: needs a value"),
        (["update", "9", "--name", "B"], "no app has id 9"),
        (["update", "1"], "nothing to change"),
        (["show"], "give an app id or --token"),
    ],
)
def test_bad_settings_are_refused_naming_the_option(
    database_url: str, args: list[str], message: str
) -> None:
    created(database_url, "--name", "Existing")
    code, out, err = apps(database_url, *args)
    assert code == 2
    assert message in err
    assert out == ""


def test_a_refused_create_writes_nothing(database_url: str) -> None:
    apps(database_url, "create", "--name", "A", "--revenue-share", "9")
    code, out, _ = apps(database_url, "list")
    assert code == 0
    assert " A " not in out


def test_switches_take_true_and_false_too() -> None:
    assert parse_settings(["--verified", "false", "--leaderboard-enabled"]) == {
        "verified": False,
        "leaderboard_enabled": True,
    }
    with pytest.raises(AppSettingInvalid, match="maybe"):
        parse_settings(["--verified=maybe"])


def activity(database_url: str) -> list[OperatorAction]:
    runtime = build_runtime(Settings(database_url=database_url))
    try:
        with runtime.sessions() as session:
            return list_actions(session)
    finally:
        runtime.close()


def test_creating_and_changing_an_app_is_in_the_activity_log_under_the_machine_account(
    database_url: str,
) -> None:
    created(database_url, "--name", "Quiz Kingdom", "--currency-factor", "250")
    apps(
        database_url,
        "update",
        "1",
        "--currency-factor",
        "500",
        "--no-verified",
        "--secret",
        "s" * 20,
    )

    update, rotation, create = activity(database_url)
    assert (create.kind, create.subject, create.detail) == (
        ActionKind.APP_CREATE, "app 1 (Quiz Kingdom)", "created 'Quiz Kingdom'",
    )  # fmt: skip
    assert (rotation.kind, rotation.detail) == (ActionKind.APP_ROTATE, "rotated secret")
    assert update.kind is ActionKind.APP_UPDATE
    assert update.detail == "changed verified, currency_factor"  # names, never values
    assert "s" * 20 not in rotation.detail + update.detail
    assert update.command_line
    assert create.command_line
    assert update.operator == shell_user()
    assert "@" in update.operator


def test_an_update_that_changes_nothing_and_a_refused_one_record_nothing(
    database_url: str,
) -> None:
    created(database_url, "--name", "A", "--currency-factor", "250")
    assert apps(database_url, "update", "1", "--currency-factor", "250")[0] == 0
    assert apps(database_url, "update", "1", "--currency-factor", "-3")[0] == 2
    assert apps(database_url, "update", "7", "--currency-factor", "300")[0] == 2
    assert [action.kind for action in activity(database_url)] == [ActionKind.APP_CREATE]
