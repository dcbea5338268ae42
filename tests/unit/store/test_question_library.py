"""Specification of the shipped question library and of how strictly its file is read."""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from surveyrouter.domain.questions import (
    AnswerInvalid,
    Question,
    QuestionLibrary,
    QuestionType,
    validate_answer,
)
from surveyrouter.store.question_library import (
    QuestionFileInvalid,
    load_question_library,
    parse_question_library,
)

# The topics real surveys target most (specs/market.md §5) that the library must cover.
REQUIRED_TOPICS = (
    "employment_status",
    "household_income",
    "education",
    "number_of_children",
    "children_ages",
    "marital_status",
    "household_size",
    "ethnicity",
    "hispanic_origin",
    "industry",
    "job_title",
    "company_size",
    "b2b_decision_maker",
    "car_ownership",
    "vehicle_brand",
    "smoking",
    "vaping",
    "pets",
    "health_insurance",
    "diabetes",
    "mobile_os",
    "home_ownership",
    "primary_grocery_shopper",
    "gaming_frequency",
    "travel_last_12_months",
    "home_languages",
)


@pytest.fixture(scope="module")
def library() -> QuestionLibrary:
    return load_question_library()


def all_answers(library: QuestionLibrary) -> list[tuple[Question, str]]:
    return [(question, option.id) for question in library for option in question.answers]


# The shipped file


def test_shipped_library_loads_once_per_process(library: QuestionLibrary) -> None:
    assert load_question_library() is library


def test_shipped_library_has_a_version(library: QuestionLibrary) -> None:
    assert library.version >= 1


def test_shipped_library_has_at_least_twenty_questions(library: QuestionLibrary) -> None:
    assert len(library) >= 20
    assert len([q for q in library if not q.standard]) >= 22


def test_every_question_and_answer_reads_in_english_and_german(library: QuestionLibrary) -> None:
    for question in library:
        assert question.text["en"].strip(), question.key
        assert question.text["de"].strip(), question.key
        for option in question.answers:
            assert option.text["en"].strip(), (question.key, option.id)
            assert option.text["de"].strip(), (question.key, option.id)


def test_question_texts_are_actually_translated(library: QuestionLibrary) -> None:
    untranslated = [q.key for q in library if q.text_in("de") == q.text_in("en")]
    assert untranslated == []


def test_standard_profile_is_gender_then_birth_date_then_postal_code(
    library: QuestionLibrary,
) -> None:
    standard = library.standard()
    assert [q.key for q in standard] == ["gender", "birth_date", "postal_code"]
    assert [q.id for q in standard] == [1, 80, 8]
    assert [q.rex_attribute_id for q in standard] == [1, 80, 8]
    assert [q.type for q in standard] == [QuestionType.SINGLE, QuestionType.DATE, QuestionType.TEXT]


def test_standard_profile_is_asked_before_any_other_question(library: QuestionLibrary) -> None:
    assert library.questions[:3] == library.standard()


def test_gender_answers_are_rexs_own_codes(library: QuestionLibrary) -> None:
    gender = library.get(1)
    assert [(o.id, o.text["en"]) for o in gender.answers] == [("1", "Male"), ("2", "Female")]
    assert dict(gender.rex_answers) == {"1": "1", "2": "2"}


def test_birth_date_accepts_ages_13_to_120(library: QuestionLibrary) -> None:
    birth_date = library.by_key("birth_date")
    assert birth_date.validation.min == Decimal(13)
    assert birth_date.validation.max == Decimal(120)
    today = date(2024, 6, 15)
    assert validate_answer(birth_date, ["2011-06-15"], today) == ("2011-06-15",)
    with pytest.raises(AnswerInvalid):
        validate_answer(birth_date, ["2011-06-16"], today)


def test_postal_code_is_a_five_digit_us_zip_by_default(library: QuestionLibrary) -> None:
    postal_code = library.by_key("postal_code")
    assert validate_answer(postal_code, ["90210"], date(2024, 1, 1)) == ("90210",)
    with pytest.raises(AnswerInvalid):
        validate_answer(postal_code, ["9021"], date(2024, 1, 1))


def test_question_ids_and_keys_are_unique(library: QuestionLibrary) -> None:
    assert len({q.id for q in library}) == len(library)
    assert len({q.key for q in library}) == len(library)


def test_answer_ids_are_unique_across_the_library(library: QuestionLibrary) -> None:
    counts = Counter(answer_id for _, answer_id in all_answers(library))
    assert [answer_id for answer_id, count in counts.items() if count > 1] == []


def test_answer_ids_look_like_rex_answer_ids(library: QuestionLibrary) -> None:
    for question, answer_id in all_answers(library):
        assert re.fullmatch("[1-9][0-9]*", answer_id), (question.key, answer_id)
        if not question.standard:
            assert answer_id.startswith(str(question.id)), (question.key, answer_id)


def test_other_questions_use_sandbox_ids_and_no_invented_rex_mapping(
    library: QuestionLibrary,
) -> None:
    for question in library:
        if not question.standard:
            assert 2001 <= question.id <= 2099, question.key
            assert question.rex_attribute_id is None, question.key
            assert not question.rex_answers, question.key


def test_required_topics_are_present(library: QuestionLibrary) -> None:
    missing = []
    for key in REQUIRED_TOPICS:
        try:
            library.by_key(key)
        except LookupError:
            missing.append(key)
    assert missing == []


def test_ethnicity_and_hispanic_origin_are_asked_in_the_us_only(library: QuestionLibrary) -> None:
    for key in ("ethnicity", "hispanic_origin"):
        question = library.by_key(key)
        assert question.countries == frozenset({"US"})
    us_only = {q.key for q in library if q.countries}
    assert us_only == {"ethnicity", "hispanic_origin"}


def test_household_size_is_a_number_from_1_to_20(library: QuestionLibrary) -> None:
    household_size = library.by_key("household_size")
    assert household_size.type is QuestionType.NUMBER
    assert household_size.validation.min == Decimal(1)
    assert household_size.validation.max == Decimal(20)


def test_children_ages_is_a_multi_with_an_exclusive_none_answer(library: QuestionLibrary) -> None:
    children_ages = library.by_key("children_ages")
    assert children_ages.type is QuestionType.MULTI
    assert [o.text["en"] for o in children_ages.answers if o.exclusive] == [
        "No children under 18 live in my household"
    ]


def test_choice_questions_offer_a_real_choice(library: QuestionLibrary) -> None:
    for question in library:
        if question.type.has_options:
            assert len(question.answers) >= 2, question.key


# Reading a file strictly

VALID_DOCUMENT: dict[str, Any] = {
    "version": 1,
    "questions": [
        {
            "id": 1,
            "key": "gender",
            "type": "SINGLE",
            "standard": True,
            "text": {"en": "What is your gender?", "de": "Welches Geschlecht haben Sie?"},
            "answers": [
                {"id": "1", "text": {"en": "Male", "de": "Männlich"}},
                {"id": "2", "text": {"en": "Female", "de": "Weiblich"}},
            ],
            "rex_attribute_id": 1,
            "rex_answers": {"1": "1", "2": "2"},
            "countries": [],
        },
        {
            "id": 2007,
            "key": "household_size",
            "type": "NUMBER",
            "text": {"en": "How many people?", "de": "Wie viele Personen?"},
            "validation": {"min": 1, "max": 20},
        },
    ],
}


def document(**changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(VALID_DOCUMENT)
    result.update(changes)
    return result


def parse(value: dict[str, Any] | str) -> QuestionLibrary:
    raw = value if isinstance(value, str) else json.dumps(value)
    return parse_question_library(raw, source="test.json")


def invalid(value: dict[str, Any] | str) -> str:
    with pytest.raises(QuestionFileInvalid) as caught:
        parse(value)
    return str(caught.value)


def test_a_valid_document_parses_with_optional_fields_defaulted() -> None:
    library = parse(VALID_DOCUMENT)
    household_size = library.get(2007)
    assert household_size.standard is False
    assert household_size.rex_attribute_id is None
    assert household_size.countries == frozenset()
    assert household_size.validation.min == Decimal(1)


def test_duplicate_question_ids_are_rejected() -> None:
    doc = document()
    doc["questions"][1]["id"] = 1
    message = invalid(doc)
    assert "test.json: $.questions[1]: question id 1 is already used at $.questions[0]" in message


def test_duplicate_question_keys_are_rejected() -> None:
    doc = document()
    doc["questions"][1]["key"] = "gender"
    assert "question key 'gender' is already used" in invalid(doc)


def test_answer_ids_repeated_in_another_question_are_rejected() -> None:
    doc = document()
    doc["questions"].append(
        {
            "id": 2015,
            "key": "car_ownership",
            "type": "SINGLE",
            "text": {"en": "Cars?", "de": "Autos?"},
            "answers": [{"id": "2", "text": {"en": "Two", "de": "Zwei"}}],
        }
    )
    message = invalid(doc)
    assert (
        "$.questions[2].answers[0]: answer id '2' is already used at $.questions[0].answers[1]"
        in (message)
    )


def test_answer_ids_repeated_within_a_question_are_rejected() -> None:
    doc = document()
    doc["questions"][0]["answers"][1]["id"] = "1"
    assert "$.questions[0]: question 1: answer id '1' appears twice" in invalid(doc)


def test_a_question_without_german_text_is_rejected() -> None:
    doc = document()
    del doc["questions"][1]["text"]["de"]
    assert "$.questions[1].text: missing 'de' text" in invalid(doc)


def test_an_answer_without_german_text_is_rejected() -> None:
    doc = document()
    doc["questions"][0]["answers"][0]["text"]["de"] = "  "
    assert "$.questions[0].answers[0].text: missing 'de' text" in invalid(doc)


def test_an_unknown_question_type_is_rejected() -> None:
    doc = document()
    doc["questions"][1]["type"] = "SLIDER"
    message = invalid(doc)
    assert "$.questions[1].type: unknown question type 'SLIDER'" in message
    assert "SINGLE, MULTI, NUMBER, DATE, TEXT" in message


def test_a_misspelled_field_is_rejected_rather_than_ignored() -> None:
    doc = document()
    doc["questions"][1]["validaton"] = {"min": 1}
    assert "$.questions[1]: unknown field(s) validaton" in invalid(doc)


def test_a_missing_required_field_is_rejected() -> None:
    doc = document()
    del doc["questions"][1]["key"]
    assert "$.questions[1]: missing field(s) key" in invalid(doc)


def test_a_missing_version_is_rejected() -> None:
    doc = document()
    del doc["version"]
    assert "missing field(s) version" in invalid(doc)


def test_a_key_repeated_in_one_json_object_is_rejected() -> None:
    raw = json.dumps(VALID_DOCUMENT).replace('"version": 1', '"version": 1, "version": 2')
    assert "key 'version' appears twice" in invalid(raw)


@pytest.mark.parametrize(
    ("path", "value", "rule"),
    [
        (("id",), "2007", "$.questions[1].id: expected an integer, got the string '2007'"),
        (("id",), True, "$.questions[1].id: expected an integer, got a boolean"),
        (("standard",), "yes", "$.questions[1].standard: expected true or false"),
        (("validation", "min"), "one", "$.questions[1].validation.min: expected a number"),
        (("countries",), "US", "$.questions[1].countries: expected an array"),
        (("text",), "Hello", "$.questions[1].text: expected an object"),
    ],
)
def test_values_of_the_wrong_json_type_are_rejected(
    path: tuple[str, ...], value: object, rule: str
) -> None:
    doc = document()
    target = doc["questions"][1]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert rule in invalid(doc)


def test_answer_ids_must_be_integer_strings_like_rex() -> None:
    doc = document()
    doc["questions"][0]["answers"][0]["id"] = "m"
    assert "answer id 'm' is not a positive integer string" in invalid(doc)


def test_rex_answer_ids_must_be_integer_strings() -> None:
    doc = document()
    doc["questions"][0]["rex_answers"]["1"] = "male"
    assert "REX answer id 'male' is not an integer" in invalid(doc)


def test_domain_rules_are_reported_with_their_place_in_the_file() -> None:
    doc = document()
    doc["questions"][1]["validation"] = {"min": 5, "max": 1}
    assert "$.questions[1].validation: validation min 5 is above max 1" in invalid(doc)


def test_a_question_with_options_on_the_wrong_type_is_reported() -> None:
    doc = document()
    doc["questions"][1]["answers"] = [{"id": "200701", "text": {"en": "One", "de": "Eins"}}]
    assert "$.questions[1]: question 2007: a NUMBER question takes no options" in invalid(doc)


def test_fractional_bounds_are_kept_exact() -> None:
    doc = document()
    doc["questions"][1]["validation"] = {"min": 0.1, "max": 20}
    assert parse(doc).get(2007).validation.min == Decimal("0.1")


def test_bounds_written_as_decimal_strings_are_read_exactly() -> None:
    doc = document()
    doc["questions"][1]["validation"] = {"min": "1", "max": "20.5"}
    validation = parse(doc).get(2007).validation
    assert (validation.min, validation.max) == (Decimal(1), Decimal("20.5"))


def test_text_that_is_not_json_is_rejected() -> None:
    assert "test.json: not valid JSON" in invalid("{not json")


def test_an_empty_library_is_rejected() -> None:
    assert "the library has no questions" in invalid(document(questions=[]))
