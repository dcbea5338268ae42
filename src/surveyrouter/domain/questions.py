"""Canonical profile questions, their answers, and the rules an answer must keep.

The question library is the router's own vocabulary for a user's profile: what it asks, in
which languages, which answers it accepts, and which exchange attribute each question feeds.
A question's id is also the attribute id the bundled sandbox exchange publishes, so a profile
answer keyed by question id can be read by targeting directly; ``rex_attribute_id`` and
``rex_answers`` say what the same question is called on the real Dynata REX.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from types import MappingProxyType

from surveyrouter.domain.profile import age_on

#: Every localized text has this language; ``text_in`` falls back to it.
FALLBACK_LANGUAGE = "en"

_LANGUAGE = re.compile(r"[a-z]{2}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_KEY = re.compile(r"[a-z][a-z0-9_]*")
# ASCII digits only: int() would also accept e.g. Arabic-Indic digits, which no exchange does.
_INTEGER = re.compile(r"[+-]?[0-9]+")
# date.fromisoformat() in 3.11 also takes "20240101" and week dates; answers are YYYY-MM-DD only.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Beyond any min/max a question could sensibly have, and keeps int() away from its digit limit.
_MAX_INTEGER_DIGITS = 18


class QuestionType(enum.Enum):
    SINGLE = "SINGLE"
    MULTI = "MULTI"
    NUMBER = "NUMBER"
    DATE = "DATE"
    TEXT = "TEXT"

    @property
    def has_options(self) -> bool:
        """SINGLE and MULTI questions are answered with option ids, the rest with input."""
        return self in (QuestionType.SINGLE, QuestionType.MULTI)


class AnswerInvalid(ValueError):
    """A user's answer breaks one of the question's rules; ``message`` names the rule."""

    def __init__(self, question_id: int, message: str) -> None:
        super().__init__(f"question {question_id}: {message}")
        self.question_id = question_id
        self.message = message


class QuestionNotFound(LookupError):
    """No question in the library has this id or key."""

    def __init__(self, reference: int | str) -> None:
        super().__init__(f"no question {reference!r} in the library")
        self.reference = reference


def _freeze_text(text: Mapping[str, str], owner: str) -> Mapping[str, str]:
    for language, value in text.items():
        if not _LANGUAGE.fullmatch(language):
            raise ValueError(f"{owner}: language {language!r} is not a two-letter code")
        if not value.strip():
            raise ValueError(f"{owner}: text in {language!r} is blank")
    if FALLBACK_LANGUAGE not in text:
        raise ValueError(f"{owner}: has no {FALLBACK_LANGUAGE!r} text to fall back to")
    return MappingProxyType(dict(text))


def _localize(text: Mapping[str, str], language: str) -> str:
    wanted = language.strip().lower().replace("_", "-")
    primary = wanted.split("-", 1)[0]
    for candidate in (wanted, primary):
        if candidate in text:
            return text[candidate]
    return text[FALLBACK_LANGUAGE]


@dataclass(frozen=True, slots=True)
class AnswerOption:
    """One choice of a SINGLE or MULTI question.

    ``exclusive`` marks a choice such as "None of these" that a MULTI answer cannot combine
    with any other choice.
    """

    id: str
    text: Mapping[str, str] = field(hash=False)
    exclusive: bool = False

    def __post_init__(self) -> None:
        if not self.id or self.id != self.id.strip():
            raise ValueError(f"answer id {self.id!r} is blank or padded")
        object.__setattr__(self, "text", _freeze_text(self.text, f"answer {self.id}"))

    def text_in(self, language: str) -> str:
        """The option's text in ``language`` (e.g. "de", "de-AT"), else in English."""
        return _localize(self.text, language)


@dataclass(frozen=True, slots=True)
class Validation:
    """Limits on an answer; which apply depends on the question type.

    NUMBER: ``min``/``max`` bound the integer. DATE: ``min``/``max`` bound the whole years
    between the date and today (for a birth date, the age). TEXT: ``regex`` must match the
    whole value. MULTI: ``max_choices`` caps the number of options chosen.
    """

    min: Decimal | None = None
    max: Decimal | None = None
    regex: str | None = None
    max_choices: int | None = None

    def __post_init__(self) -> None:
        for name, bound in (("min", self.min), ("max", self.max)):
            if bound is not None and not bound.is_finite():
                raise ValueError(f"validation {name} {bound} is not a finite number")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"validation min {self.min} is above max {self.max}")
        if self.max_choices is not None and self.max_choices < 1:
            raise ValueError(f"validation max_choices {self.max_choices} is below 1")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as error:
                raise ValueError(f"validation regex {self.regex!r}: {error}") from error

    @property
    def has_bounds(self) -> bool:
        return self.min is not None or self.max is not None


@dataclass(frozen=True, slots=True)
class Question:
    """One canonical profile question.

    ``rex_answers`` maps this question's answer ids to REX answer ids; it is empty when the
    question is not mapped or its value is passed as is (birth date, postal code).
    ``countries`` limits where the question is asked; empty means everywhere.
    """

    id: int
    key: str
    type: QuestionType
    text: Mapping[str, str] = field(hash=False)
    answers: tuple[AnswerOption, ...] = ()
    validation: Validation = Validation()
    standard: bool = False
    rex_attribute_id: int | None = None
    rex_answers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    countries: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        owner = f"question {self.id}"
        if isinstance(self.id, bool) or self.id < 1:
            raise ValueError(f"{owner}: id must be a positive integer")
        if not _KEY.fullmatch(self.key):
            raise ValueError(f"{owner}: key {self.key!r} is not snake_case")
        object.__setattr__(self, "text", _freeze_text(self.text, owner))
        object.__setattr__(self, "answers", tuple(self.answers))
        object.__setattr__(self, "rex_answers", MappingProxyType(dict(self.rex_answers)))
        object.__setattr__(self, "countries", frozenset(self.countries))
        self._check_answers(owner)
        self._check_validation(owner)
        self._check_rex(owner)
        for country in self.countries:
            if not _COUNTRY.fullmatch(country):
                raise ValueError(f"{owner}: country {country!r} is not ISO 3166 alpha-2")

    def _check_answers(self, owner: str) -> None:
        if self.type.has_options and not self.answers:
            raise ValueError(f"{owner}: a {self.type.value} question needs answer options")
        if not self.type.has_options and self.answers:
            raise ValueError(f"{owner}: a {self.type.value} question takes no options")
        seen: set[str] = set()
        for option in self.answers:
            if option.id in seen:
                raise ValueError(f"{owner}: answer id {option.id!r} appears twice")
            seen.add(option.id)
            if option.exclusive and self.type is not QuestionType.MULTI:
                raise ValueError(f"{owner}: only MULTI answers can be exclusive")

    def _check_validation(self, owner: str) -> None:
        rules = self.validation
        if rules.has_bounds and self.type not in (QuestionType.NUMBER, QuestionType.DATE):
            raise ValueError(f"{owner}: min/max apply to NUMBER and DATE questions only")
        if rules.regex is not None and self.type is not QuestionType.TEXT:
            raise ValueError(f"{owner}: regex applies to TEXT questions only")
        if rules.max_choices is not None:
            if self.type is not QuestionType.MULTI:
                raise ValueError(f"{owner}: max_choices applies to MULTI questions only")
            if rules.max_choices > len(self.answers):
                raise ValueError(f"{owner}: max_choices exceeds the number of answers")

    def _check_rex(self, owner: str) -> None:
        if self.rex_answers and self.rex_attribute_id is None:
            raise ValueError(f"{owner}: rex_answers without a rex_attribute_id")
        known = {option.id for option in self.answers}
        for answer_id in self.rex_answers:
            if answer_id not in known:
                raise ValueError(f"{owner}: rex_answers maps unknown answer {answer_id!r}")

    def text_in(self, language: str) -> str:
        """The question's text in ``language`` (e.g. "de", "de-AT"), else in English."""
        return _localize(self.text, language)

    def option(self, answer_id: str) -> AnswerOption | None:
        for option in self.answers:
            if option.id == answer_id:
                return option
        return None

    def asked_in(self, country: str) -> bool:
        return not self.countries or country.upper() in self.countries


@dataclass(frozen=True, slots=True)
class QuestionLibrary:
    """All canonical questions, in the order they are defined.

    That order is the asking order: ``standard()`` returns the standard profile (gender, birth
    date, postal code in the shipped library) as listed.
    """

    questions: tuple[Question, ...]
    version: int = 0
    _by_id: Mapping[int, Question] = field(init=False, repr=False, compare=False, hash=False)
    _by_key: Mapping[str, Question] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        questions = tuple(self.questions)
        by_id: dict[int, Question] = {}
        by_key: dict[str, Question] = {}
        for question in questions:
            if question.id in by_id:
                raise ValueError(f"question id {question.id} appears twice")
            if question.key in by_key:
                raise ValueError(f"question key {question.key!r} appears twice")
            by_id[question.id] = question
            by_key[question.key] = question
        object.__setattr__(self, "questions", questions)
        object.__setattr__(self, "_by_id", MappingProxyType(by_id))
        object.__setattr__(self, "_by_key", MappingProxyType(by_key))

    def __iter__(self) -> Iterator[Question]:
        return iter(self.questions)

    def __len__(self) -> int:
        return len(self.questions)

    def __contains__(self, question_id: object) -> bool:
        return question_id in self._by_id

    def get(self, question_id: int) -> Question:
        """The question with this id; raises ``QuestionNotFound``."""
        try:
            return self._by_id[question_id]
        except KeyError:
            raise QuestionNotFound(question_id) from None

    def by_key(self, key: str) -> Question:
        """The question with this key (e.g. "employment_status"); raises ``QuestionNotFound``."""
        try:
            return self._by_key[key]
        except KeyError:
            raise QuestionNotFound(key) from None

    def standard(self) -> tuple[Question, ...]:
        """The standard profile, asked before anything else, in asking order."""
        return tuple(question for question in self.questions if question.standard)

    def asked_in(self, country: str) -> tuple[Question, ...]:
        """The questions that apply to users in ``country``, in library order."""
        return tuple(question for question in self.questions if question.asked_in(country))

    def for_rex_attribute(self, attribute_id: int) -> Question | None:
        """The question mapped to this REX attribute, if any (most REX attributes have none)."""
        for question in self.questions:
            if question.rex_attribute_id == attribute_id:
                return question
        return None


def validate_answer(question: Question, raw_values: Sequence[str], today: date) -> tuple[str, ...]:
    """Check a user's answer against the question's rules and return it normalized.

    Values are stripped of surrounding whitespace. SINGLE and MULTI return option ids (MULTI
    in the question's option order), NUMBER a canonical integer ("007" -> "7"), DATE the ISO
    date, TEXT the stripped text. ``today`` is the date DATE limits are measured against.

    Raises ``AnswerInvalid`` naming the first rule the answer breaks.
    """
    if isinstance(raw_values, str):
        # A bare string is a Sequence[str] too; "12345" must not become five answers.
        raise TypeError("raw_values must be a sequence of strings, not a string")
    values = tuple(value.strip() for value in raw_values)
    if not values:
        raise AnswerInvalid(question.id, "an answer is required")
    if any(not value for value in values):
        raise AnswerInvalid(question.id, "blank values are not answers")
    if question.type is QuestionType.MULTI:
        return _validate_multi(question, values)
    if len(values) != 1:
        raise AnswerInvalid(
            question.id,
            f"a {question.type.value} question takes exactly one value, got {len(values)}",
        )
    value = values[0]
    if question.type is QuestionType.SINGLE:
        return (_known_option(question, value),)
    if question.type is QuestionType.NUMBER:
        return (_validate_number(question, value),)
    if question.type is QuestionType.DATE:
        return (_validate_date(question, value, today),)
    return (_validate_text(question, value),)


def _known_option(question: Question, value: str) -> str:
    if question.option(value) is None:
        raise AnswerInvalid(question.id, f"{value!r} is not one of the question's answer ids")
    return value


def _validate_multi(question: Question, values: tuple[str, ...]) -> tuple[str, ...]:
    chosen = set()
    for value in values:
        if value in chosen:
            raise AnswerInvalid(question.id, f"answer id {value!r} is given twice")
        chosen.add(_known_option(question, value))
    limit = question.validation.max_choices
    if limit is not None and len(chosen) > limit:
        raise AnswerInvalid(
            question.id, f"at most {limit} answers may be chosen, got {len(chosen)}"
        )
    if len(chosen) > 1:
        for option in question.answers:
            if option.exclusive and option.id in chosen:
                raise AnswerInvalid(
                    question.id, f"answer {option.id!r} excludes every other answer"
                )
    return tuple(option.id for option in question.answers if option.id in chosen)


def _validate_number(question: Question, value: str) -> str:
    if not _INTEGER.fullmatch(value):
        raise AnswerInvalid(question.id, f"{value!r} is not a whole number")
    if len(value.lstrip("+-")) > _MAX_INTEGER_DIGITS:
        raise AnswerInvalid(question.id, f"{value!r} has too many digits")
    number = int(value)
    _check_bounds(question, number, f"{number}")
    return str(number)


def _validate_date(question: Question, value: str, today: date) -> str:
    if not _ISO_DATE.fullmatch(value):
        raise AnswerInvalid(question.id, f"{value!r} is not a date in the form YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise AnswerInvalid(question.id, f"{value!r} is not a calendar date") from None
    years = age_on(day, today)
    _check_bounds(question, years, f"{value} is {years} whole years before {today}, which")
    return day.isoformat()


def _check_bounds(question: Question, number: int, subject: str) -> None:
    rules = question.validation
    if rules.min is not None and number < rules.min:
        raise AnswerInvalid(question.id, f"{subject} is below the minimum {rules.min}")
    if rules.max is not None and number > rules.max:
        raise AnswerInvalid(question.id, f"{subject} is above the maximum {rules.max}")


def _validate_text(question: Question, value: str) -> str:
    pattern = question.validation.regex
    if pattern is not None and re.fullmatch(pattern, value) is None:
        raise AnswerInvalid(question.id, f"{value!r} does not match the pattern {pattern!r}")
    return value
