"""Client API authentication over real HTTP, on SQLite and PostgreSQL: headers or query
parameters, users created on first sight, every refusal in the envelope."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from surveyrouter.api.app import create_app
from surveyrouter.bootstrap import Runtime
from surveyrouter.domain.apps import App
from surveyrouter.services.apps import create_app as create_publisher_app
from surveyrouter.store.users import find_user
from tests.integration.test_server import assert_error_envelope, serving

TOKEN = "quiz-kingdom-api-token-1"


@pytest.fixture
def publisher(runtime: Runtime) -> App:
    return create_publisher_app(
        runtime.sessions, lambda: datetime.now(UTC), {"name": "Quiz", "api_token": TOKEN}
    )


@pytest.fixture
def base_url(runtime: Runtime, publisher: App) -> Iterator[str]:
    with serving(create_app(runtime)) as url:
        yield url


def test_headers_authenticate_and_create_the_user_once(
    base_url: str, runtime: Runtime, publisher: App
) -> None:
    headers = {"X-Api-Token": TOKEN, "X-User-Id": "user-1"}
    first = httpx.get(f"{base_url}/v1/client/user", headers=headers)
    second = httpx.get(f"{base_url}/v1/client/user", headers=headers)

    assert first.status_code == 200
    body = first.json()
    assert body["status"] == "success"
    assert body["error"] is None
    assert body["data"]["uid"] == "user-1"
    assert body["data"]["app_id"] == publisher.id
    assert second.json()["data"] == body["data"]
    assert publisher.id is not None
    with runtime.sessions() as session:
        stored = find_user(session, publisher.id, "user-1")
    assert stored is not None
    assert stored.id == body["data"]["user_id"]


def test_query_parameters_authenticate_as_the_offerwall_sends_them(base_url: str) -> None:
    response = httpx.get(f"{base_url}/v1/client/user", params={"token": TOKEN, "uid": "u 2"})
    assert response.status_code == 200
    assert response.json()["data"]["uid"] == "u 2"


@pytest.mark.parametrize(
    ("headers", "params", "status", "msg"),
    [
        ({}, {}, "401 Unauthorized", "missing api token"),
        ({"X-User-Id": "u"}, {}, "401 Unauthorized", "missing api token"),
        ({"X-Api-Token": TOKEN}, {}, "401 Unauthorized", "missing user id"),
        ({"X-Api-Token": "no-such-token-at-all", "X-User-Id": "u"}, {}, "401 Unauthorized",
         "invalid api token"),
        ({}, {"token": TOKEN, "uid": "x" * 66}, "400 Bad Request", "longer than 65"),
        ({}, {"token": TOKEN, "uid": ""}, "400 Bad Request", "empty"),
        ({}, {"token": TOKEN, "uid": "jürgen"}, "400 Bad Request", "ascii"),
    ],
)  # fmt: skip
def test_a_refused_call_answers_in_the_envelope_and_creates_no_user(
    base_url: str,
    runtime: Runtime,
    publisher: App,
    headers: dict[str, str],
    params: dict[str, str],
    status: str,
    msg: str,
) -> None:
    response = httpx.get(f"{base_url}/v1/client/user", headers=headers, params=params)
    assert response.status_code == int(status.split()[0])
    body = assert_error_envelope(response, status)
    assert msg in str(body["error"]["details"]["msg"]).lower()  # type: ignore[index]
    assert publisher.id is not None
    with runtime.sessions() as session:
        for uid in ("u", "x" * 66, "", "jürgen"):
            assert find_user(session, publisher.id, uid) is None
