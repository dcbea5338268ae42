"""The dashboard's activity page: every change an operator makes is recorded once, with who,
what and to which record, and shown newest first; a refused change records nothing."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from surveyrouter.api.app import create_app
from surveyrouter.bootstrap import Runtime
from surveyrouter.cli.activity import record_command, shell_user
from surveyrouter.clock import utc_now
from surveyrouter.domain.apps import App
from surveyrouter.domain.operators import ActionKind, OperatorAction, app_subject
from surveyrouter.store.db import transaction
from surveyrouter.store.operator_actions import list_actions
from surveyrouter.store.operators import find_operator
from surveyrouter.store.outbox import get_callback
from surveyrouter.store.schema import OperatorActionRow
from tests.integration.admin_session import OPERATOR, dashboard
from tests.integration.test_admin_apps import read_form
from tests.integration.test_admin_users import TOKEN, complete, stored_user
from tests.integration.test_outcomes import person, publisher
from tests.integration.test_server import HTTP_TIMEOUT, serving


@pytest.fixture
def admin(runtime: Runtime) -> Iterator[tuple[httpx.Client, str]]:
    with dashboard(runtime) as signed_in:
        yield signed_in


@pytest.fixture
def app(runtime: Runtime) -> App:
    return publisher(runtime, api_token=TOKEN)


def recorded(runtime: Runtime) -> list[OperatorAction]:
    with runtime.sessions() as session:
        return list_actions(session)


def test_a_ban_and_an_unban_are_recorded_with_who_and_why(
    runtime: Runtime, admin: tuple[httpx.Client, str], app: App
) -> None:
    http, csrf = admin
    http.get("/v1/client/actions", headers={"X-Api-Token": TOKEN, "X-User-Id": "user-1"})
    user = stored_user(runtime, app)
    form = {"csrf_token": csrf, "until": "2030-01-02T03:04", "reason": "too many speeders"}

    assert http.post(f"/admin/users/{user.id}/ban", data=form).status_code == 303
    assert http.post(f"/admin/users/{user.id}/unban", data={"csrf_token": csrf}).status_code == 303

    unban, ban = recorded(runtime)
    subject = f"user {user.id} (user-1 of app {app.id})"
    assert (ban.kind, ban.operator, ban.subject) == (ActionKind.USER_BAN, OPERATOR, subject)
    assert ban.detail == "banned until 2030-01-02 03:04 UTC: too many speeders"
    assert (unban.kind, unban.subject, unban.detail) == (ActionKind.USER_UNBAN, subject, "unbanned")
    page = http.get("/admin/activity").text
    assert page.index('data-kind="user.unban"') < page.index('data-kind="user.ban"')
    assert "too many speeders" in page
    assert OPERATOR in page


def test_a_refused_change_records_nothing(
    runtime: Runtime, admin: tuple[httpx.Client, str], app: App
) -> None:
    http, csrf = admin
    http.get("/v1/client/actions", headers={"X-Api-Token": TOKEN, "X-User-Id": "user-1"})
    user = stored_user(runtime, app)

    past = {"csrf_token": csrf, "until": "2001-01-01T00:00", "reason": "late"}
    assert http.post(f"/admin/users/{user.id}/ban", data=past).status_code == 400
    forged = {"csrf_token": "forged", "until": "2030-01-01T00:00", "reason": "x"}
    assert http.post(f"/admin/users/{user.id}/ban", data=forged).status_code == 403

    assert recorded(runtime) == []
    assert "Nothing." in http.get("/admin/activity").text


def test_a_complete_reversed_twice_is_recorded_once(
    runtime: Runtime, admin: tuple[httpx.Client, str], app: App
) -> None:
    http, csrf = admin
    user = person(runtime, app)
    tx = complete(runtime, http, user)
    form = {"csrf_token": csrf, "transaction_id": tx, "reason": "client rejected"}

    http.post(f"/admin/users/{user.id}/reverse", data=form)
    http.post(f"/admin/users/{user.id}/reverse", data=form)

    [reversal] = recorded(runtime)
    assert reversal.kind is ActionKind.USER_REVERSE
    assert reversal.detail == f"reversed complete {tx}: client rejected"


def test_callback_retries_and_dead_letters_are_recorded_when_they_change_something(
    runtime: Runtime, admin: tuple[httpx.Client, str], app: App
) -> None:
    http, csrf = admin
    tx = complete(runtime, http, person(runtime, app))
    with runtime.sessions() as session:
        queued = get_callback(session, tx)
    assert queued is not None
    form = {"csrf_token": csrf}

    assert http.post(f"/admin/callbacks/{queued.id}/dead-letter", data=form).status_code == 303
    assert http.post(f"/admin/callbacks/{queued.id}/dead-letter", data=form).status_code == 303
    assert http.post(f"/admin/callbacks/{queued.id}/retry", data=form).status_code == 303

    retry, dead = recorded(runtime)
    assert (dead.kind, dead.subject) == (ActionKind.CALLBACK_DEAD_LETTER, f"callback {queued.id}")
    assert dead.detail == f"COMPLETE {tx} of app {app.id}: pending → dead"
    assert (retry.kind, retry.detail) == (
        ActionKind.CALLBACK_RETRY,
        f"COMPLETE {tx} of app {app.id}: dead → pending",
    )


def test_app_changes_are_recorded_by_the_settings_they_changed(
    runtime: Runtime, admin: tuple[httpx.Client, str]
) -> None:
    http, csrf = admin
    created = http.post("/admin/apps", data={"csrf_token": csrf, "name": "Quiz Kingdom"})
    assert created.status_code == 303, created.text
    path = created.headers["location"].partition("?")[0]
    form = read_form(http.get(path).text, path)

    assert http.post(path, data=form.fields).status_code == 303  # saved unchanged
    renamed = {**form.fields, "name": "Quiz Empire", "callback_url": "https://pub.example/cb"}
    assert http.post(path, data=renamed).status_code == 303
    rotate = {"csrf_token": csrf, "confirm": "yes"}
    assert http.post(f"{path}/rotate", data=rotate).status_code == 303

    rotation, change, creation = recorded(runtime)
    app_id = path.rpartition("/")[2]
    assert (creation.kind, creation.subject) == (
        ActionKind.APP_CREATE,
        f"app {app_id} (Quiz Kingdom)",
    )
    assert creation.detail == "created 'Quiz Kingdom'"
    assert (change.kind, change.subject) == (ActionKind.APP_UPDATE, f"app {app_id} (Quiz Empire)")
    assert change.detail == "changed name, callback_url"
    assert rotation.kind is ActionKind.APP_ROTATE
    assert "token" not in rotation.subject


def test_the_page_filters_by_kind_and_refuses_what_is_not_one(
    runtime: Runtime, admin: tuple[httpx.Client, str], app: App
) -> None:
    http, csrf = admin
    http.get("/v1/client/actions", headers={"X-Api-Token": TOKEN, "X-User-Id": "user-1"})
    user = stored_user(runtime, app)
    http.post(f"/admin/users/{user.id}/unban", data={"csrf_token": csrf})
    http.post("/admin/apps", data={"csrf_token": csrf, "name": "Other"})

    only_users = http.get("/admin/activity", params={"kind": "user.unban"}).text
    assert 'data-kind="user.unban"' in only_users
    assert 'data-kind="app.create"' not in only_users
    assert http.get("/admin/activity", params={"kind": "drop table"}).status_code == 400
    assert http.get("/admin/activity", params={"page": "0"}).status_code == 400


def test_a_stranger_is_sent_to_the_sign_in_page(runtime: Runtime) -> None:
    with (
        serving(create_app(runtime)) as url,
        httpx.Client(timeout=HTTP_TIMEOUT, base_url=url) as http,
    ):
        response = http.get("/admin/activity")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/sign-in")


def test_changes_made_at_the_command_line_are_shown_beside_the_dashboards(
    runtime: Runtime, admin: tuple[httpx.Client, str], app: App
) -> None:
    http, csrf = admin
    http.post("/admin/apps", data={"csrf_token": csrf, "name": "From the dashboard"})
    with transaction(runtime.sessions) as session:
        record_command(session, ActionKind.APP_UPDATE, app_subject(app), "changed currency_factor")

    shell, dashboard_action = recorded(runtime)
    assert (shell.operator, shell.command_line) == (shell_user(), True)
    assert (dashboard_action.operator, dashboard_action.command_line) == (OPERATOR, False)
    page = http.get("/admin/activity").text
    assert page.index("(command line)") < page.index('data-kind="app.create"')
    assert page.count("(command line)") == 1
    assert shell_user() in page


@pytest.mark.parametrize(
    ("operator", "shell"), [(False, False), (True, True)], ids=["no one", "both"]
)
def test_the_database_keeps_no_action_without_exactly_one_actor(
    runtime: Runtime, admin: tuple[httpx.Client, str], operator: bool, shell: bool
) -> None:
    with runtime.sessions() as session:
        found = find_operator(session, OPERATOR)
    assert found is not None  # a real operator: what is refused is the pair, not a dangling id
    row = {
        "at": utc_now(),
        "action": "app.update",
        "subject": "app 1",
        "detail": "x",
        "operator_id": found[0].id if operator else None,
        "shell_user": "root@host" if shell else None,
    }
    refused = pytest.raises(IntegrityError, match=r"(?i)check|one_actor")
    with refused, transaction(runtime.sessions) as session:
        session.execute(insert(OperatorActionRow).values(row))
    assert recorded(runtime) == []
