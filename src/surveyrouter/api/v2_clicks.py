"""The client API v2 click flow (client API §2.2): ``/v2/client/clicks?i=&s=`` makes a click
from a listing's impression (GET redirects, POST returns its id), ``/v2/client/clicks/{id}``
shows and advances it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from surveyrouter.api.actions import OffersDep, ValidationInfoOut, validation_out
from surveyrouter.api.client import AnswerValue
from surveyrouter.api.client_context import (
    AuthenticatedCallDep,
    ClientRequest,
    ClientRoute,
    caller_request,
    resolve_unrestricted,
)
from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.api.envelope import Envelope, ok
from surveyrouter.api.public_urls import public_url_for
from surveyrouter.api.v2 import SurveyDetailsOut, TagsQuery, details_out
from surveyrouter.clock import utc_now
from surveyrouter.domain.clicks import LeaveReason
from surveyrouter.domain.impressions import (
    MAX_TOKEN_LENGTH,
    Impression,
    ImpressionInvalid,
    read_impression,
)
from surveyrouter.domain.questions import AnswerInvalid, Question
from surveyrouter.domain.tags import TagsInvalid, parse_tags
from surveyrouter.domain.v2_clicks import V2Click
from surveyrouter.services.callers import Caller
from surveyrouter.services.profile_answers import QuestionNotSkippable
from surveyrouter.services.survey_entry import CannotOpen, termination_url
from surveyrouter.services.v2_clicks import (
    ClickFlow,
    ClickStep,
    NothingToAsk,
    V2ClickNotFound,
)

router = APIRouter(prefix="/v2/client", tags=["client-v2"], route_class=ClientRoute)

START_BONUS_PAGE = "/start-bonus-complete"


def get_flow(request: Request, offers: OffersDep) -> ClickFlow:
    return ClickFlow(
        offers,
        request.app.state.entry_links,
        public_url_for(request, "survey_unavailable"),
        public_url_for(request, "start_bonus_complete"),
    )


FlowDep = Annotated[ClickFlow, Depends(get_flow)]
ImpressionToken = Annotated[str | None, Query(max_length=MAX_TOKEN_LENGTH)]
SessionToken = Annotated[str | None, Query(max_length=64)]
ClickId = Annotated[str, Path(max_length=64)]


class ClickCreated(BaseModel):
    id: str


class AnswerOut(BaseModel):
    code: str
    localized_text: str


class QuestionOut(BaseModel):
    id: str
    language: str
    type: Literal["TEXT", "SINGLE", "MULTI", "NUMBER", "DATE"]
    localized_text: str
    answers: list[AnswerOut]
    can_skip: bool
    # We never ask a question twice, so no question is a repeat.
    is_duplicate: bool = False
    example: str | None = None
    validation_info: ValidationInfoOut


class AnswerQuestionOut(BaseModel):
    question: QuestionOut


class RedirectOut(BaseModel):
    url: str
    type: Literal["survey", "start_bonus", "termination"]


class ClickOut(BaseModel):
    answer_question: AnswerQuestionOut | None
    redirect: RedirectOut | None
    answered_questions: int
    required_questions: int
    click_type: Literal["survey", "start_bonus"]
    question_mode: Literal["default"] = "default"
    survey_details: SurveyDetailsOut


class AnswerQuestionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    answers: list[AnswerValue] = Field(min_length=1, max_length=100)


class LeaveSurveyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: LeaveReason


class UpdateClick(BaseModel):
    """One action per call (§2.2); other properties are allowed and ignored."""

    model_config = ConfigDict(extra="allow")

    answer_question: AnswerQuestionIn | None = None
    # true, not "true" or 1: a skip is for good, so only a JSON boolean asks for one.
    skip_question: StrictBool | None = None
    leave_survey: LeaveSurveyIn | None = None
    # Deprecated upstream ("sending it performs no action"): accepted, does nothing.
    rate_survey: dict[str, Any] | None = None
    sc_token: StrictStr | None = None


@router.get("/clicks", response_class=RedirectResponse)
def open_click(
    request: Request,
    runtime: RuntimeDep,
    flow: FlowDep,
    i: ImpressionToken = None,
    s: SessionToken = None,
    tags: TagsQuery = None,
) -> RedirectResponse:
    """Make a click and follow it: 307 to the exchange's entry link when nothing is left to
    ask, else to the termination URL with the reason (``missing_answers`` and the click id:
    answer through ``/v2/client/clicks/{id}``). A token we did not sign is 403; one of ours
    that has expired sends the user, who followed an old listing, to the termination URL
    with ``reason=expired_link``, as an expired v1 link does."""
    now = utc_now()
    try:
        call, impression = _impression_call(request, runtime, flow, i, s, now)
    except _ExpiredImpression as expired:
        fallback = public_url_for(request, "survey_unavailable")
        url = termination_url(expired.caller.app, fallback, {"reason": "expired_link"})
        return RedirectResponse(url, status_code=307)
    click = _create(flow, call, impression, tags, now)
    step = flow.step(call.caller, call.context, click, now)
    redirect = step.redirect or flow.termination(call.caller, click, "missing_answers")
    return RedirectResponse(redirect.url, status_code=307)


@router.post("/clicks")
def post_click(
    request: Request,
    runtime: RuntimeDep,
    flow: FlowDep,
    i: ImpressionToken = None,
    s: SessionToken = None,
    tags: TagsQuery = None,
) -> Envelope[ClickCreated]:
    """Make a click and return its id, without redirecting."""
    now = utc_now()
    call, impression = _impression_call(request, runtime, flow, i, s, now)
    click = _create(flow, call, impression, tags, now)
    return ok(ClickCreated(id=click.id))


@router.get("/clicks/{click_id}")
def get_click(client: AuthenticatedCallDep, flow: FlowDep, click_id: ClickId) -> Envelope[ClickOut]:
    """The click's next question, or the redirect it ends in."""
    call = resolve_unrestricted(client)
    now = utc_now()
    click = _click(flow, call, click_id)
    return ok(_click_out(flow.step(call.caller, call.context, click, now), call))


@router.post("/clicks/{click_id}")
def post_click_action(
    client: AuthenticatedCallDep, flow: FlowDep, click_id: ClickId, body: UpdateClick
) -> Envelope[ClickOut]:
    """Answer or skip the click's question, or leave; returns the click as GET shows it."""
    call = resolve_unrestricted(client)
    now = utc_now()
    actions = [
        body.answer_question is not None,
        body.skip_question is True,
        body.leave_survey is not None,
        body.rate_survey is not None,
    ]
    if sum(actions) != 1:
        raise HTTPException(
            400,
            "exactly one action per call: answer_question, skip_question, leave_survey "
            "or rate_survey",
        )
    click = _click(flow, call, click_id)
    caller, context = call.caller, call.context
    try:
        if body.answer_question is not None:
            step = flow.answer(caller, context, click, body.answer_question.answers, now)
        elif body.skip_question:
            step = flow.skip(caller, context, click, now)
        elif body.leave_survey is not None:
            step = flow.leave(caller, context, click, body.leave_survey.reason, now)
        else:
            step = flow.step(caller, context, click, now)
    except AnswerInvalid as error:
        raise HTTPException(400, f"answers: {error.message}") from error
    except QuestionNotSkippable as error:
        raise HTTPException(400, f"this question cannot be skipped: {error}") from error
    except NothingToAsk as error:
        raise HTTPException(400, str(error)) from error
    return ok(_click_out(step, call))


@router.get(START_BONUS_PAGE, response_class=HTMLResponse)
def start_bonus_complete() -> HTMLResponse:
    """Where a paid start bonus lands when the app set no start-bonus URL."""
    return HTMLResponse(
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<title>Start bonus</title>"
        "<h1>Your start bonus is on its way</h1>"
        "<p>Go back to see the surveys you can take now.</p></html>"
    )


def _create(
    flow: ClickFlow, call: ClientRequest, impression: Impression, tags: str | None, now: datetime
) -> V2Click:
    """The click, with the listing's tags and the click's own (400 when together they break
    a rule); 404 when the survey cannot be opened any more."""
    try:
        return flow.create(call.caller, impression, now, parse_tags(tags))
    except TagsInvalid as error:
        raise HTTPException(400, f"tags: {error}") from error
    except CannotOpen as error:
        raise HTTPException(404, error.message) from error


class _ExpiredImpression(HTTPException):
    """410 for an authentic impression past its validity, with who it was listed for: a
    browser following it is sent to their app's termination URL instead."""

    def __init__(self, caller: Caller, message: str) -> None:
        super().__init__(410, message)
        self.caller = caller


def _impression_call(
    request: Request,
    runtime: RuntimeDep,
    flow: ClickFlow,
    token: str | None,
    session_id: str | None,
    now: datetime,
) -> tuple[ClientRequest, Impression]:
    if not token or not session_id:
        raise HTTPException(400, "i and s are required: follow a survey's click_url")
    try:
        impression = read_impression(flow.offers.link_secret, token, session_id, now)
    except ImpressionInvalid as error:
        listed_for = None if error.impression is None else flow.impression_caller(error.impression)
        if listed_for is not None:
            raise _ExpiredImpression(listed_for, str(error)) from error
        status = {"malformed": 400, "expired": 410}.get(error.reason, 403)
        raise HTTPException(status, str(error)) from error
    caller = flow.impression_caller(impression)
    if caller is None:
        raise HTTPException(403, "the impression names no known user")
    call = caller_request(request, caller, runtime)
    if call.context.anonymous_ip:
        raise HTTPException(406, "vpn detected")
    return call, impression


def _click(flow: ClickFlow, call: ClientRequest, click_id: str) -> V2Click:
    try:
        return flow.get(call.caller, click_id)
    except V2ClickNotFound as error:
        raise HTTPException(404, str(error)) from error


def _question_out(question: Question, language: str) -> QuestionOut:
    return QuestionOut(
        id=question.key,
        language=language,
        type=question.type.value,
        localized_text=question.text_in(language),
        answers=[
            AnswerOut(code=option.id, localized_text=option.text_in(language))
            for option in question.answers
        ],
        can_skip=not question.standard,
        validation_info=validation_out(question),
    )


def _click_out(step: ClickStep, call: ClientRequest) -> ClickOut:
    language = call.context.language
    return ClickOut(
        answer_question=(
            None
            if step.question is None
            else AnswerQuestionOut(question=_question_out(step.question, language))
        ),
        redirect=(
            None
            if step.redirect is None
            else RedirectOut(url=step.redirect.url, type=step.redirect.type.value)
        ),
        answered_questions=step.answered,
        required_questions=step.required,
        click_type=step.click.type.value,
        survey_details=details_out(step.details),
    )
