"""The profile document operators write by hand for ``surveyrouter explain`` (and benchmarks use).

```json
{"respondent_id": "r1", "country": "US", "language": "en", "device": "mobile",
 "gender": "male", "birth_date": "1990-05-01", "postal_code": "10110",
 "answers": {"2001": ["200101"]}, "participation": {"projects": [1], "categories": [572]},
 "invites": ["621041"], "collections": {"2169971": ["10110", "10120"]}}
```
Every key is optional. Absent participation and invites mean none; a listed project counts as
entered and as excluding, a listed category as excluding. ``collections`` are the downloaded
collections the evaluation may use; a collection that is not listed is not known.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from surveyrouter.domain.opportunity import Device
from surveyrouter.domain.profile import Gender, Participation, Profile


class ParticipationDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    projects: list[int] = []
    categories: list[int] = []


class ProfileDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    respondent_id: str | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    language: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    device: Device | None = None
    gender: Literal["male", "female"] | None = None
    birth_date: date | None = None
    postal_code: str | None = None
    answers: dict[int, list[str]] = {}
    participation: ParticipationDocument = ParticipationDocument()
    invites: list[str] = []
    collections: dict[str, list[str]] = {}

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    @field_validator("language")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value else value

    def to_profile(self) -> Profile:
        history = self.participation
        return Profile(
            respondent_id=self.respondent_id,
            country=self.country,
            language=self.language,
            device=self.device,
            gender=None if self.gender is None else Gender[self.gender.upper()],
            birth_date=self.birth_date,
            postal_code=self.postal_code,
            answers={attribute: tuple(values) for attribute, values in self.answers.items()},
            participation=Participation(
                entered_projects=frozenset(history.projects),
                excluding_projects=frozenset(history.projects),
                excluding_categories=frozenset(history.categories),
            ),
            invites=frozenset(self.invites),
        )

    def known_collections(self) -> dict[str, frozenset[str]]:
        return {
            collection: frozenset(value.strip() for value in values)
            for collection, values in self.collections.items()
        }
