"""The publisher's server-to-server API (client API §2.8), authenticated with ``X-S2S-Token``:
import users' profiles, read one back, erase a user, send a test callback."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, HTTPException
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from surveyrouter.api.actions import OffersDep
from surveyrouter.api.client import Empty
from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.api.envelope import Envelope, ok
from surveyrouter.api.publisher_auth import PublisherApp
from surveyrouter.bootstrap import Runtime
from surveyrouter.clock import utc_now
from surveyrouter.domain.callbacks import CallbackTemplateInvalid
from surveyrouter.domain.money import RewardKind
from surveyrouter.domain.profile import Gender
from surveyrouter.domain.tags import TagsInvalid, normalized_tags
from surveyrouter.domain.users import check_uid
from surveyrouter.egress import DestinationRefused, guarded_client, parse_networks
from surveyrouter.services import publishers
from surveyrouter.services.callback_delivery import DEFAULT_TIMEOUT
from surveyrouter.services.publishers import (
    MAX_IMPORT_USERS,
    CallbackTestResult,
    ImportedAnswer,
    ImportedUser,
    ImportResult,
    NoCallbackUrl,
    PublisherProfile,
    PublisherUserNotFound,
    SampleCallback,
)

router = APIRouter(prefix="/v1/publishers", tags=["publishers"])

Uid = Annotated[str, AfterValidator(check_uid)]
Text = Annotated[str, StringConstraints(max_length=64)]
AnswerValue = Annotated[str, StringConstraints(max_length=1000)]


class QuestionIn(BaseModel):
    """One answer: ``id`` is the question's key on network ``network_id`` (0: surveyrouter's
    question library), ``direct_values`` the answer codes or the typed value, as strings."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: Text
    network_id: int = Field(ge=0, le=2**31 - 1)
    direct_values: list[AnswerValue] = Field(max_length=100)


class UserIn(BaseModel):
    """§2.8's user. Values are checked per user (errors come back in ``errors``); a wrong
    shape or type refuses the whole call."""

    model_config = ConfigDict(extra="forbid", strict=True)

    uid: Uid
    country: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$", to_upper=True)]
    languages: list[Text] = Field(max_length=20)
    birthdate: Text
    gender: Text
    questions: list[QuestionIn] = Field(max_length=500)
    zipcode: Text | None = None
    username: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")


class ImportBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    users: list[UserIn] = Field(max_length=MAX_IMPORT_USERS)


class AnswerFormatOut(BaseModel):
    question: str
    reason: str


class ImportErrorOut(BaseModel):
    """Why one user was not imported: each kind says its first problem, null (or false) when
    it has none."""

    uid: str
    invalid_birthdate: str | None
    invalid_gender: str | None
    invalid_zipcode: str | None
    invalid_question: str | None
    unsupported_languages: bool
    invalid_answer_format: AnswerFormatOut | None


class ImportOut(BaseModel):
    success_count: int
    errors: list[ImportErrorOut]


class StdQuestionOut(BaseModel):
    id: str
    values: list[str]


class ProfileOut(BaseModel):
    country: str | None
    main_language: str | None
    spoken_languages: list[str]
    zipcode: str | None
    birthdate: str | None  # YYYY-MM-DD
    gender: Literal["MALE", "FEMALE"] | None
    username: str | None
    banned: bool
    std_questions: list[StdQuestionOut]


class CallbackData(BaseModel):
    """The facts the test callback's macros are filled with; each has a sample value.
    ``usd`` is the publisher's revenue; the user's value follows from the app's currency."""

    model_config = ConfigDict(extra="forbid", strict=True)

    uid: Uid = "test-user"
    tx: str | None = Field(None, pattern=r"^[A-Za-z0-9]{1,64}$")
    type: Literal["COMPLETE", "SCREENOUT", "START_BONUS", "RECONCILIATION"] = "COMPLETE"
    # A decimal string ("1.50") or a JSON number, as publishers write amounts.
    usd: Decimal = Field(Decimal("1.00"), ge=0, le=10_000, decimal_places=2, strict=False)
    ip: str | None = Field(None, max_length=45)
    ref: str | None = Field(None, max_length=64)
    reason: str | None = Field(None, max_length=200)
    fscore: Literal["GOOD", "MEDIUM", "BAD"] | None = None


TagText = Annotated[str, StringConstraints(min_length=1, max_length=50)]


class CallbackTestBody(BaseModel):
    """``url`` defaults to the app's callback URL. ``tags`` are a click's custom tags, added to
    the query as a real callback adds them (§3.1: at most 10, 50 characters each).
    ``custom_fields`` is taken as BitLabs clients send it and changes nothing: surveyrouter's
    callbacks carry no custom fields, and the test sends what a real callback would."""

    model_config = ConfigDict(extra="forbid", strict=True)

    url: str | None = Field(None, max_length=2000)
    data: CallbackData = CallbackData()
    tags: dict[TagText, TagText] = Field(default_factory=dict, max_length=10)
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class ReceiverOut(BaseModel):
    status_code: int
    body: str
    content_type: str | None


class CallbackTestOut(BaseModel):
    response: ReceiverOut | None
    url: str
    legacy_macros: list[str]
    invalid_macros: list[str]
    error: str | None


def _callback_http(runtime: Runtime, publishers_url: bool) -> httpx.Client:
    # As the delivery worker sends: redirects are not followed, the hash signs this URL. A URL
    # the publisher sent may reach only public addresses and what the operator allows; the
    # app's own callback URL is the operator's, and goes wherever they set it to.
    if publishers_url:
        allowed = parse_networks(runtime.settings.callback_test_allowed_networks)
        return guarded_client(allowed, timeout=DEFAULT_TIMEOUT, follow_redirects=False)
    return httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=False)


@router.post("/users")
def import_users(
    app: PublisherApp, runtime: RuntimeDep, offers: OffersDep, body: ImportBody
) -> Envelope[ImportOut]:
    """Import users' profiles, at most 1,000 a call. A user with any error is not written at
    all and is listed in ``errors``; every answer an import names replaces the stored one, so
    always send the full profile."""
    users = [_imported(user) for user in body.users]
    result = publishers.import_users(
        runtime.sessions, app, users, offers.library, offers.sources.question, utc_now()
    )
    return ok(_import_out(result))


@router.get("/users/{uid:path}/profile")
def get_profile(
    app: PublisherApp, runtime: RuntimeDep, offers: OffersDep, uid: str
) -> Envelope[ProfileOut]:
    """The user's profile as surveyrouter knows it; 404 for a user it does not know."""
    try:
        profile = publishers.read_profile(runtime.sessions, app, uid, offers.library, utc_now())
    except PublisherUserNotFound as error:
        raise HTTPException(404, str(error)) from error
    return ok(_profile_out(profile))


@router.delete("/users/{uid:path}")
def delete_user(app: PublisherApp, runtime: RuntimeDep, uid: str) -> Envelope[Empty]:
    """Erase the user: answers deleted, uid and personal fields gone, and with them the
    custom tags of their clicks and the URLs of their delivered callbacks (pending ones are
    still sent, then redacted); rewards stay in the ledger, anonymous. Erasing the same uid
    again is 404: it no longer exists."""
    try:
        publishers.forget_user(runtime.sessions, app, uid, utc_now())
    except PublisherUserNotFound as error:
        raise HTTPException(404, str(error)) from error
    return ok(Empty())


@router.post("/callbacks/test")
def post_test_callback(
    app: PublisherApp, runtime: RuntimeDep, body: CallbackTestBody
) -> Envelope[CallbackTestOut]:
    """Send one signed callback with ``debug=true`` to ``url`` (default: the app's callback
    URL) and show what the endpoint answered. An endpoint that cannot be reached is still
    200: ``response`` is null and ``error`` says why. A ``url`` whose host is not a public
    address (nor in ``SURVEYROUTER_CALLBACK_TEST_ALLOWED_NETWORKS``) is 400, and so are
    ``tags`` a listing would refuse (``domain.tags``)."""
    try:
        tags = normalized_tags(body.tags.items())
    except TagsInvalid as error:
        raise HTTPException(400, f"tags: {error}") from error
    try:
        with _callback_http(runtime, publishers_url=body.url is not None) as http:
            result = publishers.send_test_callback(
                app, body.url, _sample(body.data), http, tags=tags
            )
    except (NoCallbackUrl, CallbackTemplateInvalid, DestinationRefused) as error:
        raise HTTPException(400, f"url: {error}") from error
    return ok(_callback_test_out(result))


def _imported(user: UserIn) -> ImportedUser:
    return ImportedUser(
        uid=user.uid,
        country=user.country,
        languages=tuple(user.languages),
        birthdate=user.birthdate,
        gender=user.gender,
        questions=tuple(
            ImportedAnswer(question.id, question.network_id, tuple(question.direct_values))
            for question in user.questions
        ),
        zipcode=user.zipcode,
        username=user.username,
    )


def _import_out(result: ImportResult) -> ImportOut:
    return ImportOut(
        success_count=result.success_count,
        errors=[
            ImportErrorOut(
                uid=refusal.uid,
                invalid_birthdate=refusal.invalid_birthdate,
                invalid_gender=refusal.invalid_gender,
                invalid_zipcode=refusal.invalid_zipcode,
                invalid_question=refusal.invalid_question,
                unsupported_languages=refusal.unsupported_languages,
                invalid_answer_format=(
                    None
                    if refusal.invalid_answer_format is None
                    else AnswerFormatOut(
                        question=refusal.invalid_answer_format.question,
                        reason=refusal.invalid_answer_format.reason,
                    )
                ),
            )
            for refusal in result.errors
        ],
    )


def _profile_out(profile: PublisherProfile) -> ProfileOut:
    return ProfileOut(
        country=profile.country,
        main_language=profile.main_language,
        spoken_languages=list(profile.spoken_languages),
        zipcode=profile.zipcode,
        birthdate=profile.birthdate,
        gender=None if profile.gender is None else _GENDERS[profile.gender],
        username=profile.username,
        banned=profile.banned,
        std_questions=[
            StdQuestionOut(id=key, values=list(values)) for key, values in profile.questions
        ],
    )


_GENDERS: dict[Gender, Literal["MALE", "FEMALE"]] = {Gender.MALE: "MALE", Gender.FEMALE: "FEMALE"}


def _sample(data: CallbackData) -> SampleCallback:
    return SampleCallback(
        uid=data.uid,
        transaction_id=data.tx,
        kind=RewardKind(data.type),
        usd=data.usd,
        ip_address=data.ip,
        reference=data.ref,
        reason=data.reason,
        fraud_score=data.fscore,
    )


def _callback_test_out(result: CallbackTestResult) -> CallbackTestOut:
    answer = result.response
    return CallbackTestOut(
        response=(
            None
            if answer is None
            else ReceiverOut(
                status_code=answer.status_code,
                body=answer.body,
                content_type=answer.content_type,
            )
        ),
        url=result.url,
        legacy_macros=list(result.legacy_macros),
        invalid_macros=list(result.invalid_macros),
        error=result.error,
    )
