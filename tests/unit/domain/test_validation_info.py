"""``validation_info`` in BitLabs' terms, from the library's own answer rules."""

from __future__ import annotations

from decimal import Decimal

from surveyrouter.domain.questions import AnswerOption, Question, QuestionType, Validation
from surveyrouter.domain.validation_info import ValidationInfo, validation_info

OPTIONS = tuple(AnswerOption(str(n), {"en": f"Option {n}"}) for n in range(1, 5))


NO_RULES = Validation()


def question(kind: QuestionType, validation: Validation = NO_RULES) -> Question:
    answers = OPTIONS if kind.has_options else ()
    return Question(
        id=1, key="q", type=kind, text={"en": "?"}, answers=answers, validation=validation
    )


def test_single_takes_exactly_one_answer() -> None:
    assert validation_info(question(QuestionType.SINGLE)) == ValidationInfo(
        Decimal(1), Decimal(1), None
    )


def test_multi_takes_up_to_its_max_choices_or_every_option() -> None:
    assert validation_info(question(QuestionType.MULTI)).max == Decimal(4)
    capped = question(QuestionType.MULTI, Validation(max_choices=2))
    assert validation_info(capped) == ValidationInfo(Decimal(1), Decimal(2), None)


def test_number_bounds_the_value_and_is_whole_digits() -> None:
    rules = Validation(min=Decimal(1), max=Decimal(99))
    assert validation_info(question(QuestionType.NUMBER, rules)) == ValidationInfo(
        Decimal(1), Decimal(99), "^[+-]?[0-9]+$"
    )


def test_a_date_bounds_the_age_and_is_written_yyyy_mm_dd() -> None:
    rules = Validation(min=Decimal(13), max=Decimal(120))
    info = validation_info(question(QuestionType.DATE, rules))
    assert (info.min, info.max) == (Decimal(13), Decimal(120))
    assert info.regex == "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def test_text_bounds_the_length_and_anchors_its_pattern() -> None:
    info = validation_info(question(QuestionType.TEXT, Validation(regex="[0-9]{5}")))
    assert info == ValidationInfo(Decimal(1), Decimal(1000), "^(?:[0-9]{5})$")
    assert validation_info(question(QuestionType.TEXT)).regex is None
