"""The sandbox publishes the question library's attributes, and a few only it knows."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from surveyrouter.domain.questions import QuestionType
from surveyrouter.sandbox.attributes import OWN_ATTRIBUTES, AttributeCatalogue, market_attributes
from surveyrouter.sandbox.market import BUSINESS_CATEGORY, Market, generate_market
from surveyrouter.store.question_library import load_question_library

LIBRARY = load_question_library()
CATALOGUE = AttributeCatalogue(LIBRARY)
ID = {q.key: q.id for q in LIBRARY}
OWN_IDS = {o.id for o in OWN_ATTRIBUTES}

# specs/market.md §5: Lucid's top standard qualifications by priority group, after age, gender
# and ZIP, as the library's question keys. Group 2 is asked in the US only.
LUCID_GROUPS: tuple[tuple[str, ...], ...] = (
    ("hispanic_origin", "ethnicity"),
    ("household_income", "education", "employment_status"),
    ("job_title", "children_ages", "industry", "company_size", "b2b_decision_maker"),
    ("number_of_children", "ailments", "job_department"),
    ("pets", "household_size", "diabetes", "devices_owned", "travel_last_12_months"),
)
B2B_QUESTIONS = ("job_title", "industry", "company_size", "b2b_decision_maker")


def all_ids(country: str) -> list[int]:
    ids, page = [], 1
    while items := CATALOGUE.list_attributes(country, page, 10):
        ids += [item["parameter_id"] for item in items]
        page += 1
    return ids


def test_every_non_standard_question_and_every_own_attribute_is_listed() -> None:
    expected = {q.id for q in LIBRARY if not q.standard} | {o.id for o in OWN_ATTRIBUTES}
    assert set(all_ids("US")) == expected


def test_us_only_questions_are_not_listed_elsewhere() -> None:
    us_only = {q.id for q in LIBRARY if q.countries == frozenset({"US"})}
    assert us_only  # ethnicity, hispanic origin
    assert not us_only & set(all_ids("DE"))


def test_attribute_info_carries_text_answers_and_german_translations() -> None:
    question = next(q for q in LIBRARY if q.key == "employment_status")
    info = CATALOGUE.attribute_info(question.id)
    assert info is not None
    assert info["display_mode"] == "single_select"
    assert info["question"]["text"] == question.text_in("en")
    assert info["question"]["translations"] == [{"locale": "DE", "text": question.text_in("de")}]
    assert [a["id"] for a in info["answers"]] == [int(a.id) for a in question.answers]
    assert CATALOGUE.attribute_info(1) is None  # standard attributes are not in the catalogue


def test_own_attributes_are_described_like_real_ones() -> None:
    info = CATALOGUE.attribute_info(910002)
    assert info is not None
    assert info["question"]["text"] == "Do you own a smart speaker?"
    assert len(info["answers"]) == 2


def test_the_market_targets_the_library_and_its_own_attributes() -> None:
    attributes = market_attributes(LIBRARY)
    by_id = {a.id: a for a in attributes}
    number = next(q for q in LIBRARY if q.type is QuestionType.NUMBER and not q.standard)
    assert by_id[number.id].kind == "number"
    market = generate_market(300, seed=5, attributes=attributes)
    used = {c["attribute_id"] for o in market.opportunities for c in o["cells"]}
    assert used & {o.id for o in OWN_ATTRIBUTES}, "some opportunities use unmapped attributes"
    multi = next(q for q in LIBRARY if q.type is QuestionType.MULTI and not q.standard)
    assert by_id[multi.id].answers == tuple(a.id for a in multi.answers)


# -- targeting frequency (specs/market.md §5) ------------------------------------------------------


@pytest.fixture(scope="module")
def market() -> Market:
    return generate_market(10_000, seed=1, attributes=market_attributes(LIBRARY))


def shares(opportunities: Sequence[dict[str, Any]]) -> Counter[int]:
    """The share of the opportunities targeting each attribute, in a filter or a quota."""
    targeted: Counter[int] = Counter()
    for opportunity in opportunities:
        targeted.update(
            {c["attribute_id"] for c in opportunity["cells"] if c["kind"] != "INEFFABLE"}
        )
    return Counter({key: count / len(opportunities) for key, count in targeted.items()})


def is_us(opportunity: dict[str, Any]) -> bool:
    return bool(opportunity["locale"]["country"] == "US")


def is_business(opportunity: dict[str, Any]) -> bool:
    return BUSINESS_CATEGORY in opportunity["category_ids"]


def group_share(targeted: Counter[int], keys: Sequence[str]) -> float:
    return statistics.mean(targeted[ID[key]] for key in keys)


def test_every_key_the_ranking_names_is_in_the_library() -> None:
    for key in [key for group in LUCID_GROUPS for key in group] + ["marital_status"]:
        assert key in ID


def test_the_list_runs_most_targeted_first_ending_with_our_own() -> None:
    attributes = market_attributes(LIBRARY)
    weights = [a.weight for a in attributes]
    assert all(w is not None for w in weights)
    assert weights == sorted(weights, key=lambda w: -(w or 0))
    assert [a.id for a in attributes[:2]] == [ID["hispanic_origin"], ID["ethnicity"]]
    assert {a.id for a in attributes[-3:]} == OWN_IDS
    assert len(attributes) == len({a.id for a in attributes})


def test_us_questions_carry_their_countries() -> None:
    by_id = {a.id: a for a in market_attributes(LIBRARY)}
    assert by_id[ID["ethnicity"]].countries == frozenset({"US"})
    assert by_id[ID["hispanic_origin"]].countries == frozenset({"US"})
    for question in LIBRARY:
        if question.id in by_id:
            assert by_id[question.id].countries == question.countries
    assert not any(by_id[o].countries for o in OWN_IDS)


def test_targeting_follows_lucids_priority_groups(market: Market) -> None:
    us = shares([o for o in market.opportunities if is_us(o)])
    ranked = [group_share(us, group) for group in LUCID_GROUPS]
    assert ranked == sorted(ranked, reverse=True), ranked
    everywhere = shares(market.opportunities)
    overall = [group_share(everywhere, group) for group in LUCID_GROUPS[1:]]
    assert overall == sorted(overall, reverse=True), overall
    assert overall[0] > 2.5 * overall[-1]


def test_income_and_education_are_targeted_far_more_than_pets(market: Market) -> None:
    targeted = shares(market.opportunities)
    for key in ("household_income", "education", "employment_status"):
        assert targeted[ID[key]] > 2.5 * targeted[ID["pets"]]
    assert targeted[ID["education"]] > 0.15


def test_marital_status_is_lifted_by_the_diy_platforms(market: Market) -> None:
    # Lucid puts "relationship" with pets; Pollfish has marital status on most DIY surveys.
    targeted = shares(market.opportunities)
    assert targeted[ID["marital_status"]] > 2 * targeted[ID["pets"]]
    assert targeted[ID["marital_status"]] < targeted[ID["education"]]


def test_ethnicity_and_hispanic_origin_only_on_us_opportunities(market: Market) -> None:
    us_only = {ID["ethnicity"], ID["hispanic_origin"]}
    for opportunity in market.opportunities:
        if not is_us(opportunity):
            assert not us_only & {c["attribute_id"] for c in opportunity["cells"]}
    us = shares([o for o in market.opportunities if is_us(o)])
    # In the US they lead the synthetic attributes, as in Lucid's list.
    assert min(us[i] for i in us_only) > max(us[ID[k]] for k in LUCID_GROUPS[2])


def test_b2b_projects_prefer_the_business_questions(market: Market) -> None:
    business = [o for o in market.opportunities if is_business(o)]
    consumer = [o for o in market.opportunities if not is_business(o)]
    assert len(business) > 500
    on_business, on_consumer = shares(business), shares(consumer)
    for key in B2B_QUESTIONS:
        assert on_business[ID[key]] > 1.5 * on_consumer[ID[key]], key
    assert group_share(on_business, B2B_QUESTIONS) > on_business[ID["education"]]
    assert on_business[ID["pets"]] < on_consumer[ID["pets"]]


def test_our_own_attributes_are_still_targeted_modestly(market: Market) -> None:
    targeted = shares(market.opportunities)
    users = sum(
        1 for o in market.opportunities if OWN_IDS & {c["attribute_id"] for c in o["cells"]}
    )
    assert users / len(market.opportunities) > 0.05, "some target attributes no question maps"
    for own in OWN_IDS:
        assert 0.01 < targeted[own] < targeted[ID["pets"]]
