"""The publisher's server-to-server API (client API §2.8): importing users' profiles, reading
one back, erasing a user, and sending a test callback.

A publisher's backend speaks here for all of its users at once, with the app's S2S token
(§1.2), never the client API token its apps ship with.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import httpx
from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.domain.apps import App
from surveyrouter.domain.callbacks import (
    CallbackFacts,
    build_callback_url,
    check_template,
)
from surveyrouter.domain.callbacks import unknown_macros as find_unknown_macros
from surveyrouter.domain.client_context import InvalidClientParameter, parse_language_parameter
from surveyrouter.domain.money import CENT, Reward, RewardKind, reconcile, user_value
from surveyrouter.domain.operators import user_subject
from surveyrouter.domain.profile import (
    AGE_ATTRIBUTE_ID,
    GENDER_ATTRIBUTE_ID,
    POSTAL_CODE_ATTRIBUTE_ID,
    Gender,
)
from surveyrouter.domain.questions import (
    AnswerInvalid,
    Question,
    QuestionLibrary,
    QuestionNotFound,
    validate_answer,
)
from surveyrouter.domain.users import (
    ERASED_PREFIX,
    User,
    UserIdInvalid,
    UserIdReserved,
    check_uid,
)
from surveyrouter.services.rewards import as_sent, as_the_app_shows, check_sendable
from surveyrouter.store.answers import StoredAnswer, delete_answers, put_answer, user_answers
from surveyrouter.store.apps import find_app_by_s2s_token, find_app_by_token
from surveyrouter.store.clicks import clear_click_tags
from surveyrouter.store.db import transaction
from surveyrouter.store.operator_actions import rename_subject
from surveyrouter.store.outbox import redact_user_callbacks
from surveyrouter.store.users import erase_user, find_user, remember_context, user_on_sight
from surveyrouter.store.v2_clicks import clear_v2_click_tags

# One call imports at most this many users: a bigger batch is split by the publisher, so one
# request stays well inside the body limit and a request timeout.
MAX_IMPORT_USERS = 1000

# §2.8: "Dashboard test callbacks append debug=true".
DEBUG_PARAMETER = "debug=true"
# What a test callback shows of the receiver's answer.
BODY_PREVIEW_BYTES = 2048
TEST_TRANSACTION_PREFIX = "test"

# §3.1: the macro set A names that set B renamed; the test callback reports them so the
# publisher can move to the current names. (TX, REF, TYPE, REASON, FSCORE and APP:TOKEN kept
# their names; [%APP%] has no current name to move to.)
RENAMED_MACROS: Mapping[str, str] = {
    "[%UID%]": "[%USER:UID%]",
    "[%VAL%]": "[%VALUE:CURRENCY%]",
    "[%RAW%]": "[%VALUE:USD%]",
    "[%IP%]": "[%USER:IP_ADDRESS%]",
}
_LEGACY_MACRO = re.compile("|".join(re.escape(macro) for macro in RENAMED_MACROS))

#: Finds a question by client API network id (0: the library) and key; ``QuestionNotFound``.
QuestionLookup = Callable[[int, str], Question]


# ---------------------------------------------------------------- authentication


class UnknownS2sToken(LookupError):
    """No app has the S2S token the caller sent."""


class ApiTokenSentAsS2s(UnknownS2sToken):
    """The caller sent an app's client API token where its S2S token belongs."""


def publisher_app(sessions: sessionmaker[Session], s2s_token: str) -> App:
    """The app whose S2S token this is. Raises ``ApiTokenSentAsS2s`` for a client API token
    (the one the app's SDKs ship with, which must not open this API), else
    ``UnknownS2sToken``."""
    with sessions() as session:
        app = find_app_by_s2s_token(session, s2s_token)
        if app is not None:
            return app
        if find_app_by_token(session, s2s_token) is not None:
            raise ApiTokenSentAsS2s(
                "this is the app's client api token, not its s2s token: send the s2s token "
                "in X-S2S-Token"
            )
    raise UnknownS2sToken("invalid s2s token")


# ---------------------------------------------------------------- import


@dataclass(frozen=True, slots=True)
class ImportedAnswer:
    """One entry of a user's ``questions``: ``question_id`` is the question's key on client
    API network ``network_id`` (0: the question library), ``values`` its answer."""

    question_id: str
    network_id: int
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ImportedUser:
    """One user of an import, as the publisher sent it (shapes checked, values not yet)."""

    uid: str
    country: str
    languages: tuple[str, ...]
    birthdate: str
    gender: str
    questions: tuple[ImportedAnswer, ...]
    zipcode: str | None = None
    username: str | None = None


@dataclass(frozen=True, slots=True)
class AnswerFormatInvalid:
    """An answer that breaks its question's rules: the question's id and the rule."""

    question: str
    reason: str


@dataclass(frozen=True, slots=True)
class ImportRefusal:
    """Why one user was not imported (§2.8's error object). Each kind names its first problem;
    a kind without one is None (``unsupported_languages``: False)."""

    uid: str
    invalid_birthdate: str | None = None
    invalid_gender: str | None = None
    invalid_zipcode: str | None = None
    invalid_question: str | None = None
    unsupported_languages: bool = False
    invalid_answer_format: AnswerFormatInvalid | None = None


@dataclass(frozen=True, slots=True)
class CheckedProfile:
    """An imported user ready to write: answers normalized, by question key."""

    uid: str
    country: str
    language: str
    username: str | None
    answers: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class ImportResult:
    success_count: int
    errors: tuple[ImportRefusal, ...]


def check_profile(
    user: ImportedUser, library: QuestionLibrary, question_of: QuestionLookup, today: date
) -> CheckedProfile | ImportRefusal:
    """The user's profile with every answer validated as the client API validates it, or
    what is wrong with it. Gender, birth date and zip code answer the library's standard
    questions; each ``questions`` entry answers a library question (network 0) or a network's
    own. A question answered twice (a standard one in ``questions`` too) is an invalid answer
    format: which of the two answers is meant?"""
    answers: dict[str, tuple[str, ...]] = {}
    named: set[str] = set()

    def answer(question: Question, values: Sequence[str]) -> str | None:
        named.add(question.key)
        try:
            answers[question.key] = validate_answer(question, values, today)
        except AnswerInvalid as error:
            return error.message
        return None

    gender = _standard(library, GENDER_ATTRIBUTE_ID)
    named.add(gender.key)
    invalid_gender: str | None = None
    option = _gender_option(gender, user.gender)
    if option is None:
        # The library asks male or female only: OTHER has no answer a survey could target.
        invalid_gender = f"{user.gender!r} is not one of MALE, FEMALE"
    else:
        answers[gender.key] = (option,)
    invalid_birthdate = answer(_standard(library, AGE_ATTRIBUTE_ID), [user.birthdate])
    invalid_zipcode = None
    # The zip code is optional: absent or blank, the stored one (if any) stays.
    if user.zipcode is not None and user.zipcode.strip():
        invalid_zipcode = answer(_standard(library, POSTAL_CODE_ATTRIBUTE_ID), [user.zipcode])
    invalid_question: str | None = None
    invalid_format: AnswerFormatInvalid | None = None
    for entry in user.questions:
        try:
            question = question_of(entry.network_id, entry.question_id)
        except QuestionNotFound:
            invalid_question = invalid_question or entry.question_id
            continue
        reason = "the question is answered more than once" if question.key in named else None
        reason = reason or answer(question, entry.values)
        if reason is not None and invalid_format is None:
            invalid_format = AnswerFormatInvalid(entry.question_id, reason)
    languages = spoken_languages(user.languages)
    refusal = ImportRefusal(
        uid=user.uid,
        invalid_birthdate=invalid_birthdate,
        invalid_gender=invalid_gender,
        invalid_zipcode=invalid_zipcode,
        invalid_question=invalid_question,
        unsupported_languages=not languages,
        invalid_answer_format=invalid_format,
    )
    if refusal != ImportRefusal(uid=user.uid):
        return refusal
    return CheckedProfile(user.uid, user.country, languages[0], user.username, answers)


def spoken_languages(tags: Iterable[str]) -> tuple[str, ...]:
    """The 2-letter codes of ``tags`` (``de``, ``de-AT``, ``DE``), first seen first; empty
    when there is none or any tag is not a language tag with a 2-letter code."""
    languages: list[str] = []
    for tag in tags:
        try:
            language = parse_language_parameter(tag)
        except InvalidClientParameter:
            return ()
        if language is None:
            return ()
        if language not in languages:
            languages.append(language)
    return tuple(languages)


def import_users(
    sessions: sessionmaker[Session],
    app: App,
    users: Sequence[ImportedUser],
    library: QuestionLibrary,
    question_of: QuestionLookup,
    at: datetime,
) -> ImportResult:
    """Import every user whose profile is valid; refuse the others, writing nothing for them.

    Everything is checked before anything is written; then each user is written in a
    transaction of its own: created on first sight, country, main language (the first of
    ``languages``) and username set, and each answer the import names replaces the stored one
    (§2.8: "always send a fully updated profile"). Answers it does not name are kept. An
    import pays no start bonus, and its answers do not count toward one: the bonus rewards
    questions the user answers, not a publisher's data (``own_answer_count``). A question the
    user answered stays theirs, whatever value the import gives it.

    The same uid twice in one import is written twice, the later last. Importing again is
    safe: the same profile stores the same thing.
    """
    if app.id is None:
        raise ValueError("an app without an id is not stored")
    today = at.date()
    checked = [check_profile(user, library, question_of, today) for user in users]
    errors = tuple(result for result in checked if isinstance(result, ImportRefusal))
    for result in checked:
        if isinstance(result, CheckedProfile):
            with transaction(sessions) as session:
                _write_profile(session, app.id, result, at)
    return ImportResult(success_count=len(checked) - len(errors), errors=errors)


def _write_profile(session: Session, app_id: int, profile: CheckedProfile, at: datetime) -> None:
    user, _ = user_on_sight(session, app_id, profile.uid, at)
    remember_context(
        session,
        user.id,
        at,
        country=profile.country,
        language=profile.language,
        username=profile.username,
    )
    stored = user_answers(session, user.id)
    for key, values in profile.answers.items():
        kept = stored.get(key)
        if kept is not None and not kept.skipped and kept.values == values:
            continue
        # A question the user answered stays one they answered, whatever value the
        # publisher's data now gives it: their start-bonus progress is not taken back.
        users_own = kept is not None and not kept.skipped and not kept.imported
        put_answer(session, user.id, key, values, at, imported=not users_own)


def _standard(library: QuestionLibrary, attribute_id: int) -> Question:
    # The standard questions are found as targeting finds them: by the REX attribute they feed.
    question = library.for_rex_attribute(attribute_id)
    if question is None:
        raise LookupError(f"the question library maps no question to attribute {attribute_id}")
    return question


def _gender_option(question: Question, gender: str) -> str | None:
    """The gender question's option for MALE or FEMALE (any case): the one the library maps
    to that REX answer. None for anything else."""
    name = gender.strip().upper()
    if name not in Gender.__members__:
        return None
    wanted = Gender[name].value
    return next((option for option, rex in question.rex_answers.items() if rex == wanted), None)


# ---------------------------------------------------------------- profile


class PublisherUserNotFound(LookupError):
    """The app has no user with that uid (or had one, since erased)."""


@dataclass(frozen=True, slots=True)
class PublisherProfile:
    """A user's profile as §2.8's profile call shows it; ``questions`` holds every answered
    (not skipped) question's key and values, by key."""

    country: str | None
    main_language: str | None
    spoken_languages: tuple[str, ...]
    zipcode: str | None
    birthdate: str | None
    gender: Gender | None
    username: str | None
    banned: bool
    questions: tuple[tuple[str, tuple[str, ...]], ...]


# A REX gender answer (attribute 1) back to MALE or FEMALE.
_GENDERS = {gender.value: gender for gender in Gender}


def read_profile(
    sessions: sessionmaker[Session], app: App, uid: str, library: QuestionLibrary, now: datetime
) -> PublisherProfile:
    """The profile of the app's user ``uid``; raises ``PublisherUserNotFound``."""
    with sessions() as session:
        user = _find(session, app, uid)
        answers = user_answers(session, user.id)
    return profile_of(user, answers, library, now)


def profile_of(
    user: User, answers: Mapping[str, StoredAnswer], library: QuestionLibrary, now: datetime
) -> PublisherProfile:
    """What the profile call shows of ``user`` with these stored ``answers``."""
    given = {key: answer.values for key, answer in answers.items() if not answer.skipped}

    def first(attribute_id: int) -> str | None:
        values = given.get(_standard(library, attribute_id).key)
        return values[0] if values else None

    gender_question = _standard(library, GENDER_ATTRIBUTE_ID)
    gender_option = first(GENDER_ATTRIBUTE_ID)
    rex_gender = gender_question.rex_answers.get(gender_option or "")
    return PublisherProfile(
        country=user.country,
        main_language=user.language,
        # The users table keeps one language, the main one; the others an import named are
        # not stored, so the spoken languages are that one.
        spoken_languages=(user.language,) if user.language else (),
        zipcode=first(POSTAL_CODE_ATTRIBUTE_ID),
        birthdate=first(AGE_ATTRIBUTE_ID),
        gender=_GENDERS.get(rex_gender or ""),
        username=user.username,
        banned=user.banned_at(now),
        questions=tuple(sorted(given.items())),
    )


# ---------------------------------------------------------------- erasure


def forget_user(sessions: sessionmaker[Session], app: App, uid: str, at: datetime) -> None:
    """Erase the app's user ``uid`` as of ``at``: their answers are deleted, what they told us
    cleared, their uid and respondent id replaced by tombstones (see ``ERASED_PREFIX``), and
    what else carried the uid or the publisher's tags for them made anonymous: the custom
    tags of their clicks, the URLs of their finished callbacks (``redact_user_callbacks``;
    the pending ones are still sent, then redacted), the dashboard's activity log naming
    them. The ledger, outbox and clicks stay, referencing the now anonymous row. Raises
    ``PublisherUserNotFound``, also for a uid already erased: the uid is gone.

    A return or an exchange's late callback for a click of the erased user is refused
    (``outcomes.UserErased``, a 404): the user is gone, so nobody could be paid."""
    with transaction(sessions) as session:
        user = _find(session, app, uid)
        tombstone = f"{ERASED_PREFIX}{secrets.token_hex(16)}"
        delete_answers(session, user.id)
        clear_click_tags(session, user.id)
        clear_v2_click_tags(session, user.id)
        redact_user_callbacks(session, user.id)
        erase_user(
            session,
            user.id,
            at,
            uid=tombstone,
            respondent_id=f"{ERASED_PREFIX}{secrets.token_hex(16)}",
        )
        erased = replace(user, uid=tombstone)
        rename_subject(session, user_subject(user), user_subject(erased))


def _find(session: Session, app: App, uid: str) -> User:
    """The app's live user ``uid``: never an erased one, whose uid is a tombstone."""
    try:
        check_uid(uid)
    except UserIdReserved:
        pass  # a live user's id from before the form was reserved: still theirs
    except UserIdInvalid:
        raise PublisherUserNotFound(f"user not found: {uid[:80]!r}") from None
    user = find_user(session, app.id, uid) if app.id is not None else None
    if user is None or user.erased_at is not None:
        raise PublisherUserNotFound(f"user not found: {uid!r}")
    return user


# ---------------------------------------------------------------- test callback


class NoCallbackUrl(ValueError):
    """A test callback with no URL given and none configured for the app."""


@dataclass(frozen=True, slots=True)
class SampleCallback:
    """What a test callback tells the publisher; every fact has a sample value. ``usd`` is the
    publisher's revenue (the user's value follows from the app's currency, as in a real
    callback); a RECONCILIATION carries it negated, a START_BONUS the app's bonus."""

    uid: str = "test-user"
    transaction_id: str | None = None
    kind: RewardKind = RewardKind.COMPLETE
    usd: Decimal = Decimal("1.00")
    ip_address: str | None = None
    reference: str | None = None
    reason: str | None = None
    fraud_score: str | None = None


@dataclass(frozen=True, slots=True)
class ReceiverAnswer:
    """What the publisher's endpoint answered: ``body`` is its first ``BODY_PREVIEW_BYTES``."""

    status_code: int
    body: str
    content_type: str | None


@dataclass(frozen=True, slots=True)
class CallbackTestResult:
    """``url`` as sent; ``response`` None and ``error`` set when the endpoint could not be
    reached. ``legacy_macros`` are the template's set A names that have current ones,
    ``invalid_macros`` those no callback fills."""

    url: str
    response: ReceiverAnswer | None
    error: str | None
    legacy_macros: tuple[str, ...]
    invalid_macros: tuple[str, ...]


def legacy_macros(template: str) -> tuple[str, ...]:
    """The renamed set A macros ``template`` uses, once each, in order (see ``RENAMED_MACROS``)."""
    return tuple(dict.fromkeys(match.group(0) for match in _LEGACY_MACRO.finditer(template)))


def with_debug_flag(template: str) -> str:
    """``template`` with ``debug=true`` added to its query. It goes in before signing, so the
    hash covers it and stays last, and the publisher's verifier needs no special case."""
    if template.endswith(("?", "&")):
        return f"{template}{DEBUG_PARAMETER}"
    separator = "&" if "?" in template else "?"
    return f"{template}{separator}{DEBUG_PARAMETER}"


def sample_reward(sample: SampleCallback, app: App) -> Reward:
    """The reward a test callback reports, with the amounts a real one would carry."""
    if sample.kind is RewardKind.START_BONUS:
        bonus = app.start_bonus_reward or Decimal(0)
        return as_the_app_shows(Reward(RewardKind.START_BONUS, Decimal(0), bonus), app)
    usd = sample.usd.quantize(CENT, rounding=ROUND_HALF_UP)  # to the cent, as money rounds
    kind = RewardKind.COMPLETE if sample.kind is RewardKind.RECONCILIATION else sample.kind
    reward = Reward(kind, usd, user_value(usd, app.currency))
    return reconcile(reward) if sample.kind is RewardKind.RECONCILIATION else reward


def signed_test_url(
    template: str,
    sample: SampleCallback,
    app: App,
    transaction_id: str,
    tags: Mapping[str, str] | None = None,
) -> str:
    """The signed URL a test callback sends: built from ``template`` exactly as a real callback
    is (macros filled, a click's custom ``tags`` added, normalized as httpx sends it, hashed
    with the app's secret), with ``debug=true``. Raises ``CallbackTemplateInvalid``."""
    if app.id is None:
        raise ValueError("an app without an id is not stored")
    check_template(template)
    facts = CallbackFacts(
        user_id=sample.uid,
        transaction_id=transaction_id,
        reward=sample_reward(sample, app),
        app_id=app.id,
        app_token=app.api_token,
        ip_address=sample.ip_address,
        reference=sample.reference,
        reason=sample.reason,
        fraud_score=sample.fraud_score,
    )
    check_sendable(template)  # what httpx refuses that urlsplit let through
    return build_callback_url(
        with_debug_flag(template), facts, app.secret, normalize=as_sent, extra_parameters=tags
    )


def send_test_callback(
    app: App,
    url: str | None,
    sample: SampleCallback,
    http: httpx.Client,
    *,
    tags: Mapping[str, str] | None = None,
) -> CallbackTestResult:
    """Send one test callback to ``url`` (default: the app's callback URL) and report what the
    endpoint answered. An endpoint that cannot be reached is reported, not raised: the test is
    about the publisher's endpoint. Raises ``NoCallbackUrl`` or ``CallbackTemplateInvalid``.

    ``http`` should follow no redirects, as the delivery worker does: the hash signs this URL,
    not wherever it points. The URL is the publisher's choice and is fetched from this server's
    network, so ``http`` is where an operator would restrict where it may go."""
    template = url if url is not None else app.callback_url
    if not template:
        raise NoCallbackUrl("no url: send one, or set the app's callback_url")
    transaction_id = sample.transaction_id or (f"{TEST_TRANSACTION_PREFIX}{secrets.token_hex(6)}")
    signed = signed_test_url(template, sample, app, transaction_id, tags)
    answer: ReceiverAnswer | None = None
    error: str | None = None
    try:
        answer = _fetch(http, signed)
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}"
    return CallbackTestResult(
        url=signed,
        response=answer,
        error=error,
        legacy_macros=legacy_macros(template),
        invalid_macros=find_unknown_macros(template),
    )


def _fetch(http: httpx.Client, url: str) -> ReceiverAnswer:
    # Streamed, so an endpoint that answers with megabytes costs us the preview only.
    with http.stream("GET", url) as response:
        preview = bytearray()
        for chunk in response.iter_bytes():
            preview += chunk
            if len(preview) >= BODY_PREVIEW_BYTES:
                break
        encoding = response.encoding or "utf-8"
        body = bytes(preview[:BODY_PREVIEW_BYTES]).decode(encoding, errors="replace")
        return ReceiverAnswer(
            status_code=response.status_code,
            body=body,
            content_type=response.headers.get("content-type"),
        )
