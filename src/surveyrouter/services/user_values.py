"""What each exchange CPI pays an app's user, as ranking reads it: a float per CPI, worked out
once with the exact Decimal ``money`` path and then looked up as a column.

A listing ranks thousands of open opportunities; a market has a few thousand distinct CPIs at
most, and the app's terms (revenue share, currency) change rarely. Each terms' table keeps the
CPIs it has seen sorted, so a whole column is looked up with one binary search, and only CPIs
never seen before take the Decimal path.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from surveyrouter.domain.apps import Currency
from surveyrouter.domain.money import publisher_cpi, user_value

MICROS_PER_DOLLAR = Decimal(1_000_000)

Terms = tuple[Decimal, Currency] | None
"""An app's revenue share and currency; None values a CPI at the exchange's own price."""


def value_of(micros: int, terms: Terms) -> float:
    """The reference: one CPI in micro-dollars, as the user's value under ``terms``."""
    cpi = Decimal(micros) / MICROS_PER_DOLLAR
    if terms is not None:
        revenue_share, currency = terms
        cpi = user_value(publisher_cpi(cpi, revenue_share), currency)
    return float(cpi)


class UserValues:
    """Per terms, the sorted CPIs seen so far and their values."""

    def __init__(self) -> None:
        self._tables: dict[Terms, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
        self._lock = threading.Lock()

    def column(self, cpi_micros: npt.NDArray[np.int64], terms: Terms) -> npt.NDArray[np.float64]:
        """``value_of`` of each CPI, in order."""
        with self._lock:
            known, values = self._tables.get(terms, (_NO_MICROS, _NO_VALUES))
            unseen = cpi_micros
            if len(known):
                where = np.searchsorted(known, cpi_micros)
                seen = known[np.minimum(where, len(known) - 1)] == cpi_micros
                if seen.all():
                    hit: npt.NDArray[np.float64] = values[where]
                    return hit
                unseen = cpi_micros[~seen]
            new = np.unique(unseen)
            added = np.array([value_of(m, terms) for m in new.tolist()], dtype=np.float64)
            merged = np.concatenate([known, new])
            order = np.argsort(merged, kind="stable")
            known, values = merged[order], np.concatenate([values, added])[order]
            self._tables[terms] = (known, values)
        column: npt.NDArray[np.float64] = values[np.searchsorted(known, cpi_micros)]
        return column


_NO_MICROS = np.empty(0, dtype=np.int64)
_NO_VALUES = np.empty(0, dtype=np.float64)
