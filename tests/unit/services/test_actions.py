"""Get Actions' column arithmetic against the plain ranking functions it stands in for."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from surveyrouter.domain.ranking import Candidate, rank_columns, unlock_value
from surveyrouter.services.actions import unlock_by_attribute


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1, 540, 1234]),  # value
            st.sampled_from([1, 5, 10, 40]),  # LOI
            st.integers(0, 100),  # incidence rate
            st.booleans(),  # waits for an answer
            st.sampled_from([-1, 1, 80, 2005, 100262]),  # the one attribute it waits for
        ),
        max_size=40,
    )
)
def test_unlock_by_attribute_is_unlock_value_over_the_surveys_waiting_for_it_alone(
    rows: list[tuple[int, int, int, bool, int]],
) -> None:
    values = np.array([float(row[0]) for row in rows], dtype=np.float64)
    lois = np.array([float(row[1]) for row in rows], dtype=np.float64)
    rates = np.array([float(row[2]) for row in rows], dtype=np.float64)
    waiting = np.array([row[3] for row in rows], dtype=np.bool_)
    single = np.array([row[4] for row in rows], dtype=np.int64)
    zeros = np.zeros(len(rows), dtype=np.int64)
    ranked = rank_columns(
        values, lois, rates, np.zeros(len(rows), dtype=np.bool_), zeros, zeros, zeros,
        np.arange(len(rows), dtype=np.int64),
    )  # fmt: skip

    expected: dict[int, list[Candidate]] = {}
    for number, (value, loi, rate, waits, attribute) in enumerate(rows):
        if waits and attribute >= 0:
            candidate = Candidate("sandbox", number, Decimal(value), float(loi), float(rate))
            expected.setdefault(attribute, []).append(candidate)
    assert unlock_by_attribute(ranked.score, waiting, single) == {
        attribute: unlock_value(waiting_for_it) for attribute, waiting_for_it in expected.items()
    }
