"""How a simulated client survey ends, at the rates `specs/market.md` §3 publishes.

A respondent the exchange lets into a client survey meets, in survey order:

1. **Drop-off** (`ABANDONED`): they leave and never come back. Natural dropout is about 10 %,
   and past 10 minutes each extra minute costs about 2 % more (Hoerger 2010; Millward Brown);
   most breakoff happens at the introduction (the meta-study: 75 %), so it is drawn first, for
   every entrant. Capped at 50 %: the meta-study's mean total breakoff is 40 %.
2. **Client over-quota** (3, 2): no public average; market.md assumes 5–15 % of entrants, and
   8 % of those still in is taken. It comes early: a late over-quota is unacceptable (§3).
3. **Client disqualification** (2, 2): the client's screener lets through about as many as the
   opportunity's `incidence_rate` says.
4. **Answer quality** (5, 1): a few percent of those who finish are thrown out. Buyers accept
   91–94 % of completes at the typical supplier (Lucid's acceptance figures), so 6 % is taken.
5. Otherwise a **complete** (1, 0).

At IR 23 % and LOI 14 min that converts about 16 % of entrants, inside Lucid's "healthy" > 10 %.

Abandonment is not a REX disposition: the gateway never sees the respondent again, so it sends
no return. It is the `Abandoned.ABANDONED` sentinel (exported as `ABANDONED`), which callers tell
apart with `is ABANDONED`. The randomness comes from the caller's `random.Random`; nothing here
reads the clock.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from surveyrouter.networks.rex.gateway import Disposition

__all__ = [
    "ABANDONED",
    "ANSWER_QUALITY",
    "CLIENT_DISQUALIFICATION",
    "CLIENT_OVER_QUOTA",
    "COMPLETE",
    "DEFAULT_MODEL",
    "Abandoned",
    "OutcomeModel",
    "SurveyEnding",
    "draw_outcome",
]

COMPLETE = Disposition(1, 0)
CLIENT_DISQUALIFICATION = Disposition(2, 2)
CLIENT_OVER_QUOTA = Disposition(3, 2)
ANSWER_QUALITY = Disposition(5, 1)


class Abandoned(enum.Enum):
    """The respondent left the client survey and never came back: there is no disposition."""

    ABANDONED = "abandoned"


ABANDONED = Abandoned.ABANDONED

# How one client survey ends: a REX disposition, or `ABANDONED`.
SurveyEnding: TypeAlias = Disposition | Abandoned

# What an opportunity without the fields would be taken as: everyone qualifies, 10 minutes.
_DEFAULT_INCIDENCE = 100.0
_DEFAULT_LENGTH = 10.0


@dataclass(frozen=True, slots=True)
class OutcomeModel:
    """The rates of `draw`; the defaults are market.md §3's (see the module docstring).

    Drop-off is `drop_off_base` up to `drop_off_after_minutes`, then grows by
    `drop_off_per_minute` a minute, to at most `drop_off_cap`. `over_quota_rate` is of those
    who stayed, `quality_rate` of those who finished.
    """

    drop_off_base: float = 0.10
    drop_off_per_minute: float = 0.02
    drop_off_after_minutes: float = 10.0
    drop_off_cap: float = 0.50
    over_quota_rate: float = 0.08
    quality_rate: float = 0.06

    def __post_init__(self) -> None:
        for name in (
            "drop_off_base",
            "drop_off_per_minute",
            "drop_off_cap",
            "over_quota_rate",
            "quality_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.drop_off_after_minutes < 0:
            raise ValueError("drop_off_after_minutes must not be negative")

    def drop_off_rate(self, length_of_interview: float) -> float:
        """The share of entrants of a survey this many minutes long who never come back."""
        extra = max(0.0, length_of_interview - self.drop_off_after_minutes)
        return min(self.drop_off_cap, self.drop_off_base + self.drop_off_per_minute * extra)

    def draw(
        self,
        opportunity: Mapping[str, Any],
        rng: random.Random,
        forced: SurveyEnding | None = None,
    ) -> SurveyEnding:
        """How one entrant's client survey of `opportunity` (REX wire JSON, §3.1) ends.

        `forced`, when given, is returned as it is and draws nothing: the test switch.
        """
        if forced is not None:
            return forced
        if rng.random() < self.drop_off_rate(_length(opportunity)):
            return ABANDONED
        if rng.random() < self.over_quota_rate:
            return CLIENT_OVER_QUOTA
        if rng.random() >= _incidence(opportunity):
            return CLIENT_DISQUALIFICATION
        if rng.random() < self.quality_rate:
            return ANSWER_QUALITY
        return COMPLETE


DEFAULT_MODEL = OutcomeModel()


def draw_outcome(
    opportunity: Mapping[str, Any],
    rng: random.Random,
    forced: SurveyEnding | None = None,
) -> SurveyEnding:
    """`DEFAULT_MODEL.draw`: how one entrant's client survey ends at market.md's rates."""
    return DEFAULT_MODEL.draw(opportunity, rng, forced)


def _incidence(opportunity: Mapping[str, Any]) -> float:
    """The share the client screener lets through: REX's `incidence_rate` (0–100) as a fraction."""
    value = _number(opportunity.get("incidence_rate"), _DEFAULT_INCIDENCE)
    return max(0.0, min(1.0, value / 100))


def _length(opportunity: Mapping[str, Any]) -> float:
    return max(0.0, _number(opportunity.get("length_of_interview"), _DEFAULT_LENGTH))


def _number(value: object, default: float) -> float:
    # The registry's own documents always carry both fields as numbers (REX §3.1); anything
    # else (a test's bare dict, a hand-edited document) falls back rather than failing a visit.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def parse_ending(text: str) -> SurveyEnding:
    """A forced ending as operators write it: ``DISPOSITION.STATUS`` (e.g. ``1.0``, ``2.2``) or
    ``abandoned``; raises ``ValueError`` naming the accepted forms."""
    cleaned = text.strip().lower()
    if cleaned == ABANDONED.value:
        return ABANDONED
    disposition, dot, status = cleaned.partition(".")
    if dot and disposition.isdigit() and status.isdigit():
        return Disposition(int(disposition), int(status))
    raise ValueError(f"an ending is DISPOSITION.STATUS (e.g. 1.0) or abandoned, not {text!r}")


def describe_ending(ending: SurveyEnding) -> str:
    """``1.0 (Complete)``, or ``abandoned``."""
    if ending is ABANDONED:
        return ABANDONED.value
    return f"{ending.disposition}.{ending.status} ({ending.name})"
