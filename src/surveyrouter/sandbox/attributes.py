"""The sandbox's attribute catalogue (REX §6.1 ``list-attributes`` / ``get-attribute-info``).

It publishes the question library's non-standard questions as REX attributes (the sandbox
network uses the library's ids), plus a few attributes of its own that the library does not
know, so that a router meets an unmapped attribute the way it would on the real exchange.
The synthetic market targets them as often as buyers target such questions (``TARGETING``).
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

# How often buyers target each question of the library, by key, most-targeted first: a weight
# relative to the market's other attributes (age, gender and postal code lead the market, but
# they are the standard profile, not attributes of this list). specs/market.md §5 publishes a
# ranking, not counts: Lucid's top standard qualifications in six priority groups (1 is age,
# gender and ZIP). Each group here has one weight, about two-thirds of the group's before; group
# 2 is US-only, so it weighs only on US opportunities, where it leads. Pollfish has marital status
# or education on >80 % of DIY surveys: education heads group 3, and marital status (Lucid's
# group-6 "relationship") moves up to just below it. Library questions that Lucid's list names
# otherwise are matched in the comments.
TARGETING: tuple[tuple[str, float], ...] = (
    # 2: HISPANIC, ETHNICITY
    ("hispanic_origin", 8.0),
    ("ethnicity", 8.0),
    # 3: household income, EDUCATION, EMPLOYMENT; and Pollfish's marital status
    ("education", 7.5),
    ("household_income", 7.0),
    ("employment_status", 7.0),
    ("marital_status", 5.5),
    # 4: JOB_TITLE, Age_and_Gender_of_Child, INDUSTRY, number of employees, B2B decision maker
    ("job_title", 4.5),
    ("children_ages", 4.5),
    ("industry", 4.5),
    ("company_size", 4.5),
    ("b2b_decision_maker", 4.5),
    # 5: parental status, ailments, company department
    ("number_of_children", 3.0),
    ("ailments", 3.0),
    ("job_department", 3.0),
    # 6: PETS, household type, diabetes type, electronics, flight destination; and health
    # insurance (the reseller tags' Medicare/Medicaid, ~3 % of jobs, above Parents' 2.5 %)
    ("pets", 2.0),
    ("household_size", 2.0),
    ("diabetes", 2.0),
    ("devices_owned", 2.0),
    ("travel_last_12_months", 2.0),
    ("health_insurance", 2.0),
)
# Library questions outside Lucid's top 30 (car, smoking, gaming ...), after the ranked ones.
UNRANKED_WEIGHT = 1.25
# The sandbox's own attributes, last: modest, but enough that some opportunities target
# attributes no canonical question maps, as on the real exchange.
OWN_WEIGHT = 1.0
# B2B projects (category BUSINESS) target the business questions this many times as often.
B2B_KEYS = frozenset(
    {"job_title", "industry", "company_size", "b2b_decision_maker", "job_department"}
)
B2B_FACTOR = 3.0
# US questions, should the library not say so itself (it does: its country lists come first).
_US_ONLY = frozenset({"ethnicity", "hispanic_origin"})

_DISPLAY_MODES = {
    QuestionType.SINGLE: "single_select",
    QuestionType.MULTI: "multi_select",
    QuestionType.NUMBER: "text_entry",
}


def market_attributes(library: QuestionLibrary) -> list[SyntheticAttribute]:
    """What the synthetic market targets, most-targeted first: the library's non-standard
    questions by ``TARGETING`` (then any it does not rank), and our own."""
    ranks = {key: rank for rank, (key, _) in enumerate(TARGETING)}
    weights = dict(TARGETING)
    questions = sorted(_published(library), key=lambda q: ranks.get(q.key, len(ranks)))
    attributes = []
    for question in questions:
        weight = weights.get(question.key, UNRANKED_WEIGHT)
        b2b_weight = weight * B2B_FACTOR if question.key in B2B_KEYS else None
        countries = question.countries or (
            frozenset({"US"}) if question.key in _US_ONLY else frozenset()
        )
        if question.type is QuestionType.NUMBER:
            low = int(question.validation.min or 0)
            high = int(question.validation.max or low + _MAX_NUMBER_ANSWERS - 1)
            kind: AttributeKind = "number"
            answers = tuple(str(n) for n in range(low, min(high, low + _MAX_NUMBER_ANSWERS) + 1))
        else:
            kind = "multi" if question.type is QuestionType.MULTI else "single"
            answers = tuple(a.id for a in question.answers)
        attributes.append(
            SyntheticAttribute(
                question.id,
                kind,
                answers,
                weight=weight,
                countries=countries,
                b2b_weight=b2b_weight,
            )
        )
    for own in OWN_ATTRIBUTES:
        own_kind: AttributeKind = "multi" if own.display_mode == "multi_select" else "single"
        own_answers = tuple(a for a, _ in own.answers)
        attributes.append(SyntheticAttribute(own.id, own_kind, own_answers, weight=OWN_WEIGHT))
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
