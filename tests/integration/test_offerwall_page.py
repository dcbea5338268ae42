"""The hosted offerwall's page over real HTTP (what the browser tests in ``tests/e2e`` click
through): a broken link gets a readable page with the right status, a good one the page's
settings; its scripts, styles and category icons are served; the page can be framed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from surveyrouter.api.app import create_app
from surveyrouter.bootstrap import Runtime
from surveyrouter.clock import utc_now
from surveyrouter.domain.apps import App
from surveyrouter.services.apps import create_app as create_publisher_app
from tests.integration.test_server import HTTP_TIMEOUT, assert_error_envelope, serving

TOKEN = "offerwall-page-token-0001"


@pytest.fixture
def http(runtime: Runtime) -> Iterator[httpx.Client]:
    with (
        serving(create_app(runtime)) as url,
        httpx.Client(timeout=HTTP_TIMEOUT, base_url=url) as client,
    ):
        yield client


@pytest.fixture
def app(runtime: Runtime) -> App:
    return create_publisher_app(
        runtime.sessions,
        utc_now,
        {
            "name": "Quiz </script><b>Kingdom</b>",
            "api_token": TOKEN,
            "secret": "offerwall-page-secret-01",
            "colors": ("#6d28d9",),
            "currency_symbol": "{value} Coins",
            "leaderboard_enabled": True,
        },
    )


def settings_of(page: str) -> dict[str, Any]:
    match = re.search(r'<script id="page-settings" type="application/json">(.*?)</script>', page)
    assert match, "the page carries no settings"
    document: dict[str, Any] = json.loads(match.group(1))
    return document


def test_the_wall_hands_its_script_the_user_the_apps_look_and_the_custom_tags(
    http: httpx.Client, app: App
) -> None:
    response = http.get(
        "/offerwall",
        params={"token": TOKEN, "uid": "u-1", "sdk": "NATIVE", "os": "ANDROID", "Campaign": "X"},
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors" not in policy
    assert "x-frame-options" not in response.headers  # publishers frame it
    settings = settings_of(response.text)
    assert settings["token"] == TOKEN
    assert settings["uid"] == "u-1"
    assert settings["query"] == {"sdk": "NATIVE", "os": "ANDROID"}
    assert settings["tags"] == "Campaign=X"  # the API lower-cases them
    assert settings["app"] == {
        "name": "Quiz </script><b>Kingdom</b>",
        "currency": {"symbol": "{value} Coins", "isImage": False},
        "leaderboard": True,
    }
    assert settings["messages"]["continue"] == "Continue"
    assert "--accent:#6d28d9;--on-accent:#ffffff" in response.text
    # The app's name is text everywhere, never markup that could end the settings script.
    assert "<b>Kingdom</b>" not in response.text
    assert "&lt;b&gt;Kingdom&lt;/b&gt;" in response.text


@pytest.mark.parametrize(
    ("query", "accept_language", "language", "word"),
    [
        ({"lang": "de"}, None, "de", "Weiter"),
        ({}, "de-AT,de;q=0.9,en;q=0.5", "de", "Weiter"),
        ({}, "fr-FR,fr;q=0.9", "en", "Continue"),
        ({"lang": "fr"}, "de", "de", "Weiter"),
    ],
)
def test_the_wall_speaks_the_lang_parameter_then_the_browsers_language(
    http: httpx.Client,
    app: App,
    query: dict[str, str],
    accept_language: str | None,
    language: str,
    word: str,
) -> None:
    headers = {} if accept_language is None else {"Accept-Language": accept_language}
    response = http.get("/offerwall", params={"token": TOKEN, "uid": "u", **query}, headers=headers)

    assert f'<html lang="{language}">' in response.text
    assert settings_of(response.text)["messages"]["continue"] == word


@pytest.mark.parametrize(
    ("query", "status", "detail"),
    [
        ({"uid": "u"}, 400, "no token parameter"),
        ({"token": TOKEN}, 400, "no uid parameter"),
        ({"token": TOKEN, "uid": "x" * 66}, 400, "uid: the user id is longer than 65"),
        ({"token": "not-an-apps-token-at-all", "uid": "u"}, 401, "unknown api token"),
        ({"token": TOKEN, "uid": "u", "bad key": "v"}, 400, "tags:"),
        (
            {"token": TOKEN, "uid": "u", **{f"t{n}": "v" for n in range(11)}},
            400,
            "tags:",
        ),
    ],
)
def test_a_broken_wall_link_gets_a_page_saying_what_is_wrong(
    http: httpx.Client, app: App, query: dict[str, str], status: int, detail: str
) -> None:
    response = http.get("/offerwall", params=query)

    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "This offerwall link does not work" in response.text
    assert detail in response.text
    assert "page-settings" not in response.text


def test_the_walls_scripts_styles_and_category_icons_are_served(http: httpx.Client) -> None:
    for name, kind in [
        ("offerwall.js", "javascript"),
        ("wall-common.js", "javascript"),
        ("result.js", "javascript"),
        ("offerwall.css", "text/css"),
    ]:
        response = http.get(f"/offerwall/static/{name}")
        assert response.status_code == 200, name
        assert kind in response.headers["content-type"], name
    icon = http.get("/offerwall/icons/categories/finance.svg")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.startswith("<svg")
    assert http.get("/offerwall/static/missing.js").status_code == 404
    unknown = http.get("/offerwall/icons/categories/nothing.svg")
    assert unknown.status_code == 404
    assert_error_envelope(unknown, "404 Not Found")


def test_every_category_the_api_names_has_its_icon(http: httpx.Client) -> None:
    from surveyrouter.store.category_library import load_category_catalog

    catalog = load_category_catalog()
    for category in (*catalog.categories, catalog.fallback):
        assert http.get(f"/offerwall/icons/{category.icon}").status_code == 200, category.icon
