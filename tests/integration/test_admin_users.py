"""The dashboard's user pages over real HTTP, on SQLite and PostgreSQL: a user found by app and
uid with their facts, answers, history and ledger; a ban the client API then reports, lifted
again; a complete reversed once however often the form is posted."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from surveyrouter.bootstrap import Runtime
from surveyrouter.clock import utc_now
from surveyrouter.domain.apps import App
from surveyrouter.domain.money import RewardKind
from surveyrouter.domain.users import User
from surveyrouter.services.publishers import forget_user
from surveyrouter.store.ledger import LedgerEntry, user_entries
from surveyrouter.store.outbox import get_callback
from surveyrouter.store.users import find_user, user_by_id
from tests.integration.admin_session import dashboard
from tests.integration.test_outcomes import open_click, person, publisher, signed_return

TOKEN = "admin-users-api-token-01"
UID = "user-1"


@pytest.fixture
def admin(runtime: Runtime) -> Iterator[tuple[httpx.Client, str]]:
    with dashboard(runtime) as signed_in:
        yield signed_in


@pytest.fixture
def app(runtime: Runtime) -> App:
    return publisher(runtime, api_token=TOKEN)


def client_api(http: httpx.Client, uid: str = UID) -> dict[str, str]:
    return {"X-Api-Token": TOKEN, "X-User-Id": uid}


def actions(http: httpx.Client, uid: str = UID) -> dict[str, Any]:
    response = http.get("/v1/client/actions", headers=client_api(http, uid))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def complete(runtime: Runtime, http: httpx.Client, user: User) -> str:
    """The user completes a survey through the exchange's signed return."""
    click = open_click(runtime, user)
    returned = http.get(signed_return(runtime, click.id, (1, 0)))
    assert returned.status_code == 303, returned.text
    return click.id


def stored_user(runtime: Runtime, app: App, uid: str = UID) -> User:
    assert app.id is not None
    with runtime.sessions() as session:
        user = find_user(session, app.id, uid)
    assert user is not None
    return user


def ledger(runtime: Runtime, user: User) -> list[LedgerEntry]:
    with runtime.sessions() as session:
        return user_entries(session, user.id)


def user_page(http: httpx.Client, app: App, uid: str = UID) -> str:
    response = http.get("/admin/users", params={"app": str(app.id), "uid": uid})
    assert response.status_code == 200, response.text
    return response.text


def test_the_lookup_form_lists_the_apps(admin: tuple[httpx.Client, str], app: App) -> None:
    http, _csrf = admin
    page = http.get("/admin/users")
    assert page.status_code == 200
    assert f'<option value="{app.id}">Quiz ({app.id})</option>' in page.text
    assert 'name="uid"' in page.text
    assert 'aria-current="page">Users<' in page.text


def test_a_user_is_shown_with_facts_answers_history_and_ledger(
    runtime: Runtime, admin: tuple[httpx.Client, str], app: App
) -> None:
    http, _csrf = admin
    answered = http.post(
        "/v1/client/networks/0/questions/gender", json={"answers": ["1"]}, headers=client_api(http)
    )
    assert answered.status_code == 200, answered.text
    actions(http)  # seen by the client API: country, device and last seen are remembered
    user = stored_user(runtime, app)
    tx = complete(runtime, http, user)

    page = user_page(http, app)

    assert f"<code>{UID}</code>" in page
    assert f"<code>{user.respondent_id}</code>" in page
    assert f"<dt>User id</dt><dd>{user.id}</dd>" in page
    assert f"<dt>App</dt><dd>Quiz ({app.id})</dd>" in page
    assert f"<dt>Created</dt><dd>{user.created_at:%Y-%m-%d %H:%M:%S} UTC</dd>" in page
    assert re.search(r"<dt>Last seen</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</dd>", page)
    assert f"<dt>Country</dt><dd>{user.country or '–'}</dd>" in page
    assert 'data-ban="none"' in page
    assert "<dt>Erased</dt><dd>no</dd>" in page
    assert re.search(
        r'<tr data-question="gender">\s*<td><code>gender</code></td>\s*<td>1</td>', page
    )
    assert f'<tr data-history="{tx}" data-type="COMPLETE">' in page
    assert f'<tr data-ledger="{tx}" data-kind="COMPLETE">' in page
    assert ">0.86<" in page  # USD
    assert ">860.00<" in page  # the user's value
    assert "Reverse this complete" in page


def test_an_erased_user_is_found_by_the_tombstone_and_shown_as_erased(
    runtime: Runtime, admin: tuple[httpx.Client, str], app: App
) -> None:
    http, _csrf = admin
    actions(http)
    user = stored_user(runtime, app)
    forget_user(runtime.sessions, app, UID, user.created_at + timedelta(hours=1))
    with runtime.sessions() as session:
        erased = user_by_id(session, user.id)

    page = user_page(http, app, erased.uid)

    assert f"<code>{erased.uid}</code>" in page
    when = f"{erased.created_at + timedelta(hours=1):%Y-%m-%d %H:%M:%S} UTC"
    assert f"<dt>Erased</dt><dd>{when} (the publisher" in page
    assert f"<code>{UID}</code>" not in page


def test_an_unknown_app_or_uid_is_404_and_an_empty_uid_400(
    runtime: Runtime, admin: tuple[httpx.Client, str], app: App
) -> None:
    http, _csrf = admin
    person(runtime, app)
    for params in (
        {"app": str(app.id), "uid": "nobody"},
        {"app": "999999", "uid": UID},
        {"app": "quiz", "uid": UID},
        {"app": str(2**64), "uid": UID},
        {"uid": UID},
    ):
        response = http.get("/admin/users", params=params)
        assert response.status_code == 404, params
        assert "That did not work (404)" in response.text
    empty = http.get("/admin/users", params={"app": str(app.id), "uid": " "})
    assert empty.status_code == 400
    assert "Type the user&#39;s id" in empty.text


def test_a_ban_until_a_date_is_what_the_client_api_reports_then_an_unban_lifts_it(
    runtime: Runtime, admin: tuple[httpx.Client, str], app: App
) -> None:
    http, csrf = admin
    assert actions(http)["restriction_reason"] is None
    user = stored_user(runtime, app)

    banned = http.post(
        f"/admin/users/{user.id}/ban",
        data={"csrf_token": csrf, "until": "2030-01-02T03:04", "reason": "too many speeders"},
    )

    assert banned.status_code == 303
    assert banned.headers["location"] == f"/admin/users?app={app.id}&uid={UID}&done=banned"
    shown = http.get(banned.headers["location"]).text
    assert "The user is banned until 2030-01-02 03:04:00 UTC." in shown
    assert 'data-ban="banned"' in shown
    assert 'value="2030-01-02T03:04"' in shown
    assert stored_user(runtime, app).banned_until == datetime(2030, 1, 2, 3, 4, tzinfo=UTC)
    reason = actions(http)["restriction_reason"]
    assert reason["banned_until"] == "2030-01-02T03:04:00Z"
    assert reason["reason"] == "too many speeders"
    assert actions(http)["surveys"] == []

    lifted = http.post(f"/admin/users/{user.id}/unban", data={"csrf_token": csrf})

    assert lifted.status_code == 303
    assert "The user is no longer banned." in http.get(lifted.headers["location"]).text
    assert actions(http)["restriction_reason"] is None
    unbanned = stored_user(runtime, app)
    assert unbanned.banned_until is None
    assert unbanned.ban_reason is None


def test_a_ban_time_with_an_offset_is_kept_in_utc(
    runtime: Runtime, admin: tuple[httpx.Client, str], app: App
) -> None:
    http, csrf = admin
    user = person(runtime, app)
    response = http.post(
        f"/admin/users/{user.id}/ban",
        data={"csrf_token": csrf, "until": "2031-06-01T12:30:15+02:00", "reason": "fraud"},
    )
    assert response.status_code == 303
    assert stored_user(runtime, app).banned_until == datetime(2031, 6, 1, 10, 30, 15, tzinfo=UTC)


def test_a_bad_or_past_ban_date_or_no_reason_is_400_and_changes_nothing(
    runtime: Runtime, admin: tuple[httpx.Client, str], app: App
) -> None:
    http, csrf = admin
    user = person(runtime, app)
    past = (utc_now() - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    for until, reason in (
        ("", "fraud"),
        ("next tuesday", "fraud"),
        ("2030-13-01T00:00", "fraud"),
        ("2030-02-30T00:00", "fraud"),
        ("9999-12-31T23:59-01:00", "fraud"),
        (past, "fraud"),
        ("2030-01-02T03:04", "  "),
        ("2030-01-02T03:04", "x" * 1001),
    ):
        response = http.post(
            f"/admin/users/{user.id}/ban",
            data={"csrf_token": csrf, "until": until, "reason": reason},
        )
        assert response.status_code == 400, (until, reason)
        assert "That did not work (400)" in response.text
    assert stored_user(runtime, app).banned_until is None
    unknown = {"csrf_token": csrf, "until": "2030-01-02T03:04", "reason": "fraud"}
    for missing in ("999999", str(2**64), "me"):
        response = http.post(f"/admin/users/{missing}/ban", data=unknown)
        assert response.status_code == 404, missing


def test_a_complete_is_reversed_once_however_often_it_is_posted(
    runtime: Runtime, admin: tuple[httpx.Client, str], app: App
) -> None:
    http, csrf = admin
    user = person(runtime, app)
    tx = complete(runtime, http, user)
    form = {"csrf_token": csrf, "transaction_id": tx, "reason": "client rejected"}

    first = http.post(f"/admin/users/{user.id}/reverse", data=form)
    again = http.post(f"/admin/users/{user.id}/reverse", data=form)

    assert first.status_code == again.status_code == 303
    assert f"Complete {tx} is reversed" in http.get(first.headers["location"]).text
    assert f"Complete {tx} was reversed already" in http.get(again.headers["location"]).text
    reversals = [e for e in ledger(runtime, user) if e.reward.kind is RewardKind.RECONCILIATION]
    assert len(reversals) == 1
    [reversal] = reversals
    assert reversal.transaction_id == f"r{tx}"
    assert reversal.reference == tx
    assert reversal.reason == "client rejected"
    assert sum(entry.reward.usd for entry in ledger(runtime, user)) == 0
    with runtime.sessions() as session:
        queued = get_callback(session, f"r{tx}")
    assert queued is not None
    assert queued.kind == "RECONCILIATION"
    page = user_page(http, app)
    assert f'<tr data-ledger="r{tx}" data-kind="RECONCILIATION">' in page
    assert f"reversed by <code>r{tx}</code>" in page
    assert "Reverse this complete" not in page
    assert f'<tr data-history="{tx}" data-type="COMPLETE">' in page


def test_only_the_users_own_complete_with_a_reason_is_reversed(
    runtime: Runtime, admin: tuple[httpx.Client, str], app: App
) -> None:
    http, csrf = admin
    user = person(runtime, app)
    someone_else = person(runtime, app, "user-2")
    theirs = complete(runtime, http, someone_else)
    mine = complete(runtime, http, user)
    http.post(
        f"/admin/users/{user.id}/reverse",
        data={"csrf_token": csrf, "transaction_id": mine, "reason": "client rejected"},
    )
    cases = (
        (theirs, "fraud", 404),  # another user's complete
        ("nosuchtx", "fraud", 404),
        ("", "fraud", 404),
        (f"r{mine}", "fraud", 400),  # a reversal is not a complete
        (theirs, " ", 400),
    )
    for tx, reason, status in cases:
        response = http.post(
            f"/admin/users/{user.id}/reverse",
            data={"csrf_token": csrf, "transaction_id": tx, "reason": reason},
        )
        assert response.status_code == status, (tx, reason)
    assert [e.reward.kind for e in ledger(runtime, someone_else)] == [RewardKind.COMPLETE]
    assert len(ledger(runtime, user)) == 2


def test_every_form_needs_the_sessions_csrf_token(
    runtime: Runtime, admin: tuple[httpx.Client, str], app: App
) -> None:
    http, csrf = admin
    user = person(runtime, app)
    tx = complete(runtime, http, user)
    ban = {"until": "2029-05-05T05:05", "reason": "fraud"}
    assert http.post(f"/admin/users/{user.id}/ban", data={**ban, "csrf_token": csrf}).is_redirect
    forms = {
        "ban": {"until": "2030-01-02T03:04", "reason": "fraud"},
        "unban": {},
        "reverse": {"transaction_id": tx, "reason": "client rejected"},
    }
    for action, form in forms.items():
        for token in ({}, {"csrf_token": "forged"}):
            response = http.post(f"/admin/users/{user.id}/{action}", data={**form, **token})
            assert response.status_code == 403, (action, token)
            assert "CSRF" in response.text
    assert stored_user(runtime, app).banned_until == datetime(2029, 5, 5, 5, 5, tzinfo=UTC)
    assert [e.reward.kind for e in ledger(runtime, user)] == [RewardKind.COMPLETE]
