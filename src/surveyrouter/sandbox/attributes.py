"""The sandbox's attribute catalogue (REX §6.1 ``list-attributes`` / ``get-attribute-info``).

It publishes the question library's non-standard questions as REX attributes (the sandbox
network uses the library's ids), plus a few attributes of its own that the library does not
know, so that a router meets an unmapped attribute the way it would on the real exchange.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from surveyrouter.domain.questions import Question, QuestionLibrary, QuestionType
from surveyrouter.sandbox.market import AttributeKind, SyntheticAttribute

# Number questions are targeted with RANGE cells over their integer answers; wider ones are cut.
_MAX_NUMBER_ANSWERS = 100


@dataclass(frozen=True)
class OwnAttribute:
    """An attribute only the sandbox knows (like the hundreds of REX ids with no public list)."""

    id: int
    name: str
    display_mode: str
    text: dict[str, str]
    answers: tuple[tuple[str, dict[str, str]], ...]  # (answer id, texts by language)


OWN_ATTRIBUTES = (
    OwnAttribute(
        910001,
        "streaming_services",
        "multi_select",
        {"en": "Which streaming services do you pay for?",
         "de": "Für welche Streamingdienste zahlen Sie?"},
        (("91000101", {"en": "Netflix", "de": "Netflix"}),
         ("91000102", {"en": "Disney+", "de": "Disney+"}),
         ("91000103", {"en": "Amazon Prime Video", "de": "Amazon Prime Video"}),
         ("91000104", {"en": "None of these", "de": "Keinen davon"})),
    ),
    OwnAttribute(
        910002,
        "smart_speaker",
        "single_select",
        {"en": "Do you own a smart speaker?", "de": "Besitzen Sie einen smarten Lautsprecher?"},
        (("91000201", {"en": "Yes", "de": "Ja"}), ("91000202", {"en": "No", "de": "Nein"})),
    ),
    OwnAttribute(
        910003,
        "energy_supplier_switch",
        "single_select",
        {"en": "Did you switch your energy supplier in the last 12 months?",
         "de": "Haben Sie in den letzten 12 Monaten Ihren Energieversorger gewechselt?"},
        (("91000301", {"en": "Yes", "de": "Ja"}), ("91000302", {"en": "No", "de": "Nein"})),
    ),
)  # fmt: skip

_DISPLAY_MODES = {
    QuestionType.SINGLE: "single_select",
    QuestionType.MULTI: "multi_select",
    QuestionType.NUMBER: "text_entry",
}


def market_attributes(library: QuestionLibrary) -> list[SyntheticAttribute]:
    """What the synthetic market targets: the library's non-standard questions and our own."""
    attributes = []
    for question in _published(library):
        if question.type is QuestionType.NUMBER:
            low = int(question.validation.min or 0)
            high = int(question.validation.max or low + _MAX_NUMBER_ANSWERS - 1)
            answers = tuple(str(n) for n in range(low, min(high, low + _MAX_NUMBER_ANSWERS) + 1))
            attributes.append(SyntheticAttribute(question.id, "number", answers))
        else:
            kind: AttributeKind = "multi" if question.type is QuestionType.MULTI else "single"
            attributes.append(
                SyntheticAttribute(question.id, kind, tuple(a.id for a in question.answers))
            )
    for own in OWN_ATTRIBUTES:
        own_kind: AttributeKind = "multi" if own.display_mode == "multi_select" else "single"
        attributes.append(SyntheticAttribute(own.id, own_kind, tuple(a for a, _ in own.answers)))
    return attributes


class AttributeCatalogue:
    def __init__(self, library: QuestionLibrary, own: Sequence[OwnAttribute] = OWN_ATTRIBUTES):
        self._documents = {q.id: _question_document(q) for q in _published(library)}
        self._documents.update({o.id: _own_document(o) for o in own})
        self._countries = {q.id: q.countries for q in _published(library)}

    def list_attributes(
        self, country: str, page_number: int, page_size: int
    ) -> list[dict[str, Any]]:
        """One page of ``{"active", "parameter_id"}`` items for a country; pages count from 1
        (0 is read as 1)."""
        if page_size < 1:
            raise ValueError("page_size must be positive")
        ids = [
            attribute_id
            for attribute_id in sorted(self._documents)
            if not self._countries.get(attribute_id) or country in self._countries[attribute_id]
        ]
        start = (max(page_number, 1) - 1) * page_size
        return [{"active": True, "parameter_id": i} for i in ids[start : start + page_size]]

    def attribute_info(self, attribute_id: int) -> dict[str, Any] | None:
        return self._documents.get(attribute_id)


def _published(library: Iterable[Question]) -> list[Question]:
    return [q for q in library if not q.standard and q.type in _DISPLAY_MODES]


def _texts(texts: dict[str, str] | Any) -> dict[str, Any]:
    """REX's text shape: English text plus translations keyed by an upper-case locale."""
    return {
        "text": texts.get("en", ""),
        "translations": [
            {"locale": language.upper(), "text": text}
            for language, text in sorted(texts.items())
            if language != "en"
        ],
    }


def _question_document(question: Question) -> dict[str, Any]:
    countries = [{"code": c} for c in sorted(question.countries)]
    return {
        "id": question.id,
        "name": question.key,
        "description": question.text_in("en"),
        "display_mode": _DISPLAY_MODES[question.type],
        "parent_dependencies": [],
        "is_active": True,
        "countries": countries,
        "question": _texts(dict(question.text)),
        "answers": [
            {"id": int(answer.id), "countries": countries, **_texts(dict(answer.text))}
            for answer in question.answers
        ],
    }


def _own_document(own: OwnAttribute) -> dict[str, Any]:
    return {
        "id": own.id,
        "name": own.name,
        "description": own.text["en"],
        "display_mode": own.display_mode,
        "parent_dependencies": [],
        "is_active": True,
        "countries": [],
        "question": _texts(own.text),
        "answers": [{"id": int(a), "countries": [], **_texts(t)} for a, t in own.answers],
    }
