"""The dashboard's verdicts and targeting in words, and the context a stored user is
explained in."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from surveyrouter.domain.apps import App
from surveyrouter.domain.client_context import CountrySource
from surveyrouter.domain.opportunity import Cell, CellKind, Device, ListOperator
from surveyrouter.domain.profile_answers import library_sources
from surveyrouter.domain.targeting import (
    DUPLICATE_RESPONDENT,
    FILTER_DISQUALIFICATION,
    Reason,
    Result,
    Verdict,
)
from surveyrouter.domain.users import User
from surveyrouter.networks.rex.opportunities import parse_opportunity
from surveyrouter.services.explanations import (
    describe_cell,
    reason_text,
    remembered_context,
    summarize_targeting,
    verdict_summary,
)
from surveyrouter.store.question_library import load_question_library

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TOKEN = "t" * 32
APP = App(name="Quiz", api_token=TOKEN, secret=TOKEN, s2s_token=TOKEN, id=1, default_country="DE")


def verdict(
    result: Result,
    *,
    exact: bool = False,
    missing: frozenset[int] = frozenset(),
    reason: Reason | None = None,
) -> Verdict:
    return Verdict(result, exact, (), missing, reason)


@pytest.mark.parametrize(
    ("given", "questions", "summary"),
    [
        (verdict(Result.ELIGIBLE, exact=True), (), "Qualifies"),
        (
            verdict(Result.ELIGIBLE),
            (),
            "Qualifies, unless the exchange's own prescreen rules the user out",
        ),
        (
            verdict(Result.INELIGIBLE, reason=FILTER_DISQUALIFICATION),
            (),
            "Does not qualify: a filter rules the user out (2.6)",
        ),
        (
            verdict(Result.UNKNOWN, missing=frozenset({2001, 900001})),
            ("employment_status",),
            "Might qualify after 2 more answers (employment_status)",
        ),
        (verdict(Result.UNKNOWN, missing=frozenset({7})), (), "Might qualify after 1 more answer"),
        (
            verdict(Result.UNKNOWN),
            (),
            "Might qualify: the router cannot tell yet (a collection not downloaded yet)",
        ),
    ],
)
def test_a_verdict_in_words(given: Verdict, questions: tuple[str, ...], summary: str) -> None:
    assert verdict_summary(given, questions) == summary


def test_a_reason_names_its_rex_numbers_even_when_unknown_to_us() -> None:
    assert reason_text(DUPLICATE_RESPONDENT).endswith("(4.1)")
    assert reason_text(Reason(9, 9)) == "disqualified (9.9)"


@pytest.mark.parametrize(
    ("cell", "words"),
    [
        (Cell("a", 1, CellKind.VALUE, values=("1",)), "is 1"),
        (Cell("a", 1, CellKind.VALUE, negate=True, values=("1",)), "not: is 1"),
        (Cell("a", 5, CellKind.LIST, values=("1", "2")), "is 1 or 2"),
        (Cell("a", 5, CellKind.LIST, values=("1", "2"), operator=ListOperator.AND), "is 1 and 2"),
        (Cell("a", 80, CellKind.RANGE, range_from=18, range_to=99), "is 18 to 99"),
        (Cell("a", 80, CellKind.RANGE, range_from=18), "is at least 18"),
        (Cell("a", 80, CellKind.RANGE, range_to=30), "is at most 30"),
        (Cell("a", 8, CellKind.COLLECTION, collection_id="2169971"), "is in collection 2169971"),
        (Cell("a", 5, CellKind.ANSWERED, negate=True), "not: is answered"),
        (Cell("a", 5, CellKind.INEFFABLE), "prescreened by the exchange"),
        (Cell("a", 5, CellKind.UNKNOWN, negate=True), "prescreened by the exchange"),
        (
            Cell("a", 0, CellKind.INVITE_COLLECTIONS, values=("621041",)),
            "invited through collection 621041",
        ),
    ],
)
def test_a_cell_in_words(cell: Cell, words: str) -> None:
    assert describe_cell(cell) == words


def test_the_targeting_summary_names_the_questions_behind_attributes(rex_fixtures: Path) -> None:
    raw = json.loads((rex_fixtures / "get_opportunity.json").read_text())
    opportunity = parse_opportunity(raw)

    summary = summarize_targeting(opportunity, library_sources(load_question_library()))

    assert [
        [(cell.question_key, cell.condition) for obj in group for cell in obj.cells]
        for group in summary.filters
    ] == [[("birth_date", "is 18 to 99")], [("gender", "is 1")]]
    [[quota]] = summary.quotas
    assert (quota.count, quota.cells) == (100, ())


def test_a_user_is_explained_where_their_last_call_left_them() -> None:
    seen = User(1, 1, "u", "r", AT, country="FR", language="de", device=Device.TABLET)
    never = User(2, 1, "v", "s", AT)

    remembered = remembered_context(APP, seen)
    fallback = remembered_context(APP, never)

    assert (remembered.country, remembered.language, remembered.device) == (
        "FR",
        "de",
        Device.TABLET,
    )
    assert remembered.country_source is CountrySource.STORED
    # As the client API resolves a call that says nothing: the app's default country, its
    # main language, a desktop.
    assert (fallback.country, fallback.language, fallback.device) == ("DE", "de", Device.DESKTOP)
    assert fallback.country_source is CountrySource.APP_DEFAULT
