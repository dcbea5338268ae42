"""A user's answers to our questions become the profile REX targeting reads."""

from __future__ import annotations

from datetime import date

from surveyrouter.domain.opportunity import Device
from surveyrouter.domain.profile import Gender, Profile
from surveyrouter.domain.profile_answers import (
    AttributeSource,
    library_sources,
    profile_from_answers,
)
from surveyrouter.store.question_library import load_question_library

LIBRARY = load_question_library()
EMPLOYMENT = LIBRARY.by_key("employment_status")


def profile(
    answers: dict[str, tuple[str, ...]], sources: list[AttributeSource] | None = None
) -> Profile:
    return profile_from_answers(
        answers,
        library_sources(LIBRARY) if sources is None else sources,
        respondent_id="r1",
        country="US",
        language="en",
        device=Device.MOBILE,
    )


def test_the_standard_profile_fills_gender_birth_date_and_postal_code() -> None:
    made = profile({"gender": ("2",), "birth_date": ("1990-05-01",), "postal_code": ("10110",)})
    assert made.gender is Gender.FEMALE
    assert made.birth_date == date(1990, 5, 1)
    assert made.postal_code == "10110"
    assert (made.respondent_id, made.country, made.language, made.device) == (
        "r1",
        "US",
        "en",
        Device.MOBILE,
    )
    assert made.answers == {}


def test_a_mapped_question_answers_its_network_attribute_in_the_networks_ids() -> None:
    source = AttributeSource(2005, EMPLOYMENT, {"200101": "5001", "200102": "5002"})
    made = profile({"employment_status": ("200102",)}, [source])
    assert made.answers == {2005: ("5002",)}


def test_an_option_the_network_does_not_know_is_left_out_not_guessed() -> None:
    source = AttributeSource(2005, EMPLOYMENT, {"200101": "5001"})
    assert profile({"employment_status": ("200103",)}, [source]).answers == {}


def test_answers_no_source_uses_and_unknown_keys_are_ignored() -> None:
    made = profile({"employment_status": ("200101",), "no_such_question": ("x",)})
    assert made.answers == {}
    assert made.gender is None


def test_no_answers_is_an_empty_profile_that_still_knows_where_and_what_device() -> None:
    made = profile({})
    assert made.gender is None
    assert made.birth_date is None
    assert made.device is Device.MOBILE
