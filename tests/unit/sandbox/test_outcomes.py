"""The client-survey outcome model: market.md §3's rates, drop-off growing with LOI, forcing."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from surveyrouter.networks.rex.gateway import Disposition
from surveyrouter.sandbox.outcomes import (
    ABANDONED,
    ANSWER_QUALITY,
    CLIENT_DISQUALIFICATION,
    CLIENT_OVER_QUOTA,
    COMPLETE,
    DEFAULT_MODEL,
    OutcomeModel,
    SurveyEnding,
    draw_outcome,
)

DRAWS = 40_000


def opportunity(incidence_rate: int = 23, length_of_interview: int = 14) -> dict[str, Any]:
    return {"id": 1, "incidence_rate": incidence_rate, "length_of_interview": length_of_interview}


def tally(document: dict[str, Any], seed: int = 1, draws: int = DRAWS) -> Counter[SurveyEnding]:
    rng = random.Random(seed)
    return Counter(draw_outcome(document, rng) for _ in range(draws))


def test_the_endings_are_the_rex_client_dispositions_or_abandonment() -> None:
    assert Disposition(1, 0) == COMPLETE
    assert Disposition(2, 2) == CLIENT_DISQUALIFICATION
    assert Disposition(3, 2) == CLIENT_OVER_QUOTA
    assert Disposition(5, 1) == ANSWER_QUALITY
    assert not isinstance(ABANDONED, Disposition)
    assert set(tally(opportunity(), draws=5000)) == {
        COMPLETE,
        CLIENT_DISQUALIFICATION,
        CLIENT_OVER_QUOTA,
        ANSWER_QUALITY,
        ABANDONED,
    }


def test_rates_follow_market_md_at_a_fixed_seed() -> None:
    endings = tally(opportunity(incidence_rate=23, length_of_interview=14))
    dropped = 0.10 + 0.02 * 4
    stayed = (1 - dropped) * DRAWS
    assert endings[ABANDONED] / DRAWS == pytest.approx(dropped, abs=0.01)
    # Over-quota: 5-15 % of entrants (8 % of those who stay).
    assert endings[CLIENT_OVER_QUOTA] / stayed == pytest.approx(0.08, abs=0.01)
    assert 0.05 <= endings[CLIENT_OVER_QUOTA] / DRAWS <= 0.15
    # The client screener lets through about the incidence rate.
    screened = stayed - endings[CLIENT_OVER_QUOTA]
    qualified = endings[COMPLETE] + endings[ANSWER_QUALITY]
    assert qualified / screened == pytest.approx(0.23, abs=0.015)
    # Quality removals: a few percent of those who finish.
    assert endings[ANSWER_QUALITY] / qualified == pytest.approx(0.06, abs=0.015)
    # Conversion inside Lucid's healthy band (> 10 % of entrants).
    assert 0.12 <= endings[COMPLETE] / DRAWS <= 0.20


def test_completes_follow_the_incidence_rate() -> None:
    easy = tally(opportunity(incidence_rate=90))[COMPLETE]
    hard = tally(opportunity(incidence_rate=10))[COMPLETE]
    assert easy / hard == pytest.approx(9, rel=0.15)
    assert tally(opportunity(incidence_rate=0), draws=2000)[COMPLETE] == 0


def test_drop_off_grows_with_the_length_of_interview() -> None:
    rates = [DEFAULT_MODEL.drop_off_rate(minutes) for minutes in (5, 10, 11, 15, 20, 30, 60)]
    assert rates[:2] == [pytest.approx(0.10), pytest.approx(0.10)]
    assert rates[2] == pytest.approx(0.12)
    assert rates[3] == pytest.approx(0.20)
    assert rates == sorted(rates)
    assert rates[-1] == pytest.approx(0.50), "capped"
    short, long = (tally(opportunity(length_of_interview=m))[ABANDONED] for m in (8, 25))
    assert short / DRAWS == pytest.approx(0.10, abs=0.01)
    assert long / DRAWS == pytest.approx(0.40, abs=0.015)


@pytest.mark.parametrize(
    "forced",
    [COMPLETE, CLIENT_DISQUALIFICATION, CLIENT_OVER_QUOTA, ANSWER_QUALITY, ABANDONED],
)
def test_a_forced_outcome_wins_and_draws_nothing(forced: SurveyEnding) -> None:
    rng = random.Random(4)
    state = rng.getstate()
    document = opportunity(incidence_rate=0, length_of_interview=45)
    assert all(draw_outcome(document, rng, forced=forced) is forced for _ in range(100))
    assert rng.getstate() == state


def test_the_same_seed_gives_the_same_endings() -> None:
    first, again = random.Random(9), random.Random(9)
    document = opportunity()
    endings = [draw_outcome(document, first) for _ in range(500)]
    assert endings == [draw_outcome(document, again) for _ in range(500)]


def test_an_opportunity_without_the_fields_qualifies_everyone_at_ten_minutes() -> None:
    endings = tally({"id": 1, "incidence_rate": None}, draws=10_000)
    assert endings[CLIENT_DISQUALIFICATION] == 0
    assert endings[ABANDONED] / 10_000 == pytest.approx(0.10, abs=0.015)


def test_a_model_with_other_rates() -> None:
    model = OutcomeModel(drop_off_base=0.0, drop_off_per_minute=0.0, over_quota_rate=1.0)
    rng = random.Random(1)
    assert {model.draw(opportunity(), rng) for _ in range(200)} == {CLIENT_OVER_QUOTA}
    with pytest.raises(ValueError, match="over_quota_rate"):
        OutcomeModel(over_quota_rate=1.5)
