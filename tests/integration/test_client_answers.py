"""Answering and skipping profile questions through the client API over real HTTP, on SQLite
and PostgreSQL; every bad input answers in the envelope and keeps nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from surveyrouter.api.app import create_app
from surveyrouter.bootstrap import Runtime
from surveyrouter.domain.apps import App
from surveyrouter.services.apps import create_app as create_publisher_app
from surveyrouter.store.answers import user_answers
from surveyrouter.store.users import find_user
from tests.integration.test_server import HTTP_TIMEOUT, assert_error_envelope, serving

TOKEN = "quiz-kingdom-api-token-2"
HEADERS = {"X-Api-Token": TOKEN, "X-User-Id": "user-1"}


@pytest.fixture
def publisher(runtime: Runtime) -> App:
    return create_publisher_app(
        runtime.sessions, lambda: datetime.now(UTC), {"name": "Quiz", "api_token": TOKEN}
    )


@pytest.fixture
def client(runtime: Runtime, publisher: App) -> Iterator[httpx.Client]:
    with (
        serving(create_app(runtime)) as url,
        httpx.Client(timeout=HTTP_TIMEOUT, base_url=url, headers=HEADERS) as http,
    ):
        yield http


def stored(runtime: Runtime, publisher: App) -> dict[str, Any]:
    assert publisher.id is not None
    with runtime.sessions() as session:
        user = find_user(session, publisher.id, "user-1")
        if user is None:
            return {}
        return {k: (a.values, a.skipped) for k, a in user_answers(session, user.id).items()}


def test_an_answer_is_kept_normalized_and_a_retry_changes_nothing(
    client: httpx.Client, runtime: Runtime, publisher: App
) -> None:
    first = client.post(
        "/v1/client/networks/0/questions/birth_date", json={"answers": [" 1990-05-01"]}
    )
    retry = client.post(
        "/v1/client/networks/0/questions/birth_date", json={"answers": ["1990-05-01"]}
    )
    assert first.status_code == 200
    assert first.json()["status"] == "success"
    assert first.json()["data"] == {}
    assert retry.status_code == 200
    assert stored(runtime, publisher) == {"birth_date": (("1990-05-01",), False)}


def test_a_non_standard_question_can_be_skipped_a_standard_one_cannot(
    client: httpx.Client, runtime: Runtime, publisher: App
) -> None:
    assert client.post("/v1/client/networks/0/questions/pets/skip").status_code == 200
    refused = client.post("/v1/client/networks/0/questions/gender/skip")
    assert refused.status_code == 400
    assert_error_envelope(refused, "400 Bad Request")
    assert stored(runtime, publisher) == {"pets": ((), True)}


@pytest.mark.parametrize(
    ("path", "body", "status", "msg"),
    [
        ("0/questions/gender", {"answers": ["3"]}, "400 Bad Request", "answers:"),
        ("0/questions/gender", {"answers": ["1", "2"]}, "400 Bad Request", "exactly one"),
        ("0/questions/gender", {"answers": [1]}, "422 Unprocessable Entity", "answers.0"),
        ("0/questions/gender", {"answers": []}, "422 Unprocessable Entity", "answers"),
        ("0/questions/gender", {"answer": ["1"]}, "422 Unprocessable Entity", "answers"),
        ("0/questions/gender", ["1"], "422 Unprocessable Entity", "body"),
        ("0/questions/gender", {"answers": ["1"] * 101}, "422 Unprocessable Entity", "answers"),
        ("0/questions/postal_code", {"answers": ["x" * 1001]}, "422 Unprocessable Entity",
         "answers.0"),
        ("0/questions/birth_date", {"answers": ["1 May 1990"]}, "400 Bad Request", "answers:"),
        ("0/questions/no_such", {"answers": ["1"]}, "404 Not Found", "question not found"),
        ("7/questions/gender", {"answers": ["1"]}, "404 Not Found", "network not found"),
        ("x/questions/gender", {"answers": ["1"]}, "422 Unprocessable Entity", "network_id"),
    ],
)  # fmt: skip
def test_a_bad_answer_is_refused_in_the_envelope_and_nothing_is_kept(
    client: httpx.Client,
    runtime: Runtime,
    publisher: App,
    path: str,
    body: Any,
    status: str,
    msg: str,
) -> None:
    response = client.post(f"/v1/client/networks/{path}", json=body)
    assert response.status_code == int(status.split()[0])
    envelope = assert_error_envelope(response, status)
    assert msg in str(envelope["error"]["details"]["msg"])  # type: ignore[index]
    assert stored(runtime, publisher) == {}


def test_malformed_json_is_a_422_in_the_envelope(client: httpx.Client) -> None:
    response = client.post(
        "/v1/client/networks/0/questions/gender",
        content=b'{"answers": [',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert_error_envelope(response, "422 Unprocessable Entity")


@pytest.mark.parametrize("body", [{"answers": ["1"]}, {"answers": 1}])
def test_answering_needs_authentication_before_anything_else(
    client: httpx.Client, body: dict[str, Any]
) -> None:
    response = client.post(
        "/v1/client/networks/0/questions/gender",
        json=body,
        headers={"X-Api-Token": "unknown-token-000000"},
    )
    assert_error_envelope(response, "401 Unauthorized")


def test_an_oversized_body_is_a_413_in_the_envelope_declared_or_streamed(
    client: httpx.Client, runtime: Runtime, publisher: App
) -> None:
    path = "/v1/client/networks/0/questions/postal_code"
    huge = b'{"answers": ["' + b"1" * (2 * 1024 * 1024) + b'"]}'
    declared = client.post(path, content=huge, headers={"Content-Type": "application/json"})
    body = assert_error_envelope(declared, "413 Request Entity Too Large")
    assert "larger than 1048576 bytes" in str(body["error"])

    def chunks() -> Iterator[bytes]:
        yield b'{"answers": ["'
        for _ in range(40):
            yield b"1" * 65536
        yield b'"]}'

    streamed = client.post(path, content=chunks(), headers={"Content-Type": "application/json"})
    assert_error_envelope(streamed, "413 Request Entity Too Large")
    assert stored(runtime, publisher) == {}


def _user_row(runtime: Runtime, publisher: App, uid: str) -> Any:
    assert publisher.id is not None
    with runtime.sessions() as session:
        return find_user(session, publisher.id, uid)


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/v1/client/networks/0/questions/gender", {"answers": 1}, "422"),
        ("POST", "/v1/client/networks/1/surveys/5/leave", {"reason": "BORED"}, "422"),
        ("GET", "/v1/client/actions?platform=XYZ", None, "400"),
        ("GET", "/v1/client/check?os=weird", None, "400"),
        ("GET", "/v1/client/user/history?filter=NOPE", None, "422"),
        ("POST", "/v1/client/networks/x/questions/pets/skip", None, "422"),
        ("POST", "/v2/client/surveys/" + "9" * 70 + "/skip", None, "422"),
    ],
)
def test_a_call_refused_for_its_input_writes_nothing_not_even_a_new_user(
    client: httpx.Client,
    runtime: Runtime,
    publisher: App,
    method: str,
    path: str,
    body: Any,
    status: str,
) -> None:
    refused = client.request(method, path, json=body, headers={"X-User-Id": "new-user"})
    assert refused.status_code == int(status), refused.text
    assert _user_row(runtime, publisher, "new-user") is None

    # A known user's context is not changed by a refused call either.
    assert client.get("/v1/client/user", params={"lang": "en"}).status_code == 200
    separator = "&" if "?" in path else "?"
    again = client.request(method, f"{path}{separator}lang=de", json=body)
    assert again.status_code == int(status), again.text
    known = _user_row(runtime, publisher, "user-1")
    assert known is not None
    assert known.language == "en"
