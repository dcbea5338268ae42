"""The sandbox market over time: what a real exchange's registry does between two reads.

`MarketSimulation.tick(now)` applies the changes of the time elapsed since the previous tick;
every rate is per hour, so a tick a second later changes almost nothing and one an hour later
changes a lot. For each opportunity, in id order:

- **Field end.** An opportunity past `created` + `days_in_field` becomes CLOSED.
- **Pauses.** An OPEN opportunity pauses now and then (about 9 % a day) and a PAUSED one
  resumes after about 20 hours, so about 7 % are paused at any time, as in a fresh market.
  Lucid auto-pauses stagnant surveys (market.md §2); this stands in for that and for buyers.
- **Other suppliers' traffic.** An OPEN opportunity takes units (REX §5.4: completes, or every
  start when `evaluation` is STARTS) at its own pace: about its `completes` over its days in
  field, times a per-opportunity spread, so that some fill early and others never do. A unit
  decrements one OPEN object with count > 0 in every quota group (the objects of a group are
  the buckets of one dimension), chosen in proportion to what each still wants. An object at 0
  becomes CLOSED; an opportunity with a quota group that has no OPEN object with count > 0 left
  can take nobody, and becomes CLOSED.
- **New work.** Opportunities open to keep the OPEN count near `target_live`: each missing one
  is replaced at a rate of one per `refill_hours`. They are a `Continuation` batch of the
  market: drawn from a seed derived from the simulation's `random.Random`, sharing the market's
  collections, with opportunity, project and quota-group ids above every id seen, so no id is
  ever reused. They open with `created` and `notified` at the tick's moment.

CLOSED opportunities stay in the registry, CLOSED: the registry has no removal, and REX itself
announces an ending with a CLOSED notification, not by forgetting the id. The simulation never
reopens one.

Every change goes through `registry.change` (or `registry.seed` for new opportunities), so each
is versioned and notified again. The simulation knows the registry's opportunities from one
read at the start plus a `get` of each id it has not seen (a test or the gateway may seed
more); it learns an opportunity's later state only from the documents its own changes see.
With `frozen` set, a tick changes nothing, and the time it covers is not made up later.

Nothing here reads the system clock; `run` reads the injected one.
"""

from __future__ import annotations

import logging
import math
import random
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from surveyrouter.networks.rex.signing import format_expiration
from surveyrouter.sandbox.market import (
    DEFAULT_LIVE_BASE_URL,
    Continuation,
    Market,
    MarketShape,
    SyntheticAttribute,
    generate_market,
)

__all__ = ["EvolutionRates", "MarketSimulation", "Registry", "TickReport"]

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Document = dict[str, Any]

_DEFAULT_SHAPE = MarketShape()

# A Poisson draw above this mean uses the normal approximation (error well under a unit).
_POISSON_EXACT_LIMIT = 30.0


class Registry(Protocol):
    """The registry calls the simulation makes (`RegistryState` provides them)."""

    def seed(self, market: Market) -> None: ...

    def change(self, opportunity_id: int, mutate: Callable[[Document], None]) -> object: ...

    def opportunity_ids(self) -> list[int]: ...

    def get(self, opportunity_id: int) -> Document: ...

    def documents(self) -> list[Document]: ...


@dataclass(frozen=True, slots=True)
class EvolutionRates:
    """How fast the market moves; all rates are per hour."""

    pause_per_hour: float = 0.004  # an OPEN opportunity pausing: ~9 % a day
    resume_per_hour: float = 0.05  # a PAUSED one resuming: after ~20 h on average
    # Each missing live opportunity is replaced at a rate of one per this many hours.
    refill_hours: float = 2.0
    # The spread (sigma of the log) of an opportunity's pace around completes / days in field,
    # and its median: most fall a little behind, some fill in days.
    pace_sigma: float = 0.8
    pace_median: float = 0.8
    # STARTS opportunities count every start: about this share of entrants of an IR-100 survey
    # complete (market.md §3: drop-off, over-quota and quality take the rest), less at lower IR.
    start_conversion: float = 0.75

    def __post_init__(self) -> None:
        for name in ("pause_per_hour", "resume_per_hour", "pace_sigma"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        for name in ("refill_hours", "pace_median", "start_conversion"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")


@dataclass(frozen=True, slots=True)
class TickReport:
    """What one tick changed."""

    hours: float = 0.0  # the time it covered
    units: int = 0  # completes (or starts) other suppliers delivered
    closed_quotas: int = 0  # quota objects that reached 0
    filled: tuple[int, ...] = ()  # opportunities closed because a quota group ran out
    expired: tuple[int, ...] = ()  # opportunities closed at the end of their days in field
    paused: tuple[int, ...] = ()
    resumed: tuple[int, ...] = ()
    opened: tuple[int, ...] = ()  # new opportunities
    live: int = 0  # OPEN opportunities after the tick


@dataclass(slots=True)
class _Tracked:
    """What the simulation keeps of one opportunity it may still change."""

    status: str
    closes_at: datetime
    units_per_hour: float


@dataclass(slots=True)
class _Tally:
    units: int = 0
    closed_quotas: int = 0
    filled: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    paused: list[int] = field(default_factory=list)
    resumed: list[int] = field(default_factory=list)
    opened: list[int] = field(default_factory=list)


class MarketSimulation:
    """Changes a sandbox registry over time as a live exchange would (see the module docs).

    `market_seed`, `shape`, `attributes` and `live_base_url` must be the ones the registry's
    market was generated with, so that new opportunities name the same collections. The
    `rng` drives every draw: the same seed, registry and tick moments give the same changes.
    `target_live` defaults to the registry's OPEN count at the start.
    """

    def __init__(
        self,
        registry: Registry,
        rng: random.Random,
        clock: Clock,
        *,
        market_seed: int = 0,
        shape: MarketShape = _DEFAULT_SHAPE,
        attributes: Sequence[SyntheticAttribute] | None = None,
        live_base_url: str = DEFAULT_LIVE_BASE_URL,
        target_live: int | None = None,
        rates: EvolutionRates = EvolutionRates(),
        frozen: bool = False,
    ) -> None:
        if target_live is not None and target_live < 0:
            raise ValueError(f"target_live must not be negative, got {target_live}")
        self.registry = registry
        self.rng = rng
        self.clock = clock
        self.market_seed = market_seed
        self.shape = shape
        self.attributes = list(attributes) if attributes is not None else None
        self.live_base_url = live_base_url
        self.rates = rates
        # Test switch, off by default: ticks change nothing.
        self.frozen = frozen
        self._lock = threading.Lock()
        self._last = _utc(clock())
        self._tracked: dict[int, _Tracked] = {}
        self._known: set[int] = set()
        self._collections: set[str] = set()
        self._invite_collections: set[str] = set()
        self._max_id = 0
        self._max_project_id = 0
        self._max_group_id = 0
        self._learn(registry.documents())
        self.target_live = self.live() if target_live is None else target_live

    def live(self) -> int:
        """How many opportunities the simulation knows to be OPEN."""
        return sum(tracked.status == "OPEN" for tracked in self._tracked.values())

    def tick(self, now: datetime | None = None) -> TickReport:
        """Apply the changes of the time since the previous tick (or the start), up to `now`."""
        with self._lock:
            moment = _utc(self.clock() if now is None else now)
            hours = (moment - self._last).total_seconds() / 3600
            if hours <= 0:
                return TickReport(live=self.live())
            self._last = moment
            if self.frozen:
                return TickReport(hours=hours, live=self.live())
            self._learn_new()
            tally = _Tally()
            for opportunity_id in sorted(self._tracked):
                self._step(opportunity_id, moment, hours, tally)
            self._open(moment, hours, tally)
            return TickReport(
                hours=hours,
                units=tally.units,
                closed_quotas=tally.closed_quotas,
                filled=tuple(tally.filled),
                expired=tuple(tally.expired),
                paused=tuple(tally.paused),
                resumed=tuple(tally.resumed),
                opened=tuple(tally.opened),
                live=self.live(),
            )

    def run(self, stop: threading.Event, interval_seconds: float = 60.0) -> None:
        """Tick every `interval_seconds` until `stop` is set; a failed tick is logged, not fatal."""
        if not interval_seconds > 0:
            raise ValueError("interval_seconds must be positive")
        while not stop.wait(interval_seconds):
            try:
                report = self.tick()
            except Exception:
                logger.exception("sandbox market tick failed")
                continue
            if report.opened or report.filled or report.expired:
                logger.debug(
                    "sandbox market tick",
                    extra={
                        "fields": {
                            "units": report.units,
                            "opened": len(report.opened),
                            "filled": len(report.filled),
                            "expired": len(report.expired),
                            "live": report.live,
                        }
                    },
                )

    # --- one opportunity ------------------------------------------------------------------------

    def _step(self, opportunity_id: int, now: datetime, hours: float, tally: _Tally) -> None:
        tracked = self._tracked[opportunity_id]
        if tracked.status == "CLOSED":
            del self._tracked[opportunity_id]
            return
        if now >= tracked.closes_at:
            self._set_status(opportunity_id, "CLOSED")
            tally.expired.append(opportunity_id)
            return
        if tracked.status == "PAUSED":
            if self._happens(self.rates.resume_per_hour, hours):
                self._set_status(opportunity_id, "OPEN")
                tally.resumed.append(opportunity_id)
            return
        if tracked.status != "OPEN":
            return
        if self._happens(self.rates.pause_per_hour, hours):
            self._set_status(opportunity_id, "PAUSED")
            tally.paused.append(opportunity_id)
            return
        units = _poisson(self.rng, tracked.units_per_hour * hours)
        if units:
            self._fill(opportunity_id, units, tally)

    def _fill(self, opportunity_id: int, units: int, tally: _Tally) -> None:
        rng = self.rng
        seen: list[str] = []

        def take(document: Document) -> None:
            # Someone else (a test, an operator) may have paused or closed it meanwhile.
            if document.get("status") == "OPEN":
                applied, closed = _take_units(document, units, rng)
                tally.units += applied
                tally.closed_quotas += closed
                if _exhausted(document):
                    document["status"] = "CLOSED"
                    tally.filled.append(opportunity_id)
            seen.append(str(document.get("status")))

        if self._change(opportunity_id, take):
            self._tracked[opportunity_id].status = seen[-1]

    def _set_status(self, opportunity_id: int, status: str) -> None:
        def mutate(document: Document) -> None:
            document["status"] = status

        if self._change(opportunity_id, mutate):
            self._tracked[opportunity_id].status = status

    def _change(self, opportunity_id: int, mutate: Callable[[Document], None]) -> bool:
        """`registry.change`; an opportunity the registry no longer holds is forgotten."""
        try:
            self.registry.change(opportunity_id, mutate)
        except LookupError:
            del self._tracked[opportunity_id]
            return False
        return True

    def _happens(self, rate_per_hour: float, hours: float) -> bool:
        return self.rng.random() < -math.expm1(-rate_per_hour * hours)

    # --- new opportunities ---------------------------------------------------------------------

    def _open(self, now: datetime, hours: float, tally: _Tally) -> None:
        missing = self.target_live - self.live()
        if missing <= 0:
            return
        chance = -math.expm1(-hours / self.rates.refill_hours)
        count = sum(self.rng.random() < chance for _ in range(missing))
        if not count:
            return
        batch = generate_market(
            count,
            seed=self.market_seed,
            shape=self.shape,
            live_base_url=self.live_base_url,
            as_of=now,
            attributes=self.attributes,
            continuation=Continuation(
                seed=self.rng.getrandbits(64),
                first_id=self._max_id + 1,
                first_project_id=self._max_project_id + 1,
                first_group_id=self._max_group_id + 1,
            ),
        )
        stamp = format_expiration(now)
        for document in batch.opportunities:
            document["status"] = "OPEN"
            document["created"] = stamp
            document["notified"] = stamp
        # Collections the registry already holds are immutable (REX §4, INFERRED) and their
        # invites exist: only the ones no opportunity named before go in.
        market = Market(
            opportunities=batch.opportunities,
            collections={
                key: values
                for key, values in batch.collections.items()
                if key not in self._collections
            },
            attributes=batch.attributes,
            invite_collections={
                key: members
                for key, members in batch.invite_collections.items()
                if key not in self._invite_collections
            },
            postal_codes=batch.postal_codes,
            shape=batch.shape,
        )
        self.registry.seed(market)
        self._learn(batch.opportunities)
        tally.opened.extend(document["id"] for document in batch.opportunities)

    # --- what the simulation knows -------------------------------------------------------------

    def _learn_new(self) -> None:
        unseen = [i for i in self.registry.opportunity_ids() if i not in self._known]
        if unseen:
            self._learn(self.registry.get(i) for i in unseen)

    def _learn(self, documents: Iterable[Mapping[str, Any]]) -> None:
        for document in sorted(documents, key=lambda d: int(d["id"])):
            opportunity_id = int(document["id"])
            self._known.add(opportunity_id)
            self._max_id = max(self._max_id, opportunity_id)
            self._max_project_id = max(self._max_project_id, _integer(document.get("project_id")))
            self._max_group_id = max(self._max_group_id, _integer(document.get("group_id")))
            for cell in document.get("cells") or ():
                if cell.get("kind") == "COLLECTION":
                    self._collections.add(str(cell.get("collection")))
                self._invite_collections.update(
                    str(c) for c in cell.get("invite_collections") or ()
                )
            status = str(document.get("status", "CLOSED"))
            if status == "CLOSED":
                continue
            self._tracked[opportunity_id] = _Tracked(
                status=status,
                closes_at=_closes_at(document, self._last),
                units_per_hour=self._pace(document),
            )

    def _pace(self, document: Mapping[str, Any]) -> float:
        rates = self.rates
        spread = rates.pace_median * math.exp(rates.pace_sigma * self.rng.gauss(0.0, 1.0))
        completes = max(0, _integer(document.get("completes")))
        days = max(1, _integer(document.get("days_in_field")))
        per_hour = completes / (days * 24) * spread
        if document.get("evaluation") == "STARTS":
            incidence = min(100, max(1, _integer(document.get("incidence_rate"), 100)))
            per_hour /= rates.start_conversion * incidence / 100
        return per_hour


def _take_units(document: Document, units: int, rng: random.Random) -> tuple[int, int]:
    """Take up to `units` from every quota group at once (REX §5.4); returns how many were
    taken and how many quota objects closed. A group gives what its OPEN objects with count > 0
    still want, so the opportunity takes no more than its tightest group allows."""
    groups = [
        [quota for quota in group if _open_quota(quota)] for group in document.get("quotas") or ()
    ]
    taken = min([units, *(sum(quota["count"] for quota in group) for group in groups)])
    closed = 0
    if taken <= 0:
        return 0, 0
    for group in groups:
        for quota, share in zip(
            group, _allocate(taken, [q["count"] for q in group], rng), strict=True
        ):
            quota["count"] -= share
            if quota["count"] == 0:
                quota["status"] = "CLOSED"
                closed += 1
    return taken, closed


def _allocate(units: int, wants: list[int], rng: random.Random) -> list[int]:
    """`units` (at most `sum(wants)`) split across objects in proportion to what each wants."""
    total = sum(wants)
    shares = [units * want // total for want in wants]
    for _ in range(units - sum(shares)):
        spare = [want - share for want, share in zip(wants, shares, strict=True)]
        pick = rng.random() * sum(spare)
        for index, room in enumerate(spare):
            pick -= room
            if room and pick < 0:
                shares[index] += 1
                break
        else:
            shares[max(range(len(spare)), key=spare.__getitem__)] += 1
    return shares


def _open_quota(quota: Mapping[str, Any]) -> bool:
    # REX §5.2: an object takes respondents only while OPEN with count > 0.
    count = quota.get("count")
    return quota.get("status") == "OPEN" and isinstance(count, int) and count > 0


def _exhausted(document: Mapping[str, Any]) -> bool:
    """Whether some quota group has no object left that can take anyone."""
    return any(
        not any(_open_quota(quota) for quota in group) for group in document.get("quotas") or ()
    )


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > _POISSON_EXACT_LIMIT:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    # Knuth: count uniforms until their product drops below e^-mean.
    limit = math.exp(-mean)
    count = 0
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _closes_at(document: Mapping[str, Any], fallback: datetime) -> datetime:
    """`created` + `days_in_field`; an unreadable `created` counts from `fallback`."""
    days = max(0, _integer(document.get("days_in_field")))
    try:
        created = _utc(datetime.fromisoformat(str(document.get("created"))))
    except ValueError:
        created = fallback
    return created + timedelta(days=days)


def _integer(value: object, default: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(value)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
