"""Traffic for the operator's dashboard: the funnel (impressions, clicks and how they ended)
and the money (what the exchanges pay, what publishers and their users are paid) over a
period of whole UTC days, per day, per network and per app.

The database adds up per (UTC day, app, network) in a handful of aggregate queries; the
slices the dashboard shows are summed from those cells here, so every total is the sum of its
rows. Which day a number belongs to:

- impressions: the UTC hour they were counted in;
- clicks and their endings (the funnel): the click's ``created_at``, and an open click is
  abandoned as of ``now`` (``store.clicks.past_abandon_at``);
- revenue: the complete's ``ended_at``; a reversed complete is taken back on the day of its
  RECONCILIATION entry, so revenue lines up with the ledger;
- payouts: the ledger entry's ``created_at``. An entry belongs to the network of the click it
  pays for (a complete's or screenout's transaction id, a reversal's reference); a start bonus
  pays for no click and has no network.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal_column, not_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from surveyrouter.domain.clicks import ClickStatus
from surveyrouter.domain.money import RewardKind

# One shared definition of "abandoned at now" with the ranking's counts (store/clicks.py).
from surveyrouter.store.clicks import past_abandon_at
from surveyrouter.store.schema import ClickRow, ImpressionRow, LedgerEntryRow

# The longest period one page adds up: a year, leap day included.
MAX_DAYS = 366
ZERO = Decimal("0.00")
_PERCENT = Decimal("0.1")
_OTHER_ENDINGS = (ClickStatus.DUPLICATE.value, ClickStatus.QUALITY.value, ClickStatus.ERROR.value)


class PeriodInvalid(ValueError):
    """The period is empty (end before start) or longer than ``MAX_DAYS``."""


@dataclass(frozen=True, slots=True)
class TrafficQuery:
    """Whole UTC days from ``start`` to ``end``, both included; None: every app / network."""

    start: date
    end: date
    app_id: int | None = None
    network_id: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise PeriodInvalid(f"the end ({self.end}) is before the start ({self.start})")
        if len(self) > MAX_DAYS:
            raise PeriodInvalid(f"a period is at most {MAX_DAYS} days, not {len(self)}")
        if self.end == date.max:
            raise PeriodInvalid("the period must end before the last day of the calendar")

    def __len__(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> datetime:
        """The first instant of the period (UTC midnight starting ``start``)."""
        return datetime.combine(self.start, time(), UTC)

    @property
    def end_at(self) -> datetime:
        """The first instant after the period (UTC midnight ending ``end``)."""
        return datetime.combine(self.end + timedelta(days=1), time(), UTC)

    def days(self) -> Iterator[date]:
        for offset in range(len(self)):
            yield self.start + timedelta(days=offset)


def rate(part: int, whole: int) -> Decimal | None:
    """``part`` as a percentage of ``whole``, to 0.1 (half up); None when ``whole`` is 0."""
    if whole <= 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(_PERCENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Funnel:
    """Surveys shown, clicks made, and how those clicks stand now. ``clicks`` is the sum of
    the six endings: ``abandoned`` is a LEFT click or a STARTED one past its abandon time;
    ``others`` a duplicate, quality or error ending; ``open`` a STARTED click within it."""

    impressions: int = 0
    clicks: int = 0
    completes: int = 0
    screenouts: int = 0
    overquotas: int = 0
    abandoned: int = 0
    others: int = 0
    open: int = 0

    def __add__(self, other: Funnel) -> Funnel:
        return Funnel(
            impressions=self.impressions + other.impressions,
            clicks=self.clicks + other.clicks,
            completes=self.completes + other.completes,
            screenouts=self.screenouts + other.screenouts,
            overquotas=self.overquotas + other.overquotas,
            abandoned=self.abandoned + other.abandoned,
            others=self.others + other.others,
            open=self.open + other.open,
        )

    @property
    def click_rate(self) -> Decimal | None:
        """Clicks per 100 impressions."""
        return rate(self.clicks, self.impressions)

    @property
    def completion_rate(self) -> Decimal | None:
        """Completes per 100 clicks."""
        return rate(self.completes, self.clicks)


@dataclass(frozen=True, slots=True)
class Takings:
    """The money, in USD unless said otherwise.

    ``revenue`` is the exchange CPI of the completes (as it was when the user clicked);
    ``reversed_revenue`` that of the completes reversed since. ``payout`` is the ledger's
    ``usd`` (the publisher's earnings) per reward kind, a reversal's negative. ``user_payout``
    is the ledger's ``value``, in the app's own currency: only meaningful within one app.
    """

    revenue: Decimal = ZERO
    reversed_revenue: Decimal = ZERO
    payout: dict[RewardKind, Decimal] = field(default_factory=dict)
    user_payout: Decimal = ZERO

    def __add__(self, other: Takings) -> Takings:
        payout = dict(self.payout)
        for kind, usd in other.payout.items():
            payout[kind] = payout.get(kind, ZERO) + usd
        return Takings(
            revenue=self.revenue + other.revenue,
            reversed_revenue=self.reversed_revenue + other.reversed_revenue,
            payout=payout,
            user_payout=self.user_payout + other.user_payout,
        )

    @property
    def net_revenue(self) -> Decimal:
        return self.revenue - self.reversed_revenue

    @property
    def publisher_payout(self) -> Decimal:
        """Every entry's ``usd``: rewards, less reversals."""
        return sum(self.payout.values(), ZERO)

    def payout_of(self, kind: RewardKind) -> Decimal:
        return self.payout.get(kind, ZERO)


@dataclass(frozen=True, slots=True)
class Traffic:
    funnel: Funnel = field(default_factory=Funnel)
    takings: Takings = field(default_factory=Takings)

    def __add__(self, other: Traffic) -> Traffic:
        return Traffic(self.funnel + other.funnel, self.takings + other.takings)

    @property
    def empty(self) -> bool:
        return self == Traffic()


@dataclass(frozen=True, slots=True)
class TrafficReport:
    """``days``: every day of the period, oldest first, quiet days included. ``networks``
    and ``apps``: only those with something in the period, by id; the network None holds
    the ledger entries of no click (start bonuses)."""

    query: TrafficQuery
    total: Traffic
    days: list[tuple[date, Traffic]]
    networks: list[tuple[str | None, Traffic]]
    apps: list[tuple[int, Traffic]]


_Key = tuple[date, int, str | None]


def traffic_report(session: Session, query: TrafficQuery, now: datetime) -> TrafficReport:
    """The period's traffic under ``query``'s filters; open clicks are judged at ``now``."""
    dialect = session.get_bind().dialect.name
    cells: defaultdict[_Key, Traffic] = defaultdict(Traffic)
    for key, traffic in _cells(session, dialect, query, now):
        cells[key] = cells[key] + traffic
    return summarize(query, cells.items())


def summarize(query: TrafficQuery, cells: Iterable[tuple[_Key, Traffic]]) -> TrafficReport:
    """The report's slices of (day, app, network) cells."""
    total = Traffic()
    days: dict[date, Traffic] = dict.fromkeys(query.days(), Traffic())
    networks: defaultdict[str | None, Traffic] = defaultdict(Traffic)
    apps: defaultdict[int, Traffic] = defaultdict(Traffic)
    for (day, app_id, network_id), traffic in cells:
        total = total + traffic
        if day in days:
            days[day] = days[day] + traffic
        networks[network_id] = networks[network_id] + traffic
        apps[app_id] = apps[app_id] + traffic
    return TrafficReport(
        query=query,
        total=total,
        days=list(days.items()),
        networks=sorted(
            ((key, value) for key, value in networks.items() if not value.empty),
            key=lambda item: (item[0] is None, item[0] or ""),
        ),
        apps=sorted((key, value) for key, value in apps.items() if not value.empty),
    )


def _cells(
    session: Session, dialect: str, query: TrafficQuery, now: datetime
) -> Iterator[tuple[_Key, Traffic]]:
    for day, app_id, network_id, count in session.execute(_impressions(dialect, query)):
        yield _key(day, app_id, network_id), Traffic(Funnel(impressions=int(count)))
    for day, app_id, network_id, *counts in session.execute(_clicks(dialect, query, now)):
        clicks, completes, screenouts, overquotas, abandoned, others, running = map(int, counts)
        funnel = Funnel(0, clicks, completes, screenouts, overquotas, abandoned, others, running)
        yield _key(day, app_id, network_id), Traffic(funnel)
    for day, app_id, network_id, revenue in session.execute(_revenue(dialect, query)):
        yield _key(day, app_id, network_id), Traffic(takings=Takings(revenue=revenue))
    for day, app_id, network_id, reversed_ in session.execute(_reversed(dialect, query)):
        yield _key(day, app_id, network_id), Traffic(takings=Takings(reversed_revenue=reversed_))
    for day, app_id, network_id, kind, usd, value in session.execute(_ledger(dialect, query)):
        takings = Takings(payout={RewardKind(kind): usd}, user_payout=value)
        yield _key(day, app_id, network_id), Traffic(takings=takings)


def _key(day: date | str, app_id: int, network_id: str | None) -> _Key:
    # SQLite's date() is text; PostgreSQL's a date.
    return (date.fromisoformat(day) if isinstance(day, str) else day), int(app_id), network_id


def _utc_day(dialect: str, column: InstrumentedAttribute[Any]) -> ColumnElement[Any]:
    """The UTC date of a ``UtcDateTime`` column. SQLite holds UTC text, whose date() it is;
    PostgreSQL converts from the session's zone. No bound parameters: the expression is
    grouped by, and PostgreSQL matches the select's and the group's by their text."""
    if dialect == "sqlite":
        return func.date(column)
    return func.date(func.timezone(literal_column("'UTC'"), column))


def _within(column: InstrumentedAttribute[Any], query: TrafficQuery) -> ColumnElement[bool]:
    return and_(column >= query.start_at, column < query.end_at)


def _filtered(
    statement: Select[Any],
    query: TrafficQuery,
    app_id: InstrumentedAttribute[int],
    network_id: InstrumentedAttribute[str],
) -> Select[Any]:
    if query.app_id is not None:
        statement = statement.where(app_id == query.app_id)
    if query.network_id is not None:
        statement = statement.where(network_id == query.network_id)
    return statement


def _impressions(dialect: str, query: TrafficQuery) -> Select[Any]:
    day = _utc_day(dialect, ImpressionRow.hour)
    statement = (
        select(day, ImpressionRow.app_id, ImpressionRow.network_id, func.sum(ImpressionRow.count))
        .where(_within(ImpressionRow.hour, query))
        .group_by(day, ImpressionRow.app_id, ImpressionRow.network_id)
    )
    return _filtered(statement, query, ImpressionRow.app_id, ImpressionRow.network_id)


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def _clicks(dialect: str, query: TrafficQuery, now: datetime) -> Select[Any]:
    status = ClickRow.status
    started = status == ClickStatus.STARTED.value
    day = _utc_day(dialect, ClickRow.created_at)
    statement = (
        select(
            day,
            ClickRow.app_id,
            ClickRow.network_id,
            func.count(),
            _count(status == ClickStatus.COMPLETE.value),
            _count(status == ClickStatus.SCREENOUT.value),
            _count(status == ClickStatus.OVERQUOTA.value),
            _count(
                or_(
                    status == ClickStatus.LEFT.value,
                    and_(started, past_abandon_at(dialect, now)),
                )
            ),
            _count(status.in_(_OTHER_ENDINGS)),
            _count(and_(started, not_(past_abandon_at(dialect, now)))),
        )
        .where(_within(ClickRow.created_at, query))
        .group_by(day, ClickRow.app_id, ClickRow.network_id)
    )
    return _filtered(statement, query, ClickRow.app_id, ClickRow.network_id)


def _revenue(dialect: str, query: TrafficQuery) -> Select[Any]:
    day = _utc_day(dialect, ClickRow.ended_at)
    statement = (
        select(day, ClickRow.app_id, ClickRow.network_id, func.sum(ClickRow.exchange_cpi))
        .where(
            ClickRow.status == ClickStatus.COMPLETE.value,
            _within(ClickRow.ended_at, query),
        )
        .group_by(day, ClickRow.app_id, ClickRow.network_id)
    )
    return _filtered(statement, query, ClickRow.app_id, ClickRow.network_id)


def _reversed(dialect: str, query: TrafficQuery) -> Select[Any]:
    """The CPI of the completes whose reversal was written in the period (a reversal's
    reference is the complete's transaction id, which is its click's id)."""
    day = _utc_day(dialect, LedgerEntryRow.created_at)
    statement = (
        select(day, ClickRow.app_id, ClickRow.network_id, func.sum(ClickRow.exchange_cpi))
        .join_from(LedgerEntryRow, ClickRow, ClickRow.id == LedgerEntryRow.reference)
        .where(
            LedgerEntryRow.kind == RewardKind.RECONCILIATION.value,
            _within(LedgerEntryRow.created_at, query),
        )
        .group_by(day, ClickRow.app_id, ClickRow.network_id)
    )
    return _filtered(statement, query, ClickRow.app_id, ClickRow.network_id)


def _ledger(dialect: str, query: TrafficQuery) -> Select[Any]:
    """The ledger's sums per kind, with the network of the click each entry pays for."""
    day = _utc_day(dialect, LedgerEntryRow.created_at)
    paid_click = func.coalesce(LedgerEntryRow.reference, LedgerEntryRow.transaction_id)
    statement = (
        select(
            day,
            LedgerEntryRow.app_id,
            ClickRow.network_id,
            LedgerEntryRow.kind,
            func.sum(LedgerEntryRow.usd),
            func.sum(LedgerEntryRow.value),
        )
        .join_from(LedgerEntryRow, ClickRow, ClickRow.id == paid_click, isouter=True)
        .where(_within(LedgerEntryRow.created_at, query))
        .group_by(day, LedgerEntryRow.app_id, ClickRow.network_id, LedgerEntryRow.kind)
    )
    return _filtered(statement, query, LedgerEntryRow.app_id, ClickRow.network_id)
