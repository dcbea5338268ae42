"""Signing in to the dashboard over real HTTP: argon2 passwords, a server-side session in an
HttpOnly SameSite=Strict cookie, CSRF tokens on every form, throttled guessing."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from surveyrouter.api.app import create_app
from surveyrouter.bootstrap import Runtime
from surveyrouter.clock import utc_now
from surveyrouter.domain.operators import OperatorInvalid
from surveyrouter.services.operators import (
    MAX_FAILURES_PER_USERNAME,
    create_operator,
)
from surveyrouter.store.db import transaction
from surveyrouter.store.operators import UsernameTaken, find_operator, set_disabled
from tests.integration.admin_session import OPERATOR, PASSWORD, csrf_of, dashboard, sign_in
from tests.integration.test_server import HTTP_TIMEOUT, serving


@pytest.fixture
def http(runtime: Runtime) -> Iterator[httpx.Client]:
    create_operator(runtime.sessions, utc_now, OPERATOR, PASSWORD)
    with (
        serving(create_app(runtime)) as url,
        httpx.Client(timeout=HTTP_TIMEOUT, base_url=url) as client,
    ):
        yield client


def test_every_dashboard_page_sends_a_stranger_to_the_sign_in_page(http: httpx.Client) -> None:
    for path in (
        "/admin",
        "/admin/networks",
        "/admin/apps",
        "/admin/apps/1",
        "/admin/traffic?app=1",
        "/admin/callbacks",
        "/admin/users?app=1&uid=u",
        "/admin/opportunities",
    ):
        response = http.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/admin/sign-in?next=")


def test_an_operator_signs_in_gets_a_strict_http_only_session_and_signs_out(
    http: httpx.Client, runtime: Runtime
) -> None:
    response = sign_in(http)

    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    cookie = response.headers["set-cookie"]
    assert "sr_admin=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/admin" in cookie
    page = http.get("/admin/networks")
    assert page.status_code == 200
    assert OPERATOR in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    with runtime.sessions() as session:
        found = find_operator(session, OPERATOR)
    assert found is not None
    assert found[1].startswith("$argon2id$")
    assert found[0].last_sign_in_at is not None

    out = http.post("/admin/sign-out", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303
    assert http.get("/admin/networks").status_code == 303


def test_a_wrong_password_or_name_is_refused_alike(http: httpx.Client) -> None:
    wrong_password = sign_in(http, password="not the password at all")
    wrong_name = sign_in(http, username="nobody-here")

    for response in (wrong_password, wrong_name):
        assert response.status_code == 401
        assert "Wrong username or password." in response.text
        assert "sr_admin=" not in response.headers.get("set-cookie", "")


def test_a_sign_in_without_its_csrf_token_is_refused(http: httpx.Client) -> None:
    http.get("/admin/sign-in")
    response = http.post("/admin/sign-in", data={"username": OPERATOR, "password": PASSWORD})

    assert response.status_code == 403
    assert "CSRF" in response.text
    assert http.get("/admin/networks").status_code == 303


def test_a_form_without_the_sessions_csrf_token_is_refused(runtime: Runtime) -> None:
    with dashboard(runtime) as (http, csrf):
        assert http.post("/admin/sign-out", data={}).status_code == 403
        assert http.post("/admin/sign-out", data={"csrf_token": "forged"}).status_code == 403
        assert http.get("/admin/networks").status_code == 200  # still signed in
        assert http.post("/admin/sign-out", data={"csrf_token": csrf}).status_code == 303


def test_guessing_is_throttled_per_username_even_with_the_right_password_after(
    http: httpx.Client,
) -> None:
    for _ in range(MAX_FAILURES_PER_USERNAME):
        assert sign_in(http, password="guess guess guess").status_code == 401

    throttled = sign_in(http)

    assert throttled.status_code == 429
    assert "too many failed sign-ins" in throttled.text
    assert int(throttled.headers["retry-after"]) > 0


def test_a_disabled_operator_is_signed_out_and_cannot_sign_in(runtime: Runtime) -> None:
    with dashboard(runtime) as (http, _csrf):
        with transaction(runtime.sessions) as session:
            found = find_operator(session, OPERATOR)
            assert found is not None
            set_disabled(session, found[0].id, True)
        assert http.get("/admin/networks").status_code == 303
        assert sign_in(http).status_code == 401


def test_the_sign_in_never_sends_the_browser_off_the_dashboard(http: httpx.Client) -> None:
    form = http.get("/admin/sign-in", params={"next": "https://evil.example/admin"})
    response = http.post(
        "/admin/sign-in",
        data={
            "csrf_token": csrf_of(form.text),
            "username": OPERATOR,
            "password": PASSWORD,
            "next": "//evil.example/admin",
        },
    )
    assert response.headers["location"] == "/admin"


def test_operator_names_and_passwords_keep_their_rules(runtime: Runtime) -> None:
    with pytest.raises(OperatorInvalid, match="password"):
        create_operator(runtime.sessions, utc_now, "bob", "short")
    with pytest.raises(OperatorInvalid, match="username"):
        create_operator(runtime.sessions, utc_now, "x", PASSWORD)
    create_operator(runtime.sessions, utc_now, "Bob", PASSWORD)
    with pytest.raises(UsernameTaken):
        create_operator(runtime.sessions, utc_now, "bob", PASSWORD)
