"""The sandbox's Respondent Gateway: what happens between ``/start`` and the return (REX §6).

A respondent arrives on a signed entry link. The gateway checks the signature, follows the
link's ``ctx`` through any contexts the partner created (§6.2, parent values winning) to the
opportunity, creates or updates the respondent from the link and the contexts (country from the
opportunity, REX §6.3), evaluates the targeting it can with the reference evaluator, and sends
anyone who fails straight back with the matching disposition and status. What it cannot
evaluate it decides as a prescreener would: the respondent qualifies with the opportunity's
incidence rate. Then it simulates the client survey (complete, client disqualification,
over-quota or quality), counts the start or the complete against the quota objects the
respondent fits (per ``evaluation``, §5.4), closes objects that reach zero, and returns a signed
redirect plus the server-to-server callback body (§1.5, §6.4).

Interactive mode splits that into a session a person walks through: ``open`` admits the
respondent, ``answer_prescreen`` takes the answers to the questions targeting could not decide,
and ``end_survey`` takes the ending the person picked instead of the simulated client survey.
Everything is still signed and counted the same way.

No I/O happens here: the HTTP layer serves the pages and sends the callback.
"""

from __future__ import annotations

import enum
import json
import random
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from surveyrouter.domain.opportunity import Device, Opportunity
from surveyrouter.domain.targeting import Result, Verdict, evaluate
from surveyrouter.networks.rex.gateway import Disposition
from surveyrouter.networks.rex.opportunities import parse_opportunity
from surveyrouter.networks.rex.signing import (
    KeyPair,
    Secrets,
    SignatureError,
    sign_url,
    verify_url,
)
from surveyrouter.sandbox.contexts import (
    ContextExpired,
    ContextLoop,
    ContextNotFound,
    ContextStore,
)
from surveyrouter.sandbox.outcomes import (
    ABANDONED,
    ANSWER_QUALITY,
    CLIENT_DISQUALIFICATION,
    CLIENT_OVER_QUOTA,
    COMPLETE,
    DEFAULT_MODEL,
    OutcomeModel,
    SurveyEnding,
)
from surveyrouter.sandbox.prescreen import AttributeDocuments, Question, questions_for, read_answers
from surveyrouter.sandbox.respondents import (
    Respondent,
    RespondentInvalid,
    RespondentNotFound,
    RespondentUpdate,
    read_attributes,
    read_birth_date,
    read_country,
    read_gender,
    read_respondent_id,
)

__all__ = [
    "CLIENT_DISQUALIFICATION",
    "COMPLETE",
    "SURVEY_OUTCOMES",
    "Admission",
    "EntryContextExpired",
    "EntryRefused",
    "EntryUnauthorized",
    "GatewaySimulator",
    "Respondent",
    "Session",
    "SessionNotFound",
    "SessionStageMismatch",
    "Stage",
    "UnknownContext",
    "Visit",
    "device_of",
]

# What the gateway reads itself; everything else goes back to the partner (REX §6.3).
GATEWAY_PARAMETERS = frozenset(
    {"ctx", "respondent_id", "language", "gender", "birth_date", "postal_code", "attributes",
     "source"}
)  # fmt: skip

PRESCREEN_FAILED = Disposition(2, 1)  # Dynata Disqualification
DUPLICATE = Disposition(4, 1)

# The endings a client survey can give, in the order the interactive survey page offers them.
SURVEY_OUTCOMES = (COMPLETE, CLIENT_DISQUALIFICATION, CLIENT_OVER_QUOTA, ANSWER_QUALITY)


class EntryRefused(ValueError):
    """A ``/start`` the gateway will not serve: bad signature, unknown context, bad parameter."""


class EntryUnauthorized(EntryRefused):
    """The link's signature is missing, forged, expired, or made with an unknown key."""


class UnknownContext(EntryRefused):
    pass


class EntryContextExpired(EntryRefused):
    pass


class SessionNotFound(LookupError):
    """No such interactive session: never opened, already ended, or expired."""


class SessionStageMismatch(ValueError):
    """The session is not at the step asked for (say, a survey ending before the prescreen)."""


class Market(Protocol):
    """The exchange state the gateway works on (the sandbox registry provides it)."""

    def opportunity_for_context(self, ctx: str, language: str | None) -> Mapping[str, Any] | None:
        """The opportunity a ``links.live`` context leads to in that language. A context names
        an opportunity group (in Dynata's samples two opportunities share one), so the live one
        of the group in the respondent's language is meant."""

    def change(self, opportunity_id: int, mutate: Callable[[dict[str, Any]], None]) -> object: ...

    def collection_values(self, collection_id: str) -> frozenset[str] | None: ...


@dataclass(frozen=True)
class Visit:
    """How one entry ended: where the respondent goes and what the callback says."""

    opportunity_id: int
    respondent_id: str
    disposition: Disposition
    redirect_url: str
    callback_body: bytes


@dataclass(frozen=True)
class Dropout:
    """The respondent left inside the client survey and never came back: the exchange sends
    no return and no callback (the partner sees a click without an outcome)."""

    opportunity_id: int
    respondent_id: str


@dataclass(frozen=True)
class Admission:
    """A verified entry: who came in, into which opportunity, and what goes back with them."""

    opportunity: Opportunity
    raw: Mapping[str, Any]
    respondent_id: str
    passthrough: Mapping[str, str]
    device: Device | None


class Stage(enum.Enum):
    PRESCREEN = "prescreen"
    SURVEY = "survey"


@dataclass
class Session:
    """One respondent inside one opportunity in interactive mode, until the survey ends."""

    id: str
    admission: Admission
    stage: Stage
    questions: tuple[Question, ...]
    matched_quotas: tuple[str, ...]
    started: datetime


@dataclass
class GatewaySimulator:
    market: Market
    entry_secrets: Secrets
    redirect_keys: KeyPair
    partner_return_url: str
    clock: Callable[[], datetime]
    rng: random.Random = field(default_factory=random.Random)
    redirect_ttl: timedelta = timedelta(minutes=5)
    # How simulated client surveys end (market.md's rates).
    outcomes: OutcomeModel = DEFAULT_MODEL
    # Test switch, off by default: every client survey ends so (a disposition or ABANDONED).
    forced: SurveyEnding | None = None
    respondents: dict[str, Respondent] = field(default_factory=dict)
    # Where the interactive prescreen finds the questions of non-standard attributes.
    catalogue: AttributeDocuments | None = None
    contexts: ContextStore = field(default_factory=ContextStore)
    sessions: dict[str, Session] = field(default_factory=dict)
    # An interactive session left open longer than this is gone (the respondent dropped out).
    session_ttl: timedelta = timedelta(hours=1)
    # Where respondents are kept between runs (the sandbox's state file); None: memory only.
    keep: Callable[[Mapping[str, Any]], None] | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def start(self, url: str, user_agent: str = "") -> Visit | Dropout:
        """Serve one ``/start``: verify, evaluate, simulate, and say where to go back (or,
        for a respondent who dropped out of the client survey, that nothing goes back)."""
        with self._lock:
            now = self.clock()
            admission, verdict = self._admit(url, user_agent, now)
            raw = admission.raw
            ending = _refusal(verdict)
            if ending is None and verdict.result is Result.UNKNOWN and not self._prescreen(raw):
                ending = PRESCREEN_FAILED
            if ending is not None:
                return self._leave(admission, ending, now)
            survey_ending = self.outcomes.draw(raw, self.rng, self.forced)
            self._count(raw, verdict.matched_quotas, survey_ending)
            if survey_ending is ABANDONED:
                return self._drop_out(admission)
            return self._leave(admission, survey_ending, now)

    # --- interactive mode ----------------------------------------------------------------------

    def open(self, url: str, user_agent: str = "") -> Visit | Session:
        """Admit a respondent who will answer the prescreen and end the survey themselves.

        A respondent targeting refuses gets the ``Visit`` back at once, as does one the
        incidence rate screens out when no question could be asked."""
        with self._lock:
            now = self.clock()
            self._forget_stale_sessions(now)
            admission, verdict = self._admit(url, user_agent, now)
            ending = _refusal(verdict)
            if ending is not None:
                return self._leave(admission, ending, now)
            questions: tuple[Question, ...] = ()
            if verdict.result is Result.UNKNOWN:
                language = self.respondents[admission.respondent_id].language
                questions = questions_for(verdict.missing_attributes, self.catalogue, language)
                if not questions and not self._prescreen(admission.raw):
                    return self._leave(admission, PRESCREEN_FAILED, now)
            project_id = admission.opportunity.project_id
            if project_id is not None:
                # Inside the project from now on: a second entry while this one runs is a
                # duplicate, as it will be afterwards.
                self.respondents[admission.respondent_id].entered_projects.add(project_id)
            session = Session(
                id=secrets.token_urlsafe(16),
                admission=admission,
                stage=Stage.PRESCREEN if questions else Stage.SURVEY,
                questions=questions,
                matched_quotas=verdict.matched_quotas,
                started=now,
            )
            self.sessions[session.id] = session
            self._keep(admission.respondent_id)
            return session

    def session(self, session_id: str) -> Session:
        with self._lock:
            return self._session(session_id, self.clock(), None)

    def answer_prescreen(
        self, session_id: str, form: Mapping[str, Sequence[str]]
    ) -> Visit | Session:
        """Take the prescreen's answers (kept on the respondent, as REX keeps them) and decide
        again: back at once with the reason, or on to the survey. A question still unanswered
        is decided by the incidence rate. An answer that is not acceptable raises
        ``RespondentInvalid`` and changes nothing."""
        with self._lock:
            now = self.clock()
            session = self._session(session_id, now, Stage.PRESCREEN)
            admission = session.admission
            update = read_answers(admission.respondent_id, session.questions, form, now.date())
            self.respondents[admission.respondent_id].apply(update)
            self._keep(admission.respondent_id)
            verdict = self._evaluate(admission, now, inside=True)
            ending = _refusal(verdict)
            if ending is None and verdict.result is Result.UNKNOWN:
                ending = None if self._prescreen(admission.raw) else PRESCREEN_FAILED
            if ending is not None:
                del self.sessions[session_id]
                return self._leave(admission, ending, now)
            session.stage = Stage.SURVEY
            session.matched_quotas = verdict.matched_quotas
            return session

    def end_survey(self, session_id: str, ending: Disposition) -> Visit:
        """End the client survey with the ending the respondent picked (one of
        ``SURVEY_OUTCOMES``), counted as a simulated one would be."""
        if ending not in SURVEY_OUTCOMES:
            raise ValueError(f"a client survey does not end with {ending.name}")
        with self._lock:
            now = self.clock()
            session = self._session(session_id, now, Stage.SURVEY)
            del self.sessions[session_id]
            self._count(session.admission.raw, session.matched_quotas, ending)
            return self._leave(session.admission, ending, now)

    # --- respondents (§6.1) --------------------------------------------------------------------

    def put_respondent(self, update: RespondentUpdate) -> None:
        """Create or update a respondent (``/put-respondent``)."""
        with self._lock:
            self._respondent(update.respondent_id, self.clock()).apply(update)
            self._keep(update.respondent_id)

    def put_answers(self, update: RespondentUpdate) -> None:
        """Set a known respondent's answers (``/put-respondent-answers``)."""
        with self._lock:
            respondent = self.respondents.get(update.respondent_id)
            if respondent is None:
                raise RespondentNotFound(f"respondent {update.respondent_id!r} was not found")
            respondent.apply(update)
            self._keep(update.respondent_id)

    def respondent_info(self, respondent_id: str) -> dict[str, Any]:
        with self._lock:
            respondent = self.respondents.get(respondent_id)
            if respondent is None:
                raise RespondentNotFound(f"respondent {respondent_id!r} was not found")
            return respondent.info()

    # --- internals (callers hold the lock) ------------------------------------------------------

    def _admit(self, url: str, user_agent: str, now: datetime) -> tuple[Admission, Verdict]:
        try:
            parameters = verify_url(url, self.entry_secrets, now).parameters
        except SignatureError as error:
            raise EntryUnauthorized(str(error)) from error
        except ValueError as error:
            raise EntryRefused(str(error)) from error
        if not parameters.get("ctx"):
            raise EntryRefused("the entry link has no ctx")
        fields, opportunity_ctx, from_contexts = self._through_contexts(parameters, now)
        if not fields.get("respondent_id"):
            raise EntryRefused("the entry link has no respondent_id")
        raw = self.market.opportunity_for_context(opportunity_ctx, fields.get("language"))
        if raw is None:
            raise UnknownContext(f"unknown context {parameters['ctx']!r}")
        opportunity = parse_opportunity(raw, "sandbox")
        respondent = self._enter(fields, from_contexts.get("country"), opportunity.country, now)
        admission = Admission(
            opportunity=opportunity,
            raw=raw,
            respondent_id=respondent.respondent_id,
            passthrough={k: v for k, v in parameters.items() if k not in GATEWAY_PARAMETERS},
            device=device_of(user_agent),
        )
        return admission, self._evaluate(admission, now)

    def _through_contexts(
        self, parameters: Mapping[str, str], now: datetime
    ) -> tuple[dict[str, str], str, Mapping[str, str]]:
        """The entry's fields with its contexts' items folded in, the opportunity context the
        chain ends at, and the contexts' items alone. A context's items override the link's
        parameters of the same name (INFERRED from §6.2's "parent overrides child": the link is
        the innermost child)."""
        ctx = parameters["ctx"]
        if ctx not in self.contexts:
            return dict(parameters), ctx, {}
        try:
            resolved = self.contexts.resolve(ctx, now)
        except ContextExpired as error:
            raise EntryContextExpired(str(error)) from error
        except ContextNotFound as error:
            raise UnknownContext(str(error)) from error
        except ContextLoop as error:
            raise EntryRefused(str(error)) from error
        if resolved.outside is None:
            raise UnknownContext(f"context {ctx!r} leads to no opportunity (no parent ctx)")
        return {**parameters, **resolved.items}, resolved.outside, resolved.items

    def _enter(
        self,
        fields: Mapping[str, str],
        country: str | None,
        opportunity_country: str,
        now: datetime,
    ) -> Respondent:
        """Create or update the respondent from an entry's fields, all checked first."""
        try:
            update = RespondentUpdate(
                respondent_id=read_respondent_id(fields["respondent_id"]),
                country=None if country is None else read_country(country.upper()),
                language=fields.get("language") or None,
                gender=read_gender(fields["gender"]) if "gender" in fields else None,
                birth_date=(
                    read_birth_date(fields["birth_date"], now.date())
                    if "birth_date" in fields
                    else None
                ),
                postal_code=fields.get("postal_code") or None,
                answers=_attributes(fields["attributes"]) if "attributes" in fields else {},
            )
        except RespondentInvalid as error:
            raise EntryRefused(f"entry link: {error}") from error
        respondent = self._respondent(update.respondent_id, now)
        respondent.apply(update)
        respondent.country = respondent.country or opportunity_country
        return respondent

    def _respondent(self, respondent_id: str, now: datetime) -> Respondent:
        respondent = self.respondents.get(respondent_id)
        if respondent is None:
            respondent = self.respondents[respondent_id] = Respondent(respondent_id, created=now)
        return respondent

    def _evaluate(self, admission: Admission, now: datetime, inside: bool = False) -> Verdict:
        opportunity = admission.opportunity
        respondent = self.respondents[admission.respondent_id]
        profile = respondent.profile(admission.device, opportunity.project_id if inside else None)
        collections = {
            cell.collection_id: values
            for cell in opportunity.cells.values()
            if cell.collection_id
            and (values := self.market.collection_values(cell.collection_id)) is not None
        }
        return evaluate(opportunity, profile, now, collections)

    def _prescreen(self, raw: Mapping[str, Any]) -> bool:
        """Dynata's prescreen of what targeting could not decide: passes with the incidence."""
        return self.rng.random() < _incidence(raw)

    def _keep(self, respondent_id: str) -> None:
        if self.keep is not None:
            self.keep(self.respondents[respondent_id].to_document())

    def _leave(self, admission: Admission, ending: Disposition, now: datetime) -> Visit:
        """Record the ending on the respondent and say where they go back to."""
        respondent = self.respondents[admission.respondent_id]
        opportunity = admission.opportunity
        if opportunity.project_id is not None and ending != DUPLICATE:
            respondent.entered_projects.add(opportunity.project_id)
            if ending.excludes:
                respondent.excluding_projects.add(opportunity.project_id)
                respondent.excluding_categories.update(opportunity.category_ids)
        self._keep(respondent.respondent_id)
        passthrough = dict(admission.passthrough)
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

    def _session(self, session_id: str, now: datetime, stage: Stage | None) -> Session:
        session = self.sessions.get(session_id)
        if session is None or now >= session.started + self.session_ttl:
            raise SessionNotFound(f"session {session_id!r} was not found or has ended")
        if stage is not None and session.stage is not stage:
            raise SessionStageMismatch(
                f"session {session_id!r} is at its {session.stage.value}, not its {stage.value}"
            )
        return session

    def _forget_stale_sessions(self, now: datetime) -> None:
        for session_id in [
            i for i, s in self.sessions.items() if now >= s.started + self.session_ttl
        ]:
            del self.sessions[session_id]

    def _drop_out(self, admission: Admission) -> Dropout:
        """The respondent entered the project and left it unfinished: a later entry into the
        project is a duplicate, as at REX, but nothing excludes them elsewhere."""
        project_id = admission.opportunity.project_id
        if project_id is not None:
            self.respondents[admission.respondent_id].entered_projects.add(project_id)
        self._keep(admission.respondent_id)
        return Dropout(admission.opportunity.id, admission.respondent_id)

    def _count(self, raw: Mapping[str, Any], fitted: tuple[str, ...], ending: SurveyEnding) -> None:
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


def _refusal(verdict: Verdict) -> Disposition | None:
    """The ending targeting decided at the door, if it refused the respondent."""
    reason = verdict.reason
    return None if reason is None else Disposition(reason.disposition, reason.status)


def _attributes(text: str) -> dict[int, tuple[str, ...]]:
    """The ``attributes`` entry parameter: URL-encoded JSON as in put-respondent (§6.3)."""
    try:
        items = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise EntryRefused('entry link: "attributes" is not JSON') from error
    return read_attributes(items)
