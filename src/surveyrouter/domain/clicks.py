"""A click: one user sent into one opportunity, and how that visit ended.

A click is created when the user opens a survey link and ended once, by whichever of the
exchange's redirect and its server-to-server callback arrives first. A click with no ending
after ``abandon_after`` is *abandoned*: that is read off the clock, never written, so an
authentic outcome that arrives later still ends the click and still pays.

The user's clicks are their participation history (REX §3.1): every entered project makes a
second entry a duplicate; completes, client disqualifications (2.2), client over-quotas (3.2)
and abandoned clicks exclude the user from opportunities that list the project or category.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType

from surveyrouter.domain.outcome import Outcome
from surveyrouter.domain.profile import Participation

# Issue 4: a click with no outcome after max(3 × LOI, 60 min) is abandoned.
ABANDON_LOI_FACTOR = 3
MIN_ABANDON_AFTER = timedelta(minutes=60)
# REX §3.1 (FAQ): besides any complete, these (disposition, status) endings exclude.
_EXCLUDING_ENDINGS = frozenset({(2, 2), (3, 2)})


class ClickStatus(enum.Enum):
    """Where a click stands. ``STARTED`` has no outcome yet; ``LEFT`` is a user who told the
    app they left the survey (``.../leave``), which counts as abandoned at once."""

    STARTED = "started"
    LEFT = "left"
    COMPLETE = "complete"
    SCREENOUT = "screenout"
    OVERQUOTA = "overquota"
    DUPLICATE = "duplicate"
    QUALITY = "quality"
    ERROR = "error"

    @classmethod
    def of(cls, outcome: Outcome) -> ClickStatus:
        return cls(outcome.value)

    @property
    def is_open(self) -> bool:
        """No outcome from the exchange yet (a left click can still get one)."""
        return self in (ClickStatus.STARTED, ClickStatus.LEFT)

    @property
    def is_screened_out(self) -> bool:
        """Turned away by the survey or its quotas: the app's screenout page, maybe a reward."""
        return self in (ClickStatus.SCREENOUT, ClickStatus.OVERQUOTA)


class OutcomeSource(enum.Enum):
    """Which of the exchange's two messages ended the click."""

    RETURN = "return"  # the user's redirect back (REX §6.4)
    CALLBACK = "callback"  # the server-to-server callback (REX §1.5)


class LeaveReason(enum.Enum):
    """Client API §2.3/§3.9: why a user says they left a survey."""

    OTHER = "OTHER"
    TECHNICAL = "TECHNICAL"
    SENSITIVE = "SENSITIVE"
    TOO_LONG = "TOO_LONG"
    UNINTERESTING = "UNINTERESTING"


def abandon_after(loi_minutes: int) -> timedelta:
    """How long a click may go without an outcome before it is abandoned."""
    return max(timedelta(minutes=ABANDON_LOI_FACTOR * max(loi_minutes, 0)), MIN_ABANDON_AFTER)


def new_click_id() -> str:
    """A click id: 32 hex digits, random. It is also the complete's transaction id, which
    publishers must accept as letters and digits of at most 64 (client API §3.1)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Click:
    """One entry. ``exchange_cpi`` is the exchange's CPI when the user clicked: what a complete
    pays, whatever the exchange changes later. ``disposition``/``disposition_status`` are the
    exchange's own codes (REX §6.5) once the click has ended. ``tags`` are the custom tags of
    the v2 listing the user clicked (client API §2.1), sent back in the reward's callback."""

    id: str
    app_id: int
    user_id: int
    network_id: str
    opportunity_id: int
    exchange_cpi: Decimal
    loi_minutes: int
    created_at: datetime
    project_id: int | None = None
    category_ids: tuple[int, ...] = ()
    status: ClickStatus = ClickStatus.STARTED
    ended_at: datetime | None = None
    disposition: int | None = None
    disposition_status: int | None = None
    outcome_source: OutcomeSource | None = None
    left_at: datetime | None = None
    leave_reason: LeaveReason | None = None
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", MappingProxyType(dict(self.tags)))

    @property
    def abandon_at(self) -> datetime:
        return self.created_at + abandon_after(self.loi_minutes)

    def is_abandoned(self, now: datetime) -> bool:
        """No outcome, and either the user left or the time ran out."""
        if not self.status.is_open:
            return False
        return self.status is ClickStatus.LEFT or now >= self.abandon_at

    def excludes(self, now: datetime) -> bool:
        """Whether this visit excludes the user from the project's and categories' other
        opportunities (REX §3.1)."""
        if self.status is ClickStatus.COMPLETE:
            return True
        ending = (self.disposition, self.disposition_status)
        return ending in _EXCLUDING_ENDINGS or self.is_abandoned(now)


def participation(clicks: Iterable[Click], now: datetime) -> Participation:
    """The participation history targeting reads, from all of a user's clicks."""
    entered: set[int] = set()
    excluding_projects: set[int] = set()
    excluding_categories: set[int] = set()
    for click in clicks:
        if click.project_id is not None:
            entered.add(click.project_id)
        if click.excludes(now):
            if click.project_id is not None:
                excluding_projects.add(click.project_id)
            excluding_categories.update(click.category_ids)
    return Participation(
        entered_projects=frozenset(entered),
        excluding_projects=frozenset(excluding_projects),
        excluding_categories=frozenset(excluding_categories),
    )
