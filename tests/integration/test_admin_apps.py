"""The dashboard's Apps section over real HTTP, on SQLite and PostgreSQL: the list, creating
an app, changing every setting the CLI can set, rotating credentials; refusals name the
setting, keep what was typed and write nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal
from html.parser import HTMLParser

import httpx
import pytest

from surveyrouter.api.app import create_app
from surveyrouter.bootstrap import Runtime
from surveyrouter.clock import utc_now
from surveyrouter.domain.apps import App, Currency, RedirectUrls
from surveyrouter.services.app_settings_text import FLAGS
from surveyrouter.services.apps import SETTINGS
from surveyrouter.services.apps import create_app as create_publisher_app
from surveyrouter.store.apps import get_app, list_apps
from surveyrouter.web.admin.apps import EDIT_FIELDS
from tests.integration.admin_session import dashboard
from tests.integration.test_server import HTTP_TIMEOUT, serving

CALLBACK = "https://pub.example/cb?uid=[%UID%]&val=[%VAL%]&tx=[%TX%]"


@pytest.fixture
def signed_in(runtime: Runtime) -> Iterator[tuple[httpx.Client, str]]:
    with dashboard(runtime) as (http, csrf):
        yield http, csrf


def stored(runtime: Runtime, app_id: int) -> App:
    with runtime.sessions() as session:
        return get_app(session, app_id)


def every_app(runtime: Runtime) -> list[App]:
    with runtime.sessions() as session:
        return list_apps(session)


def an_app(runtime: Runtime, **settings: object) -> App:
    return create_publisher_app(runtime.sessions, utc_now, {"name": "Quiz Kingdom", **settings})


class _Form(HTMLParser):
    """What a browser would post for the form whose action is ``action``: its text inputs as
    they stand and its ticked checkboxes; and the ``for`` of every label on the page."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.fields: dict[str, str] = {}
        self.labelled: set[str] = set()
        self.controls: dict[str, str] = {}  # name → id, for every control of the form

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.inside = found.get("action") == self.action
        elif tag == "label" and "for" in found:
            self.labelled.add(found["for"])
        elif tag == "input" and self.inside:
            name, kind = found.get("name", ""), found.get("type", "text")
            if kind != "hidden":
                self.controls[name] = found.get("id", "")
            if kind in ("text", "hidden") or (kind == "checkbox" and "checked" in found):
                self.fields[name] = found.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False


def read_form(page: str, action: str) -> _Form:
    form = _Form(action)
    form.feed(page)
    return form


def test_the_list_shows_every_app_and_links_to_its_page(
    runtime: Runtime, signed_in: tuple[httpx.Client, str]
) -> None:
    http, _csrf = signed_in
    first = an_app(runtime, callback_url=CALLBACK, leaderboard_enabled=True)
    second = an_app(
        runtime,
        name="Second <app>",
        verified=False,
        currency_factor=Decimal(250),
        currency_symbol="{value} Coins",
    )

    page = http.get("/admin/apps")

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert '<a href="/admin/apps" aria-current="page">Apps</a>' in page.text
    for app in (first, second):
        assert f'<a href="/admin/apps/{app.id}">' in page.text
        assert app.api_token in page.text
    assert "Second &lt;app&gt;" in page.text  # escaped, never markup
    assert "[%UID%]" in page.text
    assert "250 per USD" in page.text
    assert "{value} Coins" in page.text
    assert "<td>on</td>" in page.text
    assert "<td>no</td>" in page.text
    assert "Create an app" in page.text


def test_an_operator_creates_an_app_and_lands_on_its_page(
    runtime: Runtime, signed_in: tuple[httpx.Client, str]
) -> None:
    http, csrf = signed_in
    form = read_form(http.get("/admin/apps").text, "/admin/apps")
    assert form.fields["csrf_token"] == csrf
    assert form.fields["revenue_share"] == "0.7"  # the defaults, as the form starts
    assert form.fields["verified"] == "true"

    response = http.post(
        "/admin/apps",
        data={
            **form.fields,
            "name": "  Quiz Kingdom ",
            "revenue_share": "0.5",
            "currency_factor": "250",
            "allowed_countries": "us, ca",
            "default_country": "us",
            "callback_url": CALLBACK,
            "screenout_reward": "0.02",
        },
    )

    assert response.status_code == 303, response.text
    [created] = every_app(runtime)
    assert response.headers["location"] == f"/admin/apps/{created.id}?notice=Created"
    assert created.name == "Quiz Kingdom"
    assert created.revenue_share == Decimal("0.5")
    assert created.currency.factor == Decimal(250)
    assert created.allowed_countries == frozenset({"US", "CA"})
    assert created.callback_url == CALLBACK
    assert created.screenout_reward == Decimal("0.02")
    assert created.verified is True
    page = http.get(response.headers["location"])
    assert page.status_code == 200
    assert "App created." in page.text
    assert created.api_token in page.text
    assert created.secret in page.text
    assert created.s2s_token in page.text


@pytest.mark.parametrize(
    ("field", "value", "setting"),
    [
        ("revenue_share", "2", "revenue_share"),
        ("revenue_share", "", "revenue_share"),
        ("currency_factor", "lots", "currency_factor"),
        ("currency_factor", "1e12", "currency_factor"),  # more than the column holds
        ("screenout_reward", "0.123456", "screenout_reward"),
        ("name", "   ", "name"),
        ("default_country", "USA", "default_country"),
        ("allowed_countries", "CA", "default_country"),  # US, the default, not among them
        ("callback_url", "pub.example/cb", "callback_url"),
        ("callback_url", "https://pub.example/cb\x00", "callback_url"),
    ],
)
def test_a_refused_create_names_the_setting_keeps_the_typing_and_writes_nothing(
    runtime: Runtime, signed_in: tuple[httpx.Client, str], field: str, value: str, setting: str
) -> None:
    http, csrf = signed_in
    data = {
        "csrf_token": csrf,
        "name": "Typed name",
        "revenue_share": "0.6",
        "currency_factor": "300",
        "currency_symbol": "{value} Points",
        "default_country": "US",
        "allowed_countries": "",
        "callback_url": "",
        "screenout_reward": "",
        field: value,
    }

    response = http.post("/admin/apps", data=data)

    assert response.status_code == 400
    assert f"({setting}):" in response.text
    assert 'role="alert"' in response.text
    assert f'id="setting-{setting}"' in response.text
    assert 'aria-invalid="true"' in response.text
    kept = read_form(response.text, "/admin/apps").fields
    if field != "name":
        assert kept["name"] == "Typed name"
    if "\x00" not in value:
        assert kept[field] == value
    assert every_app(runtime) == []


def test_the_app_page_has_a_labelled_control_for_every_setting_but_the_credentials(
    runtime: Runtime, signed_in: tuple[httpx.Client, str]
) -> None:
    http, _csrf = signed_in
    app = an_app(runtime)

    page = http.get(f"/admin/apps/{app.id}")

    assert page.status_code == 200
    form = read_form(page.text, f"/admin/apps/{app.id}")
    assert set(form.controls) == set(SETTINGS) - {"api_token", "secret", "s2s_token"}
    for name, control_id in form.controls.items():
        assert control_id in form.labelled, name
    rotate = read_form(page.text, f"/admin/apps/{app.id}/rotate")
    assert set(rotate.controls) == {"confirm"}
    assert rotate.controls["confirm"] in rotate.labelled
    assert "stop working" in page.text


def test_saving_the_form_unchanged_changes_nothing(
    runtime: Runtime, signed_in: tuple[httpx.Client, str]
) -> None:
    http, _csrf = signed_in
    app = an_app(
        runtime,
        callback_url=CALLBACK,
        screenout_reward=Decimal("0.02"),
        leaderboard_rewards=(Decimal(10), Decimal("5.5")),
        allowed_countries=frozenset({"US", "CA"}),
        colors=("#112233",),
        currency_factor=Decimal(1000),
    )
    form = read_form(http.get(f"/admin/apps/{app.id}").text, f"/admin/apps/{app.id}")

    response = http.post(f"/admin/apps/{app.id}", data=form.fields)

    assert response.status_code == 303, response.text
    assert stored(runtime, app.id or 0) == app


def test_an_operator_changes_several_settings_at_once(
    runtime: Runtime, signed_in: tuple[httpx.Client, str]
) -> None:
    http, csrf = signed_in
    app = an_app(runtime)
    posted = {
        "csrf_token": csrf,
        "name": "Quiz Kingdom 2",
        "revenue_share": "0.55",
        "currency_factor": "300",
        "currency_bonus_percent": "10",
        # currency_whole_units and currency_symbol_is_image unticked: off
        "currency_symbol": "{value} Coins",
        "default_country": "ca",
        "allowed_countries": "CA, us",
        "client_overrides_allowed": "true",
        "callback_url": CALLBACK,
        "redirect_complete_url": "https://pub.example/done",
        "redirect_screenout_url": "https://pub.example/out",
        "redirect_start_bonus_url": "https://pub.example/bonus",
        "redirect_termination_url": "https://pub.example/end",
        "screenout_reward": " 0.05 ",
        "start_bonus_reward": "25",
        "start_bonus_questions": "3",
        "leaderboard_enabled": "true",
        "leaderboard_rewards": "10, 5.5",
        "colors": "#112233, #fff",
        # verified unticked: off
        "ranking_variants": "2",
    }
    unticked = {"currency_whole_units", "currency_symbol_is_image", "verified"}
    assert set(posted) - {"csrf_token"} == set(EDIT_FIELDS) - unticked

    response = http.post(f"/admin/apps/{app.id}", data=posted)

    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/admin/apps/{app.id}?notice=Saved"
    assert stored(runtime, app.id or 0) == dataclasses.replace(
        app,
        name="Quiz Kingdom 2",
        revenue_share=Decimal("0.55"),
        currency=Currency(
            factor=Decimal(300),
            bonus_percent=10,
            whole_units=False,
            symbol="{value} Coins",
            symbol_is_image=False,
        ),
        default_country="CA",
        allowed_countries=frozenset({"CA", "US"}),
        client_overrides_allowed=True,
        callback_url=CALLBACK,
        redirects=RedirectUrls(
            complete="https://pub.example/done",
            screenout="https://pub.example/out",
            start_bonus="https://pub.example/bonus",
            termination="https://pub.example/end",
        ),
        screenout_reward=Decimal("0.05"),
        start_bonus_reward=Decimal(25),
        start_bonus_questions=3,
        leaderboard_enabled=True,
        leaderboard_rewards=(Decimal(10), Decimal("5.5")),
        colors=("#112233", "#fff"),
        verified=False,
        ranking_variants=2,
    )
    page = http.get(response.headers["location"])
    assert "Saved." in page.text
    shown = read_form(page.text, f"/admin/apps/{app.id}").fields
    assert shown["allowed_countries"] == "CA, US"
    assert shown["leaderboard_rewards"] == "10, 5.5"
    assert "verified" not in shown  # unticked
    assert shown["leaderboard_enabled"] == "true"


def test_an_emptied_optional_field_clears_the_setting(
    runtime: Runtime, signed_in: tuple[httpx.Client, str]
) -> None:
    http, _csrf = signed_in
    app = an_app(
        runtime,
        callback_url=CALLBACK,
        redirect_complete_url="https://pub.example/done",
        screenout_reward=Decimal("0.02"),
    )
    form = read_form(http.get(f"/admin/apps/{app.id}").text, f"/admin/apps/{app.id}")
    assert form.fields["callback_url"] == CALLBACK

    response = http.post(
        f"/admin/apps/{app.id}",
        data={**form.fields, "callback_url": "", "redirect_complete_url": " "},
    )

    assert response.status_code == 303, response.text
    after = stored(runtime, app.id or 0)
    assert after.callback_url is None
    assert after.redirects.complete is None
    assert after.screenout_reward == Decimal("0.02")  # untouched


def test_a_refused_change_keeps_what_was_typed_and_writes_nothing(
    runtime: Runtime, signed_in: tuple[httpx.Client, str]
) -> None:
    http, _csrf = signed_in
    app = an_app(runtime)
    form = read_form(http.get(f"/admin/apps/{app.id}").text, f"/admin/apps/{app.id}")

    response = http.post(
        f"/admin/apps/{app.id}",
        data={
            **form.fields,
            "name": "A new name",
            "revenue_share": "2",
            "colors": "#112233",
            "leaderboard_enabled": "true",
        },
    )

    assert response.status_code == 400
    assert "Revenue share (revenue_share): must be more than 0 and at most 1" in response.text
    kept = read_form(response.text, f"/admin/apps/{app.id}").fields
    assert kept["name"] == "A new name"
    assert kept["revenue_share"] == "2"
    assert kept["colors"] == "#112233"
    assert kept["leaderboard_enabled"] == "true"
    assert stored(runtime, app.id or 0) == app


def test_rotating_replaces_every_credential_and_the_old_token_stops_working(
    runtime: Runtime, signed_in: tuple[httpx.Client, str]
) -> None:
    http, csrf = signed_in
    app = an_app(runtime)
    actions = "/v1/client/actions"
    before = http.get(actions, headers={"X-Api-Token": app.api_token, "X-User-Id": "u-1"})
    assert before.is_success  # the app is now in the API's cache of apps by token

    response = http.post(
        f"/admin/apps/{app.id}/rotate", data={"csrf_token": csrf, "confirm": "yes"}
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/apps/{app.id}?notice=Rotated"
    rotated = stored(runtime, app.id or 0)
    assert rotated.api_token != app.api_token
    assert rotated.secret != app.secret
    assert rotated.s2s_token != app.s2s_token
    assert (
        dataclasses.replace(
            rotated, api_token=app.api_token, secret=app.secret, s2s_token=app.s2s_token
        )
        == app
    )
    page = http.get(response.headers["location"])
    assert "the old API token, secret and S2S token stopped working" in page.text
    for value in (rotated.api_token, rotated.secret, rotated.s2s_token):
        assert value in page.text
    assert app.api_token not in page.text
    old = http.get(actions, headers={"X-Api-Token": app.api_token, "X-User-Id": "u-1"})
    assert old.status_code == 401
    new = http.get(actions, headers={"X-Api-Token": rotated.api_token, "X-User-Id": "u-1"})
    assert new.is_success


def test_rotating_needs_the_box_ticked(
    runtime: Runtime, signed_in: tuple[httpx.Client, str]
) -> None:
    http, csrf = signed_in
    app = an_app(runtime)

    response = http.post(f"/admin/apps/{app.id}/rotate", data={"csrf_token": csrf})

    assert response.status_code == 400
    assert "Nothing rotated" in response.text
    assert stored(runtime, app.id or 0) == app


def test_a_form_without_the_csrf_token_is_refused_and_writes_nothing(
    runtime: Runtime, signed_in: tuple[httpx.Client, str]
) -> None:
    http, _csrf = signed_in
    app = an_app(runtime)

    for path, data in (
        ("/admin/apps", {"name": "Sneaky"}),
        (f"/admin/apps/{app.id}", {"name": "Sneaky", "revenue_share": "0.9"}),
        (f"/admin/apps/{app.id}/rotate", {"confirm": "yes"}),
        (f"/admin/apps/{app.id}/rotate", {"confirm": "yes", "csrf_token": "forged"}),
    ):
        response = http.post(path, data=data)
        assert response.status_code == 403, path
        assert "CSRF" in response.text

    assert every_app(runtime) == [app]


@pytest.mark.parametrize("app_id", ["999", "abc", "-1", "1.0", "9" * 30, "٣"])
def test_an_unknown_app_is_not_found(
    runtime: Runtime, signed_in: tuple[httpx.Client, str], app_id: str
) -> None:
    http, csrf = signed_in
    an_app(runtime)

    for response in (
        http.get(f"/admin/apps/{app_id}"),
        http.post(f"/admin/apps/{app_id}", data={"csrf_token": csrf, "name": "X"}),
        http.post(f"/admin/apps/{app_id}/rotate", data={"csrf_token": csrf, "confirm": "yes"}),
    ):
        assert response.status_code == 404, response.request.url
        assert "text/html" in response.headers["content-type"]


def test_a_stranger_is_sent_to_the_sign_in_page(runtime: Runtime) -> None:
    app = an_app(runtime)
    with (
        serving(create_app(runtime)) as url,
        httpx.Client(timeout=HTTP_TIMEOUT, base_url=url) as http,
    ):
        for path in ("/admin/apps", f"/admin/apps/{app.id}"):
            response = http.get(path)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/admin/sign-in?next=")
        assert http.post(f"/admin/apps/{app.id}/rotate", data={"confirm": "yes"}).status_code == 303
    assert every_app(runtime) == [app]


def test_every_switch_is_a_checkbox() -> None:
    assert {name for name in EDIT_FIELDS if name in FLAGS} == set(FLAGS)


def test_the_app_page_warns_of_callback_macros_surveyrouter_does_not_fill(
    runtime: Runtime, signed_in: tuple[httpx.Client, str]
) -> None:
    http, _csrf = signed_in
    app = an_app(runtime, callback_url="https://pub.example/cb?u=[%UID%]&o=[%OFFER_ID%]")

    page = http.get(f"/admin/apps/{app.id}")

    assert "Macros surveyrouter does not fill: [%OFFER_ID%]</div>" in page.text
    assert 'aria-describedby="setting-callback_url-hint setting-callback_url-warning"' in page.text
