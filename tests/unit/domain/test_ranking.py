"""Specification of survey ranking: score, smoothing, rating, order, A/B groups, next question."""

from __future__ import annotations

import hashlib
import math
import random
import uuid
from collections import Counter
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surveyrouter.domain.opportunity import Requirements
from surveyrouter.domain.ranking import (
    DEFAULT_PRIOR_STRENGTH,
    Candidate,
    Difficulty,
    ObservedOutcomes,
    QuestionCandidate,
    Tag,
    assign_test_group,
    choose_question,
    completion_prior,
    difficulty,
    estimate,
    expected_completion,
    qualify_probability,
    rank,
    rank_columns,
    rank_questions,
    rating,
    score,
    survey_tags,
    unlock_value,
)

# market.md §3: 10% natural dropout, 10% over-quota, 7.5% quality removal.
SHORT_SURVEY_COMPLETION = 0.9 * 0.9 * 0.925


def candidate(
    survey_id: int = 1,
    value: str = "500",
    loi: float = 10,
    ir: float = 50,
    *,
    network: str = "rex",
    known_qualified: bool = False,
    observed: ObservedOutcomes | None = None,
) -> Candidate:
    return Candidate(
        network=network,
        id=survey_id,
        value=Decimal(value),
        loi_minutes=loi,
        incidence_rate=ir,
        known_qualified=known_qualified,
        observed=observed or ObservedOutcomes(),
    )


def outcomes(
    completes: int = 0,
    screenouts: int = 0,
    overquotas: int = 0,
    quality: int = 0,
    abandons: int = 0,
    reversals: int = 0,
    in_progress: int = 0,
) -> ObservedOutcomes:
    ended = completes + screenouts + overquotas + quality + abandons
    return ObservedOutcomes(
        entries=ended + in_progress,
        completes=completes,
        screenouts=screenouts,
        overquotas=overquotas,
        quality=quality,
        abandons=abandons,
        reversals=reversals,
    )


counts = st.integers(0, 10_000)
lois = st.floats(0, 120, allow_nan=False)
rates = st.floats(0, 100, allow_nan=False)
money = st.decimals(0, 100_000, places=2, allow_nan=False, allow_infinity=False)
observations = st.builds(
    outcomes,
    completes=counts,
    screenouts=counts,
    overquotas=counts,
    quality=counts,
    abandons=counts,
    in_progress=counts,
)


# --- P(qualify) ---------------------------------------------------------------------------


def test_a_user_we_know_little_about_qualifies_at_the_incidence_rate() -> None:
    assert qualify_probability(25, known_qualified=False) == 0.25


def test_a_user_known_to_meet_the_targeting_qualifies_more_often_than_the_ir_says() -> None:
    # Half the incidence (in log terms) is taken to be the targeting we already checked.
    assert qualify_probability(25, known_qualified=True) == pytest.approx(0.5)
    assert qualify_probability(100, known_qualified=True) == 1.0


@pytest.mark.parametrize(("ir", "expected"), [(0, 0.01), (-5, 0.01), (150, 1.0)])
def test_incidence_rates_outside_one_to_a_hundred_are_clamped(ir: float, expected: float) -> None:
    assert qualify_probability(ir, known_qualified=False) == expected


@given(rates, st.booleans())
def test_knowing_the_targeting_never_lowers_the_chance_to_qualify(ir: float, known: bool) -> None:
    assert qualify_probability(ir, True) >= qualify_probability(ir, False)
    assert 0 < qualify_probability(ir, known) <= 1


# --- the completion prior (market.md §3) ----------------------------------------------------


@pytest.mark.parametrize("loi", [0, 1, 5, 10])
def test_up_to_ten_minutes_only_natural_dropout_overquota_and_quality_count(loi: float) -> None:
    assert completion_prior(loi) == pytest.approx(SHORT_SURVEY_COMPLETION)


def test_each_minute_past_ten_keeps_98_percent_of_completes() -> None:
    assert completion_prior(11) / completion_prior(10) == pytest.approx(0.98)
    assert completion_prior(30) == pytest.approx(SHORT_SURVEY_COMPLETION * 0.98**20)


@given(lois, lois)
def test_longer_surveys_never_have_a_higher_completion_prior(a: float, b: float) -> None:
    shorter, longer = sorted((a, b))
    assert completion_prior(longer) <= completion_prior(shorter)


# --- smoothing -----------------------------------------------------------------------------


def test_without_observations_the_expected_completion_is_the_prior() -> None:
    assert expected_completion(0.6, ObservedOutcomes()) == 0.6


def test_with_many_observations_the_expected_completion_is_the_observed_rate() -> None:
    observed = outcomes(completes=300_000, abandons=700_000)
    assert expected_completion(0.9, observed) == pytest.approx(0.3, abs=1e-4)


def test_the_prior_weighs_as_much_as_its_strength_in_qualified_entries() -> None:
    # 20 entries that all completed against a prior of 0.5 worth 20: halfway, 0.75.
    assert DEFAULT_PRIOR_STRENGTH == 20
    assert expected_completion(0.5, outcomes(completes=20)) == pytest.approx(0.75)
    assert expected_completion(0.5, outcomes(completes=5), strength=5) == pytest.approx(0.75)


def test_screenouts_and_entries_in_progress_say_nothing_about_completion() -> None:
    base = expected_completion(0.5, outcomes(completes=3, abandons=7))
    crowded = outcomes(completes=3, abandons=7, screenouts=500, in_progress=40)
    assert expected_completion(0.5, crowded) == base


@pytest.mark.parametrize("failure", ["overquotas", "quality", "abandons", "reversals"])
def test_overquotas_quality_removals_abandons_and_reversals_count_against_completion(
    failure: str,
) -> None:
    clean = expected_completion(0.5, outcomes(completes=10))
    if failure == "reversals":
        worse = expected_completion(0.5, outcomes(completes=10, reversals=4))
    else:
        worse = expected_completion(0.5, outcomes(completes=10, **{failure: 4}))
    assert worse < clean


@given(observations, st.floats(0, 1), st.floats(0.5, 1000))
def test_one_more_complete_never_lowers_the_expected_completion(
    observed: ObservedOutcomes, prior: float, strength: float
) -> None:
    more = ObservedOutcomes(
        entries=observed.entries + 1,
        completes=observed.completes + 1,
        screenouts=observed.screenouts,
        overquotas=observed.overquotas,
        quality=observed.quality,
        abandons=observed.abandons,
    )
    before = expected_completion(prior, observed, strength)
    assert expected_completion(prior, more, strength) >= before
    assert 0 <= before <= 1


@given(observations, st.floats(0, 1))
def test_turning_a_failure_into_a_complete_raises_the_expected_completion(
    observed: ObservedOutcomes, prior: float
) -> None:
    if observed.abandons == 0:
        return
    better = ObservedOutcomes(
        entries=observed.entries,
        completes=observed.completes + 1,
        screenouts=observed.screenouts,
        overquotas=observed.overquotas,
        quality=observed.quality,
        abandons=observed.abandons - 1,
    )
    assert expected_completion(prior, better) > expected_completion(prior, observed)


@pytest.mark.parametrize(
    "counts",
    [
        {"entries": 2, "completes": 2, "screenouts": 1},
        {"entries": 5, "completes": 1, "reversals": 2},
        {"entries": -1},
        {"entries": 1, "abandons": True},
    ],
)
def test_outcome_counts_that_do_not_add_up_are_refused(counts: dict[str, int]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the domain guards invariants with ValueError
        ObservedOutcomes(**counts)


@pytest.mark.parametrize(("prior", "strength"), [(1.5, 20), (-0.1, 20), (0.5, 0), (0.5, -1)])
def test_a_prior_that_is_no_probability_or_has_no_strength_is_refused(
    prior: float, strength: float
) -> None:
    with pytest.raises(ValueError, match="prior"):
        expected_completion(prior, ObservedOutcomes(), strength)


# --- score ---------------------------------------------------------------------------------


def test_the_score_is_value_times_conversion_per_minute() -> None:
    assert score(Decimal("500"), 0.3, 10) == pytest.approx(15.0)


def test_surveys_shorter_than_a_minute_are_scored_as_one_minute() -> None:
    assert score(Decimal("10"), 0.5, 0) == score(Decimal("10"), 0.5, 1) == 5.0


def test_an_estimate_multiplies_qualification_and_smoothed_completion() -> None:
    observed = outcomes(completes=10, abandons=10, screenouts=30)
    survey = candidate(value="200", loi=20, ir=36, known_qualified=True, observed=observed)
    completion = (20 * completion_prior(20) + 10) / (20 + 20)
    conversion = 0.6 * completion  # sqrt(36%)
    result = estimate(survey)
    assert result.conversion == pytest.approx(conversion)
    assert result.score == pytest.approx(200 * conversion / 20)
    assert result.rating == rating(result.conversion)
    assert result.difficulty is difficulty(result.rating)


@given(money, money, lois, rates, st.booleans(), observations)
def test_the_score_never_falls_as_the_value_rises(
    a: Decimal, b: Decimal, loi: float, ir: float, known: bool, observed: ObservedOutcomes
) -> None:
    low, high = sorted((a, b))
    cheap = candidate(value=str(low), loi=loi, ir=ir, known_qualified=known, observed=observed)
    dear = candidate(value=str(high), loi=loi, ir=ir, known_qualified=known, observed=observed)
    assert estimate(dear).score >= estimate(cheap).score


@given(money, lois, lois, rates, st.booleans(), observations)
def test_the_score_never_rises_as_the_survey_gets_longer(
    value: Decimal, a: float, b: float, ir: float, known: bool, observed: ObservedOutcomes
) -> None:
    shorter, longer = sorted((a, b))
    quick = candidate(
        value=str(value), loi=shorter, ir=ir, known_qualified=known, observed=observed
    )
    slow = candidate(value=str(value), loi=longer, ir=ir, known_qualified=known, observed=observed)
    assert estimate(slow).score <= estimate(quick).score


@pytest.mark.parametrize(
    "fields",
    [
        {"value": Decimal("-1")},
        {"value": Decimal("NaN")},
        {"value": 1.5},
        {"loi_minutes": math.inf},
        {"loi_minutes": -1},
        {"incidence_rate": math.nan},
    ],
)
def test_candidates_with_impossible_value_loi_or_ir_are_refused(fields: dict[str, object]) -> None:
    base: dict[str, object] = {
        "network": "rex",
        "id": 1,
        "value": Decimal(1),
        "loi_minutes": 10,
        "incidence_rate": 50,
    }
    with pytest.raises(ValueError):  # noqa: PT011 - the domain guards invariants with ValueError
        Candidate(**{**base, **fields})  # type: ignore[arg-type]


# --- rating and difficulty -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conversion", "expected"),
    [
        (0.0, 1),
        (0.0499, 1),
        (0.05, 2),
        (0.0999, 2),
        (0.10, 3),
        (0.1999, 3),
        (0.20, 4),
        (0.3333, 4),
        (1 / 3, 5),
        (1.0, 5),
    ],
)
def test_the_rating_buckets_conversion_from_1_hard_to_5_easy(
    conversion: float, expected: int
) -> None:
    assert rating(conversion) == expected


@given(st.floats(0, 1), st.floats(0, 1))
def test_a_higher_conversion_never_rates_harder(a: float, b: float) -> None:
    lower, higher = sorted((a, b))
    assert 1 <= rating(lower) <= rating(higher) <= 5


@pytest.mark.parametrize("conversion", [-0.01, 1.01, math.nan])
def test_a_conversion_that_is_no_probability_has_no_rating(conversion: float) -> None:
    with pytest.raises(ValueError, match="conversion"):
        rating(conversion)


@pytest.mark.parametrize(
    ("survey_rating", "expected"),
    [
        (1, Difficulty.HARD),
        (2, Difficulty.HARD),
        (3, Difficulty.MEDIUM),
        (4, Difficulty.EASY),
        (5, Difficulty.EASY),
    ],
)
def test_difficulty_is_hard_for_ratings_1_2_medium_for_3_easy_for_4_5(
    survey_rating: int, expected: Difficulty
) -> None:
    assert difficulty(survey_rating) is expected


@pytest.mark.parametrize("survey_rating", [0, 6])
def test_a_rating_outside_1_to_5_has_no_difficulty(survey_rating: int) -> None:
    with pytest.raises(ValueError, match="rating"):
        difficulty(survey_rating)


@given(money, lois, rates, st.booleans(), observations)
def test_every_estimate_rates_1_to_5(
    value: Decimal, loi: float, ir: float, known: bool, observed: ObservedOutcomes
) -> None:
    survey = candidate(value=str(value), loi=loi, ir=ir, known_qualified=known, observed=observed)
    result = estimate(survey)
    assert 1 <= result.rating <= 5
    assert 0 <= result.conversion <= 1


def test_a_typical_gen_pop_survey_is_medium_and_an_exact_match_easier() -> None:
    # market.md §2: median IR 22.8%, median LOI 14.4 min.
    assert estimate(candidate(ir=22.8, loi=14.4)).rating == 3
    assert estimate(candidate(ir=22.8, loi=14.4, known_qualified=True)).rating == 4


# --- order -----------------------------------------------------------------------------------


def test_surveys_are_numbered_from_1_best_score_first() -> None:
    ranked = rank(
        [
            candidate(1, value="100"),
            candidate(2, value="900"),
            candidate(3, value="500"),
        ]
    )
    assert [(r.candidate.id, r.sequence) for r in ranked] == [(2, 1), (3, 2), (1, 3)]


def test_an_equal_score_goes_to_the_higher_value() -> None:
    # Up to ten minutes the prior is flat: 10 over 5 minutes scores as 20 over 10 minutes.
    cheap, dear = candidate(1, value="10", loi=5), candidate(2, value="20", loi=10)
    assert estimate(cheap).score == estimate(dear).score
    assert [r.candidate.id for r in rank([cheap, dear])] == [2, 1]


def test_equal_scores_and_values_go_to_the_shorter_survey_then_network_then_id() -> None:
    # Worthless surveys all score 0.
    ranked = rank(
        [
            candidate(7, value="0", loi=20, network="rex"),
            candidate(9, value="0", loi=5, network="sandbox"),
            candidate(8, value="0", loi=5, network="rex"),
            candidate(3, value="0", loi=5, network="sandbox"),
        ]
    )
    assert [(r.candidate.network, r.candidate.id) for r in ranked] == [
        ("rex", 8),
        ("sandbox", 3),
        ("sandbox", 9),
        ("rex", 7),
    ]


def test_an_empty_list_ranks_empty() -> None:
    assert rank([]) == ()


surveys = st.lists(
    st.builds(
        candidate,
        survey_id=st.integers(1, 10**9),
        value=st.sampled_from(["0", "1", "25", "100", "500.50"]),
        loi=st.sampled_from([0, 5, 10, 12.5, 30]),
        ir=st.sampled_from([1, 10, 50, 100]),
        network=st.sampled_from(["rex", "sandbox"]),
        known_qualified=st.booleans(),
        observed=observations,
    ),
    max_size=30,
    unique_by=lambda c: (c.network, c.id),
)


@given(surveys, st.randoms())
def test_sequence_is_a_permutation_from_1_in_score_order_whatever_the_input_order(
    candidates: list[Candidate], shuffler: random.Random
) -> None:
    ranked = rank(candidates)
    assert [r.sequence for r in ranked] == list(range(1, len(candidates) + 1))
    assert Counter(r.candidate for r in ranked) == Counter(candidates)
    scores = [r.estimate.score for r in ranked]
    assert scores == sorted(scores, reverse=True)
    shuffled = list(candidates)
    shuffler.shuffle(shuffled)
    assert rank(shuffled) == ranked


# --- tags ------------------------------------------------------------------------------------


def test_recontact_and_pii_requirements_become_tags() -> None:
    assert survey_tags(Requirements()) == ()
    both = Requirements(recontact=True, pii_collection=True, webcam=True)
    assert survey_tags(both) == (Tag.RECONTACT, Tag.PII)
    assert survey_tags(Requirements(), invite_targeted=True) == (Tag.RECONTACT,)
    assert [tag.value for tag in survey_tags(both)] == ["recontact", "pii"]


# --- A/B test groups ---------------------------------------------------------------------------


def test_an_app_without_variants_puts_everyone_in_group_0() -> None:
    assert assign_test_group(1, "user-1", 0) == 0


@given(st.integers(1, 10**9), st.text(min_size=1, max_size=65), st.integers(1, 100))
def test_a_user_always_gets_the_same_group_within_1_to_variants(
    app_id: int, uid: str, variants: int
) -> None:
    group = assign_test_group(app_id, uid, variants)
    assert 1 <= group <= variants
    assert assign_test_group(app_id, uid, variants) == group


def test_the_group_is_pinned_across_processes() -> None:
    # The first 8 bytes of sha256("1\x1fuser-1"), not Python's per-process salted hash().
    number = int.from_bytes(hashlib.sha256(b"1\x1fuser-1").digest()[:8], "big")
    assert [assign_test_group(1, "user-1", n) for n in (1, 2, 3, 7)] == [1, 2, 3, 3]
    assert [number % n + 1 for n in (1, 2, 3, 7)] == [1, 2, 3, 3]


def test_groups_come_out_roughly_equal_in_size() -> None:
    uids = [str(uuid.UUID(int=n)) for n in range(12_000)]
    sizes = Counter(assign_test_group(42, uid, 4) for uid in uids)
    assert set(sizes) == {1, 2, 3, 4}
    # 3,000 expected per group; a fair split stays within ~4.5 standard deviations (±47).
    assert all(2_800 <= size <= 3_200 for size in sizes.values())


def test_two_apps_split_the_same_uids_differently() -> None:
    uids = [f"u{n}" for n in range(1_000)]
    first = [assign_test_group(1, uid, 2) for uid in uids]
    second = [assign_test_group(2, uid, 2) for uid in uids]
    agreeing = sum(a == b for a, b in zip(first, second, strict=True))
    assert 400 <= agreeing <= 600


@pytest.mark.parametrize("variants", [-1, True])
def test_a_negative_number_of_variants_is_refused(variants: int) -> None:
    with pytest.raises(ValueError, match="variants"):
        assign_test_group(1, "u", variants)


# --- the next question -------------------------------------------------------------------------


def test_standard_profile_questions_come_first_in_the_order_given() -> None:
    ranked = rank_questions(
        [
            QuestionCandidate(50, unlock_value=99.0),
            QuestionCandidate(3, standard=True),
            QuestionCandidate(1, standard=True, unlock_value=2.0),
        ]
    )
    assert [q.question_id for q in ranked] == [3, 1, 50]


def test_other_questions_follow_by_unlock_value_then_id() -> None:
    ranked = rank_questions(
        [
            QuestionCandidate(20, unlock_value=1.5),
            QuestionCandidate(12, unlock_value=4.0),
            QuestionCandidate(11, unlock_value=1.5),
        ]
    )
    assert [q.question_id for q in ranked] == [12, 11, 20]


def test_a_question_that_unlocks_nothing_is_never_asked() -> None:
    assert choose_question([QuestionCandidate(20), QuestionCandidate(21)]) is None
    assert choose_question([]) is None


def test_the_chosen_question_is_the_first_in_asking_order() -> None:
    best = QuestionCandidate(12, unlock_value=4.0)
    assert choose_question([QuestionCandidate(20, unlock_value=1.0), best]) == best


def test_a_question_unlocks_the_summed_score_of_the_surveys_waiting_on_it() -> None:
    waiting = [candidate(1, value="100"), candidate(2, value="300", loi=20, ir=10)]
    expected = sum(estimate(survey).score for survey in waiting)
    assert unlock_value(waiting) == pytest.approx(expected)
    assert unlock_value([]) == 0.0


@pytest.mark.parametrize("value", [-1.0, math.inf, math.nan])
def test_an_unlock_value_that_is_negative_or_not_finite_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="unlock value"):
        QuestionCandidate(1, unlock_value=value)


# --- the column fast path ---------------------------------------------------------------------

NETWORKS = ("sandbox", "rex", "cint")


@st.composite
def observed_outcomes(draw: st.DrawFn) -> ObservedOutcomes:
    completes = draw(st.integers(0, 30))
    overquotas, quality, abandons, screenouts = (draw(st.integers(0, 10)) for _ in range(4))
    ended = completes + overquotas + quality + abandons + screenouts
    return ObservedOutcomes(
        entries=ended + draw(st.integers(0, 10)),
        completes=completes,
        screenouts=screenouts,
        overquotas=overquotas,
        quality=quality,
        abandons=abandons,
        reversals=draw(st.integers(0, completes)),
    )


@st.composite
def candidates(draw: st.DrawFn) -> list[Candidate]:
    count = draw(st.integers(0, 40))
    found = []
    for survey_id in draw(st.lists(st.integers(1, 10**6), min_size=count, max_size=count)):
        found.append(
            Candidate(
                network=draw(st.sampled_from(NETWORKS)),
                id=survey_id,
                # Values collide often, and LOIs and rates too, so the tie-breaks are exercised.
                value=Decimal(draw(st.sampled_from([0, 1, 540, 1000, 1234])))
                / draw(st.sampled_from([1, 100])),
                # Whole minutes and percents are read from tables; others (and LOIs past the
                # table) are worked out one by one.
                loi_minutes=float(draw(st.sampled_from([0, 1, 5, 10, 25, 60, 12.5, 601, 900]))),
                incidence_rate=float(draw(st.sampled_from([0, 1, 25, 64, 100, 33.3]))),
                known_qualified=draw(st.booleans()),
                observed=draw(st.one_of(st.just(ObservedOutcomes()), observed_outcomes())),
            )
        )
    return found


@settings(max_examples=300, deadline=None)
@given(candidates(), st.one_of(st.none(), st.integers(0, 45)))
def test_rank_columns_gives_the_reference_ranking_and_estimates_bit_for_bit(
    found: list[Candidate], limit: int | None
) -> None:
    network_rank = {network: position for position, network in enumerate(sorted(NETWORKS))}
    columns = rank_columns(
        value=np.array([float(c.value) for c in found], dtype=np.float64),
        loi_minutes=np.array([c.loi_minutes for c in found], dtype=np.float64),
        incidence_rate=np.array([c.incidence_rate for c in found], dtype=np.float64),
        known_qualified=np.array([c.known_qualified for c in found], dtype=np.bool_),
        paid=np.array([c.observed.paid for c in found], dtype=np.int64),
        qualified=np.array([c.observed.qualified for c in found], dtype=np.int64),
        network_order=np.array([network_rank[c.network] for c in found], dtype=np.int64),
        ids=np.array([c.id for c in found], dtype=np.int64),
        limit=limit,
    )
    reference = rank(found)[:limit]
    fast = [found[int(position)] for position in columns.order]
    # Same (network, id) twice would make the order ambiguous; the index never has that.
    if len({(c.network, c.id) for c in found}) == len(found):
        assert [(c.network, c.id) for c in fast] == [
            (r.candidate.network, r.candidate.id) for r in reference
        ]
    for position, item in enumerate(found):
        assert columns.estimate_at(position) == estimate(item)
