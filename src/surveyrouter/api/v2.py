"""Client API v2: ``GET /v2/client/surveys`` and ``POST /v2/client/surveys/{id}/skip``
(client API §2.1, §2.2); the click flow is in ``v2_clicks``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel

from surveyrouter.api.actions import OffersDep, RestrictionReason, Username, restriction_out
from surveyrouter.api.client_context import (
    AuthenticatedCallDep,
    ClientCall,
    ClientCallDep,
    ClientRoute,
    resolve_client_call,
    resolve_unrestricted,
)
from surveyrouter.api.envelope import Envelope, ok, ok_response
from surveyrouter.api.matching_lane import MatchingLaneDep
from surveyrouter.api.public_urls import public_base_url
from surveyrouter.clock import utc_now
from surveyrouter.domain.categories import Category
from surveyrouter.domain.money import format_amount
from surveyrouter.domain.tags import TagsInvalid, parse_tags
from surveyrouter.services.actions import SurveyOffers
from surveyrouter.services.v2_surveys import (
    ListedEntry,
    SurveyFacts,
    UnknownSurvey,
    excluded_networks,
    list_surveys,
    skip_survey,
)
from surveyrouter.store.db import transaction
from surveyrouter.store.users import remember_context

router = APIRouter(prefix="/v2/client", tags=["client-v2"], route_class=ClientRoute)

# UX ranks by what a survey pays the user per minute; QC would favour conversion. Our ranking
# already weighs the expected conversion into the per-minute score, so both rank the same.
ALGORITHMS = frozenset({"UX", "QC"})


class CategoryOut(BaseModel):
    name: str
    icon_name: str
    icon_url: str
    name_internal: str


class SurveyDetailsOut(BaseModel):
    id: str
    cpi: str
    value: str
    loi: float
    country: str
    language: str
    rating: int
    category: CategoryOut


class SurveyOut(SurveyDetailsOut):
    type: Literal["survey", "start_bonus"]
    click_url: str
    tags: list[Literal["recontact", "pii", "recruitment"]]


class Surveys(BaseModel):
    restriction_reason: RestrictionReason | None
    surveys: list[SurveyOut]


class Empty(BaseModel):
    pass


TagsQuery = Annotated[
    str | None,
    Query(max_length=2048, description="Custom tags as a URL-encoded query, k=v&k2=v2."),
]
NetworkBlacklist = Annotated[
    str | None,
    Query(max_length=1024, description="Comma-separated network names or ids to leave out."),
]
Algorithm = Annotated[str | None, Query(max_length=8, description="UX or QC.")]


@router.get("/surveys", response_model=Envelope[Surveys])
async def get_surveys(
    call: ClientCallDep,
    offers: OffersDep,
    lane: MatchingLaneDep,
    username: Username = None,
    tags: TagsQuery = None,
    network_blacklist: NetworkBlacklist = None,
    algo: Algorithm = None,
) -> Response:
    """The surveys the user can start, best first, each with its ``click_url``; the start
    bonus first while it is unpaid. A restricted user gets 200 with the reason."""
    query = _ListingQuery(username, tags, network_blacklist, algo)
    return await lane.run(_get_surveys, call, offers, query)


@dataclass(frozen=True, slots=True)
class _ListingQuery:
    username: str | None
    tags: str | None
    network_blacklist: str | None
    algo: str | None


def _get_surveys(call: ClientCall, offers: SurveyOffers, query: _ListingQuery) -> Response:
    client = resolve_client_call(call)
    caller = client.caller
    now = utc_now()
    try:
        parsed = parse_tags(query.tags)
    except TagsInvalid as error:
        raise HTTPException(400, f"tags: {error}") from error
    if query.algo is not None and query.algo.strip().upper() not in ALGORITHMS:
        raise HTTPException(400, "algo: must be UX or QC")
    if query.username is not None and query.username != caller.user.username:
        with transaction(call.runtime.sessions) as session:
            remember_context(session, caller.user.id, now, username=query.username)
    excluded = excluded_networks(offers, (query.network_blacklist or "").split(","))
    base_url = public_base_url(call.request)
    listing = list_surveys(offers, caller, client.context, base_url, parsed, excluded, now)
    return ok_response(
        Surveys(
            restriction_reason=restriction_out(listing.restriction),
            surveys=[_survey(entry) for entry in listing.entries],
        )
    )


SurveyId = Annotated[str, Path(max_length=64, description="A v2 survey id, e.g. 1-13231.")]


@router.post("/surveys/{survey_id}/skip")
def post_skip_survey(
    client: AuthenticatedCallDep, offers: OffersDep, survey_id: SurveyId
) -> Envelope[Empty]:
    """Never list this survey to the user again (v1 and v2)."""
    call = resolve_unrestricted(client)
    try:
        skip_survey(offers, call.caller, survey_id, utc_now())
    except UnknownSurvey as error:
        raise HTTPException(404, str(error)) from error
    return ok(Empty())


def category_out(category: Category) -> CategoryOut:
    return CategoryOut(
        name=category.name,
        icon_name=PurePosixPath(category.icon).stem,
        icon_url=category.icon,
        name_internal=category.name_internal,
    )


def details_out(facts: SurveyFacts) -> SurveyDetailsOut:
    return SurveyDetailsOut(
        id=facts.id,
        cpi=format_amount(facts.cpi),
        value=format_amount(facts.value),
        loi=float(facts.loi_minutes),
        country=facts.country,
        language=facts.language,
        rating=facts.rating,
        category=category_out(facts.category),
    )


def _survey(entry: ListedEntry) -> SurveyOut:
    facts = entry.facts
    return SurveyOut(
        **details_out(facts).model_dump(),
        type=facts.type.value,
        click_url=entry.click_url,
        tags=[tag.value for tag in facts.tags],
    )
