"""A client call's country, language and device, resolved over real HTTP and remembered."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from surveyrouter.api.app import create_app
from surveyrouter.bootstrap import Runtime, build_runtime
from surveyrouter.domain.apps import App
from surveyrouter.domain.opportunity import Device
from surveyrouter.services.apps import create_app as create_publisher_app
from surveyrouter.settings import Settings
from surveyrouter.store.users import find_user
from tests.integration.test_server import assert_error_envelope, serving

TOKEN = "quiz-kingdom-api-token-3"
GERMAN_IP = "193.99.144.80"  # heise.de


def publisher(runtime: Runtime, **settings: object) -> App:
    return create_publisher_app(
        runtime.sessions,
        lambda: datetime.now(UTC),
        {"name": "Quiz", "api_token": TOKEN, **settings},
    )


@pytest.fixture
def behind_proxy(database_url: str, runtime: Runtime) -> Iterator[tuple[str, Runtime]]:
    """The API behind a reverse proxy on 127.0.0.1, which it trusts."""
    trusting = build_runtime(Settings(database_url=database_url, trusted_proxies=["127.0.0.1"]))
    try:
        with serving(create_app(trusting)) as url:
            yield url, trusting
    finally:
        trusting.close()


def user_of(runtime: Runtime, app: App, uid: str):  # type: ignore[no-untyped-def]
    assert app.id is not None
    with runtime.sessions() as session:
        return find_user(session, app.id, uid)


def test_the_country_comes_from_the_forwarded_address_of_a_trusted_proxy(
    behind_proxy: tuple[str, Runtime],
) -> None:
    url, runtime = behind_proxy
    app = publisher(runtime)
    response = httpx.get(
        f"{url}/v1/client/user",
        headers={
            "X-Api-Token": TOKEN,
            "X-User-Id": "u1",
            "X-Forwarded-For": f"10.0.0.9, {GERMAN_IP}",
            "User-Agent": "BitLabs/3.2 (Android 14; Pixel 8; phone)",
        },
    )
    assert response.status_code == 200
    assert response.json()["data"]["country"] == "DE"
    stored = user_of(runtime, app, "u1")
    assert (stored.country, stored.language, stored.device) == ("DE", "de", Device.MOBILE)


def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(runtime: Runtime) -> None:
    publisher(runtime, default_country="CA")
    with serving(create_app(runtime)) as url:
        response = httpx.get(
            f"{url}/v1/client/user",
            headers={"X-Api-Token": TOKEN, "X-User-Id": "u2", "X-Forwarded-For": GERMAN_IP},
        )
    # Loopback has no country; the spoofed header does not count: the app's default.
    assert response.json()["data"]["country"] == "CA"


def test_client_overrides_decide_when_the_app_allows_them(runtime: Runtime) -> None:
    app = publisher(runtime, client_overrides_allowed=True)
    query = {
        "token": TOKEN,
        "uid": "u3",
        "client_country": "FR",
        "client_ip": "8.8.8.8",
        "client_useragent": "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)",
    }
    with serving(create_app(runtime)) as url:
        response = httpx.get(f"{url}/v1/client/user", params=query)
    assert response.json()["data"]["country"] == "FR"
    stored = user_of(runtime, app, "u3")
    assert stored.device is Device.TABLET


@pytest.mark.parametrize(
    ("query", "field"),
    [({"platform": "FRIDGE"}, "platform"), ({"os": "symbian"}, "os"), ({"sdk": "x"}, "sdk")],
)
def test_an_unknown_device_value_is_a_400_naming_it(
    runtime: Runtime, query: dict[str, str], field: str
) -> None:
    publisher(runtime)
    with serving(create_app(runtime)) as url:
        response = httpx.get(f"{url}/v1/client/user", params={"token": TOKEN, "uid": "u4", **query})
    assert response.status_code == 400
    body = assert_error_envelope(response, "400 Bad Request")
    assert str(body["error"]["details"]["msg"]).startswith(field)  # type: ignore[index]


@pytest.mark.parametrize("path", ["/v1/client/user", "/v1/client/actions"])
def test_an_overlong_client_parameter_is_a_422_naming_it_and_nothing_is_created(
    runtime: Runtime, path: str
) -> None:
    app = publisher(runtime)
    with serving(create_app(runtime)) as url:
        response = httpx.get(
            f"{url}{path}", params={"token": TOKEN, "uid": "u5", "client_useragent": "x" * 513}
        )
    assert response.status_code == 422
    body = assert_error_envelope(response, "422 Unprocessable Entity")
    msg = str(body["error"]["details"]["msg"])  # type: ignore[index]
    assert msg == "query.client_useragent: string should have at most 512 characters"
    assert user_of(runtime, app, "u5") is None


def test_the_client_parameters_are_in_the_openapi_document(runtime: Runtime) -> None:
    with serving(create_app(runtime)) as url:
        spec = httpx.get(f"{url}/openapi.json").json()
    for path in ("/v1/client/actions", "/v1/client/user", "/v2/client/surveys"):
        parameters = spec["paths"][path]["get"]["parameters"]
        names = [parameter["name"] for parameter in parameters]
        assert len(names) == len(set(names)), path
        assert {"token", "uid", "platform", "lang", "client_useragent"} <= set(names), path
    actions = {p["name"]: p for p in spec["paths"]["/v1/client/actions"]["get"]["parameters"]}
    assert "username" in actions
    assert actions["token"]["description"] == "API token, if not in X-Api-Token."
    assert actions["platform"]["in"] == "query"
    assert {"type": "string", "maxLength": 512} in actions["platform"]["schema"]["anyOf"]
