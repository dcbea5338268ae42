"""Get Surveys v2 (client API §2.1): the ranked surveys of ``SurveyOffers.listing``, each with
a ``click_url`` into the v2 click flow, led by the start bonus while it is unpaid; and hiding
a survey the user skipped.

A ``click_url`` carries a signed impression (``domain.impressions``) and the listing's
session id; nothing is written per survey shown.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode

from surveyrouter.domain.categories import Category
from surveyrouter.domain.client_context import ClientContext
from surveyrouter.domain.impressions import ClickType, Impression, sign_impression
from surveyrouter.domain.money import publisher_cpi, user_value
from surveyrouter.domain.opportunity import Opportunity
from surveyrouter.domain.ranking import Tag
from surveyrouter.domain.restrictions import Restriction
from surveyrouter.services.actions import SurveyOffers
from surveyrouter.services.callers import Caller
from surveyrouter.store.db import transaction
from surveyrouter.store.networks import Network
from surveyrouter.store.v2_clicks import hide_survey

CLICKS_PATH = "/v2/client/clicks"
# The start bonus is the app's own "survey": its id is no exchange's.
START_BONUS_ID = "start_bonus"
# A profile question takes about a quarter of a minute: the start bonus's length.
START_BONUS_MINUTES_PER_QUESTION = Decimal("0.25")
START_BONUS_RATING = 5


class UnknownSurvey(LookupError):
    """A v2 survey id that names no survey of a network we know."""


@dataclass(frozen=True, slots=True)
class SurveyFacts:
    """What the v2 API shows of a survey (a listing entry, a click's ``survey_details``):
    ``cpi`` the publisher's USD, ``value`` the user's reward in app currency."""

    id: str
    type: ClickType
    cpi: Decimal
    value: Decimal
    loi_minutes: Decimal
    country: str
    language: str
    rating: int
    category: Category
    tags: tuple[Tag, ...] = ()


@dataclass(frozen=True, slots=True)
class ListedEntry:
    facts: SurveyFacts
    click_url: str


@dataclass(frozen=True, slots=True)
class V2Listing:
    restriction: Restriction | None
    entries: tuple[ListedEntry, ...]


def survey_id(network_api_id: int, opportunity_id: int) -> str:
    """The v2 id of a survey: stable for as long as the exchange keeps its id."""
    return f"{network_api_id}-{opportunity_id}"


def parse_survey_id(text: str) -> tuple[int, int]:
    """(network API id, opportunity id) of a v2 survey id; raises ``UnknownSurvey``."""
    network, dash, opportunity = text.partition("-")
    if not (dash and network.isascii() and network.isdigit()):
        raise UnknownSurvey(f"no survey has id {text!r}")
    if not (opportunity.isascii() and opportunity.isdigit() and len(opportunity) <= 18):
        raise UnknownSurvey(f"no survey has id {text!r}")
    if len(network) > 9:
        raise UnknownSurvey(f"no survey has id {text!r}")
    return int(network), int(opportunity)


def excluded_networks(offers: SurveyOffers, names: Iterable[str]) -> frozenset[str]:
    """Our ids of the networks ``names`` names, each by its name, our id or its API id,
    case-insensitively (``network_blacklist``); a name no network has excludes nothing."""
    wanted = {name.strip().lower() for name in names if name.strip()}
    return frozenset(
        network.id
        for network in offers.networks.values()
        if wanted & {network.id.lower(), network.name.lower(), str(network.api_id)}
    )


def list_surveys(
    offers: SurveyOffers,
    caller: Caller,
    context: ClientContext,
    base_url: str,
    tags: Mapping[str, str],
    excluded: frozenset[str],
    now: datetime,
) -> V2Listing:
    """The v2 listing for this caller; every ``click_url`` shares one new session id."""
    listing = offers.listing(caller, context, base_url, now, excluded_networks=excluded)
    if listing.restriction is not None:
        return V2Listing(listing.restriction, ())
    app_id = caller.app.id
    assert app_id is not None  # apps from the store have ids
    session_id = str(uuid.uuid4())
    clicks = f"{base_url.rstrip('/')}{CLICKS_PATH}"

    def click_url(kind: ClickType, network: int | None, opportunity: int | None) -> str:
        impression = Impression(
            app_id, caller.user.uid, kind, network, opportunity, session_id, now, tags
        )
        token = sign_impression(offers.link_secret, impression)
        return f"{clicks}?{urlencode({'i': token, 's': session_id})}"

    entries: list[ListedEntry] = []
    if listing.start_bonus is not None:
        facts = start_bonus_facts(offers, caller, context)
        entries.append(ListedEntry(facts, click_url(ClickType.START_BONUS, None, None)))
    for survey in listing.surveys:
        opportunity, network = survey.opportunity, survey.network
        facts = SurveyFacts(
            id=survey_id(network.api_id, opportunity.id),
            type=ClickType.SURVEY,
            cpi=survey.cpi,
            value=survey.value,
            loi_minutes=Decimal(opportunity.loi_minutes),
            country=opportunity.country,
            language=opportunity.language,
            rating=survey.estimate.rating,
            category=survey.category,
            tags=survey.tags,
        )
        url = click_url(ClickType.SURVEY, network.api_id, opportunity.id)
        entries.append(ListedEntry(facts, url))
    return V2Listing(None, tuple(entries))


def start_bonus_facts(offers: SurveyOffers, caller: Caller, context: ClientContext) -> SurveyFacts:
    """The start bonus as a listing entry: it pays the user, not the publisher (cpi 0)."""
    app = caller.app
    return SurveyFacts(
        id=START_BONUS_ID,
        type=ClickType.START_BONUS,
        cpi=Decimal(0),
        value=app.start_bonus_reward or Decimal(0),
        loi_minutes=START_BONUS_MINUTES_PER_QUESTION * app.start_bonus_questions,
        country=context.country,
        language=context.language,
        rating=START_BONUS_RATING,
        category=offers.categories.category_for((), context.language),
    )


def survey_facts(
    offers: SurveyOffers,
    caller: Caller,
    network: Network,
    opportunity: Opportunity,
    known_qualified: bool,
    language: str,
    now: datetime,
) -> SurveyFacts:
    """A survey as the v2 API shows it outside a listing (a click's ``survey_details``)."""
    app = caller.app
    cpi = publisher_cpi(opportunity.cpi, app.revenue_share)
    return SurveyFacts(
        id=survey_id(network.api_id, opportunity.id),
        type=ClickType.SURVEY,
        cpi=cpi,
        value=user_value(cpi, app.currency),
        loi_minutes=Decimal(opportunity.loi_minutes),
        country=opportunity.country,
        language=opportunity.language,
        rating=offers.survey_estimate(opportunity, app, known_qualified, now).rating,
        category=offers.categories.category_for(opportunity.category_ids, language),
    )


def skip_survey(offers: SurveyOffers, caller: Caller, v2_survey_id: str, now: datetime) -> None:
    """Hide the survey from the user's v1 and v2 listings for good (client API §2.2 "skip");
    raises ``UnknownSurvey`` for an id that names no live survey (so a client cannot pile up
    hidden rows for surveys that do not exist)."""
    network_api_id, opportunity_id = parse_survey_id(v2_survey_id)
    network = offers.networks_by_api_id.get(network_api_id)
    with offers.feed.lock:
        live = network is not None and (network.id, opportunity_id) in offers.feed.opportunities
    if network is None or not live:
        raise UnknownSurvey(f"no survey has id {v2_survey_id!r}")
    with transaction(offers.sessions) as session:
        hide_survey(session, caller.user.id, network.id, opportunity_id, now)
