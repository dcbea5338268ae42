"""Opening a survey (the ``link`` Get Actions hands out) and leaving one.

Opening re-checks the survey at that moment — still indexed (so OPEN), the user still fits
its targeting and an open quota, not a project they entered before, no exclusion, nothing
left to answer that we could ask — then records the click and signs the exchange's entry link.
A survey that cannot open says why, for the app's termination URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlencode

from surveyrouter.domain.apps import App
from surveyrouter.domain.clicks import Click, LeaveReason, new_click_id
from surveyrouter.domain.client_context import ClientContext
from surveyrouter.domain.opportunity import Opportunity
from surveyrouter.domain.profile import Profile
from surveyrouter.domain.questions import Question
from surveyrouter.domain.restrictions import restriction_for
from surveyrouter.domain.targeting import Result, evaluate
from surveyrouter.services.actions import SurveyOffers
from surveyrouter.services.callers import Caller
from surveyrouter.services.user_state import UserState
from surveyrouter.store.clicks import add_click, leave_click, user_clicks
from surveyrouter.store.db import transaction
from surveyrouter.store.networks import Network
from surveyrouter.store.users import lock_user, mark_entered_survey

# The pass-through parameter the click id travels in, to the exchange and back (REX §6.3:
# a name of the partner's own, not one the gateway reads).
CLICK_PARAMETER = "sr_click"


class EntryLinks(Protocol):
    """A network's way in: the signed link that sends a respondent into an opportunity."""

    def entry_url(
        self,
        opportunity: Opportunity,
        respondent_id: str,
        profile: Profile,
        passthrough: Mapping[str, str],
        now: datetime,
    ) -> str: ...


class CannotOpen(Exception):
    """The survey cannot be opened now; ``reason`` is a short code for the termination URL."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class NoOpenVisit(LookupError):
    """Leaving a survey the user has no visit in progress for."""


@dataclass(frozen=True, slots=True)
class Opened:
    click: Click
    entry_url: str


# REX §6.5 families of the reference evaluator's reasons, as termination reasons.
_REASONS_BY_DISPOSITION = {3: "quota_full", 4: "excluded"}


@dataclass(frozen=True, slots=True)
class Checked:
    """A survey the user may open once ``missing`` (the questions we could still ask them,
    in asking order) is answered; ``known_qualified``: targeting is met outright."""

    network: Network
    links: EntryLinks
    opportunity: Opportunity
    state: UserState
    missing: tuple[Question, ...]
    known_qualified: bool


def check_survey(
    offers: SurveyOffers,
    entry_links: Mapping[str, EntryLinks],
    caller: Caller,
    context: ClientContext,
    network_api_id: int,
    survey_id: int,
    now: datetime,
) -> Checked:
    """Every check ``open_survey`` makes but the missing answers, which are returned: the v2
    click flow asks them. Raises ``CannotOpen`` with the reason."""
    restriction = restriction_for(caller.app, caller.user, context, now)
    if restriction is not None:
        raise CannotOpen("restricted", restriction.message)
    network = offers.networks_by_api_id.get(network_api_id)
    links = entry_links.get(network.id) if network is not None else None
    if network is None or links is None:
        raise CannotOpen("unknown_network", f"network {network_api_id} is not available")
    with offers.feed.lock:
        opportunity = offers.feed.opportunities.get((network.id, survey_id))
        collections = dict(offers.feed.collections)
    if opportunity is None:
        raise CannotOpen("survey_closed", f"survey {survey_id} is no longer open")
    state = offers.user_state(caller, context, now)
    entered = state.profile.participation.entered_projects
    if any(c.network_id == network.id and c.opportunity_id == survey_id for c in state.clicks) or (
        opportunity.project_id is not None and opportunity.project_id in entered
    ):
        raise CannotOpen("duplicate", "the user has already taken part in this survey")
    verdict = evaluate(opportunity, state.profile, now, collections)
    if verdict.result is Result.INELIGIBLE:
        family = verdict.reason.disposition if verdict.reason is not None else 2
        reason = _REASONS_BY_DISPOSITION.get(family, "not_qualified")
        raise CannotOpen(reason, f"the user cannot take survey {survey_id} ({reason})")
    missing: tuple[Question, ...] = ()
    if verdict.result is Result.UNKNOWN:
        missing = offers.askable_missing(verdict.missing_attributes, state, context.country)
    known = verdict.result is Result.ELIGIBLE
    return Checked(network, links, opportunity, state, missing, known)


def open_survey(
    offers: SurveyOffers,
    entry_links: Mapping[str, EntryLinks],
    caller: Caller,
    context: ClientContext,
    network_api_id: int,
    survey_id: int,
    now: datetime,
    *,
    tags: Mapping[str, str] | None = None,
) -> Opened:
    """Re-check the survey for this user, record the click and sign the entry link.
    ``tags`` are the v2 listing's custom tags, kept on the click for its callback.

    Raises ``CannotOpen`` with the reason; nothing is recorded then.
    """
    app, user = caller.app, caller.user
    checked = check_survey(offers, entry_links, caller, context, network_api_id, survey_id, now)
    if checked.missing:
        keys = ", ".join(question.key for question in checked.missing)
        raise CannotOpen("missing_answers", f"answer these questions first: {keys}")
    opportunity = checked.opportunity
    assert app.id is not None  # apps from the store have ids
    click = Click(
        id=new_click_id(),
        app_id=app.id,
        user_id=user.id,
        network_id=checked.network.id,
        opportunity_id=opportunity.id,
        exchange_cpi=opportunity.cpi,
        loi_minutes=opportunity.loi_minutes,
        created_at=now,
        project_id=opportunity.project_id,
        category_ids=opportunity.category_ids,
        tags=tags or {},
    )
    # Signed first: a link that cannot be made leaves no click behind.
    url = checked.links.entry_url(
        opportunity, user.respondent_id, checked.state.profile, {CLICK_PARAMETER: click.id}, now
    )
    with transaction(offers.sessions) as session:
        # One entry per survey and project even when requests race (a double tap, an SDK
        # polling its click): the user's row is locked and the history read again inside.
        lock_user(session, user.id)
        if any(_same_survey(earlier, click) for earlier in user_clicks(session, user.id)):
            raise CannotOpen("duplicate", "the user has already taken part in this survey")
        add_click(session, click)
        mark_entered_survey(session, user.id)
    return Opened(click, url)


def _same_survey(earlier: Click, click: Click) -> bool:
    if (earlier.network_id, earlier.opportunity_id) == (click.network_id, click.opportunity_id):
        return True
    return click.project_id is not None and earlier.project_id == click.project_id


def entry_link_again(
    offers: SurveyOffers,
    entry_links: Mapping[str, EntryLinks],
    caller: Caller,
    context: ClientContext,
    click: Click,
    now: datetime,
) -> str:
    """The entry link of a click already recorded, signed again (a v2 click asked for its
    redirect twice): the same click id, never a second click. Raises ``CannotOpen`` when the
    user is restricted now, the visit has ended, the survey has closed or its network is gone."""
    restriction = restriction_for(caller.app, caller.user, context, now)
    if restriction is not None:
        raise CannotOpen("restricted", restriction.message)
    if not click.status.is_open:
        raise CannotOpen("duplicate", "the user has already taken part in this survey")
    links = entry_links.get(click.network_id)
    with offers.feed.lock:
        opportunity = offers.feed.opportunities.get((click.network_id, click.opportunity_id))
    if links is None or opportunity is None:
        raise CannotOpen("survey_closed", f"survey {click.opportunity_id} is no longer open")
    state = offers.user_state(caller, context, now)
    return links.entry_url(
        opportunity, caller.user.respondent_id, state.profile, {CLICK_PARAMETER: click.id}, now
    )


def termination_url(app: App, fallback: str, parameters: Mapping[str, str]) -> str:
    """Where a user goes when a survey cannot be opened: the app's termination URL, else our
    own page (``fallback``), with ``parameters`` (the reason) added to its query."""
    target = app.redirects.termination or fallback
    separator = "&" if "?" in target else "?"
    return f"{target}{separator}{urlencode(parameters)}"


def leave_survey(
    offers: SurveyOffers,
    caller: Caller,
    network_api_id: int,
    survey_id: int,
    reason: LeaveReason,
    now: datetime,
) -> Click:
    """Record that the user left their visit to this survey (it counts as abandoned; an
    outcome the exchange sends later still ends it). A visit already left, or already ended
    by the exchange, is returned as it is: SDKs call this when the user closes the survey's
    window, which may be after the outcome, and a retry must not fail. Raises
    ``NoOpenVisit`` when the user never opened the survey."""
    network = offers.networks_by_api_id.get(network_api_id)
    if network is None:
        raise NoOpenVisit(f"network {network_api_id} is not available")
    with transaction(offers.sessions) as session:
        left = leave_click(session, caller.user.id, network.id, survey_id, reason, now)
        if left is not None:
            return left
        visits = [
            click
            for click in user_clicks(session, caller.user.id)
            if click.network_id == network.id and click.opportunity_id == survey_id
        ]
    if not visits:
        raise NoOpenVisit(f"the user has not opened survey {survey_id}")
    return visits[-1]
