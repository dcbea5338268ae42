"""The v2 click flow (client API §2.2): a click made from a listing's impression, then, one
call at a time, the survey's next missing question or the redirect the click ends in.

A survey click re-checks its survey on every step (``survey_entry.check_survey``): it asks
the questions the matcher still waits for and we can ask, one at a time; with none left it
opens the survey through ``survey_entry.open_survey`` — every v1 check, the click record, the
v2 listing's tags on it — and redirects to the exchange's entry link. A survey that can no
longer open redirects to the termination URL with the reason. A start-bonus click asks
library questions until the bonus is paid, then redirects to the app's start-bonus URL.
"""

from __future__ import annotations

import contextlib
import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from surveyrouter.domain.clicks import LeaveReason
from surveyrouter.domain.client_context import ClientContext
from surveyrouter.domain.impressions import ClickType, Impression
from surveyrouter.domain.questions import Question
from surveyrouter.domain.tags import NO_TAGS, Tags, merge_tags
from surveyrouter.domain.v2_clicks import V2Click, V2ClickState
from surveyrouter.services.actions import SurveyOffers
from surveyrouter.services.callers import Caller, known_caller
from surveyrouter.services.profile_answers import (
    QuestionNotSkippable,
    answer_question,
    skip_question,
)
from surveyrouter.services.rewards import start_bonus_paid
from surveyrouter.services.survey_entry import (
    CannotOpen,
    EntryLinks,
    NoOpenVisit,
    check_survey,
    entry_link_again,
    leave_survey,
    open_survey,
    termination_url,
)
from surveyrouter.services.v2_surveys import SurveyFacts, start_bonus_facts, survey_facts
from surveyrouter.store.clicks import get_click
from surveyrouter.store.db import transaction
from surveyrouter.store.v2_clicks import (
    add_v2_click,
    count_v2_answer,
    enter_v2_click,
    get_v2_click,
    set_v2_click_state,
)

MAX_CLICK_ID = 64


class V2ClickNotFound(LookupError):
    """No v2 click of this user has that id."""


class NothingToAsk(ValueError):
    """An answer or a skip sent while the click has no question open."""


class RedirectType(enum.Enum):
    """Where a click's redirect goes: into the survey, to the app's start-bonus page, or to
    its termination URL (BitLabs documents only ``termination``; the others are ours)."""

    SURVEY = "survey"
    START_BONUS = "start_bonus"
    TERMINATION = "termination"


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str
    type: RedirectType


@dataclass(frozen=True, slots=True)
class ClickStep:
    """A click as ``GET /v2/client/clicks/{id}`` shows it: the question to answer next, or
    the redirect (never both)."""

    click: V2Click
    question: Question | None
    redirect: Redirect | None
    answered: int
    required: int
    details: SurveyFacts


@dataclass(frozen=True, slots=True)
class ClickFlow:
    """The flow's collaborators; ``unavailable_url`` and ``start_bonus_url`` are our pages
    for an app without a termination or start-bonus URL."""

    offers: SurveyOffers
    entry_links: Mapping[str, EntryLinks]
    unavailable_url: str
    start_bonus_url: str

    def impression_caller(self, impression: Impression) -> Caller | None:
        """The app's user an impression was listed for, if both still exist."""
        return known_caller(self.offers.sessions, impression.app_id, impression.uid)

    def create(
        self, caller: Caller, impression: Impression, now: datetime, tags: Tags = NO_TAGS
    ) -> V2Click:
        """A new v2 click from the impression, carrying the listing's tags and the click's own
        ``tags`` (``merge_tags``: raises ``TagsInvalid``); clicking the same one twice is two
        clicks (the second survey click then ends as a duplicate)."""
        click_tags = merge_tags(impression.tags, tags)
        network_id = None
        if impression.network_api_id is not None:
            network = self.offers.networks_by_api_id.get(impression.network_api_id)
            network_id = None if network is None else network.id
        if impression.type is ClickType.SURVEY and network_id is None:
            raise CannotOpen("unknown_network", f"network {impression.network_api_id} is gone")
        click = V2Click(
            id=uuid.uuid4().hex,
            app_id=impression.app_id,
            user_id=caller.user.id,
            type=impression.type,
            network_id=network_id,
            opportunity_id=impression.opportunity_id,
            session_id=impression.session_id,
            created_at=now,
            updated_at=now,
            tags=click_tags,
        )
        with transaction(self.offers.sessions) as session:
            add_v2_click(session, click)
        return click

    def get(self, caller: Caller, click_id: str) -> V2Click:
        """The caller's click ``click_id``; another user's or app's is ``V2ClickNotFound``."""
        # Ids are hex; anything else is never sent to the database (PostgreSQL refuses NUL).
        if not (0 < len(click_id) <= MAX_CLICK_ID and click_id.isascii() and click_id.isalnum()):
            raise V2ClickNotFound(f"no click has id {click_id!r}")
        with self.offers.sessions() as session:
            click = get_v2_click(session, click_id)
        if click is None or (click.app_id, click.user_id) != (caller.app.id, caller.user.id):
            raise V2ClickNotFound(f"no click has id {click_id!r}")
        return click

    def step(
        self, caller: Caller, context: ClientContext, click: V2Click, now: datetime
    ) -> ClickStep:
        """Where the click stands now; opens the survey when nothing is left to ask."""
        if click.type is ClickType.START_BONUS:
            return self._start_bonus_step(caller, context, click, now)
        return self._survey_step(caller, context, click, now)

    def answer(
        self,
        caller: Caller,
        context: ClientContext,
        click: V2Click,
        values: list[str],
        now: datetime,
    ) -> ClickStep:
        """Answer the click's open question (``profile_answers.answer_question``: raises
        ``AnswerInvalid``), then the next step. ``NothingToAsk`` when none is open."""
        question = self._open_question(caller, context, click, now)
        answer_question(
            self.offers.sessions,
            question,
            caller.app,
            caller.user,
            values,
            now,
            ip_address=context.ip,
            # A start bonus listed with tags pays with them, as a survey's reward does.
            bonus_tags=click.tags if click.type is ClickType.START_BONUS else NO_TAGS,
        )
        with transaction(self.offers.sessions) as session:
            count_v2_answer(session, click.id, now)
        self.offers.states.forget(caller.user.id)
        return self.step(caller, context, self.get(caller, click.id), now)

    def skip(
        self, caller: Caller, context: ClientContext, click: V2Click, now: datetime
    ) -> ClickStep:
        """Skip the open question for good; ``QuestionNotSkippable`` for a standard one."""
        question = self._open_question(caller, context, click, now)
        if question.standard:
            raise QuestionNotSkippable(f"{question.key} is a standard profile question")
        skip_question(self.offers.sessions, question, caller.user, now)
        self.offers.states.forget(caller.user.id)
        return self.step(caller, context, click, now)

    def leave(
        self,
        caller: Caller,
        context: ClientContext,
        click: V2Click,
        reason: LeaveReason,
        now: datetime,
    ) -> ClickStep:
        """The user left the flow, or the survey once entered (its click counts as abandoned
        then, as in v1). A start bonus already paid stays done."""
        if click.state is not V2ClickState.DONE:
            with transaction(self.offers.sessions) as session:
                set_v2_click_state(session, click.id, V2ClickState.LEFT, now)
        if click.entered_click_id is not None and click.network_id is not None:
            network = self.offers.networks.get(click.network_id)
            if network is not None and click.opportunity_id is not None:
                # Left already, or ended by the exchange: leave_survey keeps it as it is.
                with contextlib.suppress(NoOpenVisit):
                    leave_survey(
                        self.offers, caller, network.api_id, click.opportunity_id, reason, now
                    )
                self.offers.states.forget(caller.user.id)
        return self.step(caller, context, self.get(caller, click.id), now)

    # ------------------------------------------------------------------ steps

    def _open_question(
        self, caller: Caller, context: ClientContext, click: V2Click, now: datetime
    ) -> Question:
        current = self.step(caller, context, click, now)
        if current.question is None:
            raise NothingToAsk("this click has no question to answer")
        return current.question

    def _survey_step(
        self, caller: Caller, context: ClientContext, click: V2Click, now: datetime
    ) -> ClickStep:
        # A survey click names its survey (V2Click.create).
        assert click.network_id is not None
        assert click.opportunity_id is not None
        network = self.offers.networks[click.network_id]
        with self.offers.feed.lock:
            opportunity = self.offers.feed.opportunities.get((network.id, click.opportunity_id))
        details = (
            survey_facts(self.offers, caller, network, opportunity, False, context.language, now)
            if opportunity is not None
            else self._closed_facts(context, network.api_id, click.opportunity_id)
        )
        answered = click.answered_count

        def ending(redirect: Redirect) -> ClickStep:
            return ClickStep(click, None, redirect, answered, answered, details)

        if click.state is V2ClickState.LEFT:
            return ending(self.termination(caller, click, "left"))
        if click.state is V2ClickState.ENTERED and click.entered_click_id is not None:
            with self.offers.sessions() as session:
                entered = get_click(session, click.entered_click_id)
            assert entered is not None  # clicks are never deleted
            try:
                url = entry_link_again(self.offers, self.entry_links, caller, context, entered, now)
            except CannotOpen as error:
                return ending(self.termination(caller, click, error.reason))
            return ending(Redirect(url, RedirectType.SURVEY))
        try:
            checked = check_survey(
                self.offers,
                self.entry_links,
                caller,
                context,
                network.api_id,
                click.opportunity_id,
                now,
            )
            if checked.missing:
                required = answered + len(checked.missing)
                return ClickStep(click, checked.missing[0], None, answered, required, details)
            opened = open_survey(
                self.offers,
                self.entry_links,
                caller,
                context,
                network.api_id,
                click.opportunity_id,
                now,
                tags=click.tags,
            )
        except CannotOpen as error:
            return ending(self.termination(caller, click, error.reason))
        with transaction(self.offers.sessions) as session:
            enter_v2_click(session, click.id, opened.click.id, now)
        return ending(Redirect(opened.entry_url, RedirectType.SURVEY))

    def _start_bonus_step(
        self, caller: Caller, context: ClientContext, click: V2Click, now: datetime
    ) -> ClickStep:
        app = caller.app
        details = start_bonus_facts(self.offers, caller, context)
        required = app.start_bonus_questions
        with self.offers.sessions() as session:
            paid = start_bonus_paid(session, caller.user.id)
        state = self.offers.user_state(caller, context, now)
        answered = min(state.bonus_progress, required)

        def ending(redirect: Redirect) -> ClickStep:
            return ClickStep(click, None, redirect, answered, required, details)

        if click.state is V2ClickState.LEFT:
            return ending(self.termination(caller, click, "left"))
        if paid:
            if click.state is not V2ClickState.DONE:
                with transaction(self.offers.sessions) as session:
                    set_v2_click_state(session, click.id, V2ClickState.DONE, now)
            target = app.redirects.start_bonus or self.start_bonus_url
            return ending(Redirect(target, RedirectType.START_BONUS))
        question = self.offers.next_profile_question(state, context.country)
        if question is None:
            return ending(self.termination(caller, click, "no_questions_left"))
        return ClickStep(click, question, None, answered, required, details)

    def termination(self, caller: Caller, click: V2Click, reason: str) -> Redirect:
        """The app's termination URL (else our page) with the reason and the click id."""
        parameters = {"reason": reason, "click_id": click.id}
        url = termination_url(caller.app, self.unavailable_url, parameters)
        return Redirect(url, RedirectType.TERMINATION)

    def _closed_facts(
        self, context: ClientContext, network_api_id: int, opportunity_id: int
    ) -> SurveyFacts:
        """A survey no longer indexed: its id, and nothing the index no longer knows."""
        return SurveyFacts(
            id=f"{network_api_id}-{opportunity_id}",
            type=ClickType.SURVEY,
            cpi=Decimal(0),
            value=Decimal(0),
            loi_minutes=Decimal(0),
            country=context.country,
            language=context.language,
            rating=1,
            category=self.offers.categories.category_for((), context.language),
        )
