"""Why a stored user can or cannot take stored opportunities, for the operator's dashboard.

The verdict is ``domain.targeting.evaluate``'s, exactly what ``surveyrouter explain`` prints,
for the profile Get Actions builds from the user's stored answers (``services.user_state``:
the same answers, the same attribute sources, the same visits) in the context the user's last
client call left on their row. The opportunity is the one the router holds: the exchange's
stored JSON parsed as the index feed parses it, with the stored status, which decides whether
it is routed (an opportunity the exchange stopped knowing is closed here while its last
payload still says OPEN).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from surveyrouter.domain.apps import App
from surveyrouter.domain.client_context import (
    ClientContext,
    ClientParameters,
    resolve_client_context,
)
from surveyrouter.domain.opportunity import (
    Cell,
    CellKind,
    ListOperator,
    Opportunity,
    OpportunityStatus,
)
from surveyrouter.domain.profile_answers import AttributeSource
from surveyrouter.domain.targeting import (
    CATEGORY_EXCLUSION,
    FILTER_DISQUALIFICATION,
    INCOMPATIBLE_COUNTRY,
    INCOMPATIBLE_DEVICE,
    INCOMPATIBLE_LANGUAGE,
    NOT_OPEN,
    PROJECT_EXCLUSION,
    QUOTA_CELL_NOT_OPEN,
    QUOTA_DISQUALIFICATION,
    Reason,
    Result,
    Verdict,
    evaluate,
)
from surveyrouter.domain.users import User
from surveyrouter.geo import load_country_languages
from surveyrouter.networks.rex.opportunities import parse_opportunity
from surveyrouter.services.user_state import UserState, load_user_state
from surveyrouter.store.apps import AppNotFound, get_app
from surveyrouter.store.collections import get_collections
from surveyrouter.store.opportunities import StoredOpportunity, raw_payloads
from surveyrouter.store.opportunity_browser import OpportunitySummary
from surveyrouter.store.users import find_user


class SubjectNotFound(LookupError):
    """No such app, or no such user of it."""


@dataclass(frozen=True, slots=True)
class Subject:
    """The user opportunities are explained for, and what targeting knows of them."""

    app: App
    user: User
    context: ClientContext
    state: UserState


def load_subject(
    session: Session,
    app_id: int,
    uid: str,
    sources: Sequence[AttributeSource],
    now: datetime,
) -> Subject:
    """The user ``uid`` of app ``app_id`` and their targeting profile as Get Actions would
    build it now; raises ``SubjectNotFound``."""
    try:
        app = get_app(session, app_id)
    except AppNotFound as error:
        raise SubjectNotFound(f"No app has id {app_id}.") from error
    user = find_user(session, app_id, uid)
    if user is None:
        raise SubjectNotFound(f"App {app_id} ({app.name}) has no user {uid!r}.")
    context = remembered_context(app, user)
    state = load_user_state(session, user, context, sources, now)
    return Subject(app=app, user=user, context=context, state=state)


def remembered_context(app: App, user: User) -> ClientContext:
    """The country, language and device the user's last client call resolved (the client API
    keeps them on the user's row); what the row lacks, the client API's own fallbacks give,
    as for a call that says nothing: the app's default country, its main language, desktop."""
    fallback = resolve_client_context(
        ClientParameters(),
        app=app,
        stored_country=user.country,
        country_languages=load_country_languages(),
        country_of_ip=lambda _ip: None,
    )
    return dataclasses.replace(
        fallback,
        language=user.language or fallback.language,
        device=user.device or fallback.device,
    )


@dataclass(frozen=True, slots=True)
class Explanation:
    """One opportunity's verdict for the subject. ``verdict`` is None when the stored payload
    no longer parses (``problem`` says why, and the router does not route it either).
    ``entered`` and ``hidden``: Get Actions leaves out what the user entered or hid, whatever
    the verdict. ``missing_questions`` name the questions behind ``missing_attributes``
    that some network's mapping asks (the others the exchange prescreens)."""

    network_id: str
    external_id: int
    verdict: Verdict | None
    problem: str | None = None
    entered: bool = False
    hidden: bool = False
    missing_questions: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """The verdict in a few words, with its reason."""
        if self.verdict is None:
            return f"Cannot be evaluated: {self.problem}"
        return verdict_summary(self.verdict, self.missing_questions)


def explain_listed(
    session: Session,
    subject: Subject,
    listed: Sequence[OpportunitySummary],
    sources: Sequence[AttributeSource],
    now: datetime,
) -> dict[tuple[str, int], Explanation]:
    """The verdict of each browsed opportunity, by (network, id)."""
    payloads = raw_payloads(session, [item.change_seq for item in listed])
    documents = []
    gone: dict[tuple[str, int], Explanation] = {}
    for item in listed:
        raw = payloads.get(item.change_seq)
        if raw is None:  # written again since the page was read
            gone[(item.network_id, item.external_id)] = Explanation(
                item.network_id,
                item.external_id,
                None,
                "it changed while the page was read: reload",
            )
            continue
        documents.append((item.network_id, item.external_id, item.status, raw))
    explained = _explain(session, subject, documents, sources, now)
    return {**explained, **gone}


def explain_stored(
    session: Session,
    subject: Subject,
    stored: StoredOpportunity,
    sources: Sequence[AttributeSource],
    now: datetime,
) -> Explanation:
    """The verdict of one stored opportunity."""
    key = (stored.network_id, stored.external_id)
    documents = [(stored.network_id, stored.external_id, stored.status, stored.raw)]
    return _explain(session, subject, documents, sources, now)[key]


def _explain(
    session: Session,
    subject: Subject,
    documents: Iterable[tuple[str, int, OpportunityStatus, Mapping[str, Any]]],
    sources: Sequence[AttributeSource],
    now: datetime,
) -> dict[tuple[str, int], Explanation]:
    parsed: list[Opportunity] = []
    found: dict[tuple[str, int], Explanation] = {}
    for network_id, external_id, status, raw in documents:
        opportunity = parse_stored(network_id, status, raw)
        if isinstance(opportunity, str):
            found[(network_id, external_id)] = Explanation(
                network_id, external_id, None, opportunity
            )
        else:
            parsed.append(opportunity)
    collections = _collections(session, parsed)
    questions = {source.attribute_id: source.question.key for source in sources}
    entered = {(click.network_id, click.opportunity_id) for click in subject.state.clicks}
    for opportunity in parsed:
        key = (opportunity.network, opportunity.id)
        verdict = evaluate(
            opportunity, subject.state.profile, now, collections.get(opportunity.network, {})
        )
        found[key] = Explanation(
            network_id=opportunity.network,
            external_id=opportunity.id,
            verdict=verdict,
            entered=key in entered,
            hidden=key in subject.state.hidden,
            missing_questions=tuple(
                sorted(
                    {
                        questions[attribute]
                        for attribute in verdict.missing_attributes
                        if attribute in questions
                    }
                )
            ),
        )
    return found


def parse_stored(
    network_id: str, status: OpportunityStatus, raw: Mapping[str, Any]
) -> Opportunity | str:
    """The stored payload as the index feed parses it, with the stored status; or why it
    does not parse."""
    try:
        opportunity = parse_opportunity(raw, network_id)
    except ValueError as error:
        return str(error) or type(error).__name__
    if opportunity.status is not status:
        opportunity = dataclasses.replace(opportunity, status=status)
    return opportunity


def _collections(
    session: Session, opportunities: Iterable[Opportunity]
) -> dict[str, dict[str, frozenset[str]]]:
    """The stored collections the opportunities' cells name, by network then id; one not
    stored yet is left out (its cells stay unknown, as in the index)."""
    wanted: dict[str, set[str]] = {}
    for opportunity in opportunities:
        for cell in opportunity.cells.values():
            if cell.kind is CellKind.COLLECTION and cell.collection_id:
                wanted.setdefault(opportunity.network, set()).add(cell.collection_id)
    return {
        network_id: {
            collection_id: frozenset(values)
            for collection_id, values in get_collections(session, network_id, ids).items()
        }
        for network_id, ids in wanted.items()
    }


# REX §6.5, as ``domain.targeting`` reports them. Duplicate respondent and project exclusion
# share one pair (4.1).
_REASONS: dict[Reason, str] = {
    NOT_OPEN: "not open",
    INCOMPATIBLE_COUNTRY: "another country",
    INCOMPATIBLE_LANGUAGE: "another language",
    INCOMPATIBLE_DEVICE: "another device",
    PROJECT_EXCLUSION: "already in this project, or excluded by an earlier one",
    CATEGORY_EXCLUSION: "excluded by an earlier survey's category",
    FILTER_DISQUALIFICATION: "a filter rules the user out",
    QUOTA_DISQUALIFICATION: "no open quota fits the user",
    QUOTA_CELL_NOT_OPEN: "the quota the user fits is closed or full",
}


def reason_text(reason: Reason) -> str:
    """A REX (disposition, status) reason in words, with its numbers."""
    words = _REASONS.get(reason, "disqualified")
    return f"{words} ({reason.disposition}.{reason.status})"


def verdict_summary(verdict: Verdict, missing_questions: Sequence[str] = ()) -> str:
    if verdict.result is Result.ELIGIBLE:
        if verdict.exact_match:
            return "Qualifies"
        return "Qualifies, unless the exchange's own prescreen rules the user out"
    if verdict.result is Result.INELIGIBLE:
        assert verdict.reason is not None  # an ineligible verdict always names its reason
        return f"Does not qualify: {reason_text(verdict.reason)}"
    count = len(verdict.missing_attributes)
    if count == 0:
        return "Might qualify: the router cannot tell yet (a collection not downloaded yet)"
    answers = "answer" if count == 1 else "answers"
    named = f" ({', '.join(missing_questions)})" if missing_questions else ""
    return f"Might qualify after {count} more {answers}{named}"


# ---------------------------------------------------------------- targeting, in words


@dataclass(frozen=True, slots=True)
class CellSummary:
    tag: str
    attribute_id: int
    question_key: str | None
    condition: str


@dataclass(frozen=True, slots=True)
class ObjectSummary:
    """A filter object, or a quota object (``count`` and ``status`` set): all its cells must
    hold."""

    id: str
    cells: tuple[CellSummary, ...]
    count: int | None = None
    status: OpportunityStatus | None = None


@dataclass(frozen=True, slots=True)
class TargetingSummary:
    """Every group must hold; in a group, any one object."""

    filters: tuple[tuple[ObjectSummary, ...], ...]
    quotas: tuple[tuple[ObjectSummary, ...], ...]


def summarize_targeting(
    opportunity: Opportunity, sources: Sequence[AttributeSource]
) -> TargetingSummary:
    questions = {source.attribute_id: source.question.key for source in sources}

    def cells(tags: tuple[str, ...]) -> tuple[CellSummary, ...]:
        return tuple(
            CellSummary(
                cell.tag, cell.attribute_id, questions.get(cell.attribute_id), describe_cell(cell)
            )
            for cell in opportunity.resolve(tags)
        )

    return TargetingSummary(
        filters=tuple(
            tuple(ObjectSummary(o.id, cells(o.cell_tags)) for o in group)
            for group in opportunity.filters
        ),
        quotas=tuple(
            tuple(ObjectSummary(o.id, cells(o.cell_tags), o.count, o.status) for o in group)
            for group in opportunity.quotas
        ),
    )


def describe_cell(cell: Cell) -> str:
    """What a cell asks of the respondent, in words."""
    joined = " and " if cell.operator is ListOperator.AND else " or "
    if cell.is_opaque:
        return "prescreened by the exchange"
    if cell.kind is CellKind.VALUE:
        text = f"is {cell.values[0]}" if cell.values else "is (no value)"
    elif cell.kind is CellKind.LIST:
        text = f"is {joined.join(cell.values)}" if cell.values else "is (empty list)"
    elif cell.kind is CellKind.RANGE:
        low = "" if cell.range_from is None else str(cell.range_from)
        high = "" if cell.range_to is None else str(cell.range_to)
        if low and high:
            text = f"is {low} to {high}"
        elif low:
            text = f"is at least {low}"
        elif high:
            text = f"is at most {high}"
        else:
            text = "is any number"
    elif cell.kind is CellKind.COLLECTION:
        text = f"is in collection {cell.collection_id}"
    elif cell.kind is CellKind.ANSWERED:
        text = "is answered"
    else:  # the invite kinds
        text = f"invited through collection {joined.join(cell.values)}"
    return f"not: {text}" if cell.negate else text
