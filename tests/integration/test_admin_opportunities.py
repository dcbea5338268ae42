"""The dashboard's opportunity browser over real HTTP, on SQLite and PostgreSQL: filters,
sorting, pages, one opportunity's page, and a chosen user's verdicts as the reference
evaluator gives them."""

from __future__ import annotations

import dataclasses
import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from surveyrouter.bootstrap import Runtime
from surveyrouter.clock import utc_now
from surveyrouter.domain.apps import App
from surveyrouter.domain.opportunity import Device, OpportunityStatus
from surveyrouter.domain.profile import Gender, Profile
from surveyrouter.domain.targeting import evaluate
from surveyrouter.domain.users import User
from surveyrouter.networks.rex.opportunities import parse_opportunity
from surveyrouter.services.apps import create_app as create_publisher_app
from surveyrouter.services.profile_answers import answer_question
from surveyrouter.store.db import transaction
from surveyrouter.store.opportunities import close_opportunities, upsert_opportunities
from surveyrouter.store.question_library import load_question_library
from surveyrouter.store.users import remember_context, user_on_sight
from tests.integration.admin_session import dashboard
from tests.integration.test_server import HTTP_TIMEOUT

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LIBRARY = load_question_library()
BIRTH_DATE = date(1990, 5, 1)
_ROW = re.compile(r'<tr data-opportunity="([^"]+)">(.*?)</tr>', re.DOTALL)
_VERDICT = re.compile(r'data-verdict="([^"]+)"')
_LINK = re.compile(r'<a rel="(prev|next)" href="([^"]+)"')


@pytest.fixture
def browser(runtime: Runtime) -> Iterator[httpx.Client]:
    with dashboard(runtime) as (http, _csrf):
        yield http


def payload(rex_fixtures: Path, external_id: int, **changes: Any) -> dict[str, Any]:
    """The real REX fixture opportunity, open, under another id (project 1000000 + id)."""
    raw: dict[str, Any] = json.loads((rex_fixtures / "get_opportunity.json").read_text())
    raw.update(id=external_id, status="OPEN", project_id=1_000_000 + external_id)
    raw.update(changes)
    return raw


def store(
    runtime: Runtime, *payloads: dict[str, Any], network: str = "sandbox", at: datetime = AT
) -> None:
    """Through the sync path's own upsert, in order (the last one is the newest change)."""
    items = [(parse_opportunity(raw, network), raw) for raw in payloads]
    with transaction(runtime.sessions) as session:
        upsert_opportunities(session, network, items, at=at)


def listed(page: httpx.Response) -> list[str]:
    assert page.status_code == 200, page.text
    return [key for key, _ in _ROW.findall(page.text)]


def verdicts(page: httpx.Response) -> dict[str, tuple[str, str]]:
    """Each listed opportunity's verdict: its result and its text."""
    found = {}
    for key, cells in _ROW.findall(page.text):
        match = _VERDICT.search(cells)
        assert match, f"no verdict for {key}"
        text = re.sub(r"<[^>]+>", "", cells[match.end() :].split("</td>")[0][1:])
        found[key] = (match.group(1), " ".join(html.unescape(text).split()))
    return found


def code_block(page: httpx.Response, block_id: str) -> Any:
    match = re.search(rf'<code id="{block_id}">(.*?)</code>', page.text, re.DOTALL)
    assert match, f"no {block_id} on the page"
    return json.loads(html.unescape(match.group(1)))


def test_the_list_shows_every_column_newest_change_first_every_control_labelled(
    browser: httpx.Client, runtime: Runtime, rex_fixtures: Path
) -> None:
    store(runtime, payload(rex_fixtures, 1), payload(rex_fixtures, 2))
    store(runtime, payload(rex_fixtures, 3, cost_per_interview=1.5), network="rex")
    store(runtime, payload(rex_fixtures, 1, length_of_interview=12))  # 1 written again

    page = browser.get("/admin/opportunities")

    assert listed(page) == ["sandbox/1", "rex/3", "sandbox/2"]
    row = dict(_ROW.findall(page.text))["rex/3"]
    cells = [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in row.split("</td>")]
    assert cells[:11] == [
        "rex",
        "3",
        "1000003",
        "US-en",
        "OPEN",
        "1.50",
        "10",
        "100",
        "desktop, mobile, tablet",
        "572",
        "2026-11-23 12:00:00 UTC",
    ]
    assert 'href="/admin/opportunities/rex/3"' in row
    assert "1–3 of 3" in page.text
    assert 'aria-current="page">Opportunities' in page.text
    controls = re.findall(r'<(?:input|select) id="([^"]+)"', page.text)
    assert len(controls) == 10
    for control in controls:
        assert f'<label for="{control}">' in page.text, control


def test_each_filter_narrows_the_list(
    browser: httpx.Client, runtime: Runtime, rex_fixtures: Path
) -> None:
    store(
        runtime,
        payload(rex_fixtures, 1, cost_per_interview=0.5, length_of_interview=5),
        payload(rex_fixtures, 2, cost_per_interview=2.25, length_of_interview=20),
        payload(rex_fixtures, 3, status="PAUSED", locale={"country": "DE", "language": "de"}),
        payload(rex_fixtures, 4, status="CLOSED", locale={"country": "US", "language": "es"}),
    )
    store(runtime, payload(rex_fixtures, 5, project_id=77), network="rex")

    cases = {
        "network=rex": ["rex/5"],
        "network=sandbox": ["sandbox/4", "sandbox/3", "sandbox/2", "sandbox/1"],
        "status=OPEN": ["rex/5", "sandbox/2", "sandbox/1"],
        "status=paused": ["sandbox/3"],
        "status=CLOSED": ["sandbox/4"],
        "country=de": ["sandbox/3"],
        "language=ES": ["sandbox/4"],
        "min_cpi=0.77": ["rex/5", "sandbox/4", "sandbox/3", "sandbox/2"],
        "min_cpi=2.2501": [],
        "min_cpi=2.25": ["sandbox/2"],
        "max_loi=5": ["sandbox/1"],
        "max_loi=10": ["rex/5", "sandbox/4", "sandbox/3", "sandbox/1"],
        "q=3": ["sandbox/3"],
        "q=77": ["rex/5"],  # a project id
        "q=1000002": ["sandbox/2"],
        "q=+4+": ["sandbox/4"],
        "status=OPEN&country=US&max_loi=10": ["rex/5", "sandbox/1"],
        # A browser sends every field of the form, the empty ones too.
        "network=&status=&country=&language=&min_cpi=&max_loi=&q=&sort=&app=&uid=": [
            "rex/5",
            "sandbox/4",
            "sandbox/3",
            "sandbox/2",
            "sandbox/1",
        ],
    }
    for query, expected in cases.items():
        page = browser.get(f"/admin/opportunities?{query}")
        assert listed(page) == expected, query
    chosen = browser.get("/admin/opportunities?status=PAUSED&country=de&network=sandbox").text
    assert '<option value="PAUSED" selected>' in chosen
    assert '<option value="sandbox" selected>' in chosen
    assert (
        'name="country" size="4" maxlength="8" autocomplete="off" placeholder="US" value="DE"'
        in chosen
    )


def test_the_list_sorts_by_cpi_or_loi(
    browser: httpx.Client, runtime: Runtime, rex_fixtures: Path
) -> None:
    store(
        runtime,
        payload(rex_fixtures, 1, cost_per_interview=1.0, length_of_interview=30),
        payload(rex_fixtures, 2, cost_per_interview=3.0, length_of_interview=5),
        payload(rex_fixtures, 3, cost_per_interview=2.0, length_of_interview=5),
        payload(rex_fixtures, 4, cost_per_interview=3.0, length_of_interview=15),
    )

    by_cpi = listed(browser.get("/admin/opportunities?sort=cpi"))
    by_loi = listed(browser.get("/admin/opportunities?sort=loi"))

    # Ties go to the newest change.
    assert by_cpi == ["sandbox/4", "sandbox/2", "sandbox/3", "sandbox/1"]
    assert by_loi == ["sandbox/3", "sandbox/2", "sandbox/4", "sandbox/1"]


def test_pages_hold_50_and_their_links_keep_the_filters(
    browser: httpx.Client, runtime: Runtime, rex_fixtures: Path
) -> None:
    store(runtime, *(payload(rex_fixtures, n) for n in range(1, 121)))
    store(runtime, *(payload(rex_fixtures, n, status="PAUSED") for n in range(121, 131)))
    query = "status=OPEN&country=US&sort=loi"

    first = browser.get(f"/admin/opportunities?{query}")

    assert listed(first) == [f"sandbox/{n}" for n in range(120, 70, -1)]
    assert "1–50 of 120" in first.text
    links = dict(_LINK.findall(first.text))
    assert set(links) == {"next"}
    second_href = html.unescape(links["next"])
    for kept in ("status=OPEN", "country=US", "sort=loi", "page=2"):
        assert kept in second_href
    second = browser.get(second_href)
    assert listed(second) == [f"sandbox/{n}" for n in range(70, 20, -1)]
    links = dict(_LINK.findall(second.text))
    assert set(links) == {"prev", "next"}
    third = browser.get(html.unescape(links["next"]))
    assert listed(third) == [f"sandbox/{n}" for n in range(20, 0, -1)]
    assert "101–120 of 120" in third.text
    links = dict(_LINK.findall(third.text))
    assert set(links) == {"prev"}
    back = browser.get(html.unescape(links["prev"]))
    assert listed(back) == listed(second)
    past = browser.get(f"/admin/opportunities?{query}&page=9")
    assert listed(past) == []
    assert "Nothing matches these filters on page 9" in past.text


def test_one_opportunitys_page_shows_its_facts_targeting_and_raw_json_escaped(
    browser: httpx.Client, runtime: Runtime, rex_fixtures: Path
) -> None:
    raw = payload(
        rex_fixtures,
        12871,
        order_number="</code><script>alert(1)</script>",
        requirements={"requires_webcam": True},
        category_exclusions=[571],
    )
    store(runtime, raw)

    page = browser.get("/admin/opportunities/sandbox/12871")

    assert page.status_code == 200, page.text
    assert "<script>alert" not in page.text
    assert "&lt;/code&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert code_block(page, "raw-json") == raw
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())
    for fact in (
        "Status OPEN",
        "Project 1012871",
        "Group 112411272",
        "Country-language US-en",
        "CPI 0.77 USD",
        "LOI 10 minutes",
        "Incidence rate 100 %",
        "Completes wanted 100",
        "Devices desktop, mobile, tablet",
        "Categories 572",
        "Category exclusions 571",
        "Requirements webcam",
        "Created 2021-11-02 18:45:04 UTC",
    ):
        assert fact in text, fact
    assert "attribute 80 (birth_date): is 18 to 99" in text
    assert "attribute 1 (gender): is 1" in text
    assert "100 left, OPEN" in text
    assert "No cells: everyone fits." in text
    assert "verdict-json" not in page.text  # no user chosen


def test_an_opportunity_the_router_closed_says_what_its_payload_said(
    browser: httpx.Client, runtime: Runtime, rex_fixtures: Path
) -> None:
    store(runtime, payload(rex_fixtures, 9))
    with transaction(runtime.sessions) as session:
        close_opportunities(session, "sandbox", [9], AT + timedelta(hours=1))

    page = browser.get("/admin/opportunities/sandbox/9")

    assert page.status_code == 200
    assert "Status</dt><dd>CLOSED" in page.text
    assert "the payload says OPEN" in page.text
    assert listed(browser.get("/admin/opportunities?status=CLOSED")) == ["sandbox/9"]


@pytest.fixture
def publisher(runtime: Runtime) -> App:
    return create_publisher_app(runtime.sessions, lambda: AT, {"name": "Quiz <b>"})


@pytest.fixture
def user(runtime: Runtime, publisher: App) -> User:
    """A man born 1990-05-01 whose last call came from the US, in English, on a desktop."""
    assert publisher.id is not None
    with transaction(runtime.sessions) as session:
        user, _ = user_on_sight(session, publisher.id, "user-1", AT)
        remember_context(session, user.id, AT, country="US", language="en", device=Device.DESKTOP)
    for key, values in (("gender", ["1"]), ("birth_date", [BIRTH_DATE.isoformat()])):
        answer_question(runtime.sessions, LIBRARY.by_key(key), publisher, user, values, AT)
    return user


def reference_verdict(
    raw: dict[str, Any], user: User, status: OpportunityStatus | None = None
) -> Any:
    """What ``surveyrouter explain`` prints for this payload and the user's profile, built
    here by hand rather than through the router's own profile building."""
    opportunity = parse_opportunity(raw, "sandbox")
    if status is not None:
        opportunity = dataclasses.replace(opportunity, status=status)
    profile = Profile(
        respondent_id=user.respondent_id,
        country="US",
        language="en",
        device=Device.DESKTOP,
        gender=Gender.MALE,
        birth_date=BIRTH_DATE,
    )
    return evaluate(opportunity, profile, utc_now(), {}).as_json()


def test_a_chosen_users_verdicts_are_the_reference_evaluators(
    browser: httpx.Client,
    runtime: Runtime,
    rex_fixtures: Path,
    publisher: App,
    user: User,
) -> None:
    women_only = payload(rex_fixtures, 2)
    women_only["cells"][1]["value"] = "2"
    employed = payload(rex_fixtures, 5)
    employed["cells"].append(
        {"tag": "employed", "attribute_id": 2001, "negate": False, "kind": "LIST",
         "list": ["200101", "200102"]}
    )  # fmt: skip
    employed["filters"].append([{"id": "employment", "cells": ["employed"]}])
    full_quota = payload(rex_fixtures, 6)
    full_quota["quotas"] = [[{"id": "men", "cells": [full_quota["cells"][1]["tag"]],
                              "count": 0, "status": "OPEN"}]]  # fmt: skip
    payloads = {
        "sandbox/1": payload(rex_fixtures, 1),
        "sandbox/2": women_only,
        "sandbox/3": payload(rex_fixtures, 3, locale={"country": "DE", "language": "de"}),
        "sandbox/4": payload(rex_fixtures, 4, devices=["mobile"]),
        "sandbox/5": employed,
        "sandbox/6": full_quota,
        "sandbox/7": payload(rex_fixtures, 7, status="PAUSED"),
        "sandbox/8": payload(rex_fixtures, 8),
    }
    store(runtime, *payloads.values())
    with transaction(runtime.sessions) as session:
        close_opportunities(session, "sandbox", [8], AT)
    expected = {
        key: reference_verdict(raw, user, OpportunityStatus.CLOSED if key == "sandbox/8" else None)
        for key, raw in payloads.items()
    }
    assert publisher.id is not None
    subject = f"app={publisher.id}&uid=user-1"

    page = browser.get(f"/admin/opportunities?{subject}")

    assert page.status_code == 200, page.text
    assert "Verdicts for user user-1 of Quiz &lt;b&gt;" in page.text
    shown = verdicts(page)
    assert {key: result for key, (result, _text) in shown.items()} == {
        key: verdict["result"] for key, verdict in expected.items()
    }
    assert shown["sandbox/1"][1] == "Qualifies"
    assert shown["sandbox/2"][1] == "Does not qualify: a filter rules the user out (2.6)"
    assert shown["sandbox/3"][1] == "Does not qualify: another country (2.3)"
    assert shown["sandbox/4"][1] == "Does not qualify: another device (2.5)"
    assert shown["sandbox/5"][1] == "Might qualify after 1 more answer (employment_status)"
    assert shown["sandbox/6"][1] == (
        "Does not qualify: the quota the user fits is closed or full (3.20)"
    )
    assert shown["sandbox/7"][1] == "Does not qualify: not open (3.3)"
    assert shown["sandbox/8"][1] == "Does not qualify: not open (3.3)"
    # The detail links carry the user, and the detail page gives the whole verdict.
    assert f'href="/admin/opportunities/sandbox/5?app={publisher.id}&amp;uid=user-1"' in page.text
    for key, verdict in expected.items():
        detail = browser.get(f"/admin/opportunities/{key}?{subject}")
        assert detail.status_code == 200, detail.text
        assert code_block(detail, "verdict-json") == verdict, key
    assert expected["sandbox/5"]["missing_attributes"] == [2001]
    # Filters and the user together.
    narrowed = browser.get(f"/admin/opportunities?{subject}&country=DE")
    assert list(verdicts(narrowed)) == ["sandbox/3"]


def test_a_user_without_answers_might_qualify_once_they_answer(
    browser: httpx.Client, runtime: Runtime, rex_fixtures: Path, publisher: App
) -> None:
    assert publisher.id is not None
    with transaction(runtime.sessions) as session:
        user_on_sight(session, publisher.id, "new-user", AT)
    store(runtime, payload(rex_fixtures, 1))

    page = browser.get(f"/admin/opportunities?app={publisher.id}&uid=new-user")

    assert verdicts(page) == {
        "sandbox/1": ("unknown", "Might qualify after 2 more answers (birth_date, gender)")
    }
    # No call has said where they are: the client API's fallbacks, the app's default country.
    assert "app default" in page.text


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("min_cpi=abc", "min_cpi: 'abc' is not an amount in USD"),
        ("min_cpi=-1", "min_cpi: '-1' is not an amount"),
        ("min_cpi=1e9", "min_cpi: '1e9' is not an amount"),
        ("min_cpi=123456789", "min_cpi: '123456789' is not an amount"),
        ("max_loi=1.5", "max_loi: '1.5' is not a number of minutes"),
        ("max_loi=%EF%BC%91", "max_loi: '１' is not a number of minutes"),
        ("status=LIVE", "status: 'LIVE' is not one of OPEN, PAUSED, CLOSED, OTHER"),
        ("q=12a", "q: '12a' is not an opportunity or project id"),
        ("q=99999999999999999999", "is not an opportunity or project id"),
        ("page=0", "page: pages start at 1"),
        ("page=two", "page: 'two' is not a page number"),
        ("sort=price", "sort: 'price' is not one of changed, cpi, loi"),
        ("network=nope", "network: 'nope' is not a network here"),
        ("country=U1", "country: 'U1' is not a country code"),
        ("language=e", "language: 'e' is not a language code"),
        ("app=x&uid=u", "app: 'x' is not an app id"),
        ("app=1", "app and uid: give both"),
        ("uid=u", "app and uid: give both"),
    ],
)
def test_a_bad_filter_is_a_400_page_naming_it(
    browser: httpx.Client, query: str, problem: str
) -> None:
    response = browser.get(f"/admin/opportunities?{query}")

    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert problem in html.unescape(response.text)


def test_two_bad_filters_are_named_together(browser: httpx.Client) -> None:
    response = browser.get("/admin/opportunities?status=LIVE&max_loi=x")

    assert response.status_code == 400
    text = html.unescape(response.text)
    assert "status: 'LIVE'" in text
    assert "max_loi: 'x'" in text


def test_an_unknown_app_user_or_opportunity_is_a_404_page(
    browser: httpx.Client, runtime: Runtime, rex_fixtures: Path, publisher: App
) -> None:
    store(runtime, payload(rex_fixtures, 1))
    assert publisher.id is not None

    for path, problem in (
        ("/admin/opportunities?app=999&uid=u1", "No app has id 999."),
        (f"/admin/opportunities?app={publisher.id}&uid=ghost", "has no user 'ghost'"),
        ("/admin/opportunities/sandbox/1?app=999&uid=u1", "No app has id 999."),
        ("/admin/opportunities/sandbox/2", "No opportunity '2' of network 'sandbox'."),
        ("/admin/opportunities/rex/1", "No opportunity '1' of network 'rex'."),
        ("/admin/opportunities/nope/1", "No opportunity '1' of network 'nope'."),
        ("/admin/opportunities/sandbox/abc", "No opportunity 'abc'"),
    ):
        response = browser.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert problem in html.unescape(response.text), path
    assert browser.get("/admin/opportunities/sandbox/1?app=x&uid=u").status_code == 400


def test_the_pages_need_a_signed_in_operator(browser: httpx.Client) -> None:
    with httpx.Client(timeout=HTTP_TIMEOUT, base_url=browser.base_url) as stranger:
        for path in ("/admin/opportunities", "/admin/opportunities/sandbox/1"):
            response = stranger.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/admin/sign-in?next=")
