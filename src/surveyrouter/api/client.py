"""The BitLabs-compatible client API (v1): what a publisher's app calls for its user."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from surveyrouter.api.client_auth import ClientCaller
from surveyrouter.api.client_context import ClientRequestDep
from surveyrouter.api.dependencies import LibraryDep, RuntimeDep
from surveyrouter.api.envelope import Envelope, ok
from surveyrouter.clock import utc_now
from surveyrouter.domain.questions import AnswerInvalid, QuestionNotFound
from surveyrouter.services.profile_answers import (
    QuestionNotSkippable,
    answer_question,
    skip_question,
)

router = APIRouter(prefix="/v1/client", tags=["client"])


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
def get_user(call: ClientRequestDep) -> Envelope[ClientUser]:
    """The calling user, created on first sight; ``country`` as this call resolved it."""
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


# Network 0 is surveyrouter's own question library, standard profile and beyond (BitLabs: 0 is
# its standard profile); whether a question can be skipped is its ``can_skip``.
LIBRARY_NETWORK_ID = 0
NetworkId = Annotated[int, Path(ge=0, description="0: surveyrouter's question library.")]
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
    caller: ClientCaller,
    runtime: RuntimeDep,
    library: LibraryDep,
    network_id: NetworkId,
    question_id: QuestionId,
    body: AnswerBody,
) -> Envelope[Empty]:
    """Answer a profile question; then call Get Actions again."""
    _library_network(network_id)
    try:
        answer_question(
            runtime.sessions, library, caller.user, question_id, body.answers, utc_now()
        )
    except QuestionNotFound as error:
        raise HTTPException(404, f"question not found: {question_id}") from error
    except AnswerInvalid as error:
        raise HTTPException(400, f"answers: {error.message}") from error
    return ok(Empty())


@router.post("/networks/{network_id}/questions/{question_id}/skip")
def post_skip(
    caller: ClientCaller,
    runtime: RuntimeDep,
    library: LibraryDep,
    network_id: NetworkId,
    question_id: QuestionId,
) -> Envelope[Empty]:
    """Skip a question for good (standard profile questions cannot be skipped)."""
    _library_network(network_id)
    try:
        skip_question(runtime.sessions, library, caller.user, question_id, utc_now())
    except QuestionNotFound as error:
        raise HTTPException(404, f"question not found: {question_id}") from error
    except QuestionNotSkippable as error:
        raise HTTPException(400, f"this question cannot be skipped: {error}") from error
    return ok(Empty())


def _library_network(network_id: int) -> None:
    if network_id != LIBRARY_NETWORK_ID:
        raise HTTPException(404, f"network not found: {network_id}")
