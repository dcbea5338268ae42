"""How a respondent's visit to a survey ended, whatever the exchange calls it."""

from __future__ import annotations

import enum


class Outcome(enum.Enum):
    COMPLETE = "complete"
    SCREENOUT = "screenout"  # disqualified by the client or the exchange
    OVERQUOTA = "overquota"
    DUPLICATE = "duplicate"
    QUALITY = "quality"  # removed by quality checks
    ERROR = "error"  # the exchange could not say

    @property
    def is_paid(self) -> bool:
        return self is Outcome.COMPLETE
