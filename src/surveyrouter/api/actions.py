"""``GET /v1/client/actions`` and ``GET /v1/client/check``, shaped as the reference
(``seeds/bitlabs-get-actions.txt``) lists every field."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from surveyrouter.api.client_context import (
    ClientCall,
    ClientCallDep,
    ClientRoute,
    resolve_client_call,
    unrestricted_request,
)
from surveyrouter.api.envelope import Envelope, ok, ok_response
from surveyrouter.api.matching_lane import MatchingLaneDep
from surveyrouter.api.public_urls import public_base_url
from surveyrouter.clock import utc_now
from surveyrouter.domain.money import format_amount
from surveyrouter.domain.questions import Question
from surveyrouter.domain.restrictions import Restriction
from surveyrouter.domain.validation_info import validation_info
from surveyrouter.services.actions import (
    ActionsResult,
    AskedQuestion,
    ListedSurvey,
    SurveyOffers,
)
from surveyrouter.store.db import transaction
from surveyrouter.store.users import remember_context

# Distinct (question, network, country, language) a process shows: library and network
# questions by the locales users come from; least recently shown ones go first.
QUESTIONS_SHOWN = 4096

router = APIRouter(prefix="/v1/client", tags=["client"], route_class=ClientRoute)


async def get_offers(request: Request) -> SurveyOffers:  # async: no thread-pool hop
    offers: SurveyOffers = request.app.state.offers
    return offers


OffersDep = Annotated[SurveyOffers, Depends(get_offers)]


class QuestionAnswer(BaseModel):
    code: str
    localized_text: str


class ValidationInfoOut(BaseModel):
    min: int | float | None
    max: int | float | None
    regex: str | None


def validation_out(question: Question) -> ValidationInfoOut:
    """The question's ``validation_info`` (client API §2.2): the limits an answer must keep."""
    rules = validation_info(question)
    return ValidationInfoOut(min=_number(rules.min), max=_number(rules.max), regex=rules.regex)


def _number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


class QuestionOut(BaseModel):
    network_id: int
    id: str
    country: str
    language: str
    type: Literal["TEXT", "SINGLE", "MULTI", "NUMBER", "DATE"]
    localized_text: str
    answers: list[QuestionAnswer]
    can_skip: bool
    # We never ask a question twice, so no question is a repeat.
    is_duplicate: bool = False
    # v2's rules (§2.2) on v1 questions too, so a client can check answers before sending.
    validation_info: ValidationInfoOut


class Qualification(BaseModel):
    network_id: int
    question_id: str
    country: str
    language: str
    question: QuestionOut
    is_standard_profile: bool
    is_start_bonus: bool
    score: float
    sequence: int


class CategoryOut(BaseModel):
    name: str
    icon_url: str
    name_internal: str


class NetworkOut(BaseModel):
    name: str
    icon_url: str


class SurveyDetails(BaseModel):
    category: CategoryOut
    network: NetworkOut
    difficulty: Literal["EASY", "MEDIUM", "HARD"]


class SurveyOut(BaseModel):
    network_id: int
    id: int
    country: str
    language: str
    cpi: str
    value: str
    loi: float
    remaining: int
    details: SurveyDetails
    rating: int
    tags: list[Literal["recontact", "pii", "recruitment"]]
    test_group_id: int
    link: str
    score: float
    sequence: int
    missing_questions: int
    next_missing_question: QuestionOut | None


class StartBonus(BaseModel):
    reward: str


class RestrictionReason(BaseModel):
    not_verified: bool
    using_vpn: bool
    banned_until: str | None  # RFC 3339
    reason: str | None
    unsupported_country: str | None


class Actions(BaseModel):
    is_new_user: bool
    start_bonus: StartBonus | None
    restriction_reason: RestrictionReason | None
    surveys: list[SurveyOut]
    qualification: Qualification | None


class Check(BaseModel):
    has_surveys: bool


Username = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9]+$",
        description="Display name for the leaderboard; letters and digits only.",
    ),
]


@router.get("/actions", response_model=Envelope[Actions])
async def get_actions(
    call: ClientCallDep, offers: OffersDep, lane: MatchingLaneDep, username: Username = None
) -> Response:
    """The surveys the user can open, best first, or the profile question to answer next.
    A restricted user (unverified app, VPN, ban, unsupported country) gets 200 with the
    reason and no surveys."""
    # The busiest route: all of its blocking work in one hop into the matching lane, where a
    # sync dependency and a sync route would take two hops into the default thread pool.
    return await lane.run(_get_actions, call, offers, username)


def _get_actions(call: ClientCall, offers: SurveyOffers, username: str | None) -> Response:
    client = resolve_client_call(call)
    now = utc_now()
    if username is not None and username != client.caller.user.username:
        with transaction(call.runtime.sessions) as session:
            remember_context(session, client.caller.user.id, now, username=username)
    result = offers.actions(client.caller, client.context, public_base_url(call.request), now)
    return ok_response(_actions(result, client.context.country, client.context.language))


@router.get("/check")
async def get_check(
    call: ClientCallDep, offers: OffersDep, lane: MatchingLaneDep
) -> Envelope[Check]:
    """Whether the user has a survey to open: cheaper than Get Actions, for background
    checks. A VPN is refused with 406 here."""
    return await lane.run(_get_check, call, offers)


def _get_check(call: ClientCall, offers: SurveyOffers) -> Envelope[Check]:
    client = unrestricted_request(resolve_client_call(call))
    return ok(Check(has_surveys=offers.has_surveys(client.caller, client.context, utc_now())))


def _actions(result: ActionsResult, country: str, language: str) -> Actions:
    return Actions(
        is_new_user=result.is_new_user,
        start_bonus=(
            None
            if result.start_bonus is None
            else StartBonus(reward=format_amount(result.start_bonus))
        ),
        restriction_reason=restriction_out(result.restriction),
        surveys=[_survey(survey, country, language) for survey in result.surveys],
        qualification=(
            None
            if result.qualification is None
            else _qualification(result.qualification, country, language)
        ),
    )


def restriction_out(restriction: Restriction | None) -> RestrictionReason | None:
    """``restriction_reason`` as v1 and v2 answer it; ``banned_until`` in RFC 3339."""
    if restriction is None:
        return None
    until = restriction.banned_until
    return RestrictionReason(
        not_verified=restriction.not_verified,
        using_vpn=restriction.using_vpn,
        banned_until=None if until is None else until.isoformat().replace("+00:00", "Z"),
        reason=restriction.reason,
        unsupported_country=restriction.unsupported_country,
    )


@functools.lru_cache(maxsize=QUESTIONS_SHOWN)
def question_out(question: Question, network_id: int, country: str, language: str) -> QuestionOut:
    """A question as the client API shows it; its ``id`` is the key answers are posted to.

    Kept per question and locale, and shared by the responses that show it (callers never
    change it): a listing shows the next missing question of up to every survey it lists,
    and building their answer options anew was a sixth of Get Actions' response models.
    Questions are compared whole (texts included), so an edited library question is built
    afresh.
    """
    return QuestionOut(
        network_id=network_id,
        id=question.key,
        country=country,
        language=language,
        type=question.type.value,
        localized_text=question.text_in(language),
        answers=[
            QuestionAnswer(code=option.id, localized_text=option.text_in(language))
            for option in question.answers
        ],
        can_skip=not question.standard,
        validation_info=validation_out(question),
    )


def _qualification(asked: AskedQuestion, country: str, language: str) -> Qualification:
    return Qualification(
        network_id=asked.network_id,
        question_id=asked.question.key,
        country=country,
        language=language,
        question=question_out(asked.question, asked.network_id, country, language),
        is_standard_profile=asked.is_standard_profile,
        is_start_bonus=asked.is_start_bonus,
        score=asked.score,
        sequence=asked.sequence,
    )


def _survey(survey: ListedSurvey, country: str, language: str) -> SurveyOut:
    opportunity = survey.opportunity
    missing = survey.missing_questions
    return SurveyOut(
        network_id=survey.network.api_id,
        id=opportunity.id,
        country=opportunity.country,
        language=opportunity.language,
        cpi=format_amount(survey.cpi),
        value=format_amount(survey.value),
        loi=float(opportunity.loi_minutes),
        remaining=survey.remaining,
        details=SurveyDetails(
            category=CategoryOut(
                name=survey.category.name,
                icon_url=survey.category.icon,
                name_internal=survey.category.name_internal,
            ),
            network=NetworkOut(name=survey.network.name, icon_url=""),
            difficulty=survey.estimate.difficulty.value,
        ),
        rating=survey.estimate.rating,
        tags=[tag.value for tag in survey.tags],
        test_group_id=survey.test_group_id,
        link=survey.link,
        score=survey.estimate.score,
        sequence=survey.sequence,
        missing_questions=len(missing),
        next_missing_question=(
            None
            if not missing
            else question_out(missing[0], survey.next_missing_network_id, country, language)
        ),
    )
