"""Get Actions, the survey check, opening and leaving surveys, over real HTTP on SQLite and
PostgreSQL, with Dynata's published sample opportunities in the index."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from surveyrouter.api.app import create_app
from surveyrouter.bootstrap import Runtime, build_runtime
from surveyrouter.domain.apps import App
from surveyrouter.domain.clicks import LeaveReason
from surveyrouter.domain.matcher import Matcher
from surveyrouter.domain.questions import AnswerOption, Question, QuestionType
from surveyrouter.networks.rex.opportunities import parse_opportunity
from surveyrouter.services.apps import change_app
from surveyrouter.services.apps import create_app as create_publisher_app
from surveyrouter.services.index_feed import IndexFeed
from surveyrouter.settings import Settings
from surveyrouter.store.clicks import user_clicks
from surveyrouter.store.collections import put_collection
from surveyrouter.store.db import transaction
from surveyrouter.store.impressions import impressions
from surveyrouter.store.ledger import user_entries
from surveyrouter.store.opportunities import upsert_opportunities
from surveyrouter.store.questions import (
    NetworkAttribute,
    network_question_key,
    put_network_attribute,
)
from surveyrouter.store.users import ban_user, find_user
from tests.integration.test_server import HTTP_TIMEOUT, assert_error_envelope, serving

TOKEN = "survey-wall-api-token-01"
HEADERS = {"X-Api-Token": TOKEN, "X-User-Id": "user-1"}
NETWORK = "sandbox"
SANDBOX_API_ID = 1
COLLECTION_ID = "2169971"
# 13174 (zip collection) and 13231 take a young man in the collection; 12872 waits for
# attribute 100262, which no question of ours asks. Each gets a project of its own here so
# entering one is no duplicate of the others.
SURVEYS = {13174: 1001, 13231: 1002, 12872: 1003}
STANDARD = {"gender": ["1"], "birth_date": ["2004-03-01"], "postal_code": ["10110"]}


@dataclass
class Wall:
    http: httpx.Client
    runtime: Runtime
    publisher: App
    app: FastAPI | None = None  # the wall fixture's, to flush its impression counts


@pytest.fixture
def publisher(runtime: Runtime) -> App:
    return create_publisher_app(
        runtime.sessions,
        lambda: datetime.now(UTC),
        {"name": "Survey Wall", "api_token": TOKEN, "revenue_share": Decimal("0.7")},
    )


def index_samples(runtime: Runtime, rex_fixtures: Path) -> IndexFeed:
    notifications = json.loads((rex_fixtures / "receive_notifications.json").read_text())
    by_id = {item["id"]: item for item in notifications}
    items = []
    for opportunity_id, project_id in SURVEYS.items():
        raw: dict[str, Any] = copy.deepcopy(by_id[opportunity_id])
        raw["project_id"] = project_id
        items.append((parse_opportunity(raw, NETWORK), raw))
    zips = (rex_fixtures / "download_collection.txt").read_text().split()
    now = datetime.now(UTC)
    with transaction(runtime.sessions) as session:
        upsert_opportunities(session, NETWORK, items, now)
        put_collection(session, NETWORK, COLLECTION_ID, zips, now)
    feed = IndexFeed(Matcher(), runtime.sessions)
    feed.catch_up()
    return feed


def register_bank_question(runtime: Runtime) -> None:
    """12872 waits for attribute 100262, which no library question maps: the exchange's
    catalogue describes it, so it is asked as the network's own question."""
    options = (("20000144", "Bank A"), ("20000200", "Bank B"))
    question = Question(
        id=100262,
        key=network_question_key(100262),
        type=QuestionType.SINGLE,
        text={"en": "Which bank do you use most?"},
        answers=tuple(AnswerOption(code, {"en": text}) for code, text in options),
    )
    with transaction(runtime.sessions) as session:
        put_network_attribute(
            session,
            NetworkAttribute(
                network_id=NETWORK,
                attribute_id=100262,
                name="Main bank",
                display_mode="single_punch",
                question=question,
                unaskable=None,
                raw={},
                fetched_at=datetime.now(UTC),
            ),
        )


@pytest.fixture
def wall(runtime: Runtime, publisher: App, rex_fixtures: Path) -> Iterator[Wall]:
    feed = index_samples(runtime, rex_fixtures)
    app = create_app(runtime, feed=feed)
    with (
        serving(app) as url,
        httpx.Client(timeout=HTTP_TIMEOUT, base_url=url, headers=HEADERS) as http,
    ):
        yield Wall(http, runtime, publisher, app)


def change(wall: Wall, changes: dict[str, Any]) -> None:
    assert wall.publisher.id is not None
    # The server's next client call sees it: no cache to clear or wait out.
    change_app(wall.runtime.sessions, lambda: datetime.now(UTC), wall.publisher.id, changes)


def actions(wall: Wall, **params: str) -> dict[str, Any]:
    response = wall.http.get("/v1/client/actions", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    data: dict[str, Any] = body["data"]
    return data


def answer_standard_profile(wall: Wall) -> None:
    for key, values in STANDARD.items():
        response = wall.http.post(
            f"/v1/client/networks/0/questions/{key}", json={"answers": values}
        )
        assert response.status_code == 200, response.text


def test_a_new_user_is_asked_the_standard_profile_first_and_sees_no_surveys(wall: Wall) -> None:
    data = actions(wall)
    assert data["is_new_user"] is True
    assert data["surveys"] == []
    assert data["restriction_reason"] is None
    assert data["start_bonus"] is None
    qualification = data["qualification"]
    assert qualification["network_id"] == 0
    assert qualification["question_id"] == "gender"
    assert qualification["is_standard_profile"] is True
    assert qualification["sequence"] == 1
    question = qualification["question"]
    assert question["id"] == "gender"
    assert question["type"] == "SINGLE"
    assert question["can_skip"] is False
    assert {a["code"] for a in question["answers"]} >= {"1", "2"}
    # v2's validation_info on v1 questions too: the hosted offerwall checks answers with it.
    assert question["validation_info"] == {"min": 1, "max": 1, "regex": None}


def test_with_the_standard_profile_the_user_sees_ranked_surveys_with_every_field(
    wall: Wall,
) -> None:
    answer_standard_profile(wall)
    data = actions(wall)
    surveys = data["surveys"]
    assert {s["id"] for s in surveys} == set(SURVEYS)
    assert [s["sequence"] for s in surveys] == sorted(s["sequence"] for s in surveys)
    scores = [s["score"] for s in surveys]
    assert scores == sorted(scores, reverse=True)
    for survey in surveys:
        assert survey["network_id"] == SANDBOX_API_ID
        assert survey["cpi"] == "0.54"  # $0.77 × 0.7, half up to the cent
        assert survey["value"] == "540"  # 1000 points per USD, whole units
        assert survey["country"] == "US"
        assert survey["loi"] == 10.0
        assert 1 <= survey["rating"] <= 5
        assert survey["details"]["difficulty"] in {"EASY", "MEDIUM", "HARD"}
        assert survey["details"]["network"]["name"]
        assert survey["details"]["category"]["name_internal"]
        assert survey["tags"] == []
        assert survey["test_group_id"] == 0
        assert survey["missing_questions"] == 0  # 100262 is left to the exchange's prescreen
        assert survey["next_missing_question"] is None
        assert survey["remaining"] >= 0
        link = urlsplit(survey["link"])
        assert link.path == f"/v1/client/networks/1/surveys/{survey['id']}/open"
        assert {"app", "uid", "ts", "hash"} <= set(parse_qs(link.query))
    # Counted in memory, written every few seconds and when the server stops; flushed now.
    assert wall.app is not None
    assert wall.app.state.offers.impressions.flush() == len(SURVEYS)
    with wall.runtime.sessions() as session:
        assert wall.publisher.id is not None
        counted = impressions(session, wall.publisher.id)
    assert [(i.network_id, i.count) for i in counted] == [(NETWORK, len(SURVEYS))]


def test_opening_a_survey_records_the_click_and_redirects_to_the_signed_entry_link(
    wall: Wall,
) -> None:
    answer_standard_profile(wall)
    survey = next(s for s in actions(wall)["surveys"] if s["id"] == 13231)
    response = wall.http.get(survey["link"], follow_redirects=False)
    assert response.status_code == 307
    entry = urlsplit(response.headers["location"])
    query = parse_qs(entry.query)
    assert {"respondent_id", "sr_click", "signature", "expiration"} <= set(query)
    assert query["gender"] == ["male"]
    assert query["birth_date"] == ["2004-03-01"]
    with wall.runtime.sessions() as session:
        assert wall.publisher.id is not None
        user = find_user(session, wall.publisher.id, "user-1")
        assert user is not None
        clicks = user_clicks(session, user.id)
    assert [(c.opportunity_id, c.exchange_cpi, c.id) for c in clicks] == [
        (13231, Decimal("0.77"), query["sr_click"][0])
    ]
    assert query["respondent_id"] == [user.respondent_id]
    after = actions(wall)
    assert after["is_new_user"] is False
    assert 13231 not in {s["id"] for s in after["surveys"]}  # an entered project never returns
    again = wall.http.get(survey["link"], follow_redirects=False)
    assert again.status_code == 307
    assert urlsplit(again.headers["location"]).path == "/v1/client/survey-unavailable"
    assert parse_qs(urlsplit(again.headers["location"]).query)["reason"] == ["duplicate"]


def test_a_survey_that_cannot_open_goes_to_the_apps_termination_url_with_the_reason(
    wall: Wall,
) -> None:
    change(wall, {"redirect_termination_url": "https://wall.example/terminated?src=sr"})
    answer_standard_profile(wall)
    survey = actions(wall)["surveys"][0]
    # Every sample takes men only; the user corrects their gender.
    wall.http.post("/v1/client/networks/0/questions/gender", json={"answers": ["2"]})
    response = wall.http.get(survey["link"], follow_redirects=False)
    assert response.status_code == 307
    target = urlsplit(response.headers["location"])
    assert (target.netloc, target.path) == ("wall.example", "/terminated")
    assert parse_qs(target.query) == {"src": ["sr"], "reason": ["not_qualified"]}


def test_a_tampered_or_forged_link_is_refused_in_the_envelope(wall: Wall) -> None:
    answer_standard_profile(wall)
    link = actions(wall)["surveys"][0]["link"]
    tampered = link.replace("uid=user-1", "uid=user-2")
    assert_error_envelope(wall.http.get(tampered, follow_redirects=False), "403 Forbidden")
    other_survey = link.replace("/surveys/", "/surveys/9")
    assert_error_envelope(wall.http.get(other_survey, follow_redirects=False), "403 Forbidden")
    unsigned = link.split("?")[0]
    assert_error_envelope(wall.http.get(unsigned, follow_redirects=False), "403 Forbidden")
    with wall.runtime.sessions() as session:
        assert wall.publisher.id is not None
        user = find_user(session, wall.publisher.id, "user-1")
        assert user is not None
        assert user_clicks(session, user.id) == []


def test_restrictions_answer_200_with_the_reason_and_no_surveys(wall: Wall) -> None:
    answer_standard_profile(wall)
    assert wall.publisher.id is not None
    with transaction(wall.runtime.sessions) as session:
        user = find_user(session, wall.publisher.id, "user-1")
        assert user is not None
        until = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
        ban_user(session, user.id, until, "too many speeders")
    data = actions(wall)
    assert data["surveys"] == []
    assert data["qualification"] is None
    assert data["restriction_reason"] == {
        "not_verified": False,
        "using_vpn": False,
        "banned_until": "2030-01-02T03:04:05Z",
        "reason": "too many speeders",
        "unsupported_country": None,
    }
    with transaction(wall.runtime.sessions) as session:
        ban_user(session, user.id, datetime.now(UTC) - timedelta(days=1), "served")
    assert actions(wall)["restriction_reason"] is None


def test_an_unverified_app_and_an_unserved_country_are_restrictions(wall: Wall) -> None:
    actions(wall)  # first seen, in the US (the app's default)
    change(
        wall, {"verified": False, "allowed_countries": frozenset({"DE"}), "default_country": "DE"}
    )
    reason = actions(wall)["restriction_reason"]
    assert reason["not_verified"] is True
    assert reason["unsupported_country"] == "US"  # the user's stored country


def test_check_says_whether_a_survey_can_be_opened(wall: Wall) -> None:
    first = wall.http.get("/v1/client/check")
    assert first.status_code == 200
    assert first.json()["data"] == {"has_surveys": False}  # the standard profile is missing
    answer_standard_profile(wall)
    assert wall.http.get("/v1/client/check").json()["data"] == {"has_surveys": True}


def test_leaving_marks_the_visit_once_a_retry_is_fine_and_an_unopened_survey_is_404(
    wall: Wall,
) -> None:
    answer_standard_profile(wall)
    first, second = actions(wall)["surveys"][:2]
    wall.http.get(first["link"], follow_redirects=False)
    path = f"/v1/client/networks/1/surveys/{first['id']}/leave"
    left = wall.http.post(path, json={"reason": "TOO_LONG"})
    assert left.status_code == 200, left.text
    assert left.json()["data"] == {}
    assert wall.http.post(path, json={"reason": "OTHER"}).status_code == 200  # a retry
    with wall.runtime.sessions() as session:
        assert wall.publisher.id is not None
        user = find_user(session, wall.publisher.id, "user-1")
        assert user is not None
        (click,) = user_clicks(session, user.id)
    assert (click.status.value, click.leave_reason) == ("left", LeaveReason.TOO_LONG)
    never_opened = f"/v1/client/networks/1/surveys/{second['id']}/leave"
    assert_error_envelope(wall.http.post(never_opened, json={"reason": "OTHER"}), "404 Not Found")
    unknown_network = f"/v1/client/networks/7/surveys/{first['id']}/leave"
    assert_error_envelope(
        wall.http.post(unknown_network, json={"reason": "OTHER"}), "404 Not Found"
    )
    bored = assert_error_envelope(
        wall.http.post(path, json={"reason": "BORED"}), "422 Unprocessable Entity"
    )
    # The values it names are the ones to send, as they are spelled.
    assert "input should be 'OTHER'" in bored["error"]["details"]["msg"]  # type: ignore[index]
    assert_error_envelope(
        wall.http.post(path, content=b"{", headers={"Content-Type": "application/json"}),
        "422 Unprocessable Entity",
    )


def test_a_username_that_is_not_letters_and_digits_is_refused(wall: Wall) -> None:
    response = wall.http.get("/v1/client/actions", params={"username": "bobby tables;"})
    assert_error_envelope(response, "422 Unprocessable Entity")
    assert actions(wall, username="Bobby42")["is_new_user"] is True
    with wall.runtime.sessions() as session:
        assert wall.publisher.id is not None
        user = find_user(session, wall.publisher.id, "user-1")
    assert user is not None
    assert user.username == "Bobby42"


def test_the_start_bonus_is_offered_then_paid_once_when_its_questions_are_answered(
    runtime: Runtime, rex_fixtures: Path
) -> None:
    bonus_app = create_publisher_app(
        runtime.sessions,
        lambda: datetime.now(UTC),
        {
            "name": "Bonus Wall",
            "api_token": "bonus-wall-api-token-1",
            "start_bonus_reward": Decimal(50),
            "start_bonus_questions": 3,
        },
    )
    feed = index_samples(runtime, rex_fixtures)
    headers = {"X-Api-Token": "bonus-wall-api-token-1", "X-User-Id": "bonus-user"}
    with (
        serving(create_app(runtime, feed=feed)) as url,
        httpx.Client(timeout=HTTP_TIMEOUT, base_url=url, headers=headers) as http,
    ):
        wall = Wall(http, runtime, bonus_app)
        first = actions(wall)
        assert first["start_bonus"] == {"reward": "50"}
        assert first["qualification"]["is_start_bonus"] is True
        answer_standard_profile(wall)
        answer_standard_profile(wall)  # answered again: still one bonus
        after = actions(wall)
    assert after["start_bonus"] is None
    assert bonus_app.id is not None
    with runtime.sessions() as session:
        user = find_user(session, bonus_app.id, "bonus-user")
        assert user is not None
        entries = user_entries(session, user.id)
    assert [(e.reward.kind.value, e.reward.value) for e in entries] == [
        ("START_BONUS", Decimal(50))
    ]


def test_a_vpn_user_gets_the_reason_from_actions_and_406_elsewhere(
    database_url: str, runtime: Runtime, publisher: App, tmp_path: Path
) -> None:
    listed = tmp_path / "vpn.txt"
    listed.write_text("# every loopback address is an anonymising exit here\n127.0.0.0/8\n")
    settings = Settings(database_url=database_url, anonymous_ip_cidr_files=[listed])
    behind_vpn = build_runtime(settings)
    try:
        with (
            serving(create_app(behind_vpn)) as url,
            httpx.Client(timeout=HTTP_TIMEOUT, base_url=url, headers=HEADERS) as http,
        ):
            data = actions(Wall(http, behind_vpn, publisher))
            assert data["restriction_reason"]["using_vpn"] is True
            assert data["surveys"] == []
            assert data["qualification"] is None
            refused = [
                http.get("/v1/client/check"),
                http.get("/v1/client/user"),
                http.post("/v1/client/networks/0/questions/gender", json={"answers": ["1"]}),
                http.post("/v1/client/networks/0/questions/pets/skip"),
                http.post("/v1/client/networks/1/surveys/1/leave", json={"reason": "OTHER"}),
            ]
    finally:
        behind_vpn.close()
    for response in refused:
        body = assert_error_envelope(response, "406 Not Acceptable")
        assert body["error"]["details"]["msg"] == "vpn detected"  # type: ignore[index]


def test_an_attribute_no_library_question_maps_is_asked_as_the_networks_own_question(
    runtime: Runtime, publisher: App, rex_fixtures: Path
) -> None:
    """12872 waits for attribute 100262 alone. Once the exchange's catalogue describes it, it is
    the qualification (on the sandbox's network id), the survey names it as its missing
    question, and answering it opens the survey."""
    register_bank_question(runtime)
    feed = index_samples(runtime, rex_fixtures)
    with (
        serving(create_app(runtime, feed=feed)) as url,
        httpx.Client(timeout=HTTP_TIMEOUT, base_url=url, headers=HEADERS) as http,
    ):
        wall = Wall(http, runtime, publisher)
        answer_standard_profile(wall)
        data = actions(wall)
        qualification = data["qualification"]
        assert qualification["network_id"] == SANDBOX_API_ID
        assert qualification["question_id"] == "sandbox_attribute_100262"
        assert qualification["is_standard_profile"] is False
        assert qualification["question"]["can_skip"] is True
        assert qualification["score"] > 0
        waiting = next(s for s in data["surveys"] if s["id"] == 12872)
        assert waiting["missing_questions"] == 1
        assert waiting["next_missing_question"]["id"] == "sandbox_attribute_100262"
        assert waiting["next_missing_question"]["network_id"] == SANDBOX_API_ID
        blocked = http.get(waiting["link"], follow_redirects=False)
        assert parse_qs(urlsplit(blocked.headers["location"]).query)["reason"] == [
            "missing_answers"
        ]
        on_library = http.post(
            "/v1/client/networks/0/questions/sandbox_attribute_100262",
            json={"answers": ["20000200"]},
        )
        assert_error_envelope(on_library, "404 Not Found")
        answered = http.post(
            "/v1/client/networks/1/questions/sandbox_attribute_100262",
            json={"answers": ["20000200"]},  # not among the banks 12872 excludes
        )
        assert answered.status_code == 200, answered.text
        after = actions(wall)
        opened = next(s for s in after["surveys"] if s["id"] == 12872)
        assert opened["missing_questions"] == 0
        assert after["qualification"] is None
        entry = http.get(opened["link"], follow_redirects=False).headers["location"]
        live_link = feed.opportunities[(NETWORK, 12872)].live_link
        assert urlsplit(entry).netloc == urlsplit(live_link).netloc


def test_a_survey_opened_by_several_requests_at_once_is_entered_once(wall: Wall) -> None:
    """A double tap, or an SDK retrying: the requests race, one click is recorded, the others
    are told the user has taken part already."""
    answer_standard_profile(wall)
    survey = actions(wall)["surveys"][0]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(
                lambda _: httpx.get(
                    survey["link"], headers=HEADERS, follow_redirects=False, timeout=30
                ),
                range(4),
            )
        )
    assert all(response.status_code == 307 for response in answers)
    entered = [r for r in answers if "sr_click" in r.headers["location"]]
    refused = [r for r in answers if "reason=duplicate" in r.headers["location"]]
    assert (len(entered), len(refused)) == (1, 3)
    with wall.runtime.sessions() as session:
        assert wall.publisher.id is not None
        user = find_user(session, wall.publisher.id, "user-1")
        assert user is not None
        assert len(user_clicks(session, user.id)) == 1


def test_get_actions_says_where_its_time_went_in_server_timing(wall: Wall) -> None:
    answer_standard_profile(wall)
    response = wall.http.get("/v1/client/actions")
    assert response.status_code == 200, response.text

    entries = dict(
        entry.strip().split(";dur=") for entry in response.headers["server-timing"].split(",")
    )
    stages = ["auth", "context", "profile", "match", "rank", "listing", "impressions"]
    assert [name for name in entries if name in stages] == stages
    assert {"serialise", "app"} <= set(entries)
    assert all(float(ms) >= 0 for ms in entries.values())
    assert float(entries["app"]) >= max(float(entries[name]) for name in stages)
    assert wall.http.get("/healthz").headers["server-timing"].startswith("app;dur=")


def test_links_go_under_the_public_url_whatever_host_the_request_named(
    database_url: str, publisher: App, rex_fixtures: Path
) -> None:
    settings = Settings(database_url=database_url, public_url="https://wall.example/sr/")
    public = build_runtime(settings)
    try:
        feed = index_samples(public, rex_fixtures)
        headers = {**HEADERS, "Host": "evil.example"}
        with (
            serving(create_app(public, feed=feed)) as url,
            httpx.Client(timeout=HTTP_TIMEOUT, base_url=url, headers=headers) as http,
        ):
            wall = Wall(http, public, publisher)
            answer_standard_profile(wall)
            links = [survey["link"] for survey in actions(wall)["surveys"]]
    finally:
        public.close()
    assert links
    assert all(link.startswith("https://wall.example/sr/v1/client/networks/") for link in links)


def test_without_a_public_url_links_go_where_the_request_came(wall: Wall) -> None:
    answer_standard_profile(wall)
    links = [survey["link"] for survey in actions(wall)["surveys"]]
    assert links
    assert all(link.startswith(f"{wall.http.base_url}".rstrip("/") + "/v1/") for link in links)
