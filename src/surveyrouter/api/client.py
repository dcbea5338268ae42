"""The BitLabs-compatible client API (v1): what a publisher's app calls for its user."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from surveyrouter.api.actions import OffersDep
from surveyrouter.api.client_context import (
    AuthenticatedCallDep,
    ClientRoute,
    resolve_unrestricted,
)
from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.api.envelope import Envelope, ok
from surveyrouter.clock import utc_now
from surveyrouter.domain.questions import AnswerInvalid, Question, QuestionNotFound
from surveyrouter.services.actions import SurveyOffers
from surveyrouter.services.profile_answers import (
    QuestionNotSkippable,
    answer_question,
    skip_question,
)
from surveyrouter.services.user_state import LIBRARY_NETWORK_ID

router = APIRouter(prefix="/v1/client", tags=["client"], route_class=ClientRoute)


class ClientUser(BaseModel):
    """Client API §2.7. The router keeps no e-mail, consents or custom fields: those are
    null or empty, present because SDKs model them."""

    app_id: int
    uid: str
    user_id: int
    username: str | None
    email: str | None = None
    consent_general: str | None = None
    consent_analytics: str | None = None
    consent_advertising: str | None = None
    terms_of_service_version: int | None = None
    privacy_policy_version: int | None = None
    custom_fields: list[dict[str, Any]] = []
    offerwall_code: str | None = None
    country: str | None
    is_spin_available: bool = False
    spin_details: dict[str, Any] | None = None


@router.get("/user")
def get_user(client: AuthenticatedCallDep) -> Envelope[ClientUser]:
    """The calling user, created on first sight; ``country`` as this call resolved it."""
    call = resolve_unrestricted(client)
    user = call.caller.user
    return ok(
        ClientUser(
            app_id=user.app_id,
            uid=user.uid,
            user_id=user.id,
            username=user.username,
            country=call.context.country,
        )
    )


# Network 0 is surveyrouter's own question library, standard profile and beyond; an exchange's
# own questions (attributes no library question maps) are on its network id. Whether a question
# can be skipped is its ``can_skip``.
NetworkId = Annotated[
    int, Path(ge=0, le=2**31 - 1, description="0: surveyrouter's question library.")
]
QuestionId = Annotated[str, Path(max_length=64, description="The question's id.")]
AnswerValue = Annotated[str, StringConstraints(max_length=1000)]


class AnswerBody(BaseModel):
    """§2.3: every answer value a string — an option's code, or the text, number or
    YYYY-MM-DD date typed."""

    model_config = ConfigDict(extra="forbid", strict=True)

    answers: list[AnswerValue] = Field(min_length=1, max_length=100)


class Empty(BaseModel):
    pass


@router.post("/networks/{network_id}/questions/{question_id}")
def post_answer(
    client: AuthenticatedCallDep,
    runtime: RuntimeDep,
    offers: OffersDep,
    network_id: NetworkId,
    question_id: QuestionId,
    body: AnswerBody,
) -> Envelope[Empty]:
    """Answer a profile question; then call Get Actions again."""
    call = resolve_unrestricted(client)
    question = _question(offers, network_id, question_id)
    try:
        answer_question(
            runtime.sessions,
            question,
            call.caller.app,
            call.caller.user,
            body.answers,
            utc_now(),
            ip_address=call.context.ip,
        )
    except AnswerInvalid as error:
        raise HTTPException(400, f"answers: {error.message}") from error
    return ok(Empty())


@router.post("/networks/{network_id}/questions/{question_id}/skip")
def post_skip(
    client: AuthenticatedCallDep,
    runtime: RuntimeDep,
    offers: OffersDep,
    network_id: NetworkId,
    question_id: QuestionId,
) -> Envelope[Empty]:
    """Skip a question for good (standard profile questions cannot be skipped)."""
    call = resolve_unrestricted(client)
    question = _question(offers, network_id, question_id)
    try:
        skip_question(runtime.sessions, question, call.caller.user, utc_now())
    except QuestionNotSkippable as error:
        raise HTTPException(400, f"this question cannot be skipped: {error}") from error
    return ok(Empty())


def _question(offers: SurveyOffers, network_id: int, question_id: str) -> Question:
    if network_id != LIBRARY_NETWORK_ID and network_id not in offers.networks_by_api_id:
        raise HTTPException(404, f"network not found: {network_id}")
    try:
        return offers.sources.question(network_id, question_id)
    except QuestionNotFound as error:
        raise HTTPException(404, f"question not found: {question_id}") from error
