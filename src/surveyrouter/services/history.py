"""A user's survey history (client API §2.7, ``GET /v1/client/user/history``): their visits,
one event per survey, newest first, with what each paid and whether it was taken back.

The events come from the user's clicks and the ledger entries written for them (a click's id
is its complete's or screenout's transaction id; a reversal names it as its ``reference``).
§2.7: "Events … are unique per survey so if a survey was completed, only the complete event
is returned"; a survey without a complete shows its newest visit. A visit becomes:

- OPEN: no outcome yet, and not abandoned;
- LEAVE: the user left, or the visit was abandoned (``Click.is_abandoned``);
- SCREENOUT: any ending but a complete (screenout, over-quota, duplicate, quality, error);
- COMPLETE: a complete.

§2.7: "Only non open events contain a duration. Only screenout and complete events contain a
user value": a screenout that paid nothing is worth 0. A visit abandoned because time ran out
has no duration either, since nobody knows when the user stopped.

Offers, Magic Receipts, cashback and promotions are demand the router does not have: those
filters are known and always empty.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.domain.apps import App
from surveyrouter.domain.categories import Category, CategoryCatalog
from surveyrouter.domain.clicks import Click, ClickStatus
from surveyrouter.domain.money import Reward, RewardKind
from surveyrouter.domain.users import User
from surveyrouter.services.rewards import as_the_app_shows
from surveyrouter.store.clicks import user_clicks
from surveyrouter.store.ledger import entries_for_transactions

# The newest this many surveys; BitLabs documents no paging, and a history screen shows
# recent activity, not an archive.
MAX_EVENTS = 100


class HistoryEventType(enum.Enum):
    OPEN = "OPEN"
    LEAVE = "LEAVE"
    SCREENOUT = "SCREENOUT"
    COMPLETE = "COMPLETE"


class HistoryFilter(enum.Enum):
    """§2.7 ``filter`` values, as BitLabs' reference lists them over its versions."""

    SURVEYS = "surveys"
    OFFERS = "offers"
    MAGIC_RECEIPTS = "magic_receipts"
    CASHBACK = "cashback"
    OTHERS = "others"
    PROMOTIONS = "promotions"


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One survey's entry. ``user_value`` is in app currency, rounded as the app shows it."""

    type: HistoryEventType
    click: Click
    category: Category
    network_name: str
    user_value: Decimal | None
    duration: timedelta | None
    reconciled: bool


def user_history(
    sessions: sessionmaker[Session],
    app: App,
    user: User,
    filters: Collection[HistoryFilter],
    language: str,
    network_names: Mapping[str, str],
    categories: CategoryCatalog,
    now: datetime,
    *,
    limit: int = MAX_EVENTS,
) -> tuple[HistoryEvent, ...]:
    """The user's newest ``limit`` survey events at ``now``; ``filters`` empty means every
    kind. Categories are named in ``language``; ``network_names`` maps our network ids to
    the names users see."""
    if filters and HistoryFilter.SURVEYS not in filters:
        return ()
    with sessions() as session:
        visits = survey_visits(user_clicks(session, user.id))[:limit]
        entries = entries_for_transactions(session, user.id, [visit.id for visit in visits])
    paid: dict[str, Reward] = {}
    reversed_: set[str] = set()
    for entry in entries:
        if entry.reward.kind is RewardKind.RECONCILIATION:
            if entry.reference is not None:
                reversed_.add(entry.reference)
        else:
            paid[entry.transaction_id] = as_the_app_shows(entry.reward, app)
    return tuple(
        _event(
            visit,
            now,
            categories.category_for(visit.category_ids, language),
            # A network no longer configured keeps its clicks; its id is the best name left.
            network_names.get(visit.network_id, visit.network_id),
            paid.get(visit.id),
            visit.id in reversed_,
        )
        for visit in visits
    )


def survey_visits(clicks: Iterable[Click]) -> list[Click]:
    """One click per survey (network and opportunity), newest first: the survey's complete
    if it has one, else its newest click."""
    chosen: dict[tuple[str, int], Click] = {}
    for click in clicks:
        key = (click.network_id, click.opportunity_id)
        held = chosen.get(key)
        if held is None or _shown_before(click, held):
            chosen[key] = click
    return sorted(chosen.values(), key=lambda click: (click.created_at, click.id), reverse=True)


def event_type(click: Click, now: datetime) -> HistoryEventType:
    if click.status is ClickStatus.COMPLETE:
        return HistoryEventType.COMPLETE
    if not click.status.is_open:
        return HistoryEventType.SCREENOUT
    if click.is_abandoned(now):
        return HistoryEventType.LEAVE
    return HistoryEventType.OPEN


def _event(
    click: Click,
    now: datetime,
    category: Category,
    network_name: str,
    reward: Reward | None,
    reconciled: bool,
) -> HistoryEvent:
    kind = event_type(click, now)
    value = None
    if kind in (HistoryEventType.SCREENOUT, HistoryEventType.COMPLETE):
        value = reward.value if reward is not None else Decimal(0)
    duration = _duration(click, kind)
    return HistoryEvent(kind, click, category, network_name, value, duration, reconciled)


def _duration(click: Click, kind: HistoryEventType) -> timedelta | None:
    if kind is HistoryEventType.OPEN:
        return None
    ended = click.left_at if click.status.is_open else click.ended_at
    return None if ended is None else max(ended - click.created_at, timedelta(0))


def _shown_before(click: Click, held: Click) -> bool:
    """Whether ``click`` stands for its survey rather than ``held``: a complete wins, then
    the newer visit."""
    complete = click.status is ClickStatus.COMPLETE
    if complete != (held.status is ClickStatus.COMPLETE):
        return complete
    return (click.created_at, click.id) > (held.created_at, held.id)
