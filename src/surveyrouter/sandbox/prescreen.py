"""The interactive gateway's prescreen (REX §6.3): the questions targeting could not decide, and
the answers a respondent gives to them.

"Dynata prescreens gender, postal_code and birth_date when they are unknown. It also prescreens
("refinement") attributes the opportunity needs that the respondent lacks." The standard three
are asked as their own fields; any other attribute is asked from its ``get-attribute-info``
document. Derived attributes (``display_mode`` geo, zip, none) and attributes without a
document cannot be asked; the gateway decides those by the incidence rate, as without a page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, Protocol

from surveyrouter.domain.profile import (
    AGE_ATTRIBUTE_ID,
    GENDER_ATTRIBUTE_ID,
    POSTAL_CODE_ATTRIBUTE_ID,
)
from surveyrouter.sandbox.respondents import (
    RespondentInvalid,
    RespondentUpdate,
    read_birth_date,
    read_gender,
    read_postal_code,
)

_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")

Kind = Literal["single", "multi", "number", "date", "text"]

_KINDS: Mapping[str, Kind] = {
    "single_select": "single",
    "single_select_grid": "single",
    "single_select_searchable": "single",
    "multi_select": "multi",
    "multi_select_searchable": "multi",
    "text_entry": "number",
}


class AttributeDocuments(Protocol):
    def attribute_info(self, attribute_id: int) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class Question:
    """One prescreen question: its form field ``name``, text and choices ``(value, label)``."""

    attribute_id: int
    name: str
    text: str
    kind: Kind
    options: tuple[tuple[str, str], ...] = ()


_STANDARD = {
    GENDER_ATTRIBUTE_ID: Question(
        GENDER_ATTRIBUTE_ID, "gender", "What is your gender?", "single",
        (("male", "Male"), ("female", "Female")),
    ),
    AGE_ATTRIBUTE_ID: Question(AGE_ATTRIBUTE_ID, "birth_date", "When were you born?", "date"),
    POSTAL_CODE_ATTRIBUTE_ID: Question(
        POSTAL_CODE_ATTRIBUTE_ID, "postal_code", "What is your postal code?", "text"
    ),
}  # fmt: skip


def questions_for(
    attribute_ids: Iterable[int], documents: AttributeDocuments | None, language: str | None
) -> tuple[Question, ...]:
    """The questions that can be asked about ``attribute_ids``, standard ones first."""
    asked = []
    for attribute_id in sorted(attribute_ids, key=_asking_order):
        if attribute_id in _STANDARD:
            asked.append(_STANDARD[attribute_id])
            continue
        document = documents.attribute_info(attribute_id) if documents is not None else None
        question = _from_document(attribute_id, document, language or "en")
        if question is not None:
            asked.append(question)
    return tuple(asked)


def _asking_order(attribute_id: int) -> tuple[int, int]:
    # The standard profile in the library's order (gender, birth date, postal code), then the
    # rest by id.
    standard = list(_STANDARD)
    if attribute_id in _STANDARD:
        return (0, standard.index(attribute_id))
    return (1, attribute_id)


def read_answers(
    respondent_id: str,
    questions: Sequence[Question],
    form: Mapping[str, Sequence[str]],
    today: date,
) -> RespondentUpdate:
    """A submitted prescreen form as a respondent update. A question left empty stays
    unanswered; an answer that is not one of the question's choices is refused."""
    fields: dict[str, Any] = {}
    answers: dict[int, tuple[str, ...]] = {}
    for question in questions:
        given = [value.strip() for value in form.get(question.name, ()) if value.strip()]
        if not given:
            continue
        if question.kind != "multi" and len(given) > 1:
            raise RespondentInvalid(question.name, "takes one answer")
        if question.name == "gender":
            fields["gender"] = read_gender(given[0])
        elif question.name == "birth_date":
            fields["birth_date"] = read_birth_date(given[0], today)
        elif question.name == "postal_code":
            fields["postal_code"] = read_postal_code(given[0])
        elif question.kind == "number":
            if not _WHOLE_NUMBER.fullmatch(given[0]):
                raise RespondentInvalid(question.name, "must be a whole number")
            answers[question.attribute_id] = (str(int(given[0])),)
        else:
            offered = {value for value, _ in question.options}
            if not set(given) <= offered:
                raise RespondentInvalid(question.name, "must be one of the answers offered")
            answers[question.attribute_id] = tuple(dict.fromkeys(given))
    return RespondentUpdate(respondent_id, answers=answers, **fields)


def _from_document(
    attribute_id: int, document: Mapping[str, Any] | None, language: str
) -> Question | None:
    if document is None:
        return None
    kind = _KINDS.get(str(document.get("display_mode", "")))
    if kind is None:
        return None
    options = tuple(
        (str(answer["id"]), _text(answer, language))
        for answer in document.get("answers") or []
        if isinstance(answer, dict) and "id" in answer
    )
    if kind != "number" and not options:
        return None
    text = _text(document.get("question") or {}, language) or str(document.get("name", ""))
    return Question(attribute_id, f"a{attribute_id}", text, kind, options)


def _text(texts: Mapping[str, Any], language: str) -> str:
    """REX's text shape: ``text`` (English) plus ``translations`` by upper-case locale."""
    for translation in texts.get("translations") or []:
        if str(translation.get("locale", "")).lower() == language.lower():
            return str(translation.get("text", ""))
    return str(texts.get("text", ""))
