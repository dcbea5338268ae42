"""The sandbox gateway's respondents (REX §6.1): what it remembers of each, the checks a
``/put-respondent`` or ``/put-respondent-answers`` document must pass, and the
``/get-respondent-info`` shape.

A check that fails raises ``RespondentInvalid`` naming the field, which the HTTP layer answers
with 422 ``{"message"}`` (§6.1 lists "Unprocessable Entity" for put-respondent).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeGuard, TypeVar

from surveyrouter.domain.opportunity import Device
from surveyrouter.domain.profile import (
    AGE_ATTRIBUTE_ID,
    GENDER_ATTRIBUTE_ID,
    POSTAL_CODE_ATTRIBUTE_ID,
    Gender,
    Participation,
    Profile,
)
from surveyrouter.networks.rex.signing import format_expiration

T = TypeVar("T")

MAX_RESPONDENT_ID = 100

# §6.1: "Case insensitive value for gender" Allowed: male m 1 female f 2.
_GENDERS = {"male": Gender.MALE, "m": Gender.MALE, "1": Gender.MALE,
            "female": Gender.FEMALE, "f": Gender.FEMALE, "2": Gender.FEMALE}  # fmt: skip
_LANGUAGE = re.compile(r"[a-z]{2}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# §6.1, §7: age, postal code and gender are set through birth_date, postal_code and gender, never
# as attributes; the docs say such values are not taken and "No errors will be surfaced".
RESERVED_ATTRIBUTES = frozenset({GENDER_ATTRIBUTE_ID, POSTAL_CODE_ATTRIBUTE_ID, AGE_ATTRIBUTE_ID})


class RespondentInvalid(ValueError):
    """A respondent field the gateway will not take; ``field`` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f'"{field}" {problem}')
        self.field = field


class RespondentNotFound(LookupError):
    pass


@dataclass
class Respondent:
    """What the gateway remembers of one partner respondent (put-respondent, entries)."""

    respondent_id: str
    country: str | None = None
    language: str | None = None
    gender: Gender | None = None
    birth_date: date | None = None
    postal_code: str | None = None
    answers: dict[int, tuple[str, ...]] = field(default_factory=dict)
    entered_projects: set[int] = field(default_factory=set)
    excluding_projects: set[int] = field(default_factory=set)
    excluding_categories: set[int] = field(default_factory=set)
    created: datetime | None = None

    def profile(self, device: Device | None, inside: int | None = None) -> Profile:
        """The respondent as targeting reads them. ``inside`` is a project the respondent is
        taking right now: it does not count as a previous entry (no duplicate of itself)."""
        return Profile(
            respondent_id=self.respondent_id,
            country=self.country,
            language=self.language,
            device=device,
            gender=self.gender,
            birth_date=self.birth_date,
            postal_code=self.postal_code,
            answers=dict(self.answers),
            participation=Participation(
                entered_projects=frozenset(self.entered_projects - {inside}),
                excluding_projects=frozenset(self.excluding_projects),
                excluding_categories=frozenset(self.excluding_categories),
            ),
        )

    def apply(self, update: RespondentUpdate) -> None:
        """Take every field ``update`` sets; an attribute sent with no answers is forgotten."""
        for name in ("country", "language", "gender", "birth_date", "postal_code"):
            value = getattr(update, name)
            if value is not None:
                setattr(self, name, value)
        for attribute_id, answers in update.answers.items():
            if answers:
                self.answers[attribute_id] = answers
            else:
                self.answers.pop(attribute_id, None)

    def to_document(self) -> dict[str, Any]:
        """Everything the gateway remembers, as JSON (the sandbox's state file keeps it)."""
        return {
            "respondent_id": self.respondent_id,
            "country": self.country,
            "language": self.language,
            "gender": None if self.gender is None else self.gender.name,
            "birth_date": None if self.birth_date is None else self.birth_date.isoformat(),
            "postal_code": self.postal_code,
            "answers": {str(a): list(values) for a, values in self.answers.items()},
            "entered_projects": sorted(self.entered_projects),
            "excluding_projects": sorted(self.excluding_projects),
            "excluding_categories": sorted(self.excluding_categories),
            "created": None if self.created is None else self.created.isoformat(),
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Respondent:
        """The respondent ``to_document`` wrote."""
        gender, born, created = document["gender"], document["birth_date"], document["created"]
        return cls(
            respondent_id=document["respondent_id"],
            country=document["country"],
            language=document["language"],
            gender=None if gender is None else Gender[gender],
            birth_date=None if born is None else date.fromisoformat(born),
            postal_code=document["postal_code"],
            answers={int(a): tuple(values) for a, values in document["answers"].items()},
            entered_projects=set(document["entered_projects"]),
            excluding_projects=set(document["excluding_projects"]),
            excluding_categories=set(document["excluding_categories"]),
            created=None if created is None else datetime.fromisoformat(created),
        )

    def info(self) -> dict[str, Any]:
        """The ``/get-respondent-info`` document (§6.1)."""
        return {
            "respondent_id": self.respondent_id,
            "language": self.language,
            "country": self.country,
            "is_active": True,
            "is_suspended": False,
            "gender": None if self.gender is None else self.gender.name.lower(),
            "birth_date": None if self.birth_date is None else self.birth_date.isoformat(),
            "postal_code": self.postal_code,
            "date_created": None if self.created is None else format_expiration(self.created),
            "attributes": {
                str(attribute_id): [int(answer) for answer in answers]
                for attribute_id, answers in sorted(self.answers.items())
            },
        }


@dataclass(frozen=True, slots=True)
class RespondentUpdate:
    """The fields one put-respondent, entry link or prescreen sets; None leaves a field as is."""

    respondent_id: str
    country: str | None = None
    language: str | None = None
    gender: Gender | None = None
    birth_date: date | None = None
    postal_code: str | None = None
    answers: Mapping[int, tuple[str, ...]] = field(default_factory=dict)


def read_put_respondent(body: Mapping[str, Any], today: date) -> RespondentUpdate:
    """A ``/put-respondent`` body (§6.1): respondent_id, language and country required."""
    return RespondentUpdate(
        respondent_id=read_respondent_id(body.get("respondent_id")),
        language=_required(body, "language", read_language),
        country=_required(body, "country", read_country),
        gender=_optional(body, "gender", read_gender),
        birth_date=_optional(body, "birth_date", lambda value: read_birth_date(value, today)),
        postal_code=_optional(body, "postal_code", read_postal_code),
        answers=_optional(body, "attributes", read_attributes) or {},
    )


def read_put_respondent_answers(body: Mapping[str, Any]) -> RespondentUpdate:
    """A ``/put-respondent-answers`` body (§6.1): respondent_id and attributes, both required."""
    return RespondentUpdate(
        respondent_id=read_respondent_id(body.get("respondent_id")),
        answers=_required(body, "attributes", read_attributes),
    )


def read_respondent_id(value: Any) -> str:
    # §6.1: "Accepts 100 characters, 3-byte chars": read as at most 100 characters, each of
    # which UTF-8 encodes in at most three bytes (no characters outside the BMP).
    if value is None:
        raise RespondentInvalid("respondent_id", "is required")
    if not isinstance(value, str) or not value.strip():
        raise RespondentInvalid("respondent_id", "must be a non-empty string")
    if len(value) > MAX_RESPONDENT_ID:
        raise RespondentInvalid(
            "respondent_id", f"must be at most {MAX_RESPONDENT_ID} characters, not {len(value)}"
        )
    if any(ord(character) > 0xFFFF for character in value):
        raise RespondentInvalid("respondent_id", "may hold only characters of up to 3 bytes")
    return value


def read_language(value: Any) -> str:
    if not (isinstance(value, str) and _LANGUAGE.fullmatch(value)):
        raise RespondentInvalid("language", f"must match ^[a-z]{{2}}$, not {_shown(value)}")
    return value


def read_country(value: Any) -> str:
    if not (isinstance(value, str) and _COUNTRY.fullmatch(value)):
        raise RespondentInvalid("country", f"must match ^[A-Z]{{2}}$, not {_shown(value)}")
    return value


def read_gender(value: Any) -> Gender:
    known = isinstance(value, str) or _is_int(value)
    gender = _GENDERS.get(str(value).lower()) if known else None
    if gender is None:
        raise RespondentInvalid(
            "gender", f"must be one of male, m, 1, female, f, 2, not {_shown(value)}"
        )
    return gender


def read_birth_date(value: Any, today: date) -> date:
    if not (isinstance(value, str) and _DATE.fullmatch(value)):
        raise RespondentInvalid("birth_date", f"must be YYYY-MM-DD, not {_shown(value)}")
    try:
        born = date.fromisoformat(value)
    except ValueError as error:
        raise RespondentInvalid("birth_date", f"{value!r} is not a calendar date") from error
    if born > today:
        raise RespondentInvalid("birth_date", f"{value} is in the future")
    return born


def read_postal_code(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RespondentInvalid("postal_code", f"must be a non-empty string, not {_shown(value)}")
    return value.strip()


def read_attributes(value: Any) -> dict[int, tuple[str, ...]]:
    """``[{"id": int, "answers": [int]}]`` (§6.1, §6.3) as answer ids by attribute id; the
    reserved standard attributes are dropped without an error, as REX does."""
    if not isinstance(value, list):
        raise RespondentInvalid("attributes", 'must be an array of {"id", "answers"}')
    answers: dict[int, tuple[str, ...]] = {}
    for index, item in enumerate(value):
        where = f"attributes[{index}]"
        if not isinstance(item, dict):
            raise RespondentInvalid(where, 'must be an object {"id", "answers"}')
        identifier = item.get("id")
        if not _is_int(identifier) or identifier < 1:
            raise RespondentInvalid(f"{where}.id", "must be a positive integer")
        given = item.get("answers")
        if not isinstance(given, list) or not all(_is_int(answer) for answer in given):
            raise RespondentInvalid(f"{where}.answers", "must be an array of integers")
        if identifier not in RESERVED_ATTRIBUTES:
            answers[identifier] = tuple(str(answer) for answer in given)
    return answers


def _required(body: Mapping[str, Any], name: str, read: Callable[[Any], T]) -> T:
    if body.get(name) is None:
        raise RespondentInvalid(name, "is required")
    return read(body[name])


def _optional(body: Mapping[str, Any], name: str, read: Callable[[Any], T]) -> T | None:
    return None if body.get(name) is None else read(body[name])


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
