"""Client API v2: Get Surveys, the click flow and survey skips, over real HTTP on SQLite and
PostgreSQL, with Dynata's published sample opportunities in the index (as in
``test_client_actions``)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from surveyrouter.api.app import create_app
from surveyrouter.bootstrap import Runtime
from surveyrouter.domain.apps import App
from surveyrouter.domain.clicks import Click, ClickStatus, LeaveReason
from surveyrouter.domain.impressions import read_impression, sign_impression
from surveyrouter.services.apps import create_app as create_publisher_app
from surveyrouter.services.index_feed import IndexFeed
from surveyrouter.services.rewards import start_bonus_transaction_id
from surveyrouter.store.clicks import user_clicks
from surveyrouter.store.ledger import user_entries
from surveyrouter.store.outbox import get_callback
from surveyrouter.store.questions import (
    network_question_key,
)
from surveyrouter.store.schema import V2ClickRow
from surveyrouter.store.server_secrets import CLICK_LINK_SECRET, server_secret
from surveyrouter.store.users import find_user
from surveyrouter.store.v2_clicks import get_v2_click
from tests.integration.test_client_actions import (
    NETWORK,
    SURVEYS,
    index_samples,
    register_bank_question,
)
from tests.integration.test_server import HTTP_TIMEOUT, assert_error_envelope, serving

TOKEN = "survey-wall-v2-token-001"
HEADERS = {"X-Api-Token": TOKEN, "X-User-Id": "user-1"}
SURVEY_IDS = {f"1-{opportunity_id}" for opportunity_id in SURVEYS}
BANK = f"{NETWORK}_{network_question_key(100262)}"
# A young man in the zip collection (as in test_client_actions), and a bank 12872 takes.
ANSWERS = {
    "gender": ["1"],
    "birth_date": ["2004-03-01"],
    "postal_code": ["10110"],
    BANK: ["20000200"],
}


@dataclass
class Wall:
    http: httpx.Client
    runtime: Runtime
    publisher: App
    feed: IndexFeed
    url: str


def serve_wall(runtime: Runtime, rex_fixtures: Path, settings: dict[str, Any]) -> Iterator[Wall]:
    publisher = create_publisher_app(
        runtime.sessions,
        lambda: datetime.now(UTC),
        {"name": "Survey Wall", "api_token": TOKEN, "revenue_share": Decimal("0.7"), **settings},
    )
    register_bank_question(runtime)
    feed = index_samples(runtime, rex_fixtures)
    with (
        serving(create_app(runtime, feed=feed)) as url,
        httpx.Client(timeout=HTTP_TIMEOUT, base_url=url, headers=HEADERS) as http,
    ):
        yield Wall(http, runtime, publisher, feed, url)


@pytest.fixture
def wall(runtime: Runtime, rex_fixtures: Path) -> Iterator[Wall]:
    yield from serve_wall(runtime, rex_fixtures, {})


def surveys(wall: Wall, **params: str) -> dict[str, Any]:
    response = wall.http.get("/v2/client/surveys", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    data: dict[str, Any] = body["data"]
    return data


def listed(wall: Wall, survey_id: str, **params: str) -> dict[str, Any]:
    return next(s for s in surveys(wall, **params)["surveys"] if s["id"] == survey_id)


def create_click(wall: Wall, click_url: str) -> str:
    """POST the click URL (as an SDK does): the new click's id."""
    response = wall.http.post(click_url)
    assert response.status_code == 200, response.text
    click_id: str = response.json()["data"]["id"]
    return click_id


def click(wall: Wall, click_id: str) -> dict[str, Any]:
    response = wall.http.get(f"/v2/client/clicks/{click_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def update(wall: Wall, click_id: str, body: dict[str, Any]) -> httpx.Response:
    return wall.http.post(f"/v2/client/clicks/{click_id}", json=body)


def answer_until_redirect(wall: Wall, click_id: str) -> tuple[list[str], dict[str, Any]]:
    """Answer every question the click asks: the questions asked, and the final state."""
    asked: list[str] = []
    state = click(wall, click_id)
    while state["answer_question"] is not None:
        key = state["answer_question"]["question"]["id"]
        asked.append(key)
        assert len(asked) <= len(ANSWERS), asked
        response = update(wall, click_id, {"answer_question": {"answers": ANSWERS[key]}})
        assert response.status_code == 200, response.text
        state = response.json()["data"]
    return asked, state


def user_visits(wall: Wall, uid: str = "user-1") -> list[Click]:
    with wall.runtime.sessions() as session:
        assert wall.publisher.id is not None
        user = find_user(session, wall.publisher.id, uid)
        assert user is not None
        return user_clicks(session, user.id)


def test_a_new_user_is_listed_every_survey_the_matcher_leaves_open_with_every_field(
    wall: Wall,
) -> None:
    data = surveys(wall)
    assert data["restriction_reason"] is None
    listed_surveys = data["surveys"]
    assert {s["id"] for s in listed_surveys} == SURVEY_IDS  # no standard profile first
    sessions = set()
    for survey in listed_surveys:
        assert survey["type"] == "survey"
        assert survey["cpi"] == "0.54"  # $0.77 × 0.7
        assert survey["value"] == "540"
        assert survey["loi"] == 10.0
        assert (survey["country"], survey["language"]) == ("US", "en")
        assert 1 <= survey["rating"] <= 5
        assert set(survey["category"]) == {"name", "icon_name", "icon_url", "name_internal"}
        assert survey["category"]["icon_url"].endswith(f"{survey['category']['icon_name']}.svg")
        assert survey["tags"] == []
        link = urlsplit(survey["click_url"])
        assert link.path == "/v2/client/clicks"
        query = parse_qs(link.query)
        assert set(query) == {"i", "s"}
        sessions.add(query["s"][0])
    assert len(sessions) == 1  # one session per listing
    assert len({s["click_url"] for s in listed_surveys}) == len(SURVEY_IDS)
    again = surveys(wall)["surveys"]
    assert {s["id"] for s in again} == SURVEY_IDS  # ids are stable
    assert parse_qs(urlsplit(again[0]["click_url"]).query)["s"] != list(sessions)


@pytest.mark.parametrize(
    ("tags", "rule"),
    [
        ("&".join(f"k{n}=v" for n in range(11)), "at most 10 tags"),
        ("campaign=" + "x" * 51, "longer than 50 characters"),
        ("bad-key=1", "letters, digits and underscores"),
        ("hash=1", "reserved"),
    ],
)
def test_tags_that_break_a_rule_are_400_naming_it(wall: Wall, tags: str, rule: str) -> None:
    response = wall.http.get("/v2/client/surveys", params={"tags": tags})
    body = assert_error_envelope(response, "400 Bad Request")
    assert rule in body["error"]["details"]["msg"]  # type: ignore[index]


def test_tags_are_trimmed_and_lower_cased_and_ten_are_fine(wall: Wall) -> None:
    ten = "&".join(f"k{n}=v" for n in range(10))
    assert surveys(wall, tags=ten)["surveys"]
    assert surveys(wall, tags=" Campaign = Spring Sale ")["surveys"]


def test_algo_is_ux_or_qc_and_the_network_blacklist_leaves_networks_out(wall: Wall) -> None:
    assert {s["id"] for s in surveys(wall, algo="QC")["surveys"]} == SURVEY_IDS
    assert {s["id"] for s in surveys(wall, algo="ux")["surveys"]} == SURVEY_IDS
    assert_error_envelope(
        wall.http.get("/v2/client/surveys", params={"algo": "BEST"}), "400 Bad Request"
    )
    assert surveys(wall, network_blacklist="sandbox")["surveys"] == []
    assert surveys(wall, network_blacklist="rex, 1")["surveys"] == []
    assert {s["id"] for s in surveys(wall, network_blacklist="rex")["surveys"]} == SURVEY_IDS


def test_a_survey_waiting_for_answers_asks_them_in_the_click_then_redirects_to_its_entry_link(
    wall: Wall,
) -> None:
    survey = listed(wall, "1-12872", tags="campaign=spring&Placement= Home ")
    # Following the click URL at once: the questions are asked on the hosted page (a later
    # issue), so the user lands on the termination page with the reason and the click id.
    followed = wall.http.get(survey["click_url"], follow_redirects=False)
    assert followed.status_code == 307
    target = urlsplit(followed.headers["location"])
    assert target.path == "/v1/client/survey-unavailable"
    query = parse_qs(target.query)
    assert query["reason"] == ["missing_answers"]
    click_id = query["click_id"][0]

    first = click(wall, click_id)
    assert first["click_type"] == "survey"
    assert first["question_mode"] == "default"
    assert first["redirect"] is None
    assert (first["answered_questions"], first["required_questions"]) == (0, 3)
    assert first["survey_details"]["id"] == "1-12872"
    assert first["survey_details"]["cpi"] == "0.54"
    question = first["answer_question"]["question"]
    assert question["id"] == "gender"
    assert question["type"] == "SINGLE"
    assert question["can_skip"] is False
    assert question["is_duplicate"] is False
    assert question["validation_info"] == {"min": 1, "max": 1, "regex": None}

    asked, last = answer_until_redirect(wall, click_id)
    assert asked == ["gender", "birth_date", BANK]  # 12872 takes any postal code
    assert last["answer_question"] is None
    assert last["redirect"]["type"] == "survey"
    assert (last["answered_questions"], last["required_questions"]) == (3, 3)
    entry = urlsplit(last["redirect"]["url"])
    assert entry.netloc == urlsplit(wall.feed.opportunities[(NETWORK, 12872)].live_link).netloc
    (visit,) = user_visits(wall)
    assert parse_qs(entry.query)["sr_click"] == [visit.id]
    assert visit.opportunity_id == 12872
    assert dict(visit.tags) == {"campaign": "spring", "placement": "home"}

    # Asking again re-signs the same click's entry link; no second click.
    again = click(wall, click_id)
    assert parse_qs(urlsplit(again["redirect"]["url"]).query)["sr_click"] == [visit.id]
    assert len(user_visits(wall)) == 1
    with wall.runtime.sessions() as session:
        stored = get_v2_click(session, click_id)
    assert stored is not None
    assert (stored.state.value, stored.entered_click_id) == ("entered", visit.id)
    assert stored.answered_count == 3


def test_a_click_with_nothing_left_to_ask_redirects_straight_into_the_survey(wall: Wall) -> None:
    first = create_click(wall, listed(wall, "1-13231")["click_url"])
    answer_until_redirect(wall, first)
    # Every standard question is answered now: a second survey opens at once.
    survey = listed(wall, "1-13174")
    followed = wall.http.get(survey["click_url"], follow_redirects=False)
    assert followed.status_code == 307
    assert "sr_click" in parse_qs(urlsplit(followed.headers["location"]).query)
    assert {c.opportunity_id for c in user_visits(wall)} == {13231, 13174}


def test_a_validation_info_states_the_birth_dates_ages_and_the_postal_codes_pattern(
    wall: Wall,
) -> None:
    click_id = create_click(wall, listed(wall, "1-13231")["click_url"])
    update(wall, click_id, {"answer_question": {"answers": ["1"]}})
    birth_date = click(wall, click_id)["answer_question"]["question"]
    assert (birth_date["id"], birth_date["type"]) == ("birth_date", "DATE")
    assert birth_date["validation_info"] == {
        "min": 13,
        "max": 120,
        "regex": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    }
    update(wall, click_id, {"answer_question": {"answers": ["2004-03-01"]}})
    postal = click(wall, click_id)["answer_question"]["question"]
    assert postal["validation_info"] == {"min": 1, "max": 1000, "regex": "^(?:[0-9]{5})$"}


def test_each_post_takes_exactly_one_action_and_answers_are_validated(wall: Wall) -> None:
    click_id = create_click(wall, listed(wall, "1-12872")["click_url"])
    for body in (
        {},
        {"answer_question": {"answers": ["1"]}, "skip_question": True},
        {"skip_question": True, "leave_survey": {"reason": "OTHER"}},
    ):
        body_error = assert_error_envelope(update(wall, click_id, body), "400 Bad Request")
        assert "exactly one action" in body_error["error"]["details"]["msg"]  # type: ignore[index]
    invalid = update(wall, click_id, {"answer_question": {"answers": ["7"]}})
    message = assert_error_envelope(invalid, "400 Bad Request")["error"]["details"]["msg"]  # type: ignore[index]
    assert message.startswith("answers:")
    standard = update(wall, click_id, {"skip_question": True})
    assert (
        "cannot be skipped"
        in assert_error_envelope(standard, "400 Bad Request")["error"]["details"]["msg"]
    )  # type: ignore[index]
    for loose in ("true", 1):  # only a JSON true asks for a skip
        assert_error_envelope(
            update(wall, click_id, {"skip_question": loose}), "422 Unprocessable Entity"
        )
    assert click(wall, click_id)["answered_questions"] == 0
    # The network's own question can be skipped: the exchange's prescreen decides then.
    question = click(wall, click_id)["answer_question"]["question"]
    while question["id"] != BANK:
        answered = update(wall, click_id, {"answer_question": {"answers": ANSWERS[question["id"]]}})
        assert answered.status_code == 200, answered.text
        question = answered.json()["data"]["answer_question"]["question"]
    assert question["can_skip"] is True
    skipped = update(wall, click_id, {"skip_question": True, "sc_token": "ignored"})
    assert skipped.status_code == 200, skipped.text
    assert skipped.json()["data"]["redirect"]["type"] == "survey"
    nothing_left = update(wall, click_id, {"answer_question": {"answers": ["1"]}})
    assert_error_envelope(nothing_left, "400 Bad Request")
    rated = update(wall, click_id, {"rate_survey": {"rating": 4}})  # deprecated: no action
    assert rated.status_code == 200, rated.text


def test_leaving_marks_the_v2_click_and_the_entered_visit_left(wall: Wall) -> None:
    click_id = create_click(wall, listed(wall, "1-13231")["click_url"])
    answer_until_redirect(wall, click_id)
    left = update(wall, click_id, {"leave_survey": {"reason": "TOO_LONG"}})
    assert left.status_code == 200, left.text
    redirect = left.json()["data"]["redirect"]
    assert redirect["type"] == "termination"
    assert parse_qs(urlsplit(redirect["url"]).query)["reason"] == ["left"]
    (visit,) = user_visits(wall)
    assert (visit.status, visit.leave_reason) == (ClickStatus.LEFT, LeaveReason.TOO_LONG)
    with wall.runtime.sessions() as session:
        stored = get_v2_click(session, click_id)
    assert stored is not None
    assert stored.state.value == "left"
    # Leaving the flow before entering marks only the v2 click.
    other = create_click(wall, listed(wall, "1-12872")["click_url"])
    assert update(wall, other, {"leave_survey": {"reason": "OTHER"}}).status_code == 200
    assert len(user_visits(wall)) == 1
    bad = update(wall, other, {"leave_survey": {"reason": "BORED"}})
    assert_error_envelope(bad, "422 Unprocessable Entity")


def test_unknown_and_other_users_clicks_are_404(wall: Wall) -> None:
    click_id = create_click(wall, listed(wall, "1-13231")["click_url"])
    for unknown in ("0" * 32, "not-a-click", "x" * 64):
        assert_error_envelope(wall.http.get(f"/v2/client/clicks/{unknown}"), "404 Not Found")
        assert_error_envelope(
            wall.http.post(f"/v2/client/clicks/{unknown}", json={"skip_question": True}),
            "404 Not Found",
        )
    other_user = {"X-Api-Token": TOKEN, "X-User-Id": "user-2"}
    assert_error_envelope(
        wall.http.get(f"/v2/client/clicks/{click_id}", headers=other_user), "404 Not Found"
    )
    assert_error_envelope(
        wall.http.post(
            f"/v2/client/clicks/{click_id}",
            json={"leave_survey": {"reason": "OTHER"}},
            headers=other_user,
        ),
        "404 Not Found",
    )


def test_malformed_impressions_are_400_and_tampered_ones_403(wall: Wall) -> None:
    survey = listed(wall, "1-13231")
    query = {k: v[0] for k, v in parse_qs(urlsplit(survey["click_url"]).query).items()}
    token, session_id = query["i"], query["s"]
    body, _, signature = token.partition(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    cases = [
        ({"s": session_id}, "400 Bad Request"),
        ({"i": token}, "400 Bad Request"),
        ({"i": "garbage", "s": session_id}, "400 Bad Request"),
        ({"i": token, "s": "not a session!"}, "400 Bad Request"),
        ({"i": f"{body}.{flipped}", "s": session_id}, "403 Forbidden"),
        ({"i": token, "s": "0" * 36}, "403 Forbidden"),
    ]
    other = listed(wall, "1-13174")
    other_body = parse_qs(urlsplit(other["click_url"]).query)["i"][0].partition(".")[0]
    cases.append(({"i": f"{other_body}.{signature}", "s": session_id}, "403 Forbidden"))
    for params, status in cases:
        path = f"/v2/client/clicks?{urlencode(params)}"
        assert_error_envelope(wall.http.get(path, follow_redirects=False), status)
        assert_error_envelope(wall.http.post(path), status)
    assert user_visits(wall) == []


def test_a_click_adds_its_own_tags_to_the_listings(wall: Wall) -> None:
    survey = listed(wall, "1-12872", tags="campaign=spring&placement=home")
    clicked = create_click(
        wall, f"{survey['click_url']}&{urlencode({'tags': 'Placement=Banner&ab=b'})}"
    )

    with wall.runtime.sessions() as session:
        stored = get_v2_click(session, clicked)
    assert stored is not None
    assert dict(stored.tags) == {"campaign": "spring", "placement": "banner", "ab": "b"}


@pytest.mark.parametrize(
    ("tags", "rule"),
    [
        ("hash=x", "reserved"),
        ("k=v&k=w", "given twice"),
        ("&".join(f"k{n}=v" for n in range(9)), "the listing's and the click's together"),
    ],
)
def test_click_tags_that_break_a_rule_are_400_and_make_no_click(
    wall: Wall, tags: str, rule: str
) -> None:
    survey = listed(wall, "1-12872", tags="campaign=spring&placement=home")
    path = f"{survey['click_url']}&{urlencode({'tags': tags})}"
    for response in (wall.http.get(path, follow_redirects=False), wall.http.post(path)):
        body = assert_error_envelope(response, "400 Bad Request")
        assert rule in str(body["error"])
    with wall.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(V2ClickRow)) == 0


def test_an_expired_impression_sends_the_browser_to_the_termination_url_and_the_api_410(
    wall: Wall,
) -> None:
    survey = listed(wall, "1-13231")
    query = {k: v[0] for k, v in parse_qs(urlsplit(survey["click_url"]).query).items()}
    now = datetime.now(UTC)
    with wall.runtime.sessions() as session:
        secret = server_secret(session, CLICK_LINK_SECRET, now)
    impression = read_impression(secret, query["i"], query["s"], now)
    old = sign_impression(secret, replace(impression, issued_at=now - timedelta(days=2)))
    path = f"/v2/client/clicks?{urlencode({'i': old, 's': query['s']})}"

    opened = wall.http.get(path, follow_redirects=False)
    assert opened.status_code == 307
    target = urlsplit(opened.headers["location"])
    assert parse_qs(target.query)["reason"] == ["expired_link"]
    assert_error_envelope(wall.http.post(path), "410 Gone")
    assert user_visits(wall) == []


@pytest.fixture
def bonus_wall(runtime: Runtime, rex_fixtures: Path) -> Iterator[Wall]:
    yield from serve_wall(
        runtime,
        rex_fixtures,
        {"start_bonus_reward": Decimal(50), "start_bonus_questions": 2},
    )


def test_an_unpaid_start_bonus_leads_and_its_click_asks_until_it_is_paid(
    bonus_wall: Wall,
) -> None:
    wall = bonus_wall
    first = surveys(wall)["surveys"]
    bonus = first[0]
    assert (bonus["type"], bonus["id"], bonus["value"], bonus["cpi"]) == (
        "start_bonus",
        "start_bonus",
        "50",
        "0",
    )
    assert {s["id"] for s in first[1:]} == SURVEY_IDS
    click_id = create_click(wall, bonus["click_url"])
    state = click(wall, click_id)
    assert state["click_type"] == "start_bonus"
    assert (state["answered_questions"], state["required_questions"]) == (0, 2)
    assert state["answer_question"]["question"]["id"] == "gender"
    asked, last = answer_until_redirect(wall, click_id)
    assert asked == ["gender", "birth_date"]
    assert last["redirect"]["type"] == "start_bonus"
    assert urlsplit(last["redirect"]["url"]).path == "/v2/client/start-bonus-complete"
    assert (last["answered_questions"], last["required_questions"]) == (2, 2)
    assert wall.http.get(last["redirect"]["url"]).status_code == 200
    # The user closes the window afterwards: the paid bonus stays done.
    closed = update(wall, click_id, {"leave_survey": {"reason": "OTHER"}})
    assert closed.status_code == 200, closed.text
    assert closed.json()["data"]["redirect"]["type"] == "start_bonus"
    with wall.runtime.sessions() as session:
        assert wall.publisher.id is not None
        user = find_user(session, wall.publisher.id, "user-1")
        assert user is not None
        entries = user_entries(session, user.id)
    assert [(e.reward.kind.value, e.reward.value) for e in entries] == [
        ("START_BONUS", Decimal(50))
    ]
    assert "start_bonus" not in {s["id"] for s in surveys(wall)["surveys"]}


def test_a_start_bonus_listed_with_tags_pays_a_callback_that_carries_them(
    runtime: Runtime, rex_fixtures: Path
) -> None:
    settings = {
        "start_bonus_reward": Decimal(50),
        "start_bonus_questions": 2,
        "callback_url": "https://pub.example/cb?uid=[%UID%]&val=[%VAL%]&tx=[%TX%]",
    }
    for wall in serve_wall(runtime, rex_fixtures, settings):
        bonus = surveys(wall, tags="campaign=spring")["surveys"][0]
        assert bonus["type"] == "start_bonus"
        click_id = create_click(wall, f"{bonus['click_url']}&{urlencode({'tags': 'ab=b'})}")
        _asked, last = answer_until_redirect(wall, click_id)
        assert last["redirect"]["type"] == "start_bonus"
        with wall.runtime.sessions() as session:
            assert wall.publisher.id is not None
            user = find_user(session, wall.publisher.id, "user-1")
            assert user is not None
            callback = get_callback(session, start_bonus_transaction_id(user.id))
        assert callback is not None
        query = parse_qs(urlsplit(callback.url).query)
        assert (query["campaign"], query["ab"], query["val"]) == (["spring"], ["b"], ["50"])


def test_skipping_a_survey_hides_it_from_v1_and_v2_listings(wall: Wall) -> None:
    for key in ("gender", "birth_date", "postal_code"):
        answered = wall.http.post(
            f"/v1/client/networks/0/questions/{key}", json={"answers": ANSWERS[key]}
        )
        assert answered.status_code == 200, answered.text
    skipped = wall.http.post("/v2/client/surveys/1-13231/skip")
    assert skipped.status_code == 200, skipped.text
    assert skipped.json()["data"] == {}
    assert wall.http.post("/v2/client/surveys/1-13231/skip").status_code == 200  # a retry
    assert {s["id"] for s in surveys(wall)["surveys"]} == SURVEY_IDS - {"1-13231"}
    v1 = wall.http.get("/v1/client/actions").json()["data"]["surveys"]
    assert {s["id"] for s in v1} == set(SURVEYS) - {13231}
    other_user = {"X-Api-Token": TOKEN, "X-User-Id": "user-2"}
    other = wall.http.get("/v2/client/surveys", headers=other_user).json()["data"]["surveys"]
    assert "1-13231" in {s["id"] for s in other}
    for unknown in ("13231", "9-13231", "start_bonus", "1-999999999999"):
        assert_error_envelope(wall.http.post(f"/v2/client/surveys/{unknown}/skip"), "404 Not Found")


def test_the_same_survey_skipped_by_requests_at_once_is_hidden_once(wall: Wall) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(
                lambda _: httpx.post(
                    str(wall.http.base_url.join("/v2/client/surveys/1-13174/skip")),
                    headers=HEADERS,
                    timeout=30,
                ),
                range(4),
            )
        )
    assert [response.status_code for response in answers] == [200] * 4
    assert "1-13174" not in {s["id"] for s in surveys(wall)["surveys"]}
