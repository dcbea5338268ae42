"""A get-attribute-info document (REX §6.1) becomes a network question, or a recorded reason why
it cannot be asked; only question-like cells of live targeting count as attributes used."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from surveyrouter.domain.questions import AnswerOption, QuestionType, validate_answer
from surveyrouter.networks.rex.opportunities import parse_opportunity
from surveyrouter.sandbox.attributes import OWN_ATTRIBUTES, AttributeCatalogue
from surveyrouter.services.attributes import (
    AttributeDocumentInvalid,
    attributes_used,
    read_attribute_info,
)
from surveyrouter.store.question_library import load_question_library

AT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

# REX §6.1, the get-attribute-info example from the SDK README and tests, as published.
SPEC_EXAMPLE: dict[str, Any] = {
    "id": 402,
    "name": "This Parameter",
    "description": "Details of what this is",
    "display_mode": "single_select",
    "parent_dependencies": [{"answer_ids": [{"id": 12}], "parameter_id": 403}],
    "expiration_duration": 36000,
    "is_active": True,
    "countries": [{"code": "US"}],
    "question": {
        "text": "How much wood can a woodchuck?",
        "translations": [{"locale": "BG", "text": "Other Language"}],
    },
    "answers": [
        {
            "id": 99,
            "text": "A ton",
            "countries": [{"code": "US"}],
            "translations": [{"locale": "GB", "text": "Other language"}],
        }
    ],
}


def document(**fields: Any) -> dict[str, Any]:
    changed = copy.deepcopy(SPEC_EXAMPLE)
    changed.update(fields)
    return changed


def test_the_spec_example_becomes_a_single_choice_network_question() -> None:
    attribute = read_attribute_info(SPEC_EXAMPLE, "rex", 402, AT)

    question = attribute.question
    assert question is not None
    assert attribute.unaskable is None
    assert (attribute.network_id, attribute.attribute_id) == ("rex", 402)
    assert (attribute.name, attribute.display_mode) == ("This Parameter", "single_select")
    assert (question.id, question.key, question.type) == (402, "attribute_402", QuestionType.SINGLE)
    assert dict(question.text) == {"en": "How much wood can a woodchuck?", "bg": "Other Language"}
    assert question.answers == (
        AnswerOption(id="99", text={"en": "A ton", "gb": "Other language"}),
    )
    assert question.countries == frozenset({"US"})
    assert question.text_in("bg-BG") == "Other Language"
    assert attribute.raw == SPEC_EXAMPLE
    assert attribute.fetched_at == AT


def test_the_network_question_takes_the_networks_answer_ids() -> None:
    question = read_attribute_info(SPEC_EXAMPLE, "rex", 402, AT).question
    assert question is not None

    assert validate_answer(question, ["99"], AT.date()) == ("99",)


@pytest.mark.parametrize(
    ("display_mode", "expected"),
    [
        ("single_select", QuestionType.SINGLE),
        ("single_select_grid", QuestionType.SINGLE),
        ("single_select_searchable", QuestionType.SINGLE),
        ("multi_select", QuestionType.MULTI),
        ("multi_select_searchable", QuestionType.MULTI),
        ("Multi-Punch", QuestionType.MULTI),
        ("Single-Punch", QuestionType.SINGLE),
    ],
)
def test_the_display_mode_chooses_the_question_type(
    display_mode: str, expected: QuestionType
) -> None:
    question = read_attribute_info(document(display_mode=display_mode), "rex", 402, AT).question

    assert question is not None
    assert question.type is expected


def test_a_text_entry_attribute_is_a_number_question_without_options() -> None:
    question = read_attribute_info(
        document(display_mode="text_entry", answers=[]), "rex", 402, AT
    ).question

    assert question is not None
    assert question.type is QuestionType.NUMBER
    assert question.answers == ()


@pytest.mark.parametrize("display_mode", ["geo", "zip", "none"])
def test_a_derived_attribute_is_recorded_without_a_question(display_mode: str) -> None:
    attribute = read_attribute_info(document(display_mode=display_mode), "rex", 402, AT)

    assert attribute.question is None
    assert attribute.unaskable is not None
    assert "derived" in attribute.unaskable
    assert attribute.display_mode == display_mode


@pytest.mark.parametrize(
    "question",
    [None, {"text": "   "}, {"translations": [{"locale": "DE", "text": "Nur Deutsch"}]}],
)
def test_a_restricted_attribute_without_question_text_has_no_question(
    question: dict[str, Any] | None,
) -> None:
    fields = document()
    if question is None:
        del fields["question"]
    else:
        fields["question"] = question

    attribute = read_attribute_info(fields, "rex", 402, AT)

    assert attribute.question is None
    assert attribute.unaskable is not None
    assert "restricted" in attribute.unaskable


@pytest.mark.parametrize("display_mode", ["N", "slider", None])
def test_an_unknown_display_mode_is_not_asked(display_mode: str | None) -> None:
    attribute = read_attribute_info(document(display_mode=display_mode), "rex", 402, AT)

    assert attribute.question is None
    assert attribute.unaskable is not None
    assert "display mode" in attribute.unaskable


def test_a_choice_attribute_without_usable_answers_is_not_asked() -> None:
    answers = [{"id": None, "text": "no id"}, {"id": 7, "text": ""}, "not an object"]

    attribute = read_attribute_info(document(answers=answers), "rex", 402, AT)

    assert attribute.question is None
    assert attribute.unaskable == "the catalogue gives no answers to choose from"


def test_answers_without_an_id_or_text_are_left_out_and_a_repeated_id_kept_once() -> None:
    answers = [
        {"id": 5, "text": "Five"},
        {"id": "6", "text": "Six"},
        {"id": 5, "text": "Five again"},
        {"id": True, "text": "a boolean is no id"},
        {"id": -5, "text": "negative answers are respondent states, not choices"},
        {"id": 8, "text": None},
    ]

    question = read_attribute_info(document(answers=answers), "rex", 402, AT).question

    assert question is not None
    assert [(a.id, a.text_in("en")) for a in question.answers] == [("5", "Five"), ("6", "Six")]


def test_html_in_texts_is_read_as_plain_text() -> None:
    fields = document(
        question={"text": "Which <b>one</b> applies?&nbsp;", "translations": []},
        answers=[
            {"id": 1, "text": "Yes<br>definitely"},
            {"id": 2, "text": "<$25k &amp; more"},
        ],
    )

    question = read_attribute_info(fields, "rex", 402, AT).question

    assert question is not None
    assert question.text_in("en") == "Which one applies?"
    assert [a.text_in("en") for a in question.answers] == ["Yes definitely", "<$25k & more"]


def test_translation_locales_key_text_by_their_language() -> None:
    fields = document(
        question={
            "text": "Main",
            "translations": [
                {"locale": "de_DE", "text": "Haupt"},
                {"locale": "pt-BR", "text": "Principal"},
                {"locale": "EN", "text": "the main text wins over an English translation"},
                {"locale": "xx-yy-zz-long", "text": "kept as xx"},
                {"locale": "123", "text": "not a language"},
                {"locale": "FR", "text": ""},
            ],
        }
    )

    question = read_attribute_info(fields, "rex", 402, AT).question

    assert question is not None
    assert dict(question.text) == {
        "en": "Main",
        "de": "Haupt",
        "pt": "Principal",
        "xx": "kept as xx",
    }


def test_a_document_about_another_attribute_is_refused() -> None:
    with pytest.raises(AttributeDocumentInvalid, match="402"):
        read_attribute_info(SPEC_EXAMPLE, "rex", 100262, AT)


def test_the_sandbox_catalogues_own_attributes_read_back_in_english_and_german() -> None:
    catalogue = AttributeCatalogue(load_question_library())
    for own in OWN_ATTRIBUTES:
        info = catalogue.attribute_info(own.id)
        assert info is not None

        question = read_attribute_info(info, "sandbox", own.id, AT).question

        assert question is not None
        expected = QuestionType.MULTI if own.display_mode == "multi_select" else QuestionType.SINGLE
        assert question.type is expected
        assert dict(question.text) == own.text
        assert [(a.id, dict(a.text)) for a in question.answers] == list(own.answers)


@pytest.fixture
def notifications(rex_fixtures: Path) -> dict[int, dict[str, Any]]:
    items = json.loads((rex_fixtures / "receive_notifications.json").read_text())
    return {item["id"]: item for item in items}


def test_the_fixtures_use_gender_age_postal_code_and_one_unknown_attribute(
    notifications: dict[int, dict[str, Any]],
) -> None:
    used = {i: attributes_used(parse_opportunity(raw)) for i, raw in notifications.items()}

    assert used == {
        12871: {1, 80},
        13174: {1, 8, 80},
        12872: {1, 80, 100262},
        13231: {1, 8, 80},
    }


def test_exclusions_invites_ineffable_discarded_and_unreferenced_cells_are_not_used(
    notifications: dict[int, dict[str, Any]],
) -> None:
    raw = copy.deepcopy(notifications[12872])
    extra = [
        {"tag": "t-28", "attribute_id": 28, "negate": True, "kind": "STATIC_INVITE_COLLECTIONS",
         "operator": "OR", "invite_collections": ["28_2171139"]},
        {"tag": "t-invite", "attribute_id": 238384, "negate": False,
         "kind": "INVITE_COLLECTIONS", "operator": "OR", "invite_collections": ["621041"]},
        {"tag": "t-83", "attribute_id": 83, "negate": False, "kind": "INEFFABLE"},
        {"tag": "t-new", "attribute_id": 4711, "negate": False, "kind": "FUTURE_KIND"},
        {"tag": "t-discarded", "attribute_id": -1, "negate": False, "kind": "VALUE", "value": "1"},
        {"tag": "t-answered", "attribute_id": 231302, "negate": False, "kind": "ANSWERED"},
        {"tag": "t-unreferenced", "attribute_id": 120, "negate": False, "kind": "VALUE",
         "value": "45398"},
    ]  # fmt: skip
    raw["cells"] += extra
    referenced = [c["tag"] for c in extra if c["tag"] != "t-unreferenced"]
    raw["filters"].append([{"id": "extra-filter", "cells": referenced[:3]}])
    raw["quotas"].append(
        [{"id": "extra-quota", "cells": referenced[3:], "count": 5, "status": "OPEN"}]
    )

    assert attributes_used(parse_opportunity(raw)) == {1, 80, 100262, 231302}
