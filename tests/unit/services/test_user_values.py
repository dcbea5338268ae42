"""UserValues, the column fast path of a listing's user values, gives the Decimal reference
(``value_of``) bit for bit, whatever it has seen before and in whatever order."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveyrouter.domain.apps import Currency
from surveyrouter.services import user_values
from surveyrouter.services.user_values import Terms, UserValues, value_of

TERMS: list[Terms] = [
    None,
    (Decimal("0.7"), Currency()),
    (Decimal("0.55"), Currency(factor=Decimal("1.5"), bonus_percent=20, whole_units=False)),
]
micros = st.integers(min_value=0, max_value=50_000_000)
batches = st.lists(st.lists(micros, max_size=60), min_size=1, max_size=6)


@given(batches, st.lists(st.sampled_from(range(len(TERMS))), min_size=6, max_size=6))
def test_every_column_is_the_reference_value_of_each_cpi(
    columns: list[list[int]], terms_order: list[int]
) -> None:
    values = UserValues()
    for column, which in zip(columns, terms_order, strict=False):
        terms = TERMS[which]
        got = values.column(np.array(column, dtype=np.int64), terms)
        assert got.dtype == np.float64
        assert got.tolist() == [value_of(m, terms) for m in column]


def test_cpis_seen_before_are_looked_up_not_worked_out_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worked_out: list[int] = []

    def counting(micros: int, terms: Terms) -> float:
        worked_out.append(micros)
        return value_of(micros, terms)

    monkeypatch.setattr(user_values, "value_of", counting)
    values = UserValues()
    first = values.column(np.array([1_500_000, 250_000, 1_500_000], dtype=np.int64), TERMS[1])
    again = values.column(np.array([250_000, 1_500_000, 3_000_000], dtype=np.int64), TERMS[1])

    assert first.tolist() == [1050.0, 180.0, 1050.0]  # 0.7 × $0.25 = $0.175 → $0.18: 180
    assert again.tolist() == [180.0, 1050.0, 2100.0]
    assert sorted(worked_out) == [250_000, 1_500_000, 3_000_000]  # each once
