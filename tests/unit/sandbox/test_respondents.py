"""put-respondent and put-respondent-answers documents are checked field by field (REX §6.1)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from surveyrouter.domain.profile import Gender
from surveyrouter.sandbox.respondents import (
    Respondent,
    RespondentInvalid,
    read_put_respondent,
    read_put_respondent_answers,
)

TODAY = date(2026, 11, 23)
VALID = {"respondent_id": "r-1", "language": "en", "country": "US"}


def test_a_full_document_is_read_into_an_update() -> None:
    update = read_put_respondent(
        {
            **VALID,
            "gender": "F",
            "birth_date": "1990-05-01",
            "postal_code": " 10110 ",
            "attributes": [{"id": 2001, "answers": [200101]}, {"id": 910001, "answers": [1, 2]}],
            "account": None,
        },
        TODAY,
    )

    assert update.gender is Gender.FEMALE
    assert update.birth_date == date(1990, 5, 1)
    assert update.postal_code == "10110"
    assert update.answers == {2001: ("200101",), 910001: ("1", "2")}


@pytest.mark.parametrize(
    ("value", "gender"),
    [("male", Gender.MALE), ("M", Gender.MALE), ("1", Gender.MALE), (1, Gender.MALE),
     ("Female", Gender.FEMALE), ("f", Gender.FEMALE), ("2", Gender.FEMALE)],
)  # fmt: skip
def test_every_documented_gender_spelling_is_taken(value: Any, gender: Gender) -> None:
    assert read_put_respondent({**VALID, "gender": value}, TODAY).gender is gender


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"respondent_id": None}, "respondent_id"),
        ({"respondent_id": ""}, "respondent_id"),
        ({"respondent_id": 12345}, "respondent_id"),
        ({"respondent_id": "x" * 101}, "respondent_id"),
        ({"respondent_id": "emoji-\U0001f600"}, "respondent_id"),
        ({"language": None}, "language"),
        ({"language": "EN"}, "language"),
        ({"language": "eng"}, "language"),
        ({"language": "en\n"}, "language"),
        ({"country": "us"}, "country"),
        ({"country": "USA"}, "country"),
        ({"gender": "other"}, "gender"),
        ({"gender": True}, "gender"),
        ({"birth_date": "1990-5-1"}, "birth_date"),
        ({"birth_date": "19900501"}, "birth_date"),
        ({"birth_date": "1990-02-30"}, "birth_date"),
        ({"birth_date": "2027-01-01"}, "birth_date"),
        ({"postal_code": 10110}, "postal_code"),
        ({"attributes": {"id": 1}}, "attributes"),
        ({"attributes": [{"answers": [1]}]}, "attributes[0].id"),
        ({"attributes": [{"id": 2001, "answers": ["200101"]}]}, "attributes[0].answers"),
        ({"attributes": [{"id": 2001, "answers": [True]}]}, "attributes[0].answers"),
    ],
)
def test_a_bad_field_is_refused_by_name(change: dict[str, Any], field: str) -> None:
    with pytest.raises(RespondentInvalid) as refused:
        read_put_respondent({**VALID, **change}, TODAY)

    assert refused.value.field == field
    assert str(refused.value).startswith(f'"{field}"')


def test_a_respondent_id_of_100_three_byte_characters_is_taken() -> None:
    respondent_id = "\u20ac" * 100  # the euro sign: three bytes in UTF-8

    assert read_put_respondent({**VALID, "respondent_id": respondent_id}, TODAY).respondent_id


def test_the_standard_attributes_are_dropped_from_attributes_without_an_error() -> None:
    attributes = [
        {"id": 1, "answers": [1]},
        {"id": 80, "answers": [30]},
        {"id": 8, "answers": [10110]},
        {"id": 2001, "answers": [200102]},
    ]

    update = read_put_respondent_answers({"respondent_id": "r-1", "attributes": attributes})

    assert update.answers == {2001: ("200102",)}


def test_put_respondent_answers_needs_its_attributes() -> None:
    with pytest.raises(RespondentInvalid, match='"attributes" is required'):
        read_put_respondent_answers({"respondent_id": "r-1"})


def test_an_update_sets_what_it_carries_and_an_empty_answer_list_forgets() -> None:
    respondent = Respondent("r-1", country="US", gender=Gender.MALE, answers={2001: ("200101",)})

    attributes = [{"id": 2001, "answers": []}, {"id": 2002, "answers": [200201]}]

    respondent.apply(
        read_put_respondent_answers({"respondent_id": "r-1", "attributes": attributes})
    )

    assert respondent.gender is Gender.MALE
    assert respondent.answers == {2002: ("200201",)}


def test_respondent_info_has_the_documented_shape() -> None:
    respondent = Respondent(
        "r-1",
        country="US",
        language="en",
        gender=Gender.FEMALE,
        birth_date=date(1990, 5, 1),
        postal_code="10110",
        answers={2002: ("200201",), 100262: ("-1",)},
        created=datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
    )

    assert respondent.info() == {
        "respondent_id": "r-1",
        "language": "en",
        "country": "US",
        "is_active": True,
        "is_suspended": False,
        "gender": "female",
        "birth_date": "1990-05-01",
        "postal_code": "10110",
        "date_created": "2026-11-23T09:30:00.000Z",
        "attributes": {"2002": [200201], "100262": [-1]},
    }
