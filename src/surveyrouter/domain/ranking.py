"""Which surveys a user sees first, how hard each one is, and which question to ask next.

``GET /v1/client/actions`` returns surveys "ordered by what we think is the best value for the
user" (client API §2.3); ours is what the user can expect to earn per minute spent::

    score = value × P(qualify | what we know) × P(complete | qualified) / LOI

- ``value`` is what the user earns on a complete, in app currency (a Decimal; it becomes a float
  only inside the score, which is a ranking weight and never money).
- ``P(qualify)`` comes from the opportunity's incidence rate, raised for a user whose targeting
  the matcher already knows to be met (see ``qualify_probability``).
- ``P(complete | qualified)`` is the chance that someone past the screener gets paid, smoothed
  from what happened to the users we sent (``ObservedOutcomes``) toward a prior built from
  published market figures (specs/market.md §3; see ``completion_prior``).

The two factors are kept apart, rather than smoothing one completes-per-entry rate, because the
entry rate already contains the screener: multiplying it by P(qualify) would count the incidence
twice, and a user known to qualify could not be told from one who is not.

``conversion`` = P(qualify) × P(complete | qualified) is what the user experiences as difficulty
and what ``rating`` (1 = hard … 5 = easy, client API §5) buckets.
"""

from __future__ import annotations

import bisect
import enum
import hashlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from decimal import Decimal
from functools import partial

import numpy as np
import numpy.typing as npt

from surveyrouter.domain.opportunity import Requirements

# market.md §3 "Drop-off vs LOI": natural dropout is ~10% (Hoerger 2010), and after 10 minutes
# each extra minute cuts completion by ~2% (Millward Brown), applied here as a relative cut.
NATURAL_DROPOUT = 0.10
DROPOUT_FREE_MINUTES = 10.0
COMPLETION_KEPT_PER_EXTRA_MINUTE = 0.98
# market.md §3 "Screen-outs and over-quotas": no published average; OQ ≈ 5–15% of entrants [E].
# The midpoint, applied to qualified entrants: a quota only turns away someone who fits it.
OVERQUOTA_RATE = 0.10
# market.md §3 "Quality removal and reconciliation": a typical reversal rate of ≈6–9% [E] (from
# Lucid's supplier acceptance of 80–100%). The midpoint stands for every way a qualified user
# ends unpaid for quality: terminated in the survey or reversed afterwards.
QUALITY_REMOVAL_RATE = 0.075
# market.md §3 "Conversion": Lucid's supplier guide deactivates a survey after 20+ entrants
# without a complete, so by 20 qualified entrants our own evidence weighs as much as the prior.
DEFAULT_PRIOR_STRENGTH = 20.0
# INFERRED: REX §3.1 defines IR as the share of the *general population* that qualifies, so it
# covers both the targeting we can evaluate and the client's own screener. Nothing published
# says how the two split; we assume half each in log terms, so a user known to meet the targeting
# qualifies with probability sqrt(IR) (IR 25% → 50%).
TARGETING_SHARE_OF_INCIDENCE = 0.5
# market.md §3: Cint marks completes under one minute as "Suspicious"; no honest survey is
# shorter, and a 0-minute LOI from an exchange must not divide the score by zero.
MIN_LOI_MINUTES = 1.0
# REX incidence rates are whole percents (REX §3.1). Zero usually means "not estimated"; it is
# read as the smallest rate there is so a known qualification can still raise it.
MIN_INCIDENCE_RATE = 1.0
MAX_INCIDENCE_RATE = 100.0

# Rating r is 1 + the number of these conversion thresholds the user's conversion reaches:
#   < 5%        1 (hard)   below the 5% conversion a Cint supplier filter keeps (market.md §3)
#   5% – 10%    2          below Lucid's "healthy" >10% benchmark (market.md §3)
#   10% – 20%   3
#   20% – 1/3   4
#   ≥ 1/3       5 (easy)   better than Cint Exchange Match's "success by the third attempt"
# 20% is a round point between the benchmark and one in three. INFERRED (client API §5): the
# rating buckets the conversion rate, higher conversion meaning easier.
RATING_THRESHOLDS = (0.05, 0.10, 0.20, 1 / 3)
MIN_RATING = 1
MAX_RATING = 5


class Difficulty(enum.Enum):
    """The deprecated ``details.difficulty`` of a survey (client API seed)."""

    EASY = "EASY"
    MEDIUM = "MEDIUM"
    HARD = "HARD"


class Tag(enum.Enum):
    """Survey tags (client API §5 and seed); ``RECRUITMENT`` has no REX requirement yet."""

    RECONTACT = "recontact"
    PII = "pii"
    RECRUITMENT = "recruitment"


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number of at least 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class ObservedOutcomes:
    """What happened to the users we sent into one opportunity, as counts.

    ``entries`` counts every entry; the outcomes count the entries that ended that way, so
    entries that have none yet are still in progress and say nothing about completion. The
    store turns an entry that never returned into an abandon (Cint counts a drop after 2× the
    median LOI, market.md §3). A duplicate ending counts as a screenout (the exchange turned the
    user away at the door) and an ending the exchange could not name as an abandon.
    ``reversals`` are completes later reversed (client API §3.7): the user was not paid.
    """

    entries: int = 0
    completes: int = 0
    screenouts: int = 0
    overquotas: int = 0
    quality: int = 0
    abandons: int = 0
    reversals: int = 0

    def __post_init__(self) -> None:
        for count in fields(self):
            _check_count(count.name, getattr(self, count.name))
        ended = self.screenouts + self.qualified
        if ended > self.entries:
            raise ValueError(f"{ended} entries ended, but there were only {self.entries}")
        if self.reversals > self.completes:
            raise ValueError(f"{self.reversals} reversals of only {self.completes} completes")

    @property
    def qualified(self) -> int:
        """Entries that got past the screener and ended: the trials of P(complete | qualified).

        Abandons are counted here although some users leave during the screener: we cannot tell
        which, and counting them errs toward the survey that keeps its users.
        """
        return self.completes + self.overquotas + self.quality + self.abandons

    @property
    def paid(self) -> int:
        """Completes the user was paid for and kept."""
        return self.completes - self.reversals

    @property
    def in_progress(self) -> int:
        return self.entries - self.screenouts - self.qualified


@dataclass(frozen=True, slots=True)
class Candidate:
    """One survey the user may be shown, with what ranking needs to know about it.

    ``value`` is what the user earns on a complete, in app currency. ``known_qualified`` is true
    when the matcher has found every targeting condition met (an exact match: eligible and no
    cell left for the exchange to prescreen); only the client's own screener remains.
    """

    network: str
    id: int
    value: Decimal
    loi_minutes: float
    incidence_rate: float
    known_qualified: bool = False
    observed: ObservedOutcomes = ObservedOutcomes()

    def __post_init__(self) -> None:
        if not isinstance(self.value, Decimal) or not self.value.is_finite() or self.value < 0:
            raise ValueError(f"value must be a finite Decimal of at least 0, got {self.value!r}")
        if not math.isfinite(self.loi_minutes) or self.loi_minutes < 0:
            raise ValueError(f"LOI must be finite minutes, got {self.loi_minutes!r}")
        if not math.isfinite(self.incidence_rate):
            raise ValueError(
                f"incidence rate must be a finite percentage, got {self.incidence_rate!r}"
            )


@dataclass(frozen=True, slots=True)
class Estimate:
    """What ranking expects of one candidate for this user."""

    conversion: float
    score: float
    rating: int
    difficulty: Difficulty


@dataclass(frozen=True, slots=True)
class RankedSurvey:
    """A candidate in its place: ``sequence`` 1 is shown first."""

    candidate: Candidate
    estimate: Estimate
    sequence: int


def qualify_probability(incidence_rate: float, known_qualified: bool) -> float:
    """P(the user passes targeting and screener), from the IR in percent (0–100).

    IR alone for a user we know little about; ``IR ** (1 - TARGETING_SHARE_OF_INCIDENCE)``
    when the matcher knows the targeting is met and only the client's screener is left.
    """
    rate = min(max(incidence_rate, MIN_INCIDENCE_RATE), MAX_INCIDENCE_RATE) / 100.0
    if known_qualified:
        return math.pow(rate, 1.0 - TARGETING_SHARE_OF_INCIDENCE)
    return rate


def completion_prior(loi_minutes: float) -> float:
    """P(paid complete | qualified) before we have seen anyone take the survey.

    The market figures of specs/market.md §3: natural dropout, 2% fewer completes per minute
    past ten, over-quotas and quality removals.
    """
    extra_minutes = max(loi_minutes - DROPOUT_FREE_MINUTES, 0.0)
    finishes = (1.0 - NATURAL_DROPOUT) * math.pow(COMPLETION_KEPT_PER_EXTRA_MINUTE, extra_minutes)
    return finishes * (1.0 - OVERQUOTA_RATE) * (1.0 - QUALITY_REMOVAL_RATE)


def expected_completion(
    prior: float, observed: ObservedOutcomes, strength: float = DEFAULT_PRIOR_STRENGTH
) -> float:
    """P(paid complete | qualified): the posterior mean of a Beta prior with mean ``prior``
    worth ``strength`` qualified entries, updated with the paid completes among ours.

    No observations give the prior; many give the observed rate.
    """
    if not 0.0 <= prior <= 1.0:
        raise ValueError(f"prior must be a probability, got {prior!r}")
    if not math.isfinite(strength) or strength <= 0:
        raise ValueError(f"prior strength must be positive, got {strength!r}")
    return (strength * prior + observed.paid) / (strength + observed.qualified)


def score(value: Decimal, conversion: float, loi_minutes: float) -> float:
    """What the user can expect to earn per minute: value × conversion / LOI.

    LOIs under a minute count as one (``MIN_LOI_MINUTES``).
    """
    return float(value) * conversion / max(loi_minutes, MIN_LOI_MINUTES)


def rating(conversion: float) -> int:
    """The 1 (hard) … 5 (easy) rating of a conversion, bucketed by ``RATING_THRESHOLDS``."""
    if not 0.0 <= conversion <= 1.0:
        raise ValueError(f"conversion must be a probability, got {conversion!r}")
    return MIN_RATING + bisect.bisect_right(RATING_THRESHOLDS, conversion)


def difficulty(survey_rating: int) -> Difficulty:
    """HARD for ratings 1–2, MEDIUM for 3, EASY for 4–5.

    INFERRED: the seed derives difficulty from the rating without saying how; the split is
    symmetric around the middle rating.
    """
    if not MIN_RATING <= survey_rating <= MAX_RATING:
        raise ValueError(f"rating must be {MIN_RATING}–{MAX_RATING}, got {survey_rating!r}")
    if survey_rating <= 2:
        return Difficulty.HARD
    return Difficulty.MEDIUM if survey_rating == 3 else Difficulty.EASY


def estimate(candidate: Candidate, strength: float = DEFAULT_PRIOR_STRENGTH) -> Estimate:
    """Conversion, score, rating and difficulty of one candidate for this user."""
    completion = expected_completion(
        completion_prior(candidate.loi_minutes), candidate.observed, strength
    )
    conversion = qualify_probability(candidate.incidence_rate, candidate.known_qualified)
    conversion *= completion
    survey_rating = rating(conversion)
    return Estimate(
        conversion=conversion,
        score=score(candidate.value, conversion, candidate.loi_minutes),
        rating=survey_rating,
        difficulty=difficulty(survey_rating),
    )


def rank(
    candidates: Iterable[Candidate], strength: float = DEFAULT_PRIOR_STRENGTH
) -> tuple[RankedSurvey, ...]:
    """The candidates best first, numbered from 1.

    Ties in score go to the higher value, then the shorter LOI, then network and id, so the
    same candidates come out in the same order whatever order they came in.
    """
    estimated = [(candidate, estimate(candidate, strength)) for candidate in candidates]
    estimated.sort(
        key=lambda pair: (
            -pair[1].score,
            -pair[0].value,
            pair[0].loi_minutes,
            pair[0].network,
            pair[0].id,
        )
    )
    return tuple(
        RankedSurvey(candidate=candidate, estimate=survey_estimate, sequence=position)
        for position, (candidate, survey_estimate) in enumerate(estimated, start=1)
    )


def survey_tags(requirements: Requirements, *, invite_targeted: bool = False) -> tuple[Tag, ...]:
    """The seed's tags a survey carries, from its REX §3.3 requirements; a survey that targets
    invite collections (REX §4: people a client invited back) is a recontact too."""
    tags = []
    if requirements.recontact or invite_targeted:
        tags.append(Tag.RECONTACT)
    if requirements.pii_collection:
        tags.append(Tag.PII)
    return tuple(tags)


def assign_test_group(app_id: int, uid: str, variants: int) -> int:
    """The user's A/B group, 1…``variants``; 0 when the app runs no variants.

    A hash of app and uid, so a user keeps their group across requests and processes (Python's
    ``hash`` is salted per process) and the groups come out nearly equal in size. Changing
    ``variants`` regroups users.
    """
    if isinstance(variants, bool) or not isinstance(variants, int) or variants < 0:
        raise ValueError(f"variants must be a whole number of at least 0, got {variants!r}")
    if variants == 0:
        return 0
    # The unit separator keeps app 1 + uid "23" apart from app 12 + uid "3".
    digest = hashlib.sha256(f"{app_id}\x1f{uid}".encode()).digest()
    # 64 bits modulo at most a hundred variants: the bias is below 1e-17.
    return int.from_bytes(digest[:8], "big") % variants + 1


@dataclass(frozen=True, slots=True)
class QuestionCandidate:
    """A profile question the user has not answered, and what answering it may unlock.

    ``unlock_value`` is the summed score of the surveys waiting on this answer alone (see
    ``unlock_value``). ``standard`` marks the standard profile (client API §4).
    """

    question_id: int
    standard: bool = False
    unlock_value: float = 0.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.unlock_value) or self.unlock_value < 0:
            raise ValueError(f"unlock value must be finite and >= 0, got {self.unlock_value!r}")


def unlock_value(waiting: Iterable[Candidate], strength: float = DEFAULT_PRIOR_STRENGTH) -> float:
    """The summed score of the surveys one answer could open.

    A sum rather than the best one: several surveys behind the same answer are several chances,
    should one fill or close before the user gets there. Pass the waiting surveys with
    ``known_qualified`` false: the answer may yet disqualify, which the IR covers.
    """
    return math.fsum(estimate(candidate, strength).score for candidate in waiting)


def rank_questions(candidates: Iterable[QuestionCandidate]) -> tuple[QuestionCandidate, ...]:
    """The questions in asking order.

    Standard-profile questions come first, in the order given (the library's asking order,
    client API §4: the core profile is collected before any survey is shown). The others follow
    by unlock value, highest first, ties by id; one that unlocks nothing is never asked, since
    it would cost the user time for no survey.
    """
    pending = list(candidates)
    standard = [question for question in pending if question.standard]
    others = [q for q in pending if not q.standard and q.unlock_value > 0]
    others.sort(key=lambda question: (-question.unlock_value, question.question_id))
    return (*standard, *others)


def choose_question(candidates: Iterable[QuestionCandidate]) -> QuestionCandidate | None:
    """The one question to ask next (client API §4: at most one per response), if any."""
    return next(iter(rank_questions(candidates)), None)


@dataclass(frozen=True, slots=True)
class RankedColumns:
    """``rank_columns``'s answer: ``order`` lists candidate positions best first (as ``rank``
    orders them); the other arrays are per candidate, in input order."""

    order: npt.NDArray[np.intp]
    conversion: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]
    rating: npt.NDArray[np.int64]

    def estimate_at(self, position: int) -> Estimate:
        survey_rating = int(self.rating[position])
        return Estimate(
            conversion=float(self.conversion[position]),
            score=float(self.score[position]),
            rating=survey_rating,
            difficulty=difficulty(survey_rating),
        )


# The reference's transcendental parts as tables over the whole numbers an index holds
# (incidence rates are whole percents, LOIs whole minutes); other inputs take the slow path.
_TABLE_LOI_MINUTES = 600
_QUALIFY_TABLE = np.array(
    [[qualify_probability(float(rate), known) for rate in range(101)] for known in (False, True)],
    dtype=np.float64,
)
_PRIOR_TABLE = np.array(
    [completion_prior(float(loi)) for loi in range(_TABLE_LOI_MINUTES + 1)], dtype=np.float64
)


def rank_columns(
    value: npt.NDArray[np.float64],
    loi_minutes: npt.NDArray[np.float64],
    incidence_rate: npt.NDArray[np.float64],
    known_qualified: npt.NDArray[np.bool_],
    paid: npt.NDArray[np.int64],
    qualified: npt.NDArray[np.int64],
    network_order: npt.NDArray[np.int64],
    ids: npt.NDArray[np.int64],
    strength: float = DEFAULT_PRIOR_STRENGTH,
    limit: int | None = None,
) -> RankedColumns:
    """``rank`` and ``estimate`` over columns, for thousands of candidates per request.

    Bit for bit the reference's numbers (the property tests in ``test_ranking.py`` hold it to
    that): the transcendental parts (``qualify_probability``, ``completion_prior``) are the
    reference functions themselves, tabled over whole percents and minutes (or evaluated once
    per distinct value otherwise), and the rest is the same IEEE arithmetic in the same order.
    ``value`` is ``float`` of each Decimal value (the conversion keeps their order);
    ``network_order`` ranks each candidate's network id as strings sort;
    ``paid``/``qualified`` are its ``ObservedOutcomes``. With ``limit``, ``order`` holds only
    the best ``limit`` positions (the same as the head of the whole order).
    """
    qualify = _qualify_column(incidence_rate, known_qualified)
    prior = _lookup(loi_minutes, _PRIOR_TABLE, completion_prior)
    completion = (strength * prior + paid) / (strength + qualified)
    conversion = qualify * completion
    scores = value * conversion / np.maximum(loi_minutes, MIN_LOI_MINUTES)
    ratings = MIN_RATING + np.searchsorted(RATING_THRESHOLDS, conversion, side="right")
    order = _best_first(scores, value, loi_minutes, network_order, ids, limit)
    return RankedColumns(order, conversion, scores, ratings.astype(np.int64))


def _best_first(
    scores: npt.NDArray[np.float64],
    value: npt.NDArray[np.float64],
    loi_minutes: npt.NDArray[np.float64],
    network_order: npt.NDArray[np.int64],
    ids: npt.NDArray[np.int64],
    limit: int | None,
) -> npt.NDArray[np.intp]:
    """Positions by score, then value, LOI, network and id (``rank``'s order), the best
    ``limit`` only when given. Only the candidates scoring at least the ``limit``-th best score
    are sorted: none below it can be among the best, and ties at it are all kept."""
    positions: npt.NDArray[np.intp] = np.arange(len(scores))
    if limit is not None and limit < len(scores) and not np.isnan(scores).any():
        cutoff = np.partition(scores, len(scores) - max(limit, 1))[len(scores) - max(limit, 1)]
        positions = np.flatnonzero(scores >= cutoff)
    # np.lexsort sorts by its last key first: score, then value, LOI, network, id.
    keys = (ids, network_order, loi_minutes, -value, -scores)
    order = positions[np.lexsort(tuple(key[positions] for key in keys))]
    return order if limit is None else order[:limit]


def _qualify_column(
    incidence_rate: npt.NDArray[np.float64], known_qualified: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    if _whole_within(incidence_rate, 100):
        return _QUALIFY_TABLE[known_qualified.astype(np.intp), incidence_rate.astype(np.intp)]
    qualify = np.empty(len(incidence_rate), dtype=np.float64)
    for known in (False, True):
        chosen = known_qualified == known
        qualify[chosen] = _lookup(
            incidence_rate[chosen],
            _QUALIFY_TABLE[int(known)],
            partial(qualify_probability, known_qualified=known),
        )
    return qualify


def _lookup(
    column: npt.NDArray[np.float64],
    table: npt.NDArray[np.float64],
    function: Callable[[float], float],
) -> npt.NDArray[np.float64]:
    """``function`` of each element: read from ``table`` (``function`` of 0, 1, 2 …) when
    every element is a whole number the table covers, else evaluated once per distinct
    element."""
    if _whole_within(column, len(table) - 1):
        found: npt.NDArray[np.float64] = table[column.astype(np.intp)]
        return found
    distinct, inverse = np.unique(column, return_inverse=True)
    values = np.array([function(float(item)) for item in distinct], dtype=np.float64)
    return values[inverse] if len(distinct) else np.zeros(0, dtype=np.float64)


def _whole_within(column: npt.NDArray[np.float64], highest: int) -> bool:
    """Whether every element is one of 0, 1, … ``highest`` (an empty column is)."""
    if not len(column):
        return True
    return bool(
        column.min() >= 0 and column.max() <= highest and (column == np.floor(column)).all()
    )
