"""``validation_info`` of a v2 click's question (client API §2.2): the limits an answer must
keep, in BitLabs' terms, from the question's own rules (``questions.validate_answer``).

BitLabs: TEXT min/max bound the length, NUMBER the value, DATE the date (a birth date: the
user's age), SINGLE and MULTI the number of answers chosen; every value must match ``regex``.
Our DATE limits are always whole years before today, i.e. ages. ``regex`` is anchored, since
the library's patterns must match the whole value.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from surveyrouter.domain.questions import Question, QuestionType

# The client API refuses longer answer values (api.client.AnswerValue); a blank one is none.
MIN_TEXT_LENGTH = 1
MAX_TEXT_LENGTH = 1000
_INTEGER_PATTERN = "^[+-]?[0-9]+$"
_DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


@dataclass(frozen=True, slots=True)
class ValidationInfo:
    min: Decimal | None
    max: Decimal | None
    regex: str | None


def validation_info(question: Question) -> ValidationInfo:
    """The limits of ``question``'s answer as ``validation_info`` states them."""
    rules = question.validation
    if question.type is QuestionType.SINGLE:
        return ValidationInfo(Decimal(1), Decimal(1), None)
    if question.type is QuestionType.MULTI:
        most = rules.max_choices if rules.max_choices is not None else len(question.answers)
        return ValidationInfo(Decimal(1), Decimal(most), None)
    if question.type is QuestionType.NUMBER:
        return ValidationInfo(rules.min, rules.max, _INTEGER_PATTERN)
    if question.type is QuestionType.DATE:
        return ValidationInfo(rules.min, rules.max, _DATE_PATTERN)
    regex = None if rules.regex is None else f"^(?:{rules.regex})$"
    return ValidationInfo(Decimal(MIN_TEXT_LENGTH), Decimal(MAX_TEXT_LENGTH), regex)
