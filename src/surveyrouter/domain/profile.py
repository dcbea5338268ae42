"""What the router knows about a respondent, and how targeting reads it."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from surveyrouter.domain.opportunity import Device

# REX §7: the attributes derived from the standard profile.
GENDER_ATTRIBUTE_ID = 1
POSTAL_CODE_ATTRIBUTE_ID = 8
AGE_ATTRIBUTE_ID = 80


class Gender(enum.Enum):
    # REX §7: attribute 1 answers "1" male and "2" female.
    MALE = "1"
    FEMALE = "2"


@dataclass(frozen=True, slots=True)
class Participation:
    """The respondent's survey history, as far as exclusions are concerned.

    ``entered_projects`` are projects the respondent was sent into (a second entry is a duplicate,
    REX 4.1); the excluding sets hold the projects and categories whose outcome excludes the
    respondent from opportunities that list them (REX §3.1: complete, client disqualification,
    client over-quota, or drop-out).
    """

    entered_projects: frozenset[int] = frozenset()
    excluding_projects: frozenset[int] = frozenset()
    excluding_categories: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Profile:
    respondent_id: str | None = None
    country: str | None = None
    language: str | None = None
    device: Device | None = None
    gender: Gender | None = None
    birth_date: date | None = None
    postal_code: str | None = None
    answers: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    participation: Participation = Participation()
    invites: frozenset[str] = frozenset()

    def __hash__(self) -> int:
        return hash((self.respondent_id, self.country, self.birth_date, self.postal_code))


@dataclass(frozen=True, slots=True)
class Answers:
    """One attribute's answers as targeting reads them (REX §4 "negative answer values").

    ``values`` are the usable (non-negative) answers; ``negative`` is set when every answer the
    respondent gave is a negative code, in which case ``values`` is empty.
    """

    values: tuple[str, ...]
    negative: bool = False


_NEGATIVE_ANSWER = re.compile(r"-0*[1-9][0-9]*")


def is_negative_answer(answer: str) -> bool:
    return _NEGATIVE_ANSWER.fullmatch(answer) is not None


def age_on(birth_date: date, day: date) -> int:
    """Age in whole years on ``day``."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - before_birthday


def targeting_answers(profile: Profile, at: datetime) -> dict[int, Answers]:
    """The respondent's answers keyed by attribute, with the standard profile folded in.

    Gender, birth date and postal code give attributes 1, 80 (age at ``at``) and 8 and win over
    ``answers`` for those ids. An empty answer list is no answer; negative codes beside usable
    answers are ignored.
    """
    raw: dict[int, tuple[str, ...]] = {a: tuple(v) for a, v in profile.answers.items() if v}
    if profile.gender is not None:
        raw[GENDER_ATTRIBUTE_ID] = (profile.gender.value,)
    if profile.birth_date is not None and profile.birth_date <= at.date():
        # A birth date after ``at`` gives no age at all, rather than a negative answer code.
        raw[AGE_ATTRIBUTE_ID] = (str(age_on(profile.birth_date, at.date())),)
    if profile.postal_code is not None and profile.postal_code.strip():
        raw[POSTAL_CODE_ATTRIBUTE_ID] = (profile.postal_code.strip(),)
    result = {}
    for attribute_id, answers in raw.items():
        usable = tuple(a for a in answers if not is_negative_answer(a))
        result[attribute_id] = Answers(values=usable, negative=not usable)
    return result
