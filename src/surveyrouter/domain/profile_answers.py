"""From a user's answers to our questions to the profile targeting reads (REX attribute ids
and answer ids)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

from surveyrouter.domain.opportunity import Device
from surveyrouter.domain.profile import (
    AGE_ATTRIBUTE_ID,
    GENDER_ATTRIBUTE_ID,
    POSTAL_CODE_ATTRIBUTE_ID,
    Gender,
    Participation,
    Profile,
)
from surveyrouter.domain.questions import Question, QuestionLibrary, QuestionType

NO_PARTICIPATION = Participation()


@dataclass(frozen=True, slots=True)
class AttributeSource:
    """A network attribute answered by one of our questions: ``answers`` maps our option ids
    to the network's; a question without options passes its value as it is."""

    attribute_id: int
    question: Question
    answers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def library_sources(library: QuestionLibrary) -> list[AttributeSource]:
    """The REX attributes the library itself maps (the standard profile among them)."""
    return [
        AttributeSource(q.rex_attribute_id, q, q.rex_answers)
        for q in library
        if q.rex_attribute_id is not None
    ]


def profile_from_answers(
    answers: Mapping[str, tuple[str, ...]],
    sources: Iterable[AttributeSource],
    *,
    respondent_id: str,
    country: str,
    language: str,
    device: Device,
    participation: Participation = NO_PARTICIPATION,
    invites: frozenset[str] = frozenset(),
) -> Profile:
    """The targeting profile of a user whose validated answers, by question key, are
    ``answers``. Gender, birth date and postal code fill the standard fields; every other
    source answers its attribute, option ids translated (an option the network does not know
    is left out rather than guessed). Answers no source uses are ignored."""
    gender: Gender | None = None
    birth_date: date | None = None
    postal_code: str | None = None
    attributes: dict[int, tuple[str, ...]] = {}
    for source in sources:
        values = answers.get(source.question.key)
        if not values:
            continue
        if source.question.type.has_options:
            mapped = tuple(source.answers[v] for v in values if v in source.answers)
        else:
            mapped = values
        if not mapped:
            continue
        if source.attribute_id == GENDER_ATTRIBUTE_ID:
            gender = Gender(mapped[0]) if mapped[0] in ("1", "2") else None
        elif source.attribute_id == AGE_ATTRIBUTE_ID and source.question.type is QuestionType.DATE:
            birth_date = date.fromisoformat(mapped[0])
        elif source.attribute_id == POSTAL_CODE_ATTRIBUTE_ID:
            postal_code = mapped[0]
        else:
            attributes[source.attribute_id] = mapped
    return Profile(
        respondent_id=respondent_id,
        country=country,
        language=language,
        device=device,
        gender=gender,
        birth_date=birth_date,
        postal_code=postal_code,
        answers=attributes,
        participation=participation,
        invites=invites,
    )
