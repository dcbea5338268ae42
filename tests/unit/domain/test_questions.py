"""Specification of canonical questions and the answers they accept."""

from __future__ import annotations

import calendar
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveyrouter.domain.profile import age_on
from surveyrouter.domain.questions import (
    AnswerInvalid,
    AnswerOption,
    Question,
    QuestionLibrary,
    QuestionNotFound,
    QuestionType,
    Validation,
    validate_answer,
)

TODAY = date(2024, 6, 15)


def option(
    answer_id: str, en: str, de: str | None = None, *, exclusive: bool = False
) -> AnswerOption:
    text = {"en": en} if de is None else {"en": en, "de": de}
    return AnswerOption(id=answer_id, text=text, exclusive=exclusive)


GENDER = Question(
    id=1,
    key="gender",
    type=QuestionType.SINGLE,
    text={"en": "What is your gender?", "de": "Welches Geschlecht haben Sie?"},
    answers=(option("1", "Male", "Männlich"), option("2", "Female", "Weiblich")),
    standard=True,
    rex_attribute_id=1,
    rex_answers={"1": "1", "2": "2"},
)
BIRTH_DATE = Question(
    id=80,
    key="birth_date",
    type=QuestionType.DATE,
    text={"en": "What is your date of birth?"},
    validation=Validation(min=Decimal(13), max=Decimal(120)),
    standard=True,
    rex_attribute_id=80,
)
POSTAL_CODE = Question(
    id=8,
    key="postal_code",
    type=QuestionType.TEXT,
    text={"en": "What is your postal code?"},
    validation=Validation(regex="[0-9]{5}"),
    standard=True,
    rex_attribute_id=8,
)
HOUSEHOLD_SIZE = Question(
    id=2007,
    key="household_size",
    type=QuestionType.NUMBER,
    text={"en": "How many people live in your household?"},
    validation=Validation(min=Decimal(1), max=Decimal(20)),
)
PETS = Question(
    id=2019,
    key="pets",
    type=QuestionType.MULTI,
    text={"en": "Which pets live in your household?"},
    answers=(
        option("201901", "Dog"),
        option("201902", "Cat"),
        option("201903", "Fish"),
        option("201909", "No pets", exclusive=True),
    ),
)
TOP_TWO_BRANDS = Question(
    id=2016,
    key="vehicle_brand",
    type=QuestionType.MULTI,
    text={"en": "Which two brands do you like best?"},
    answers=(option("201601", "Audi"), option("201602", "BMW"), option("201603", "Ford")),
    validation=Validation(max_choices=2),
)
ETHNICITY = Question(
    id=2008,
    key="ethnicity",
    type=QuestionType.MULTI,
    text={"en": "Which race or races do you consider yourself to be?"},
    answers=(option("200801", "White"), option("200802", "Black or African American")),
    countries=frozenset({"US"}),
)


def rejection(question: Question, values: list[str], today: date = TODAY) -> str:
    with pytest.raises(AnswerInvalid) as caught:
        validate_answer(question, values, today)
    assert caught.value.question_id == question.id
    return caught.value.message


# Every type


@pytest.mark.parametrize(
    "question", [GENDER, BIRTH_DATE, POSTAL_CODE, HOUSEHOLD_SIZE, PETS], ids=lambda q: q.key
)
def test_no_answer_at_all_is_invalid(question: Question) -> None:
    assert "required" in rejection(question, [])


@pytest.mark.parametrize(
    "question", [GENDER, BIRTH_DATE, POSTAL_CODE, HOUSEHOLD_SIZE, PETS], ids=lambda q: q.key
)
def test_a_blank_value_is_not_an_answer(question: Question) -> None:
    assert "blank" in rejection(question, ["   "])


@pytest.mark.parametrize(
    ("question", "values"),
    [
        pytest.param(GENDER, ["1", "2"], id="single"),
        pytest.param(BIRTH_DATE, ["1990-01-01", "1991-01-01"], id="date"),
        pytest.param(POSTAL_CODE, ["10001", "10002"], id="text"),
        pytest.param(HOUSEHOLD_SIZE, ["2", "3"], id="number"),
    ],
)
def test_only_multi_questions_take_several_values(question: Question, values: list[str]) -> None:
    assert "exactly one value, got 2" in rejection(question, values)


def test_a_bare_string_is_refused_rather_than_read_as_one_value_per_character() -> None:
    with pytest.raises(TypeError):
        validate_answer(POSTAL_CODE, "10001", TODAY)


def test_answer_invalid_names_the_question() -> None:
    error = AnswerInvalid(2007, "'x' is not a whole number")
    assert str(error) == "question 2007: 'x' is not a whole number"


# SINGLE


def test_single_accepts_one_known_answer_id() -> None:
    assert validate_answer(GENDER, ["2"], TODAY) == ("2",)


def test_single_strips_surrounding_whitespace() -> None:
    assert validate_answer(GENDER, [" 1 "], TODAY) == ("1",)


def test_single_rejects_an_unknown_answer_id() -> None:
    assert "'3' is not one of the question's answer ids" in rejection(GENDER, ["3"])


def test_single_rejects_answer_text_in_place_of_its_id() -> None:
    assert "not one of the question's answer ids" in rejection(GENDER, ["Male"])


# MULTI


def test_multi_accepts_one_answer() -> None:
    assert validate_answer(PETS, ["201902"], TODAY) == ("201902",)


def test_multi_returns_answers_in_the_questions_order() -> None:
    assert validate_answer(PETS, ["201903", "201901"], TODAY) == ("201901", "201903")


def test_multi_rejects_an_unknown_answer_id_among_known_ones() -> None:
    assert "'201999' is not one of" in rejection(PETS, ["201901", "201999"])


def test_multi_rejects_the_same_answer_twice() -> None:
    assert "'201901' is given twice" in rejection(PETS, ["201901", "201901"])


def test_multi_rejects_more_answers_than_max_choices() -> None:
    message = rejection(TOP_TWO_BRANDS, ["201601", "201602", "201603"])
    assert "at most 2 answers may be chosen, got 3" in message


def test_multi_accepts_exactly_max_choices() -> None:
    assert validate_answer(TOP_TWO_BRANDS, ["201602", "201601"], TODAY) == ("201601", "201602")


def test_exclusive_answer_is_valid_on_its_own() -> None:
    assert validate_answer(PETS, ["201909"], TODAY) == ("201909",)


def test_exclusive_answer_cannot_be_combined_with_another() -> None:
    assert "'201909' excludes every other answer" in rejection(PETS, ["201901", "201909"])


@given(st.permutations(["201901", "201902", "201903"]), st.integers(min_value=1, max_value=3))
def test_multi_result_does_not_depend_on_the_order_answers_were_given(
    ordering: list[str], count: int
) -> None:
    chosen = ordering[:count]
    expected = tuple(sorted(chosen))  # the fixture's option order is numeric order
    assert validate_answer(PETS, chosen, TODAY) == expected


# NUMBER


@pytest.mark.parametrize(
    ("raw", "normalized"), [("1", "1"), ("20", "20"), ("007", "7"), ("+4", "4")]
)
def test_number_accepts_integers_within_bounds_in_canonical_form(raw: str, normalized: str) -> None:
    assert validate_answer(HOUSEHOLD_SIZE, [raw], TODAY) == (normalized,)


@pytest.mark.parametrize("raw", ["2.5", "3.0", "1e1", "four", "٣", "0x10", "1 000"])
def test_number_rejects_anything_but_a_whole_number(raw: str) -> None:
    assert "is not a whole number" in rejection(HOUSEHOLD_SIZE, [raw])


def test_number_below_min_is_rejected() -> None:
    assert "0 is below the minimum 1" in rejection(HOUSEHOLD_SIZE, ["0"])


def test_number_above_max_is_rejected() -> None:
    assert "21 is above the maximum 20" in rejection(HOUSEHOLD_SIZE, ["21"])


def test_number_with_absurdly_many_digits_is_rejected() -> None:
    assert "too many digits" in rejection(HOUSEHOLD_SIZE, ["9" * 5000])


def test_number_without_bounds_accepts_negative_integers() -> None:
    balance = Question(
        id=2090, key="balance", type=QuestionType.NUMBER, text={"en": "Your balance?"}
    )
    assert validate_answer(balance, ["-15"], TODAY) == ("-15",)


@given(st.integers(min_value=-100, max_value=100))
def test_number_is_valid_exactly_when_within_min_and_max(number: int) -> None:
    if 1 <= number <= 20:
        assert validate_answer(HOUSEHOLD_SIZE, [str(number)], TODAY) == (str(number),)
    else:
        rejection(HOUSEHOLD_SIZE, [str(number)])


# DATE


def test_birth_date_of_an_adult_is_accepted() -> None:
    assert validate_answer(BIRTH_DATE, ["1989-09-16"], TODAY) == ("1989-09-16",)


def test_birth_date_on_the_thirteenth_birthday_is_accepted() -> None:
    assert validate_answer(BIRTH_DATE, ["2011-06-15"], TODAY) == ("2011-06-15",)


def test_birth_date_a_day_short_of_thirteen_is_rejected() -> None:
    message = rejection(BIRTH_DATE, ["2011-06-16"])
    assert "12 whole years before 2024-06-15" in message
    assert "below the minimum 13" in message


def test_birth_date_more_than_120_years_ago_is_rejected() -> None:
    assert "above the maximum 120" in rejection(BIRTH_DATE, ["1900-01-01"])


def test_birth_date_in_the_future_is_rejected() -> None:
    assert "below the minimum 13" in rejection(BIRTH_DATE, ["2030-01-01"])


def test_birth_date_age_is_measured_at_the_date_passed_in() -> None:
    assert validate_answer(BIRTH_DATE, ["2011-06-16"], date(2024, 6, 16)) == ("2011-06-16",)


@pytest.mark.parametrize("raw", ["16.09.1989", "09/16/1989", "19890916", "1989-W37-6", "1989-9-16"])
def test_date_must_be_written_yyyy_mm_dd(raw: str) -> None:
    assert "is not a date in the form YYYY-MM-DD" in rejection(BIRTH_DATE, [raw])


@pytest.mark.parametrize("raw", ["1989-02-30", "1989-13-01", "2023-02-29"])
def test_date_must_exist_in_the_calendar(raw: str) -> None:
    assert "is not a calendar date" in rejection(BIRTH_DATE, [raw])


def test_leap_day_birthday_completes_a_year_on_the_first_of_march_in_common_years() -> None:
    assert age_on(date(2008, 2, 29), date(2021, 2, 28)) == 12
    assert age_on(date(2008, 2, 29), date(2021, 3, 1)) == 13


def anniversary(born: date, years: int) -> date:
    """Reference: the date ``years`` after ``born``; 29 February moves to 1 March."""
    year = born.year + years
    if born.month == 2 and born.day == 29 and not calendar.isleap(year):
        return date(year, 3, 1)
    return born.replace(year=year)


def reference_whole_years(born: date, today: date) -> int:
    years = 0
    while anniversary(born, years + 1) <= today:
        years += 1
    return years


@given(
    st.dates(min_value=date(1880, 1, 1), max_value=date(2024, 12, 31)),
    st.dates(min_value=date(2025, 1, 1), max_value=date(2060, 12, 31)),
)
def test_age_on_matches_counting_anniversaries(born: date, today: date) -> None:
    assert age_on(born, today) == reference_whole_years(born, today)


@given(st.dates(min_value=date(1880, 1, 1), max_value=date(2024, 6, 15)))
def test_birth_date_is_valid_exactly_when_age_is_13_to_120(born: date) -> None:
    age = reference_whole_years(born, TODAY)
    if 13 <= age <= 120:
        assert validate_answer(BIRTH_DATE, [born.isoformat()], TODAY) == (born.isoformat(),)
    else:
        rejection(BIRTH_DATE, [born.isoformat()])


# TEXT


def test_postal_code_accepts_a_five_digit_zip() -> None:
    assert validate_answer(POSTAL_CODE, [" 02134 "], TODAY) == ("02134",)


@pytest.mark.parametrize("raw", ["2134", "021345", "02134-1234", "SW1A 1AA", "0213a"])
def test_postal_code_rejects_anything_but_five_digits(raw: str) -> None:
    assert "does not match the pattern '[0-9]{5}'" in rejection(POSTAL_CODE, [raw])


def test_text_without_a_pattern_accepts_any_non_blank_text() -> None:
    nickname = Question(id=2091, key="nickname", type=QuestionType.TEXT, text={"en": "Nickname?"})
    assert validate_answer(nickname, ["  Sam "], TODAY) == ("Sam",)


# Languages


def test_text_is_given_in_the_language_asked_for() -> None:
    assert GENDER.text_in("de") == "Welches Geschlecht haben Sie?"
    assert GENDER.answers[1].text_in("de") == "Weiblich"


def test_regional_language_tags_use_their_base_language() -> None:
    assert GENDER.text_in("de-AT") == "Welches Geschlecht haben Sie?"
    assert GENDER.text_in("DE_ch") == "Welches Geschlecht haben Sie?"


def test_text_falls_back_to_english_for_a_language_without_a_translation() -> None:
    assert GENDER.text_in("fr") == "What is your gender?"
    assert GENDER.answers[0].text_in("es") == "Male"


def test_a_question_must_have_english_text_to_fall_back_to() -> None:
    with pytest.raises(ValueError, match="no 'en' text"):
        Question(id=3, key="x", type=QuestionType.TEXT, text={"de": "Nur Deutsch"})


def test_localized_text_cannot_be_changed_after_construction() -> None:
    with pytest.raises(TypeError):
        GENDER.text["en"] = "changed"  # type: ignore[index]


# Construction rules that keep the data file honest


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"type": QuestionType.SINGLE}, "needs answer options"),
        ({"type": QuestionType.NUMBER, "answers": (option("9", "x"),)}, "takes no options"),
        (
            {"type": QuestionType.SINGLE, "answers": (option("9", "a"), option("9", "b"))},
            "appears twice",
        ),
        (
            {"type": QuestionType.SINGLE, "answers": (option("9", "a", exclusive=True),)},
            "only MULTI answers can be exclusive",
        ),
        ({"type": QuestionType.TEXT, "validation": Validation(min=Decimal(1))}, "min/max apply"),
        ({"type": QuestionType.NUMBER, "validation": Validation(regex="x")}, "regex applies"),
        (
            {
                "type": QuestionType.MULTI,
                "answers": (option("9", "a"),),
                "validation": Validation(max_choices=2),
            },
            "max_choices exceeds",
        ),
        (
            {
                "type": QuestionType.SINGLE,
                "answers": (option("9", "a"),),
                "rex_answers": {"9": "1"},
            },
            "without a rex_attribute_id",
        ),
        (
            {
                "type": QuestionType.SINGLE,
                "answers": (option("9", "a"),),
                "rex_attribute_id": 5,
                "rex_answers": {"8": "1"},
            },
            "unknown answer '8'",
        ),
        ({"type": QuestionType.TEXT, "countries": frozenset({"usa"})}, "alpha-2"),
        ({"type": QuestionType.TEXT, "key": "Employment Status"}, "not snake_case"),
        ({"type": QuestionType.TEXT, "id": 0}, "positive integer"),
    ],
)
def test_an_inconsistent_question_cannot_be_built(kwargs: dict[str, object], rule: str) -> None:
    fields: dict[str, object] = {"id": 2099, "key": "sample", "text": {"en": "?"}, **kwargs}
    with pytest.raises(ValueError, match=rule):
        Question(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("validation", "rule"),
    [
        ({"min": Decimal(5), "max": Decimal(1)}, "above max"),
        ({"max_choices": 0}, "below 1"),
        ({"regex": "[0-9"}, "validation regex"),
        ({"min": Decimal("NaN")}, "not a finite number"),
    ],
)
def test_inconsistent_validation_cannot_be_built(validation: dict[str, object], rule: str) -> None:
    with pytest.raises(ValueError, match=rule):
        Validation(**validation)  # type: ignore[arg-type]


# Country scope


def test_a_question_without_countries_is_asked_everywhere() -> None:
    assert PETS.asked_in("DE")
    assert PETS.asked_in("US")


def test_a_us_only_question_is_not_asked_elsewhere() -> None:
    assert ETHNICITY.asked_in("US")
    assert ETHNICITY.asked_in("us")
    assert not ETHNICITY.asked_in("DE")


# The library

LIBRARY = QuestionLibrary(
    (GENDER, BIRTH_DATE, POSTAL_CODE, HOUSEHOLD_SIZE, PETS, ETHNICITY), version=3
)


def test_library_finds_questions_by_id_and_by_key() -> None:
    assert LIBRARY.get(2019) is PETS
    assert LIBRARY.by_key("household_size") is HOUSEHOLD_SIZE
    assert 80 in LIBRARY
    assert 9999 not in LIBRARY


def test_library_raises_question_not_found_for_an_unknown_id_or_key() -> None:
    with pytest.raises(QuestionNotFound):
        LIBRARY.get(9999)
    with pytest.raises(QuestionNotFound, match="'smoking'"):
        LIBRARY.by_key("smoking")


def test_library_standard_profile_keeps_the_asking_order() -> None:
    assert LIBRARY.standard() == (GENDER, BIRTH_DATE, POSTAL_CODE)


def test_library_standard_profile_follows_definition_order_not_id_order() -> None:
    reordered = QuestionLibrary((POSTAL_CODE, PETS, GENDER, BIRTH_DATE))
    assert [q.key for q in reordered.standard()] == ["postal_code", "gender", "birth_date"]


def test_library_lists_the_questions_asked_in_a_country() -> None:
    assert ETHNICITY in LIBRARY.asked_in("US")
    assert ETHNICITY not in LIBRARY.asked_in("DE")
    assert len(LIBRARY.asked_in("DE")) == len(LIBRARY) - 1


def test_library_maps_a_rex_attribute_to_its_question() -> None:
    assert LIBRARY.for_rex_attribute(80) is BIRTH_DATE
    assert LIBRARY.for_rex_attribute(100262) is None


def test_library_iterates_in_definition_order() -> None:
    assert [q.id for q in LIBRARY] == [1, 80, 8, 2007, 2019, 2008]
    assert LIBRARY.version == 3


def test_library_rejects_duplicate_ids_and_keys() -> None:
    clash = Question(id=2019, key="pets_again", type=QuestionType.TEXT, text={"en": "?"})
    with pytest.raises(ValueError, match="question id 2019 appears twice"):
        QuestionLibrary((PETS, clash))
    same_key = Question(id=2050, key="pets", type=QuestionType.TEXT, text={"en": "?"})
    with pytest.raises(ValueError, match="question key 'pets' appears twice"):
        QuestionLibrary((PETS, same_key))


def test_questions_can_be_held_in_sets() -> None:
    assert len({GENDER, GENDER, PETS}) == 2
