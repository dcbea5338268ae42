"""The sandbox's Respondent Gateway: what happens between ``/start`` and the return (REX §6).

A respondent arrives on a signed entry link. The gateway checks the signature, creates or updates
the respondent from the link (country from the opportunity, REX §6.3), evaluates the targeting it
can with the reference evaluator, and sends anyone who fails straight back with the matching
disposition and status. What it cannot evaluate it decides as a prescreener would: the
respondent qualifies with the opportunity's incidence rate. Then it simulates the client survey
(complete, client disqualification, over-quota or quality), counts the start or the complete
against the quota objects the respondent fits (per ``evaluation``, §5.4), closes objects that
reach zero, and returns a signed redirect plus the server-to-server callback body (§1.5, §6.4).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from surveyrouter.domain.opportunity import Device
from surveyrouter.domain.profile import Gender, Participation, Profile
from surveyrouter.domain.targeting import Result, evaluate
from surveyrouter.networks.rex.gateway import Disposition
from surveyrouter.networks.rex.opportunities import parse_opportunity
from surveyrouter.networks.rex.signing import KeyPair, Secrets, sign_url, verify_url

# What the gateway reads itself; everything else goes back to the partner (REX §6.3).
GATEWAY_PARAMETERS = frozenset(
    {"ctx", "respondent_id", "language", "gender", "birth_date", "postal_code", "attributes",
     "source"}
)  # fmt: skip

PRESCREEN_FAILED = Disposition(2, 1)  # Dynata Disqualification
COMPLETE = Disposition(1, 0)
CLIENT_DISQUALIFICATION = Disposition(2, 2)
CLIENT_OVER_QUOTA = Disposition(3, 2)
ANSWER_QUALITY = Disposition(5, 1)
DUPLICATE = Disposition(4, 1)

# market.md: over-quota about 5-15 % of entrants (take 8 %), quality removals a few percent.
OVER_QUOTA_RATE = 0.08
QUALITY_RATE = 0.04

_GENDERS = {"male": Gender.MALE, "m": Gender.MALE, "1": Gender.MALE,
            "female": Gender.FEMALE, "f": Gender.FEMALE, "2": Gender.FEMALE}  # fmt: skip


class EntryRefused(ValueError):
    """A ``/start`` the gateway will not serve: bad signature, unknown context, bad parameter."""


class Market(Protocol):
    """The exchange state the gateway works on (the sandbox registry provides it)."""

    def opportunity_for_context(self, ctx: str, language: str | None) -> Mapping[str, Any] | None:
        """The opportunity a ``links.live`` context leads to in that language. A context names
        an opportunity group (in Dynata's samples two opportunities share one), so the live one
        of the group in the respondent's language is meant."""

    def change(self, opportunity_id: int, mutate: Callable[[dict[str, Any]], None]) -> object: ...

    def collection_values(self, collection_id: str) -> frozenset[str] | None: ...


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

    def profile(self, device: Device | None) -> Profile:
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
                entered_projects=frozenset(self.entered_projects),
                excluding_projects=frozenset(self.excluding_projects),
                excluding_categories=frozenset(self.excluding_categories),
            ),
        )


@dataclass(frozen=True)
class Visit:
    """How one entry ended: where the respondent goes and what the callback says."""

    opportunity_id: int
    respondent_id: str
    disposition: Disposition
    redirect_url: str
    callback_body: bytes


@dataclass
class GatewaySimulator:
    market: Market
    entry_secrets: Secrets
    redirect_keys: KeyPair
    partner_return_url: str
    clock: Callable[[], datetime]
    rng: random.Random = field(default_factory=random.Random)
    redirect_ttl: timedelta = timedelta(minutes=5)
    # Test switch, off by default: every client survey ends with this disposition.
    forced: Disposition | None = None
    respondents: dict[str, Respondent] = field(default_factory=dict)

    def start(self, url: str, user_agent: str = "") -> Visit:
        """Serve one ``/start``: verify, evaluate, simulate, and say where to go back."""
        now = self.clock()
        try:
            parameters = verify_url(url, self.entry_secrets, now).parameters
        except ValueError as error:
            raise EntryRefused(str(error)) from error
        for name in ("ctx", "respondent_id"):
            if not parameters.get(name):
                raise EntryRefused(f"the entry link has no {name}")
        raw = self.market.opportunity_for_context(parameters["ctx"], parameters.get("language"))
        if raw is None:
            raise EntryRefused(f"unknown context {parameters['ctx']!r}")
        opportunity = parse_opportunity(raw, "sandbox")
        respondent = self._respondent(parameters, opportunity.country)
        profile = respondent.profile(device_of(user_agent))
        collections = {
            cell.collection_id: values
            for cell in opportunity.cells.values()
            if cell.collection_id
            and (values := self.market.collection_values(cell.collection_id)) is not None
        }
        verdict = evaluate(opportunity, profile, now, collections)
        if verdict.reason is not None:
            ending = Disposition(verdict.reason.disposition, verdict.reason.status)
        elif verdict.result is Result.UNKNOWN and self.rng.random() >= _incidence(raw):
            ending = PRESCREEN_FAILED
        else:
            ending = self._client_survey(raw)
            self._count(raw, verdict.matched_quotas, ending)
        if opportunity.project_id is not None and ending != DUPLICATE:
            respondent.entered_projects.add(opportunity.project_id)
            if ending.excludes:
                respondent.excluding_projects.add(opportunity.project_id)
                respondent.excluding_categories.update(opportunity.category_ids)
        passthrough = {k: v for k, v in parameters.items() if k not in GATEWAY_PARAMETERS}
        return Visit(
            opportunity_id=opportunity.id,
            respondent_id=respondent.respondent_id,
            disposition=ending,
            redirect_url=sign_url(
                self.partner_return_url,
                self.redirect_keys,
                now + self.redirect_ttl,
                {
                    **passthrough,
                    "disposition": str(ending.disposition),
                    "status": str(ending.status),
                },
            ),
            callback_body=json.dumps(
                {
                    "respondent_id": respondent.respondent_id,
                    "disposition": ending.disposition,
                    "status": ending.status,
                    "parameters": passthrough,
                }
            ).encode(),
        )

    def _respondent(self, parameters: Mapping[str, str], country: str) -> Respondent:
        respondent_id = parameters["respondent_id"]
        respondent = self.respondents.setdefault(respondent_id, Respondent(respondent_id))
        respondent.country = respondent.country or country
        respondent.language = parameters.get("language") or respondent.language
        if "gender" in parameters:
            gender = _GENDERS.get(parameters["gender"].lower())
            if gender is None:
                raise EntryRefused(f"gender {parameters['gender']!r}: use male or female")
            respondent.gender = gender
        if "birth_date" in parameters:
            try:
                respondent.birth_date = date.fromisoformat(parameters["birth_date"])
            except ValueError as error:
                raise EntryRefused("birth_date must be YYYY-MM-DD") from error
        if parameters.get("postal_code"):
            respondent.postal_code = parameters["postal_code"]
        if "attributes" in parameters:
            respondent.answers.update(_attributes(parameters["attributes"]))
        return respondent

    def _client_survey(self, raw: Mapping[str, Any]) -> Disposition:
        if self.forced is not None:
            return self.forced
        draw = self.rng.random()
        if draw < OVER_QUOTA_RATE:
            return CLIENT_OVER_QUOTA
        if draw < OVER_QUOTA_RATE + QUALITY_RATE:
            return ANSWER_QUALITY
        # The client's own screener: qualifies about as often as the incidence rate says.
        return COMPLETE if self.rng.random() < _incidence(raw) else CLIENT_DISQUALIFICATION

    def _count(self, raw: Mapping[str, Any], fitted: tuple[str, ...], ending: Disposition) -> None:
        """REX §5.4 (INFERRED): STARTS counts every start, COMPLETES only completes."""
        counts = raw.get("evaluation") == "STARTS" or ending == COMPLETE
        if not counts or not fitted:
            return

        def decrement(document: dict[str, Any]) -> None:
            for group in document.get("quotas", []):
                for quota in group:
                    if quota.get("id") in fitted and quota.get("count", 0) > 0:
                        quota["count"] -= 1
                        if quota["count"] == 0:
                            quota["status"] = "CLOSED"

        self.market.change(int(raw["id"]), decrement)


def device_of(user_agent: str) -> Device | None:
    """A rough device from the User-Agent, as a gateway without the SDK's hints would guess."""
    if not user_agent:
        return None
    agent = user_agent.lower()
    if "ipad" in agent or "tablet" in agent:
        return Device.TABLET
    if "mobi" in agent or "android" in agent or "iphone" in agent:
        return Device.MOBILE
    return Device.DESKTOP


def _incidence(raw: Mapping[str, Any]) -> float:
    return max(0.0, min(1.0, float(raw.get("incidence_rate", 100)) / 100))


def _attributes(text: str) -> dict[int, tuple[str, ...]]:
    """The ``attributes`` entry parameter: URL-encoded JSON as in put-respondent (§6.3)."""
    try:
        items = json.loads(text)
        return {int(item["id"]): tuple(str(a) for a in item["answers"]) for item in items}
    except (ValueError, TypeError, KeyError) as error:
        raise EntryRefused('attributes must be [{"id": int, "answers": [int]}]') from error
