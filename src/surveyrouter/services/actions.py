"""Get Actions (client API §2.3, the seed): the surveys a user can open, best first, and the
one profile question worth asking next.

The order of business follows the reference: a restricted user gets the reason and nothing
else; a user without the standard profile gets its next question and no surveys (§4: "the
first time … only qualifications to collect a core profile"); everyone else gets the matcher's
verdicts turned into ranked surveys — the ones they qualify for, the ones only the exchange's
own prescreen can decide, and the ones that wait for answers, with those questions named —
plus the question whose answer unlocks the most expected earnings.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.domain.apps import App
from surveyrouter.domain.categories import Category, CategoryCatalog
from surveyrouter.domain.client_context import ClientContext
from surveyrouter.domain.money import format_amount, publisher_cpi, user_value
from surveyrouter.domain.opportunity import Opportunity
from surveyrouter.domain.profile_answers import AttributeSource
from surveyrouter.domain.questions import Question, QuestionLibrary
from surveyrouter.domain.ranking import (
    Candidate,
    Estimate,
    ObservedOutcomes,
    QuestionCandidate,
    Tag,
    assign_test_group,
    choose_question,
    rank_columns,
    survey_tags,
)
from surveyrouter.domain.ranking import estimate as estimate_candidate
from surveyrouter.domain.restrictions import Restriction, restriction_for
from surveyrouter.domain.survey_links import ListingLinks
from surveyrouter.domain.targeting import fitted_quotas
from surveyrouter.services.callers import Caller
from surveyrouter.services.impression_counter import ImpressionCounter
from surveyrouter.services.index_feed import IndexFeed
from surveyrouter.services.rewards import start_bonus_paid
from surveyrouter.services.user_state import (
    LIBRARY_NETWORK_ID,
    AttributeSources,
    UserState,
    UserStates,
    load_user_state,
)
from surveyrouter.services.user_values import UserValues
from surveyrouter.stage_timing import stage
from surveyrouter.store.clicks import observed_outcomes
from surveyrouter.store.networks import Network

# How many surveys one response lists; the hosted wall shows ten (client API §5).
DEFAULT_MAX_SURVEYS = 50
# What happened to our users in an opportunity, for P(complete): the last month, re-read
# about once a minute rather than on every request.
OBSERVED_WINDOW = timedelta(days=30)
OBSERVED_REFRESH = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class AskedQuestion:
    """A question to show: the qualification, or a survey's next missing question."""

    network_id: int
    question: Question
    is_standard_profile: bool
    is_start_bonus: bool
    score: float
    sequence: int


@dataclass(frozen=True, slots=True)
class ListedSurvey:
    """One survey as Get Actions shows it. ``cpi`` is the publisher's USD, ``value`` the
    user's reward in app currency; ``missing_questions`` are in asking order."""

    opportunity: Opportunity
    network: Network
    cpi: Decimal
    value: Decimal
    remaining: int
    category: Category
    estimate: Estimate
    tags: tuple[Tag, ...]
    test_group_id: int
    link: str
    sequence: int
    missing_questions: tuple[Question, ...] = ()
    # The client API network the first missing question is answered on.
    next_missing_network_id: int = LIBRARY_NETWORK_ID


@dataclass(frozen=True, slots=True)
class ActionsResult:
    is_new_user: bool
    start_bonus: Decimal | None
    restriction: Restriction | None
    surveys: tuple[ListedSurvey, ...]
    qualification: AskedQuestion | None


@dataclass(frozen=True, slots=True)
class SurveyListing:
    """The v2 listing's part (client API §2.1): no standard-profile gate and no
    qualification; surveys waiting for answers are listed, their questions asked in the
    click flow. ``start_bonus`` is the unpaid start bonus's reward, if any."""

    restriction: Restriction | None
    start_bonus: Decimal | None
    surveys: tuple[ListedSurvey, ...]


@dataclass(frozen=True, slots=True)
class _Call:
    """What every survey listed by one call shares."""

    caller: Caller
    context: ClientContext
    state: UserState
    base_url: str  # without a trailing slash
    now: datetime
    links: ListingLinks
    test_group_id: int


@dataclass(frozen=True, slots=True)
class _Found:
    """One of the best-ranked opportunities; ``missing`` holds every attribute it still waits
    for (empty unless ``waiting``)."""

    opportunity: Opportunity
    estimate: Estimate
    waiting: bool
    missing: frozenset[int]
    # The quota objects the user is known to fit, read off the match (None: ask the reference).
    fitted_quotas: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class _Matched:
    """The best ``max_surveys`` in order, and per attribute the summed score of the surveys
    that wait for its answer alone (``ranking.unlock_value``)."""

    best: list[_Found]
    unlock: dict[int, float]


class SurveyOffers:
    """Get Actions and the survey check for one API process, over its matcher index."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        feed: IndexFeed,
        library: QuestionLibrary,
        categories: CategoryCatalog,
        networks: Sequence[Network],
        link_secret: Callable[[], bytes],
        clock: Callable[[], datetime],
        *,
        max_surveys: int = DEFAULT_MAX_SURVEYS,
        impressions: ImpressionCounter | None = None,
    ) -> None:
        """``impressions`` counts what the listings show (by default a counter of its own,
        which the caller must ``start`` and ``stop``, or ``flush``)."""
        self.sessions = sessions
        self.feed = feed
        self.library = library
        self.categories = categories
        self.networks = {network.id: network for network in networks}
        self.networks_by_api_id = {network.api_id: network for network in networks}
        self._read_link_secret = link_secret
        self._link_secret: bytes | None = None
        self.clock = clock
        self.max_surveys = max_surveys
        self.impressions = impressions or ImpressionCounter(sessions)
        self.sources = AttributeSources(sessions, library, networks, clock)
        self.states = UserStates()
        # Library order is asking order; network questions come after it (askable_missing).
        self._asking_order = {question.key: place for place, question in enumerate(library)}
        self._observed: Mapping[tuple[str, int], ObservedOutcomes] = {}
        self._observed_at: datetime | None = None
        self._observed_lock = threading.Lock()
        self._user_values = UserValues()

    @property
    def link_secret(self) -> bytes:
        """The secret survey links are signed with, read from the store on first use (an API
        process starts, and answers ``/healthz``, while the database is down)."""
        if self._link_secret is None:
            self._link_secret = self._read_link_secret()
        return self._link_secret

    # ---------------------------------------------------------------- entry points

    def actions(
        self, caller: Caller, context: ClientContext, base_url: str, now: datetime
    ) -> ActionsResult:
        """Everything ``GET /v1/client/actions`` answers for this caller; counts the surveys
        listed as impressions."""
        app, user = caller.app, caller.user
        with stage("profile"):
            restriction, state, bonus_open = self._start(caller, context, now)
        start_bonus = app.start_bonus_reward if bonus_open else None
        if restriction is not None:
            return ActionsResult(not user.entered_survey, start_bonus, restriction, (), None)
        in_bonus = bonus_open and state.bonus_progress < app.start_bonus_questions
        standard = self._pending_standard(state, context.country)
        if standard is not None:
            question = AskedQuestion(LIBRARY_NETWORK_ID, standard, True, in_bonus, 0.0, 1)
            return ActionsResult(not user.entered_survey, start_bonus, None, (), question)
        matched = self._match(state, app, now)
        with stage("listing"):
            shown = self._shown(matched, state, context)
            qualification_candidate = self._qualification(
                matched.unlock, state, context.country, in_bonus
            )
            surveys, qualification = self._sequence(
                shown,
                qualification_candidate,
                self._call(caller, context, state, base_url, now),
                in_bonus,
            )
        with stage("impressions"):
            self._count(app, surveys, now)
        return ActionsResult(not user.entered_survey, start_bonus, None, surveys, qualification)

    def listing(
        self,
        caller: Caller,
        context: ClientContext,
        base_url: str,
        now: datetime,
        *,
        excluded_networks: frozenset[str] = frozenset(),
    ) -> SurveyListing:
        """The ranked surveys the matcher leaves open to the user, outside the networks
        ``excluded_networks`` names (our ids), as ``GET /v2/client/surveys`` lists them;
        counts them as impressions. Unlike ``actions``, a user without the standard profile
        is not sent to it first."""
        app = caller.app
        with stage("profile"):
            restriction, state, bonus_open = self._start(caller, context, now)
        start_bonus = app.start_bonus_reward if bonus_open else None
        if restriction is not None:
            return SurveyListing(restriction, start_bonus, ())
        matched = self._match(state, app, now, excluded_networks)
        with stage("listing"):
            call = self._call(caller, context, state, base_url, now)
            surveys = tuple(
                self._listed(item, rated, missing, call, position)
                for position, (item, rated, missing) in enumerate(
                    self._shown(matched, state, context), start=1
                )
            )
        with stage("impressions"):
            self._count(app, surveys, now)
        return SurveyListing(None, start_bonus, surveys)

    def _start(
        self, caller: Caller, context: ClientContext, now: datetime
    ) -> tuple[Restriction | None, UserState, bool]:
        """What every listing reads first: the restriction, the user's state, and whether the
        app's start bonus is still to be earned."""
        restriction = restriction_for(caller.app, caller.user, context, now)
        has_bonus = caller.app.has_start_bonus
        with self.sessions() as session:
            # The ledger is asked only when there is a bonus to have been paid.
            bonus_open = has_bonus and not start_bonus_paid(session, caller.user.id)
            state = self._state(session, caller, context, now)
        return restriction, state, bonus_open

    def next_profile_question(self, state: UserState, country: str) -> Question | None:
        """The next library question the user has not answered or skipped: the standard
        profile first, then library order (what the start bonus asks)."""
        standard = self._pending_standard(state, country)
        if standard is not None:
            return standard
        for question in self.library.asked_in(country):
            if not state.has_answered(question):
                return question
        return None

    def survey_estimate(
        self, opportunity: Opportunity, app: App, known_qualified: bool, now: datetime
    ) -> Estimate:
        """What ranking expects of ``opportunity`` for the app's user (its rating), one at a
        time: for a survey shown outside a listing (a v2 click's details)."""
        cpi = user_value(publisher_cpi(opportunity.cpi, app.revenue_share), app.currency)
        observed = self._observed_outcomes(now).get(
            (opportunity.network, opportunity.id), ObservedOutcomes()
        )
        return estimate_candidate(
            Candidate(
                network=opportunity.network,
                id=opportunity.id,
                value=cpi,
                loi_minutes=float(opportunity.loi_minutes),
                incidence_rate=float(opportunity.incidence_rate),
                known_qualified=known_qualified,
                observed=observed,
            )
        )

    def has_surveys(self, caller: Caller, context: ClientContext, now: datetime) -> bool:
        """Whether Get Actions would list a survey the user can open now (``/check``)."""
        if restriction_for(caller.app, caller.user, context, now) is not None:
            return False
        with self.sessions() as session:
            state = self._state(session, caller, context, now)
        if self._pending_standard(state, context.country) is not None:
            return False
        with self.feed.lock:
            result = self.feed.matcher.match(state.profile, now)
            open_now = self._open_to(state, result.eligible | result.prescreened)
            if open_now.any():
                return True
            waiting = self._open_to(state, result.unknown & (result.single_missing >= 0))
            attributes = np.unique(result.single_missing[waiting]).tolist()
        # A survey waiting for one answer we cannot ask is left to the exchange's prescreen.
        return any(not self.askable_missing([a], state, context.country) for a in attributes)

    def user_state(self, caller: Caller, context: ClientContext, now: datetime) -> UserState:
        with self.sessions() as session:
            return self._state(session, caller, context, now)

    def askable_missing(
        self, missing_attributes: Iterable[int], state: UserState, country: str
    ) -> tuple[Question, ...]:
        """The questions the user could still answer for these attributes, in asking order
        (standard profile first, then library order); attributes no question asks, or whose
        question the user skipped, are left to the exchange's prescreen."""
        by_attribute = self.sources.by_attribute()
        questions = {
            source.question.key: source.question
            for attribute_id in missing_attributes
            if (source := by_attribute.get(attribute_id)) is not None
            and source.question.asked_in(country)
            and not state.has_answered(source.question)
        }
        order = self._asking_order
        return tuple(
            sorted(
                questions.values(),
                key=lambda q: (not q.standard, order.get(q.key, len(order)), q.key),
            )
        )

    # ---------------------------------------------------------------- steps

    def _state(
        self, session: Session, caller: Caller, context: ClientContext, now: datetime
    ) -> UserState:
        return load_user_state(
            session, caller.user, context, self.sources.current(), now, self.states
        )

    def _pending_standard(self, state: UserState, country: str) -> Question | None:
        for question in self.library.standard():
            if question.asked_in(country) and not state.has_answered(question):
                return question
        return None

    def _match(
        self,
        state: UserState,
        app: App | None,
        now: datetime,
        excluded_networks: frozenset[str] = frozenset(),
    ) -> _Matched:
        """Rank every opportunity the matcher leaves open for this profile (valued for
        ``app``, or at the exchange's CPI when no app is given), outside
        ``excluded_networks``, and keep the best.

        Thousands of opportunities can be open to one user; they are ranked as columns
        (``ranking.rank_columns``, the reference's numbers bit for bit) and only the best
        become objects. The feed lock is held while the matcher's arrays are read.
        """
        observed = self._observed_outcomes(now)
        with self.feed.lock:
            matcher = self.feed.matcher
            with stage("match"):
                result = matcher.match(state.profile, now)
            with stage("rank"):
                slots = np.flatnonzero(self._open_to(state, result.eligible | result.unknown))
                listing = matcher.listing(slots)
                if excluded_networks:
                    excluded = [i for i, n in enumerate(matcher.networks) if n in excluded_networks]
                    slots = slots[~np.isin(listing.network, excluded)]
                    listing = matcher.listing(slots)
                waiting = result.unknown[slots] & ~result.prescreened[slots]
                single = result.single_missing[slots]
                paid, qualified = self._observed_columns(observed, slots, matcher.slot_of)
                ranked = rank_columns(
                    value=self._values(listing.cpi_micros, app),
                    loi_minutes=listing.loi_minutes,
                    incidence_rate=listing.incidence_rate,
                    known_qualified=result.exact[slots],
                    paid=paid,
                    qualified=qualified,
                    network_order=_string_order(matcher.networks)[listing.network],
                    ids=listing.id,
                    limit=self.max_surveys,
                )
                best: list[_Found] = []
                for position in ranked.order.tolist():
                    slot = int(slots[position])
                    opportunity = self.feed.opportunities.get(matcher.key_of(slot))
                    if opportunity is None:
                        continue
                    missing: frozenset[int] = frozenset()
                    if waiting[position]:
                        missing = (
                            frozenset({int(single[position])})
                            if single[position] >= 0
                            else matcher.missing_attributes(result, slot)
                        )
                    estimate = ranked.estimate_at(position)
                    fitted = matcher.fitted_quotas(result, opportunity)
                    best.append(
                        _Found(opportunity, estimate, bool(waiting[position]), missing, fitted)
                    )
        return _Matched(best, unlock_by_attribute(ranked.score, waiting, single))

    def _open_to(self, state: UserState, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """``mask`` without the opportunities the user has entered (REX 4.1 allows one entry
        per user, and the matcher only knows entered projects, not unnamed ones) or hid."""
        matcher = self.feed.matcher
        entered = ((click.network_id, click.opportunity_id) for click in state.clicks)
        for network_id, opportunity_id in (*entered, *state.hidden):
            slot = matcher.slot_of(network_id, opportunity_id)
            if slot is not None:
                mask[slot] = False
        return mask

    def _values(
        self, cpi_micros: npt.NDArray[np.int64], app: App | None
    ) -> npt.NDArray[np.float64]:
        """What each CPI pays the user, as ranking reads it: the exact Decimal amount of
        ``money`` as a float, worked out once per CPI and app settings and kept (a market has
        a few thousand distinct CPIs at most)."""
        terms = None if app is None else (app.revenue_share, app.currency)
        return self._user_values.column(cpi_micros, terms)

    @staticmethod
    def _observed_columns(
        observed: Mapping[tuple[str, int], ObservedOutcomes],
        slots: npt.NDArray[np.intp],
        slot_of: Callable[[str, int], int | None],
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        paid = np.zeros(len(slots), dtype=np.int64)
        qualified = np.zeros(len(slots), dtype=np.int64)
        if observed and len(slots):
            position_of = {slot: position for position, slot in enumerate(slots.tolist())}
            for (network, opportunity_id), outcomes in observed.items():
                slot = slot_of(network, opportunity_id)
                position = None if slot is None else position_of.get(slot)
                if position is not None:
                    paid[position] = outcomes.paid
                    qualified[position] = outcomes.qualified
        return paid, qualified

    def _shown(
        self, matched: _Matched, state: UserState, context: ClientContext
    ) -> list[tuple[_Found, Estimate, tuple[Question, ...]]]:
        """The ranked surveys, each with the questions it still waits for."""
        return [
            (
                item,
                item.estimate,
                self.askable_missing(item.missing, state, context.country) if item.waiting else (),
            )
            for item in matched.best
        ]

    def _qualification(
        self, unlock: Mapping[int, float], state: UserState, country: str, in_bonus: bool
    ) -> tuple[Question, float] | None:
        """The question whose answer alone opens the most expected earnings; during the start
        bonus, the next library question when none opens anything (the bonus needs answers)."""
        by_attribute = self.sources.by_attribute()
        unlocked: dict[str, float] = {}
        questions: dict[str, Question] = {}
        for attribute_id, value in unlock.items():
            source: AttributeSource | None = by_attribute.get(attribute_id)
            if source is None:
                continue
            question = source.question
            if not question.asked_in(country) or state.has_answered(question):
                continue
            # One question may answer several attributes (two networks map it): it unlocks all.
            unlocked[question.key] = unlocked.get(question.key, 0.0) + value
            questions[question.key] = question
        # Library and network questions may share numeric ids: candidates are numbered here.
        keys = sorted(questions)
        chosen = choose_question(
            QuestionCandidate(number, questions[key].standard, unlocked[key])
            for number, key in enumerate(keys, start=1)
        )
        if chosen is not None:
            return questions[keys[chosen.question_id - 1]], chosen.unlock_value
        following = self.next_profile_question(state, country) if in_bonus else None
        return None if following is None else (following, 0.0)

    def _sequence(
        self,
        shown: list[tuple[_Found, Estimate, tuple[Question, ...]]],
        qualification: tuple[Question, float] | None,
        call: _Call,
        in_bonus: bool,
    ) -> tuple[tuple[ListedSurvey, ...], AskedQuestion | None]:
        """Surveys and the qualification numbered in one order, by score (the question's is
        what it unlocks, on the same per-minute scale); the question first on a tie."""
        position = 0
        asked: AskedQuestion | None = None
        surveys: list[ListedSurvey] = []
        pending = qualification
        for item, survey_estimate, missing in shown:
            if pending is not None and pending[1] >= survey_estimate.score:
                position += 1
                asked = self._asked(pending, position, in_bonus)
                pending = None
            position += 1
            surveys.append(self._listed(item, survey_estimate, missing, call, position))
        if pending is not None:
            asked = self._asked(pending, position + 1, in_bonus)
        return tuple(surveys), asked

    def _asked(
        self, qualification: tuple[Question, float], sequence: int, in_bonus: bool
    ) -> AskedQuestion:
        question, score = qualification
        network_id = self.sources.network_of(question.key)
        return AskedQuestion(network_id, question, question.standard, in_bonus, score, sequence)

    def _listed(
        self,
        item: _Found,
        survey_estimate: Estimate,
        missing: tuple[Question, ...],
        call: _Call,
        sequence: int,
    ) -> ListedSurvey:
        app = call.caller.app
        opportunity = item.opportunity
        network = self.networks[opportunity.network]
        cpi = publisher_cpi(opportunity.cpi, app.revenue_share)
        # BitLabs' open links also carry what was shown; only the signed part is trusted.
        shown = {
            "rating": str(survey_estimate.rating),
            "cr": f"{survey_estimate.conversion:.4f}",
            "loi": str(opportunity.loi_minutes),
            "cpi": format_amount(cpi),
        }
        query = call.links.query(network.api_id, opportunity.id, shown)
        path = f"/v1/client/networks/{network.api_id}/surveys/{opportunity.id}/open"
        invite_targeted = any(cell.is_invite for cell in opportunity.cells.values())
        return ListedSurvey(
            opportunity=opportunity,
            network=network,
            cpi=cpi,
            value=user_value(cpi, app.currency),
            remaining=self._remaining(opportunity, item.fitted_quotas, call.state, call.now),
            category=self.categories.category_for(opportunity.category_ids, call.context.language),
            estimate=survey_estimate,
            tags=survey_tags(opportunity.requirements, invite_targeted=invite_targeted),
            test_group_id=call.test_group_id,
            link=f"{call.base_url}{path}?{query}",
            sequence=sequence,
            missing_questions=missing,
            next_missing_network_id=(
                self.sources.network_of(missing[0].key) if missing else LIBRARY_NETWORK_ID
            ),
        )

    def _call(
        self,
        caller: Caller,
        context: ClientContext,
        state: UserState,
        base_url: str,
        now: datetime,
    ) -> _Call:
        app, uid = caller.app, caller.user.uid
        assert app.id is not None  # apps from the store have ids
        return _Call(
            caller=caller,
            context=context,
            state=state,
            base_url=base_url.rstrip("/"),
            now=now,
            links=ListingLinks(self.link_secret, app.id, uid, now),
            test_group_id=assign_test_group(app.id, uid, app.ranking_variants),
        )

    def _remaining(
        self,
        opportunity: Opportunity,
        fitted_ids: tuple[str, ...] | None,
        state: UserState,
        now: datetime,
    ) -> int:
        """The smallest count among the quota objects the user fits; with none fitted, the
        completes the opportunity asks for in all (REX §3.1). ``fitted_ids`` come from the
        match when it could tell, else from the reference evaluator."""
        if fitted_ids is None:
            fitted_ids = fitted_quotas(opportunity, state.profile, now, self.feed.collections)
        counts = {quota.id: quota.count for group in opportunity.quotas for quota in group}
        fitted = [counts[quota_id] for quota_id in fitted_ids if quota_id in counts]
        if fitted:
            return max(min(fitted), 0)
        return max(opportunity.completes or 0, 0)

    def _count(self, app: App, surveys: Sequence[ListedSurvey], now: datetime) -> None:
        if not surveys or app.id is None:
            return
        self.impressions.add(app.id, Counter(survey.network.id for survey in surveys), now)

    def _observed_outcomes(self, now: datetime) -> Mapping[tuple[str, int], ObservedOutcomes]:
        with self._observed_lock:
            if self._observed_at is None or now - self._observed_at >= OBSERVED_REFRESH:
                with self.sessions() as session:
                    self._observed = observed_outcomes(session, now - OBSERVED_WINDOW, now)
                self._observed_at = now
            return self._observed


def _string_order(names: Sequence[str]) -> npt.NDArray[np.int64]:
    """Each name's place when the names are sorted, by its index in ``names``."""
    order = np.zeros(len(names), dtype=np.int64)
    for place, index in enumerate(sorted(range(len(names)), key=lambda i: names[i])):
        order[index] = place
    return order


def unlock_by_attribute(
    scores: npt.NDArray[np.float64],
    waiting: npt.NDArray[np.bool_],
    single: npt.NDArray[np.int64],
) -> dict[int, float]:
    """``ranking.unlock_value`` per attribute, over the surveys that wait for it alone (none
    of them known to qualify, so their scores are the ones it wants)."""
    alone = waiting & (single >= 0)
    if not alone.any():
        return {}
    attributes, scores_alone = single[alone], scores[alone]
    order = np.argsort(attributes, kind="stable")
    attributes, scores_alone = attributes[order], scores_alone[order]
    distinct, starts = np.unique(attributes, return_index=True)
    ends = [*starts.tolist()[1:], len(attributes)]
    return {
        int(attribute): math.fsum(scores_alone[start:end].tolist())
        for attribute, start, end in zip(distinct.tolist(), starts.tolist(), ends, strict=True)
    }
