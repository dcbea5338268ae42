"""The sandbox publishes the question library's attributes, and a few only it knows."""

from __future__ import annotations

from surveyrouter.domain.questions import QuestionType
from surveyrouter.sandbox.attributes import OWN_ATTRIBUTES, AttributeCatalogue, market_attributes
from surveyrouter.sandbox.market import generate_market
from surveyrouter.store.question_library import load_question_library

LIBRARY = load_question_library()
CATALOGUE = AttributeCatalogue(LIBRARY)


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
