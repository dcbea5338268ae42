"""The publisher's server-to-server API over real HTTP, on SQLite and PostgreSQL (client API
§2.8): profiles imported whole or not at all, read back, erased for good; a test callback
signed like a real one; every refusal in the envelope."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from sqlalchemy import select

from surveyrouter.api.app import create_app
from surveyrouter.bootstrap import Runtime
from surveyrouter.domain.apps import App
from surveyrouter.domain.callbacks import verify_callback
from surveyrouter.domain.clicks import Click, OutcomeSource
from surveyrouter.domain.impressions import ClickType
from surveyrouter.domain.money import Reward, RewardKind
from surveyrouter.domain.operators import ActionKind, Actor, user_subject
from surveyrouter.domain.questions import AnswerOption, Question, QuestionType
from surveyrouter.domain.users import User
from surveyrouter.domain.v2_clicks import V2Click
from surveyrouter.networks.rex.gateway import Disposition
from surveyrouter.services.apps import change_app
from surveyrouter.services.apps import create_app as create_publisher_app
from surveyrouter.services.callback_delivery import CallbackDelivery
from surveyrouter.services.operators import create_operator
from surveyrouter.services.outcomes import UserErased, record_outcome
from surveyrouter.services.publishers import SampleCallback, send_test_callback
from surveyrouter.services.rewards import record_reward
from surveyrouter.store.answers import user_answers
from surveyrouter.store.apps import get_app
from surveyrouter.store.clicks import add_click, get_click
from surveyrouter.store.db import transaction
from surveyrouter.store.ledger import user_entries
from surveyrouter.store.operator_actions import list_actions, record_action
from surveyrouter.store.outbox import get_callback, record_delivered, record_failure
from surveyrouter.store.outbox_admin import CallbackFinished, retry_now
from surveyrouter.store.questions import (
    NetworkAttribute,
    network_question_key,
    put_network_attribute,
)
from surveyrouter.store.schema import UserRow
from surveyrouter.store.users import ban_user, find_user, user_by_id, user_on_sight
from surveyrouter.store.v2_clicks import add_v2_click, get_v2_click
from tests.integration.receiver import receiving
from tests.integration.test_server import HTTP_TIMEOUT, assert_error_envelope, serving

API_TOKEN = "quiz-kingdom-api-token-9"
S2S_TOKEN = "quiz-kingdom-s2s-token-9"
SECRET = "quiz-kingdom-secret-0009"
HEADERS = {"X-S2S-Token": S2S_TOKEN}


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def publisher(runtime: Runtime) -> App:
    return create_publisher_app(
        runtime.sessions,
        now,
        {"name": "Quiz", "api_token": API_TOKEN, "s2s_token": S2S_TOKEN, "secret": SECRET},
    )


# The test receivers listen on loopback, which test callbacks may reach only when allowed.
LOOPBACK_ALLOWED = {"callback_test_allowed_networks": ["127.0.0.0/8"]}


@pytest.fixture
def base_url(runtime: Runtime, publisher: App) -> Iterator[str]:
    allowing = dataclasses.replace(
        runtime, settings=runtime.settings.model_copy(update=LOOPBACK_ALLOWED)
    )
    with serving(create_app(allowing)) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers=HEADERS, timeout=30) as http:
        yield http


def user(uid: str = "user-1", **changes: Any) -> dict[str, Any]:
    """A complete, valid user as §2.8 shows one, with ``changes``."""
    return {
        "uid": uid,
        "country": "DE",
        "languages": ["de", "en"],
        "zipcode": "10115",
        "birthdate": "1990-05-01",
        "gender": "FEMALE",
        "questions": [{"id": "employment_status", "network_id": 0, "direct_values": ["200101"]}],
        "username": "Anna",
        **changes,
    }


def import_users(client: httpx.Client, *users: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/publishers/users", json={"users": list(users)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    data: dict[str, Any] = body["data"]
    return data


def stored(runtime: Runtime, publisher: App, uid: str = "user-1") -> dict[str, Any] | None:
    """The user's stored context and answers, or None when the router does not know them."""
    assert publisher.id is not None
    with runtime.sessions() as session:
        found = find_user(session, publisher.id, uid)
        if found is None:
            return None
        answers = {k: a.values for k, a in user_answers(session, found.id).items()}
    return {
        "country": found.country,
        "language": found.language,
        "username": found.username,
        "answers": answers,
    }


def refusal(uid: str, **problems: Any) -> dict[str, Any]:
    """An import error object: every kind null (or false) but ``problems``."""
    return {
        "uid": uid,
        "invalid_birthdate": None,
        "invalid_gender": None,
        "invalid_zipcode": None,
        "invalid_question": None,
        "unsupported_languages": False,
        "invalid_answer_format": None,
        **problems,
    }


# ---------------------------------------------------------------- import


def test_an_import_stores_each_users_context_and_answers_normalized(
    client: httpx.Client, runtime: Runtime, publisher: App
) -> None:
    data = import_users(
        client,
        user(),
        user("user-2", gender="male", languages=["en-GB"], birthdate=" 1980-01-31"),
    )

    assert data == {"success_count": 2, "errors": []}
    assert stored(runtime, publisher) == {
        "country": "DE",
        "language": "de",
        "username": "Anna",
        "answers": {
            "gender": ("2",),
            "birth_date": ("1990-05-01",),
            "postal_code": ("10115",),
            "employment_status": ("200101",),
        },
    }
    second = stored(runtime, publisher, "user-2")
    assert second is not None
    assert second["language"] == "en"
    assert second["answers"]["gender"] == ("1",)
    assert second["answers"]["birth_date"] == ("1980-01-31",)


def test_an_import_replaces_the_answers_it_names_and_keeps_the_others(
    client: httpx.Client, runtime: Runtime, publisher: App
) -> None:
    import_users(client, user())
    again = user(
        country="at",
        zipcode=None,
        questions=[{"id": "pets", "network_id": 0, "direct_values": ["201902", "201901"]}],
    )
    del again["zipcode"], again["username"]
    assert import_users(client, again) == {"success_count": 1, "errors": []}

    after = stored(runtime, publisher)
    assert after is not None
    assert after["country"] == "AT"
    assert after["username"] == "Anna"
    assert after["answers"]["postal_code"] == ("10115",)
    assert after["answers"]["employment_status"] == ("200101",)
    assert after["answers"]["pets"] == ("201901", "201902")


def test_imported_answers_do_not_count_toward_the_start_bonus_the_users_own_do(
    runtime: Runtime,
) -> None:
    bonus_app = create_publisher_app(
        runtime.sessions,
        now,
        {
            "name": "Bonus Quiz",
            "api_token": "bonus-quiz-api-token-1",
            "s2s_token": "bonus-quiz-s2s-token-1",
            "start_bonus_reward": Decimal(50),
            "start_bonus_questions": 2,
        },
    )
    assert bonus_app.id is not None
    client_headers = {"X-Api-Token": "bonus-quiz-api-token-1", "X-User-Id": "user-1"}

    def bonuses() -> list[Decimal]:
        with runtime.sessions() as session:
            found = find_user(session, bonus_app.id, "user-1")  # type: ignore[arg-type]
            assert found is not None
            return [e.reward.value for e in user_entries(session, found.id)]

    with (
        serving(create_app(runtime)) as url,
        httpx.Client(
            timeout=HTTP_TIMEOUT, base_url=url, headers={"X-S2S-Token": "bonus-quiz-s2s-token-1"}
        ) as s2s,
        httpx.Client(timeout=HTTP_TIMEOUT, base_url=url, headers=client_headers) as wall,
    ):
        import_users(s2s, user())  # the standard profile and employment_status: four answers
        listed = wall.get("/v1/client/actions").json()["data"]
        assert listed["start_bonus"] == {"reward": "50"}  # none of the four is the user's
        assert bonuses() == []

        # The user answers gender as imported: now it is theirs. Importing it again keeps it
        # so, and so does an import that changes its value.
        answered = wall.post("/v1/client/networks/0/questions/gender", json={"answers": ["2"]})
        assert answered.status_code == 200, answered.text
        import_users(s2s, user())
        import_users(s2s, user(gender="MALE"))
        assert bonuses() == []

        answered = wall.post(
            "/v1/client/networks/0/questions/employment_status", json={"answers": ["200102"]}
        )
        assert answered.status_code == 200, answered.text
        assert bonuses() == [Decimal(50)]
        assert wall.get("/v1/client/actions").json()["data"]["start_bonus"] is None


@pytest.mark.parametrize(
    ("changes", "problems"),
    [
        ({"birthdate": "1999-13-01"}, {"invalid_birthdate": "'1999-13-01' is not a calendar date"}),
        ({"birthdate": "01.05.1990"},
         {"invalid_birthdate": "'01.05.1990' is not a date in the form YYYY-MM-DD"}),
        ({"gender": "OTHER"}, {"invalid_gender": "'OTHER' is not one of MALE, FEMALE"}),
        ({"zipcode": "SW1A 1AA"},
         {"invalid_zipcode": "'SW1A 1AA' does not match the pattern '[0-9]{5}'"}),
        ({"questions": [{"id": "no_such_question", "network_id": 0, "direct_values": ["1"]}]},
         {"invalid_question": "no_such_question"}),
        ({"questions": [{"id": "employment_status", "network_id": 7, "direct_values": ["200101"]}]},
         {"invalid_question": "employment_status"}),
        ({"languages": ["english"]}, {"unsupported_languages": True}),
        ({"languages": []}, {"unsupported_languages": True}),
        ({"questions": [{"id": "employment_status", "network_id": 0, "direct_values": ["9"]}]},
         {"invalid_answer_format": {"question": "employment_status",
                                    "reason": "'9' is not one of the question's answer ids"}}),
        ({"questions": [{"id": "employment_status", "network_id": 0, "direct_values": []}]},
         {"invalid_answer_format": {"question": "employment_status",
                                    "reason": "an answer is required"}}),
        ({"questions": [{"id": "gender", "network_id": 0, "direct_values": ["1"]}]},
         {"invalid_answer_format": {"question": "gender",
                                    "reason": "the question is answered more than once"}}),
    ],
)  # fmt: skip
def test_each_invalid_value_refuses_its_user_naming_the_kind_and_writes_nothing(
    client: httpx.Client,
    runtime: Runtime,
    publisher: App,
    changes: dict[str, Any],
    problems: dict[str, Any],
) -> None:
    data = import_users(client, user(**changes))

    assert data == {"success_count": 0, "errors": [refusal("user-1", **problems)]}
    assert stored(runtime, publisher) is None


def test_a_refused_user_is_left_as_it_was_while_the_others_are_imported(
    client: httpx.Client, runtime: Runtime, publisher: App
) -> None:
    import_users(client, user())
    before = stored(runtime, publisher)

    data = import_users(
        client,
        user(country="FR", gender="OTHER", birthdate="yesterday"),
        user("user-2"),
    )

    assert data["success_count"] == 1
    assert data["errors"] == [
        refusal(
            "user-1",
            invalid_gender="'OTHER' is not one of MALE, FEMALE",
            invalid_birthdate="'yesterday' is not a date in the form YYYY-MM-DD",
        )
    ]
    assert stored(runtime, publisher) == before
    assert stored(runtime, publisher, "user-2") is not None


def test_a_networks_own_question_is_imported_on_its_network_id(
    runtime: Runtime, publisher: App
) -> None:
    question = Question(
        id=100262,
        key=network_question_key(100262),
        type=QuestionType.SINGLE,
        text={"en": "Which bank do you use most?"},
        answers=(AnswerOption("20000144", {"en": "Bank A"}),),
    )
    with transaction(runtime.sessions) as session:
        put_network_attribute(
            session,
            NetworkAttribute(
                network_id="sandbox",
                attribute_id=100262,
                name="Main bank",
                display_mode="single_punch",
                question=question,
                unaskable=None,
                raw={},
                fetched_at=now(),
            ),
        )
    bank = "sandbox_attribute_100262"
    with (
        serving(create_app(runtime)) as url,
        httpx.Client(timeout=HTTP_TIMEOUT, base_url=url, headers=HEADERS) as http,
    ):
        on_network = import_users(
            http, user(questions=[{"id": bank, "network_id": 1, "direct_values": ["20000144"]}])
        )
        on_library = import_users(
            http,
            user("user-2", questions=[{"id": bank, "network_id": 0, "direct_values": ["1"]}]),
        )

    assert on_network == {"success_count": 1, "errors": []}
    imported = stored(runtime, publisher)
    assert imported is not None
    assert imported["answers"][bank] == ("20000144",)
    assert on_library["errors"] == [refusal("user-2", invalid_question=bank)]


def test_an_import_of_more_than_1000_users_is_refused_whole(
    client: httpx.Client, runtime: Runtime, publisher: App
) -> None:
    users = [user(f"user-{number}") for number in range(1001)]
    response = client.post("/v1/publishers/users", json={"users": users})

    body = assert_error_envelope(response, "422 Unprocessable Entity")
    assert "at most 1000 items" in str(body["error"])
    assert stored(runtime, publisher, "user-0") is None


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"users": [user(languages="de")]}, "languages"),
        ({"users": [user(questions=[{"id": "pets", "network_id": "0", "direct_values": ["1"]}])]},
         "network_id"),
        ({"users": [user(questions=[{"id": "pets", "network_id": 0, "direct_values": [1]}])]},
         "direct_values"),
        ({"users": [user(uid="x" * 66)]}, "longer than 65"),
        ({"users": [user(uid="jürgen")]}, "ASCII"),
        ({"users": [user(country="DEU")]}, "country"),
        ({"users": [user(username="Anna Lena")]}, "username"),
        ({"users": [user(email="anna@example.com")]}, "email"),
        ({"users": [{k: v for k, v in user().items() if k != "gender"}]}, "gender"),
        ({"users": user()}, "users"),
        ([user()], "body"),
    ],
)  # fmt: skip
def test_a_wrong_shape_or_type_refuses_the_whole_import_in_the_envelope(
    client: httpx.Client, runtime: Runtime, publisher: App, body: Any, where: str
) -> None:
    response = client.post("/v1/publishers/users", json=body)

    envelope = assert_error_envelope(response, "422 Unprocessable Entity")
    assert where in str(envelope["error"])
    assert stored(runtime, publisher) is None


def test_malformed_json_is_a_422_in_the_envelope(client: httpx.Client) -> None:
    response = client.post(
        "/v1/publishers/users",
        content=b'{"users": [',
        headers={"Content-Type": "application/json"},
    )
    assert_error_envelope(response, "422 Unprocessable Entity")


# ---------------------------------------------------------------- profile


def test_the_profile_reads_back_what_was_imported(
    client: httpx.Client, runtime: Runtime, publisher: App
) -> None:
    import_users(client, user())
    response = client.get("/v1/publishers/users/user-1/profile")

    assert response.status_code == 200
    assert response.json()["data"] == {
        "country": "DE",
        "main_language": "de",
        "spoken_languages": ["de"],
        "zipcode": "10115",
        "birthdate": "1990-05-01",
        "gender": "FEMALE",
        "username": "Anna",
        "banned": False,
        "std_questions": [
            {"id": "birth_date", "values": ["1990-05-01"]},
            {"id": "employment_status", "values": ["200101"]},
            {"id": "gender", "values": ["2"]},
            {"id": "postal_code", "values": ["10115"]},
        ],
    }


def test_a_ban_in_force_shows_in_the_profile(
    client: httpx.Client, runtime: Runtime, publisher: App
) -> None:
    import_users(client, user())
    assert publisher.id is not None
    with transaction(runtime.sessions) as session:
        found = find_user(session, publisher.id, "user-1")
        assert found is not None
        ban_user(session, found.id, now() + timedelta(days=1), "fraud")

    profile = client.get("/v1/publishers/users/user-1/profile").json()["data"]
    assert profile["banned"] is True


def test_a_user_the_router_does_not_know_is_a_404(client: httpx.Client) -> None:
    for uid in ("nobody", "x" * 70):
        response = client.get(f"/v1/publishers/users/{uid}/profile")
        assert_error_envelope(response, "404 Not Found")


def test_another_apps_user_is_not_found(
    client: httpx.Client, runtime: Runtime, publisher: App
) -> None:
    import_users(client, user())
    other = create_publisher_app(runtime.sessions, now, {"name": "Other"})

    response = client.get(
        "/v1/publishers/users/user-1/profile", headers={"X-S2S-Token": other.s2s_token}
    )
    assert_error_envelope(response, "404 Not Found")


# ---------------------------------------------------------------- erasure


def test_erasing_deletes_the_answers_and_the_uid_and_keeps_the_ledger(
    client: httpx.Client, runtime: Runtime, publisher: App
) -> None:
    import_users(client, user())
    assert publisher.id is not None
    with transaction(runtime.sessions) as session:
        found = find_user(session, publisher.id, "user-1")
        assert found is not None
        complete = Reward(RewardKind.COMPLETE, Decimal("1.20"), Decimal(1200))
        record_reward(session, publisher, found, complete, "tx1", now())

    erased = client.delete("/v1/publishers/users/user-1")

    assert erased.status_code == 200
    assert erased.json()["data"] == {}
    assert stored(runtime, publisher) is None
    with runtime.sessions() as session:
        assert user_answers(session, found.id) == {}
        assert [entry.transaction_id for entry in user_entries(session, found.id)] == ["tx1"]
    assert_error_envelope(client.get("/v1/publishers/users/user-1/profile"), "404 Not Found")


def _record(runtime: Runtime, publisher: App, uid: str, tx: str, **tags: str) -> None:
    """A complete for ``uid`` in the ledger and, with the app's callback URL, the outbox."""
    assert publisher.id is not None
    with transaction(runtime.sessions) as session:
        found = find_user(session, publisher.id, uid)
        assert found is not None
        app = get_app(session, publisher.id)
        complete = Reward(RewardKind.COMPLETE, Decimal("1.20"), Decimal(1200))
        record_reward(
            session,
            app,
            found,
            complete,
            tx,
            now(),
            ip_address="203.0.113.9",
            extra_parameters=tags,
        )


def _outbox_url(runtime: Runtime, tx: str) -> str:
    with runtime.sessions() as session:
        item = get_callback(session, tx)
    assert item is not None
    return item.url


def test_erasing_redacts_the_users_finished_callbacks_and_sends_the_pending_ones_first(
    client: httpx.Client, runtime: Runtime, publisher: App
) -> None:
    assert publisher.id is not None
    import_users(client, user(), user("user-2"))
    with receiving() as (receiver, receiver_url):
        template = f"{receiver_url}/cb/[%UID%]?uid=[%UID%]&ip=[%IP%]&tx=[%TX%]"
        change_app(runtime.sessions, now, publisher.id, {"callback_url": template})
        for tx in ("delivered1", "dead1", "pending1"):
            _record(runtime, publisher, "user-1", tx, campaign="spring-anna")
        _record(runtime, publisher, "user-2", "other1")
        with transaction(runtime.sessions) as session:
            ids = {
                tx: item.id for tx in ("delivered1", "dead1") if (item := get_callback(session, tx))
            }
            record_delivered(session, ids["delivered1"], now(), 200)
            record_failure(session, ids["dead1"], now(), retry_at=None, status_code=500, error="x")
        other_before = _outbox_url(runtime, "other1")

        assert client.delete("/v1/publishers/users/user-1").status_code == 200

        port = urlsplit(receiver_url).port
        redacted = f"http://127.0.0.1:{port}/[erased]"
        assert _outbox_url(runtime, "delivered1") == redacted
        assert _outbox_url(runtime, "dead1") == redacted
        # Still owed to the publisher: sent as it was written, uid, IP and tag included...
        pending = _outbox_url(runtime, "pending1")
        assert "uid=user-1" in pending
        assert "campaign=spring-anna" in pending
        with CallbackDelivery(runtime.sessions, now) as delivery:
            assert delivery.deliver_due().delivered == 2  # pending1 and other1
        assert [url for url in receiver.received if "tx=pending1" in url] == [pending]
        # ...and redacted once it is delivered; another user's callbacks are untouched.
        assert _outbox_url(runtime, "pending1") == redacted
        assert _outbox_url(runtime, "other1") == other_before

    with transaction(runtime.sessions) as session, pytest.raises(CallbackFinished) as refused:
        retry_now(session, ids["dead1"], now())
    assert "erased user" in str(refused.value)


def _click(person: User, click_id: str) -> Click:
    return Click(
        id=click_id,
        app_id=person.app_id,
        user_id=person.id,
        network_id="sandbox",
        opportunity_id=9001,
        exchange_cpi=Decimal("2.00"),
        loi_minutes=12,
        created_at=now(),
        tags={"campaign": f"spring-{person.uid}"},
    )


def _v2_click(person: User, click_id: str) -> V2Click:
    return V2Click(
        id=click_id,
        app_id=person.app_id,
        user_id=person.id,
        type=ClickType.SURVEY,
        network_id="sandbox",
        opportunity_id=9001,
        session_id="s1",
        created_at=now(),
        updated_at=now(),
        tags={"campaign": f"spring-{person.uid}"},
    )


def test_erasing_forgets_the_users_click_tags_and_renames_them_in_the_activity_log(
    client: httpx.Client, runtime: Runtime, publisher: App
) -> None:
    assert publisher.id is not None
    import_users(client, user(), user("user-2"))
    operator = create_operator(runtime.sessions, now, "ops@quiz", "a long enough password")
    with transaction(runtime.sessions) as session:
        anna = find_user(session, publisher.id, "user-1")
        bob = find_user(session, publisher.id, "user-2")
        assert anna is not None
        assert bob is not None
        for person in (anna, bob):
            add_click(session, _click(person, f"click{person.id}"))
            add_v2_click(session, _v2_click(person, f"v2click{person.id}"))
            detail = "banned until 2027-01-01 00:00 UTC: test"
            subject = user_subject(person)
            record_action(
                session, Actor(operator_id=operator.id), ActionKind.USER_BAN, subject, detail, now()
            )

    assert client.delete("/v1/publishers/users/user-1").status_code == 200

    def tags(person: User) -> list[dict[str, str]]:
        click = get_click(session, f"click{person.id}")
        v2_click = get_v2_click(session, f"v2click{person.id}")
        assert click is not None
        assert v2_click is not None
        return [dict(click.tags), dict(v2_click.tags)]

    with runtime.sessions() as session:
        erased = user_by_id(session, anna.id)
        assert erased.erased_at is not None
        assert tags(anna) == [{}, {}]
        assert tags(bob) == [{"campaign": "spring-user-2"}] * 2
        subjects = sorted(action.subject for action in list_actions(session))
    assert subjects == sorted([user_subject(erased), user_subject(bob)])
    assert not any("user-1" in subject for subject in subjects)


def test_a_return_after_the_user_was_erased_pays_no_one(
    client: httpx.Client, runtime: Runtime, publisher: App
) -> None:
    assert publisher.id is not None
    import_users(client, user())
    with transaction(runtime.sessions) as session:
        person = find_user(session, publisher.id, "user-1")
        assert person is not None
        add_click(session, _click(person, "click1"))
    assert client.delete("/v1/publishers/users/user-1").status_code == 200

    with pytest.raises(UserErased):
        record_outcome(runtime.sessions, "click1", Disposition(1, 0), OutcomeSource.RETURN, now())

    with runtime.sessions() as session:
        assert user_entries(session, person.id) == []
        click = get_click(session, "click1")
    assert click is not None
    assert click.ended_at is None


def test_erasing_again_is_a_404_the_uid_is_gone(client: httpx.Client) -> None:
    import_users(client, user())
    assert client.delete("/v1/publishers/users/user-1").status_code == 200

    again = client.delete("/v1/publishers/users/user-1")
    assert_error_envelope(again, "404 Not Found")
    assert_error_envelope(client.delete("/v1/publishers/users/nobody"), "404 Not Found")


def test_a_uid_with_a_slash_is_read_and_erased_like_any_other(client: httpx.Client) -> None:
    import_users(client, user("sl/ash"))
    profile = client.get("/v1/publishers/users/sl%2Fash/profile")
    assert profile.status_code == 200, profile.text
    assert profile.json()["data"]["username"] == "Anna"
    assert client.delete("/v1/publishers/users/sl%2Fash").status_code == 200
    assert_error_envelope(client.get("/v1/publishers/users/sl%2Fash/profile"), "404 Not Found")


def test_an_erased_users_tombstone_uid_reaches_no_one(
    client: httpx.Client, runtime: Runtime, publisher: App
) -> None:
    import_users(client, user())
    assert client.delete("/v1/publishers/users/user-1").status_code == 200
    assert publisher.id is not None
    with runtime.sessions() as session:
        (tombstone,) = session.scalars(
            select(UserRow.uid).where(UserRow.app_id == publisher.id)
        ).all()
    assert tombstone.startswith("erased-")

    assert_error_envelope(client.get(f"/v1/publishers/users/{tombstone}/profile"), "404 Not Found")
    assert_error_envelope(client.delete(f"/v1/publishers/users/{tombstone}"), "404 Not Found")
    refused = client.post("/v1/publishers/users", json={"users": [user(tombstone)]})
    assert_error_envelope(refused, "422 Unprocessable Entity")
    as_client = client.get(
        "/v1/client/user", headers={"X-Api-Token": API_TOKEN, "X-User-Id": tombstone}
    )
    assert_error_envelope(as_client, "400 Bad Request")
    with runtime.sessions() as session:
        erased = find_user(session, publisher.id, tombstone)
    assert erased is not None
    assert (erased.country, erased.erased_at is not None) == (None, True)  # left as erased


def test_a_live_user_whose_id_took_the_reserved_form_before_is_still_served_and_erased(
    client: httpx.Client, runtime: Runtime, publisher: App
) -> None:
    assert publisher.id is not None
    with transaction(runtime.sessions) as session:  # seen before the form was reserved
        user_on_sight(session, publisher.id, "erased-but-alive", now())
    as_client = client.get(
        "/v1/client/user", headers={"X-Api-Token": API_TOKEN, "X-User-Id": "erased-but-alive"}
    )
    assert as_client.status_code == 200, as_client.text
    assert client.get("/v1/publishers/users/erased-but-alive/profile").status_code == 200
    assert client.delete("/v1/publishers/users/erased-but-alive").status_code == 200
    assert_error_envelope(
        client.get("/v1/publishers/users/erased-but-alive/profile"), "404 Not Found"
    )
    new_one = client.get(
        "/v1/client/user", headers={"X-Api-Token": API_TOKEN, "X-User-Id": "erased-new"}
    )
    assert_error_envelope(new_one, "400 Bad Request")  # no new user takes the form


def test_an_erased_uid_can_be_imported_again_as_a_new_user(
    client: httpx.Client, runtime: Runtime, publisher: App
) -> None:
    import_users(client, user())
    assert publisher.id is not None
    with runtime.sessions() as session:
        first = find_user(session, publisher.id, "user-1")
    client.delete("/v1/publishers/users/user-1")

    data = import_users(client, user(questions=[]))

    assert data == {"success_count": 1, "errors": []}
    with runtime.sessions() as session:
        second = find_user(session, publisher.id, "user-1")
    assert first is not None
    assert second is not None
    assert second.id != first.id
    after = stored(runtime, publisher)
    assert after is not None
    assert "employment_status" not in after["answers"]


# ---------------------------------------------------------------- test callback


def test_a_test_callback_is_signed_like_a_real_one_with_debug_true(
    client: httpx.Client, runtime: Runtime, publisher: App
) -> None:
    with receiving() as (receiver, receiver_url):
        assert publisher.id is not None
        template = f"{receiver_url}/cb?uid=[%UID%]&val=[%VALUE:CURRENCY%]&raw=[%RAW%]&tx=[%TX%]"
        change_app(runtime.sessions, now, publisher.id, {"callback_url": template})
        response = client.post(
            "/v1/publishers/callbacks/test",
            json={"data": {"uid": "user-7", "tx": "abc123", "usd": "0.50"}, "tags": {"sub": "x"}},
        )

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["response"] == {"status_code": 200, "body": "ok", "content_type": None}
    assert receiver.received == [data["url"]]
    assert verify_callback(data["url"], SECRET)
    query = parse_qs(urlsplit(data["url"]).query)
    assert query["uid"] == ["user-7"]
    assert query["tx"] == ["abc123"]
    assert query["raw"] == ["0.50"]
    assert query["val"] == ["500"]
    assert query["debug"] == ["true"]
    assert query["sub"] == ["x"]
    assert data["legacy_macros"] == ["[%UID%]", "[%RAW%]"]
    assert data["invalid_macros"] == []
    assert data["error"] is None


def test_a_test_callback_reports_unknown_macros_and_the_receivers_failure(
    client: httpx.Client,
) -> None:
    with receiving() as (receiver, receiver_url):
        receiver.failures = 1
        response = client.post(
            "/v1/publishers/callbacks/test",
            json={"url": f"{receiver_url}/cb?u=[%USER:UID%]&x=[%NOPE%]&y=[%NOPE%]&t=[%TYPE%]"},
        )

    data = response.json()["data"]
    assert data["response"]["status_code"] == 503
    assert data["response"]["body"] == "try later"
    assert data["invalid_macros"] == ["[%NOPE%]"]
    assert data["legacy_macros"] == []
    query = parse_qs(urlsplit(data["url"]).query)
    assert query["x"] == ["[%NOPE%]"]
    assert query["u"] == ["test-user"]
    assert query["t"] == ["COMPLETE"]


def test_a_test_callback_shows_the_first_2_kib_and_the_content_type() -> None:
    endpoint = FastAPI()

    @endpoint.get("/cb")
    def answer() -> PlainTextResponse:
        return PlainTextResponse("é" * 5000)

    # Served without the router: the runtime's fixture is not needed to see the receiver.
    with serving(endpoint) as receiver_url, httpx.Client(timeout=HTTP_TIMEOUT) as http:
        app = App(name="Quiz", api_token=API_TOKEN, secret=SECRET, s2s_token=S2S_TOKEN, id=1)
        result = send_test_callback(app, f"{receiver_url}/cb", SampleCallback(), http)

    assert result.response is not None
    assert result.response.content_type == "text/plain; charset=utf-8"
    assert result.response.body == "é" * 1024


def test_an_unreachable_endpoint_is_reported_with_a_200(client: httpx.Client) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    response = client.post(
        "/v1/publishers/callbacks/test", json={"url": f"http://127.0.0.1:{port}/cb?uid=[%UID%]"}
    )

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["response"] is None
    assert "ConnectError" in data["error"]
    assert data["url"].startswith(f"http://127.0.0.1:{port}/cb?uid=test-user&debug=true&hash=")


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("127.0.0.1", "127.0.0.1, a loopback address"),
        ("localhost", "a loopback address"),
        ("[::1]", "::1, a loopback address"),
        ("10.1.2.3", "10.1.2.3, a private address"),
        ("169.254.169.254", "169.254.169.254, a link-local address"),  # cloud metadata
        ("[::ffff:127.0.0.1]", "a loopback address"),
        ("0.0.0.0", "0.0.0.0, an unspecified address"),
    ],
)
def test_a_publishers_url_may_not_reach_this_servers_own_network(
    runtime: Runtime, publisher: App, host: str, why: str
) -> None:
    # The runtime's own settings: nothing allowed beyond public addresses.
    with (
        receiving() as (receiver, receiver_url),
        serving(create_app(runtime)) as url,
        httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client,
    ):
        # On the receiver's port: were the address not refused, loopback would reach it.
        port = urlsplit(receiver_url).port
        target = f"http://{host}:{port}/cb"
        response = client.post("/v1/publishers/callbacks/test", json={"url": target})

    envelope = assert_error_envelope(response, "400 Bad Request")
    assert why in str(envelope["error"])
    assert "SURVEYROUTER_CALLBACK_TEST_ALLOWED_NETWORKS" in str(envelope["error"])
    assert receiver.received == []


def test_the_apps_own_callback_url_is_the_operators_and_may_be_on_loopback(
    runtime: Runtime, publisher: App
) -> None:
    assert publisher.id is not None
    with (
        receiving() as (receiver, receiver_url),
        serving(create_app(runtime)) as url,
        httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client,
    ):
        change_app(runtime.sessions, now, publisher.id, {"callback_url": f"{receiver_url}/cb"})
        response = client.post("/v1/publishers/callbacks/test", json={})

    assert response.status_code == 200, response.text
    assert response.json()["data"]["response"]["status_code"] == 200
    assert len(receiver.received) == 1


@pytest.mark.parametrize(
    ("body", "status", "msg"),
    [
        ({}, "400 Bad Request", "no url"),
        ({"url": "ftp://pub.example/cb"}, "400 Bad Request", "not an absolute http(s) url"),
        ({"url": "https://pub.example/cb#frag"}, "400 Bad Request", "fragment"),
        ({"url": "https://pub.example/cb", "data": {"type": "BONUS"}}, "422 Unprocessable Entity",
         "data.type"),
        ({"url": "https://pub.example/cb", "data": {"tx": "a-b"}}, "422 Unprocessable Entity",
         "data.tx"),
        ({"url": "https://pub.example/cb", "data": {"usd": "-1"}}, "422 Unprocessable Entity",
         "data.usd"),
        ({"url": "https://pub.example/cb", "tags": {"a": 1}}, "422 Unprocessable Entity", "tags"),
        ({"url": 7}, "422 Unprocessable Entity", "url"),
        ({"url": "http://[::1/cb?x"}, "400 Bad Request", "not a url"),
        ({"url": "http://pub.example:1234x/cb"}, "400 Bad Request", "not a url"),
        ({"url": "https://pub.example/cb?x=\u0000"}, "400 Bad Request", "control character"),
        ({"url": "http://xn--a.com/cb"}, "400 Bad Request", "not a url httpx can send"),
        ({"url": "https://pub.example/cb", "tags": {"a b": "v"}}, "400 Bad Request",
         "letters, digits and underscores"),
        ({"url": "https://pub.example/cb", "tags": {"hash": "v"}}, "400 Bad Request",
         "reserved"),
        ({"url": "https://pub.example/cb", "tags": {"a": "x\u0000"}}, "400 Bad Request",
         "control character"),
        ({"url": "https://pub.example/cb", "tags": {"A": "1", "a": "2"}}, "400 Bad Request",
         "given twice"),
        ({"url": "http://xn--.com/"}, "400 Bad Request", "not a url httpx can send"),
    ],
)  # fmt: skip
def test_a_test_callback_that_cannot_be_built_is_refused_in_the_envelope(
    client: httpx.Client, body: dict[str, Any], status: str, msg: str
) -> None:
    response = client.post("/v1/publishers/callbacks/test", json=body)

    envelope = assert_error_envelope(response, status)
    assert msg in str(envelope["error"]).lower()


# ---------------------------------------------------------------- authentication


CALLS = [
    ("POST", "/v1/publishers/users", {"users": []}),
    ("GET", "/v1/publishers/users/user-1/profile", None),
    ("DELETE", "/v1/publishers/users/user-1", None),
    ("POST", "/v1/publishers/callbacks/test", {"url": "https://pub.example/cb"}),
]


@pytest.mark.parametrize(("method", "path", "body"), CALLS)
@pytest.mark.parametrize(
    ("headers", "msg"),
    [
        ({}, "missing s2s token: send X-S2S-Token"),
        ({"X-S2S-Token": ""}, "missing s2s token: send X-S2S-Token"),
        ({"X-S2S-Token": API_TOKEN}, "this is the app's client api token, not its s2s token"),
        ({"X-S2S-Token": "no-such-s2s-token-at-all"}, "invalid s2s token"),
        ({"X-Api-Token": API_TOKEN, "X-User-Id": "user-1"}, "missing s2s token"),
    ],
)
def test_only_the_apps_s2s_token_opens_the_publisher_api(
    base_url: str,
    runtime: Runtime,
    publisher: App,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    msg: str,
) -> None:
    with httpx.Client(timeout=HTTP_TIMEOUT, base_url=base_url) as http:
        http.post("/v1/publishers/users", json={"users": [user()]}, headers=HEADERS)
        response = http.request(method, path, json=body, headers=headers)

    envelope = assert_error_envelope(response, "401 Unauthorized")
    assert str(envelope["error"]["details"]["msg"]).startswith(msg)  # type: ignore[index]
    assert stored(runtime, publisher) is not None
