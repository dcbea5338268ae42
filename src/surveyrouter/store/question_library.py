"""Loads the canonical question library shipped as ``surveyrouter/data/questions.json``.

The file is read strictly: an unknown field, a wrong type, a duplicate id or a missing German
text stops the load with a message naming the place in the file, because a typo here would
otherwise surface as users who silently never match a survey.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from decimal import Decimal
from typing import TypeVar

from surveyrouter.domain.questions import (
    AnswerOption,
    Question,
    QuestionLibrary,
    QuestionType,
    Validation,
)
from surveyrouter.packaged_data import parse_strict_json, read_packaged

DATA_FILE = "questions.json"

#: Every question and answer must read in these languages.
REQUIRED_LANGUAGES = ("en", "de")

# REX answer ids are integers on the wire (put-respondent-answers, REX §6.1); the sandbox
# publishes ours, so they must be decimal integers written as strings.
_ANSWER_ID = re.compile(r"[1-9][0-9]*")
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")

_QUESTION_FIELDS = frozenset(
    {
        "id",
        "key",
        "type",
        "standard",
        "text",
        "answers",
        "validation",
        "rex_attribute_id",
        "rex_answers",
        "countries",
    }
)
_QUESTION_REQUIRED = frozenset({"id", "key", "type", "text"})
_ANSWER_FIELDS = frozenset({"id", "text", "exclusive"})
_VALIDATION_FIELDS = frozenset({"min", "max", "regex", "max_choices"})

_T = TypeVar("_T")


class QuestionFileInvalid(ValueError):
    """The question file breaks a rule; the message says where and which."""


@functools.cache
def load_question_library() -> QuestionLibrary:
    """The packaged question library, parsed once per process."""
    raw, source = read_packaged(DATA_FILE)
    return parse_question_library(raw, source=source)


def parse_question_library(raw: str | bytes, source: str = "<question file>") -> QuestionLibrary:
    """Parse a question file's text into a ``QuestionLibrary``.

    Raises ``QuestionFileInvalid`` with ``source`` and the JSON path of the first problem.
    """
    document = parse_strict_json(raw, source, QuestionFileInvalid, parse_float=Decimal)
    try:
        return _library(document)
    except QuestionFileInvalid as error:
        raise QuestionFileInvalid(f"{source}: {error}") from None


def _library(document: object) -> QuestionLibrary:
    top_fields = frozenset({"version", "questions"})
    top = _object(document, "$", top_fields, top_fields)
    version = _integer(top["version"], "$.version")
    entries = _list(top["questions"], "$.questions")
    questions: list[Question] = []
    question_at: dict[int, str] = {}
    key_at: dict[str, str] = {}
    answer_at: dict[str, str] = {}
    for index, entry in enumerate(entries):
        where = f"$.questions[{index}]"
        question = _question(entry, where)
        if question.id in question_at:
            raise QuestionFileInvalid(
                f"{where}: question id {question.id} is already used at {question_at[question.id]}"
            )
        if question.key in key_at:
            raise QuestionFileInvalid(
                f"{where}: question key {question.key!r} is already used at {key_at[question.key]}"
            )
        question_at[question.id] = where
        key_at[question.key] = where
        for position, option in enumerate(question.answers):
            # REX answer ids are unique across attributes, and so are the sandbox's.
            if option.id in answer_at:
                raise QuestionFileInvalid(
                    f"{where}.answers[{position}]: answer id {option.id!r} is already used "
                    f"at {answer_at[option.id]}"
                )
            answer_at[option.id] = f"{where}.answers[{position}]"
        questions.append(question)
    if not questions:
        raise QuestionFileInvalid("$.questions: the library has no questions")
    return QuestionLibrary(tuple(questions), version=version)


def _question(entry: object, where: str) -> Question:
    fields = _object(entry, where, _QUESTION_FIELDS, _QUESTION_REQUIRED)
    type_name = _string(fields["type"], f"{where}.type")
    try:
        question_type = QuestionType(type_name)
    except ValueError:
        known = ", ".join(member.value for member in QuestionType)
        raise QuestionFileInvalid(
            f"{where}.type: unknown question type {type_name!r} (known: {known})"
        ) from None
    answers = tuple(
        _answer(item, f"{where}.answers[{position}]")
        for position, item in enumerate(_list(fields.get("answers", []), f"{where}.answers"))
    )
    rex_attribute_id = fields.get("rex_attribute_id")
    rex_answers = _mapping_of_strings(fields.get("rex_answers", {}), f"{where}.rex_answers")
    for ours, theirs in rex_answers.items():
        if not _ANSWER_ID.fullmatch(theirs):
            raise QuestionFileInvalid(
                f"{where}.rex_answers[{ours!r}]: REX answer id {theirs!r} is not an integer"
            )
    countries = _list(fields.get("countries", []), f"{where}.countries")
    return _build(
        where,
        lambda: Question(
            id=_integer(fields["id"], f"{where}.id"),
            key=_string(fields["key"], f"{where}.key"),
            type=question_type,
            text=_text(fields["text"], f"{where}.text"),
            answers=answers,
            validation=_validation(fields.get("validation", {}), f"{where}.validation"),
            standard=_boolean(fields.get("standard", False), f"{where}.standard"),
            rex_attribute_id=(
                None
                if rex_attribute_id is None
                else _integer(rex_attribute_id, f"{where}.rex_attribute_id")
            ),
            rex_answers=rex_answers,
            countries=frozenset(
                _string(country, f"{where}.countries[{position}]")
                for position, country in enumerate(countries)
            ),
        ),
    )


def _answer(entry: object, where: str) -> AnswerOption:
    fields = _object(entry, where, _ANSWER_FIELDS, {"id", "text"})
    answer_id = _string(fields["id"], f"{where}.id")
    if not _ANSWER_ID.fullmatch(answer_id):
        raise QuestionFileInvalid(
            f"{where}.id: answer id {answer_id!r} is not a positive integer string"
        )
    return _build(
        where,
        lambda: AnswerOption(
            id=answer_id,
            text=_text(fields["text"], f"{where}.text"),
            exclusive=_boolean(fields.get("exclusive", False), f"{where}.exclusive"),
        ),
    )


def _validation(entry: object, where: str) -> Validation:
    fields = _object(entry, where, _VALIDATION_FIELDS, frozenset())
    regex = fields.get("regex")
    max_choices = fields.get("max_choices")
    return _build(
        where,
        lambda: Validation(
            min=_optional_decimal(fields.get("min"), f"{where}.min"),
            max=_optional_decimal(fields.get("max"), f"{where}.max"),
            regex=None if regex is None else _string(regex, f"{where}.regex"),
            max_choices=(
                None if max_choices is None else _integer(max_choices, f"{where}.max_choices")
            ),
        ),
    )


def _text(entry: object, where: str) -> dict[str, str]:
    text = _mapping_of_strings(entry, where)
    for language in REQUIRED_LANGUAGES:
        if not text.get(language, "").strip():
            raise QuestionFileInvalid(f"{where}: missing {language!r} text")
    return text


def _build(where: str, construct: Callable[[], _T]) -> _T:
    # The domain objects guard their own invariants with ValueError; say where in the file.
    try:
        return construct()
    except QuestionFileInvalid:
        raise
    except ValueError as error:
        raise QuestionFileInvalid(f"{where}: {error}") from None


def _object(
    value: object, where: str, allowed: AbstractSet[str], required: AbstractSet[str]
) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise QuestionFileInvalid(f"{where}: expected an object, got {_kind(value)}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise QuestionFileInvalid(f"{where}: unknown field(s) {', '.join(unknown)}")
    missing = sorted(required - set(value))
    if missing:
        raise QuestionFileInvalid(f"{where}: missing field(s) {', '.join(missing)}")
    return value


def _mapping_of_strings(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise QuestionFileInvalid(f"{where}: expected an object, got {_kind(value)}")
    return {key: _string(item, f"{where}.{key}") for key, item in value.items()}


def _list(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise QuestionFileInvalid(f"{where}: expected an array, got {_kind(value)}")
    return value


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise QuestionFileInvalid(f"{where}: expected a string, got {_kind(value)}")
    return value


def _integer(value: object, where: str) -> int:
    # bool is an int in Python but `true` is no id in JSON.
    if isinstance(value, bool) or not isinstance(value, int):
        raise QuestionFileInvalid(f"{where}: expected an integer, got {_kind(value)}")
    return value


def _boolean(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise QuestionFileInvalid(f"{where}: expected true or false, got {_kind(value)}")
    return value


def _optional_decimal(value: object, where: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    # Decimal strings are accepted too: writers that keep bounds exact (no float on the way
    # back, e.g. store/questions.py) write them that way.
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return Decimal(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise QuestionFileInvalid(f"{where}: expected a number, got {_kind(value)}")
    return Decimal(value)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, Decimal)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "an array"
    return "an object"
