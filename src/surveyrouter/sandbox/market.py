"""A deterministic synthetic REX market: opportunities, their collections, and respondents.

Opportunities come out exactly as REX's registry sends them (`/receive-notifications`,
`/get-opportunity`): plain JSON-ready dicts with every field of REX §3.1, cells of every kind in
§4, and filters/quotas shaped as in §5. The matching benchmark feeds them to the matcher; the
sandbox exchange serves them.

Figures follow `specs/market.md`: LOI, IR, completes and days in field are its published
quantiles (§2); CPI is its fitted IR/LOI curve at wholesale (0.45 of the reseller price), by
country, with B2B projects (category BUSINESS, one in ten) at 4-5x (§1); about 73 % of surveys
accept phones (§2); attributes are targeted most-targeted first, age, gender and postal code
ahead of the rest (§5), or by the weights they are given, per country and for B2B projects.
Targeting follows the REX fixtures: shared gender and age-bracket cells, interlocked gender × age
quotas and layered ones, postal COLLECTION filters, negated LISTs, attribute-28 exclusions.
`tests/unit/sandbox/test_market.py` pins each figure.

Everything is drawn from one `random.Random(seed)`: the same arguments always give the same market,
on any machine, and the clock is never read. A `Continuation` draws a later batch of the same
market (its catalogue, new ids) for the sandbox's market simulation. Generation is tuned for
volume (about 200,000 opportunities in well under a minute): categorical draws index precomputed
quantile tables with `getrandbits`, and tags and ids are formatted straight from random bits.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import itertools
import math
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from statistics import NormalDist
from typing import Any, Literal, TypeVar

__all__ = [
    "AGE_ATTRIBUTE",
    "AGE_BRACKETS",
    "BUSINESS_CATEGORY",
    "CATEGORY_IDS",
    "DEFAULT_AS_OF",
    "DEFAULT_LIVE_BASE_URL",
    "EXCLUSION_ATTRIBUTE",
    "GENDER_ATTRIBUTE",
    "POSTAL_ATTRIBUTE",
    "REQUIREMENTS",
    "TOTAL_QUOTA_ID",
    "Continuation",
    "Market",
    "MarketShape",
    "SyntheticAttribute",
    "generate_market",
    "generate_profiles",
]

T = TypeVar("T")

# A REX wire object (an opportunity, cell, filter or quota object), or a profile document.
Document = dict[str, Any]

# REX §7: the attribute ids REX targets the standard profile with.
GENDER_ATTRIBUTE = 1  # VALUE "1" male, "2" female
AGE_ATTRIBUTE = 80  # RANGE in years, derived from birth_date
POSTAL_ATTRIBUTE = 8  # COLLECTION of 5-digit ZIP codes (INFERRED in the spec)
EXCLUSION_ATTRIBUTE = 28  # (STATIC_)INVITE_COLLECTIONS exclusions, always negated

# REX §3.2 category ids.
CATEGORY_IDS: tuple[int, ...] = (
    *range(550, 579),
    581,
    582,
    583,
    587,
)
# REX §3.2 BUSINESS: the market's B2B projects carry it, and only they do.
BUSINESS_CATEGORY = 553

# REX §3.3: all eight are booleans and are present on every opportunity.
REQUIREMENTS: tuple[str, ...] = (
    "requires_recontact",
    "requires_pii_collection",
    "requires_webcam",
    "requires_eye_tracking",
    "requires_cookie_drops",
    "requires_sample_plus",
    "requires_app_vpn",
    "requires_manual_rewards",
)

# REX §3.4: the cell-less "total" quota object carries sha256("") as its id.
TOTAL_QUOTA_ID = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# The brackets buyers interlock with gender; `None` is REX's open upper bound (REX §4 RANGE).
AGE_BRACKETS: tuple[tuple[int, int | None], ...] = (
    (18, 24),
    (25, 34),
    (35, 44),
    (45, 54),
    (55, 64),
    (65, None),
)
_BROAD_AGE_BRACKETS: tuple[tuple[int, int | None], ...] = ((18, 34), (35, 54), (55, None))

DEFAULT_AS_OF = datetime(2026, 11, 23, tzinfo=UTC)
DEFAULT_LIVE_BASE_URL = "https://respondent.sandbox.invalid"

AttributeKind = Literal["single", "multi", "number"]


@dataclass(frozen=True)
class MarketShape:
    """The knobs of a synthetic market. The defaults are the matching benchmark's market.

    Bounds are inclusive `(low, high)` pairs; shares are fractions in [0, 1].
    """

    filter_groups: tuple[int, int] = (2, 8)  # per opportunity
    quota_groups: tuple[int, int] = (1, 3)  # per opportunity
    # Per quota group. A "total" quota group (one object, no cells, REX §3.4) is the one group
    # these bounds don't apply to: a total is a single object by definition.
    quota_objects: tuple[int, int] = (2, 8)
    negated_share: float = 0.10  # of all cells
    closed_or_zero_share: float = 0.10  # of quota objects: status CLOSED/PAUSED, or count 0
    ineffable_share: float = 0.05  # of all cells
    list_values: tuple[int, int] = (2, 10)  # values in a LIST cell
    postal_collection_share: float = 0.30  # of opportunities: a postal COLLECTION filter
    postal_collection_size: tuple[int, int] = (50, 500)  # ZIP codes per collection
    profile_attributes: tuple[int, int] = (5, 25)  # synthetic attributes a profile answers
    attribute_count: int = 40  # synthetic (non-standard) attributes
    attribute_answers: tuple[int, int] = (3, 15)  # answers per synthetic attribute
    postal_pool_size: int = 3000  # distinct ZIP-like codes, shared by collections and profiles
    postal_collection_count: int = 400  # distinct postal collections opportunities draw from
    age_filter_share: float = 0.85  # of opportunities: an age filter group
    gender_filter_share: float = 0.25  # of opportunities: a gender filter group
    exclusion_cell_share: float = 0.03  # of opportunities: an attribute-28 exclusion filter
    answered_share: float = 0.05  # of synthetic filter cells: kind ANSWERED
    project_exclusion_share: float = 0.10  # of opportunities
    category_exclusion_share: float = 0.05  # of opportunities

    def __post_init__(self) -> None:
        for name in (
            "filter_groups",
            "quota_groups",
            "quota_objects",
            "list_values",
            "postal_collection_size",
            "profile_attributes",
            "attribute_answers",
        ):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} must be 0 <= low <= high, got {(low, high)}")
        for name in (
            "negated_share",
            "closed_or_zero_share",
            "ineffable_share",
            "postal_collection_share",
            "age_filter_share",
            "gender_filter_share",
            "exclusion_cell_share",
            "answered_share",
            "project_exclusion_share",
            "category_exclusion_share",
        ):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {share}")
        if self.quota_objects[0] < 1:
            raise ValueError("a quota group holds at least one quota object")
        if self.list_values[0] < 1:
            raise ValueError("a LIST cell holds at least one value")
        if self.attribute_answers[0] < 2:
            raise ValueError("a synthetic attribute needs at least two answers")
        if self.attribute_count < 1:
            raise ValueError("attribute_count must be positive")
        if self.profile_attributes[1] > self.attribute_count:
            raise ValueError("profiles can't answer more attributes than the market has")
        if self.postal_pool_size < self.postal_collection_size[1]:
            raise ValueError("postal_pool_size must cover the largest postal collection")
        if self.postal_collection_count < 1:
            raise ValueError("postal_collection_count must be positive")


@dataclass(frozen=True)
class SyntheticAttribute:
    """A non-standard profile attribute of the synthetic market.

    `answers` are the answer ids REX would send in cells and accept from respondents, as strings.
    For "single" and "multi" (multi-punch) attributes they are globally unique integer ids; for
    "number" attributes they are the allowed integer values, targeted with RANGE cells.

    `weight` is how often buyers target the attribute, relative to the market's others; None
    ranks it by its place in the market's list, most-targeted first (see `_rank_weight`).
    `countries`, when not empty, are the only countries whose opportunities target it (ethnicity
    is a US question, say). `b2b_weight`, when set, replaces the weight on B2B projects (category
    BUSINESS), which target job title or industry more than consumer projects do.
    """

    id: int
    kind: AttributeKind
    answers: tuple[str, ...]
    weight: float | None = None
    countries: frozenset[str] = frozenset()
    b2b_weight: float | None = None

    def __post_init__(self) -> None:
        if self.weight is not None and not self.weight > 0:
            raise ValueError(f"attribute {self.id}: weight must be positive, got {self.weight}")
        if self.b2b_weight is not None and not self.b2b_weight > 0:
            raise ValueError(
                f"attribute {self.id}: b2b_weight must be positive, got {self.b2b_weight}"
            )


@dataclass(frozen=True)
class Continuation:
    """A follow-on batch of an existing market: new opportunities that open later.

    The batch shares the market's catalogue (attributes, postal and invite collections: the
    ones `generate_market`'s `seed` draws), so the collections its cells name are the market's,
    value for value. Its opportunities are drawn from `seed` instead, and every opportunity,
    project and quota-group id is at least the `first_*` given, so that ids above everything
    the market already holds are never reused.
    """

    seed: int
    first_id: int
    first_project_id: int = 0
    first_group_id: int = 0
    # New work has filled nothing yet: quota counts are their whole share of `completes`
    # instead of what is left of it at some point of the field time.
    fresh: bool = True


@dataclass(frozen=True)
class Market:
    opportunities: list[Document]  # REX wire JSON (REX §3.1)
    collections: dict[str, list[str]]  # COLLECTION cell id -> values (`/download-collection`)
    attributes: list[SyntheticAttribute]
    # Attribute-28 exclusion collection id -> member respondent ids (`/download-invite-collection`).
    invite_collections: dict[str, list[str]] = field(default_factory=dict)
    postal_codes: tuple[str, ...] = ()  # the ZIP pool collections and profiles draw from
    shape: MarketShape = field(default_factory=MarketShape)


def generate_market(
    count: int,
    seed: int = 0,
    shape: MarketShape = MarketShape(),
    live_base_url: str = DEFAULT_LIVE_BASE_URL,
    as_of: datetime = DEFAULT_AS_OF,
    attributes: Sequence[SyntheticAttribute] | None = None,
    continuation: Continuation | None = None,
) -> Market:
    """`count` opportunities in REX wire JSON, with everything they reference.

    `live_base_url` is the respondent gateway root each `links.live` starts from; `as_of` is the
    moment all `created`/`notified` timestamps fall before (naive means UTC). `attributes`, when
    given, are the non-standard attributes opportunities target (the sandbox passes the question
    library's, so that answers users give can qualify them) instead of `shape.attribute_count`
    random ones. `continuation`, when given, makes this a later batch of the market `seed` (and
    the same `shape` and `attributes`) drew: see `Continuation`.
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    if attributes is not None and not attributes:
        raise ValueError("attributes, when given, must not be empty")
    with _collector_paused():
        builder = _MarketBuilder(seed, shape, live_base_url, as_of, attributes)
        return builder.build(count, continuation)


def generate_profiles(
    market: Market,
    count: int,
    seed: int = 0,
    reference_date: date = date(2026, 11, 23),
    negative_answer_share: float = 0.05,
    participation_share: float = 0.08,
) -> list[Document]:
    """`count` US respondent profiles to match against `market`.

    Each has the standard profile (gender, birth date, postal code) and answers to some of the
    market's synthetic attributes. `negative_answer_share` of them carry one negative answer
    value ("-5": postal code unsupported, "-1"; REX §4), and `participation_share` of them have
    past projects and categories that some opportunities exclude. Birth dates are relative to
    `reference_date`, never the clock.
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    return _ProfileBuilder(
        market, seed, reference_date, negative_answer_share, participation_share
    ).build(count)


# ---------------------------------------------------------------------------------------------
# Distributions (specs/market.md §1, §2). Categorical draws index a 4096-entry quantile table.

_TABLE_BITS = 12
_TABLE_SIZE = 1 << _TABLE_BITS


def _quantile_table(pairs: Sequence[tuple[T, float]]) -> tuple[T, ...]:
    """Values laid out by their weights, so `table[getrandbits(12)]` draws from the distribution."""
    values = [value for value, _ in pairs]
    cumulative = list(itertools.accumulate(weight for _, weight in pairs))
    total = cumulative[-1]
    return tuple(
        values[bisect.bisect_left(cumulative, (i + 0.5) / _TABLE_SIZE * total)]
        for i in range(_TABLE_SIZE)
    )


def _lognormal_table(median: float, p90: float, low: float, high: float) -> tuple[float, ...]:
    sigma = math.log(p90 / median) / NormalDist().inv_cdf(0.9)
    normal = NormalDist()
    return tuple(
        min(high, max(low, median * math.exp(sigma * normal.inv_cdf((i + 0.5) / _TABLE_SIZE))))
        for i in range(_TABLE_SIZE)
    )


def _knot_table(knots: Sequence[tuple[float, float]]) -> tuple[float, ...]:
    """The quantile function through `(cumulative share, value)` knots, log-linear between them.

    Knots start at share 0 (the minimum) and end at 1 (the maximum); values are positive.
    """
    shares = [share for share, _ in knots]
    logs = [math.log(value) for _, value in knots]
    table = []
    for i in range(_TABLE_SIZE):
        q = (i + 0.5) / _TABLE_SIZE
        right = min(bisect.bisect_right(shares, q), len(knots) - 1)
        left = right - 1
        fraction = (q - shares[left]) / (shares[right] - shares[left])
        table.append(math.exp(logs[left] + fraction * (logs[right] - logs[left])))
    return tuple(table)


def _spread(low: int, high: int, share: float) -> list[tuple[int, float]]:
    return [(value, share / (high - low + 1)) for value in range(low, high + 1)]


# market.md §2 (invoiced jobs [D]) gives quantiles; each table is the quantile function through
# them, log-linear between knots, with extra knots where a published share pins a tail.
# LOI: p10 6.9, p25 9.9, median 14.4, p75 18.5, p90 25.3 min; <=5 min 3 %, >30 min 4 %; REX
# surveys run 3-45 minutes.
_LOI = tuple(
    round(value)
    for value in _knot_table(
        [(0.0, 3), (0.03, 5), (0.10, 6.9), (0.25, 9.9), (0.50, 14.4), (0.75, 18.5),
         (0.90, 25.3), (0.96, 30), (1.0, 45)]
    )
)  # fmt: skip
# IR (%): p10 4.6, p25 10.8, median 22.8, p75 52.7, p90 85; REX sends whole percents.
_INCIDENCE = tuple(
    round(value)
    for value in _knot_table(
        [(0.0, 1), (0.10, 4.6), (0.25, 10.8), (0.50, 22.8), (0.75, 52.7), (0.90, 85),
         (1.0, 100)]
    )
)  # fmt: skip
# Completes per quota group: p10 35, p25 107, median 362, p75 1,000, p90 ~1,950, max 26k.
_COMPLETES = tuple(
    int(round(value, -1) if value >= 100 else round(value))
    for value in _knot_table(
        [(0.0, 10), (0.10, 35), (0.25, 107), (0.50, 362), (0.75, 1000), (0.90, 1950),
         (0.99, 8000), (1.0, 26000)]
    )
)  # fmt: skip
# Days in field: p10 7, p25 11, median 18, p75 28, p90 36.
_DAYS_IN_FIELD = tuple(
    round(value)
    for value in _knot_table(
        [(0.0, 2), (0.10, 7), (0.25, 11), (0.50, 18), (0.75, 28), (0.90, 36), (0.99, 60),
         (1.0, 90)]
    )
)  # fmt: skip
# Price noise around the curve: about ±25% at one sigma.
_CPI_NOISE = _lognormal_table(1.0, 1.35, 0.4, 2.5)

# market.md §1 fitted curve [D]: ln CPI = 1.048 - 0.424 ln(IR) + 0.191 ln(LOI), IR as a
# fraction, LOI in minutes. That is a reseller's sell price; exchange wholesale is about 0.45 of
# it [E], which puts US general population at about $2-$4 at IR 20-50 %, LOI 10-15 min.
_CPI_LEVEL = math.exp(1.048) * 0.45
# B2B audiences (category BUSINESS) cost 4-5x a consumer one at the same IR and LOI (market.md
# §1: lost-bid B2B median $44 against $9 consumer); about one project in ten is B2B (355 of the
# 2,651 lost-bid sample lines were tagged B2B).
_B2B_SHARE = 0.10
_B2B_MULTIPLE = (4.0, 5.0)
_CPI_RANGE = (0.50, 50.00)
_IR_FACTOR = tuple(0.0 if ir == 0 else (ir / 100) ** -0.424 for ir in range(101))
_LOI_FACTOR = tuple(0.0 if loi == 0 else loi**0.191 for loi in range(61))

# (language, country, CPI factor): ~60% US; market.md §1 puts UK/DE/FR near US prices, CA lower.
_LOCALES = _quantile_table(
    [
        (("en", "US", 1.00), 60),
        (("en", "GB", 0.95), 10),
        (("de", "DE", 0.90), 7),
        (("fr", "FR", 0.90), 6),
        (("en", "CA", 0.80), 6),
        (("fr", "CA", 0.80), 2),
        (("en", "AU", 0.90), 5),
        (("es", "ES", 0.75), 2),
        (("it", "IT", 0.75), 2),
    ]
)
# market.md §2: ~25-30% of surveys desktop-only, 70-75% accept phones.
_DEVICES = _quantile_table(
    [
        (("desktop", "mobile", "tablet"), 52),
        (("desktop",), 24),
        (("desktop", "tablet"), 3),
        (("desktop", "mobile"), 12),
        (("mobile", "tablet"), 4),
        (("mobile",), 5),
    ]
)
_STATUS = _quantile_table([("OPEN", 90), ("PAUSED", 7), ("CLOSED", 3)])
_EVALUATION = _quantile_table([("COMPLETES", 92), ("STARTS", 8)])
# SOCIAL_RESEARCH and ADHOC dominate general-population work; the rest share what is left.
# BUSINESS marks the B2B projects, so a consumer project never draws it (exclusions may).
_CATEGORY_WEIGHTS = [
    (category, 12 if category in (572, 587) else 1.6 if category in (561, 565, 562) else 1)
    for category in CATEGORY_IDS
]
_CATEGORIES = _quantile_table(_CATEGORY_WEIGHTS)
_CONSUMER_CATEGORIES = _quantile_table(
    [(category, weight) for category, weight in _CATEGORY_WEIGHTS if category != BUSINESS_CATEGORY]
)
# Broad age filters recur across the market, so the same (80, range) targets are shared widely.
_AGE_FILTERS = _quantile_table(
    [
        ((18, 99), 30),
        ((18, None), 20),
        ((18, 64), 9),
        ((18, 54), 7),
        ((25, 54), 7),
        ((21, None), 6),
        ((18, 34), 5),
        ((25, 64), 5),
        ((35, None), 5),
        ((45, None), 3),
        ((55, None), 3),
    ]
)
# Attribute ids REX keeps to itself; INEFFABLE cells point at them (REX §4, §7: 83 is GRL's
# example). The registry's schema also documents -1 for an ineffable cell's attribute id.
_HIDDEN_ATTRIBUTES = _quantile_table(
    [(83, 30), (96, 20), (633, 15), (1034, 10), (48741, 10), (-1, 15)]
)
_SHUFFLE_BITS = 8
_SAME_PROJECT_SHARE = 0.35  # opportunities that are another quota group of the previous project
_REQUIREMENT_SHARE = 0.06  # opportunities with one requirement set
_MULTI_OBJECT_FILTER_SHARE = 0.15  # synthetic filter groups with 2-3 OR'd objects

_QUOTA_KINDS_FIRST = _quantile_table(
    [("interlock", 55), ("total", 15), ("age", 12), ("gender", 8), ("synthetic", 10)]
)
_QUOTA_KINDS_LATER = _quantile_table(
    [("age", 30), ("gender", 20), ("synthetic", 40), ("total", 10)]
)

# RFC 4122 version-4 UUIDs from 128 random bits: set the version nibble and the variant bits.
_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID_SET = (0x4 << 76) | (0x2 << 62)
_EPOCH_DAY = date(1970, 1, 1).toordinal()


def _uuid4(bits: int) -> str:
    digits = (bits & _UUID_CLEAR | _UUID_SET).to_bytes(16).hex()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of acyclic dicts and lists.

    Left on, it rescans the growing market over and over and more than doubles the build time;
    nothing built here forms a cycle, so pausing it frees nothing late. On the way out the new
    objects are moved straight to the oldest generation (`freeze` then `unfreeze` splices lists,
    it scans nothing); otherwise the first young collection after `enable` would walk all of
    them once more, a few seconds at 200,000 opportunities. A process that froze objects itself
    (say, after preloading) keeps them frozen: then the splice is skipped.
    """
    was_enabled = gc.isenabled()
    splice = gc.get_freeze_count() == 0
    gc.disable()
    try:
        yield
    finally:
        if splice:
            gc.freeze()
            gc.unfreeze()
        if was_enabled:
            gc.enable()


def _shuffles(rng: random.Random, values: Sequence[T]) -> tuple[tuple[T, ...], ...]:
    """256 shuffles of `values`, each written out twice, for `_window` to draw subsets from.

    `random.sample` costs microseconds a call (it type-checks its population against an ABC);
    a window of a random shuffle at a random offset is as random for a market (256 orders x
    every offset) at a fraction of the cost.
    """
    shuffles = []
    for _ in range(1 << _SHUFFLE_BITS):
        order = list(values)
        rng.shuffle(order)
        shuffles.append(tuple(order + order))
    return tuple(shuffles)


def _window(rng: random.Random, shuffles: tuple[tuple[T, ...], ...], size: int) -> list[T]:
    """`size` distinct values (at most all of them) in random order, from `_shuffles`."""
    order = shuffles[rng.getrandbits(_SHUFFLE_BITS)]
    count = len(order) // 2
    start = int(rng.random() * count)
    return list(order[start : start + min(size, count)])


def _rank_weight(rank: int) -> float:
    """How often the attribute at `rank` (0: the most targeted) is drawn, relatively.

    market.md §5 ranks what buyers target (Lucid's priority list: age, gender and ZIP; then
    ethnicity; income, education, employment; job and children; ...) but publishes no counts. A
    gentle slope keeps every attribute in use: the first of 30 is drawn about 4.7x as often as
    the last, and even the first is targeted less often than a postal collection is.
    """
    return 1 / (rank + 8)


def _attribute_tables(
    attributes: Sequence[SyntheticAttribute], business: bool = False
) -> dict[str | None, tuple[SyntheticAttribute, ...]]:
    """Quantile tables of attributes by targeting weight, per country (None: any other); with
    `business`, for B2B projects (an attribute's `b2b_weight` over its weight)."""

    def weight(rank: int, attribute: SyntheticAttribute) -> float:
        if business and attribute.b2b_weight is not None:
            return attribute.b2b_weight
        return _rank_weight(rank) if attribute.weight is None else attribute.weight

    weighted = [(attribute, weight(rank, attribute)) for rank, attribute in enumerate(attributes)]
    countries = sorted({country for attribute in attributes for country in attribute.countries})
    tables: dict[str | None, tuple[SyntheticAttribute, ...]] = {}
    for country in [None, *countries]:
        fitting = [
            (attribute, weight)
            for attribute, weight in weighted
            if not attribute.countries or country in attribute.countries
        ]
        # A country every attribute is kept from still needs something to target.
        tables[country] = _quantile_table(fitting or weighted)
    return tables


def _count_table(low: int, high: int) -> tuple[int, ...]:
    """Counts in [low, high], each 0.8x as likely as the one below: a few groups is typical."""
    return _quantile_table([(n, 0.8 ** (n - low)) for n in range(low, high + 1)])


# ---------------------------------------------------------------------------------------------


# Recent catalogues by (seed, shape, given attributes): see `_MarketBuilder._catalogue`. Their
# values are never mutated; a Market gets copies of what it exposes.
_CATALOGUES: dict[tuple[Any, ...], tuple[dict[str, Any], tuple[Any, ...]]] = {}
_CATALOGUE_CACHE_SIZE = 4
_CATALOGUE_LOCK = threading.Lock()


class _MarketBuilder:
    def __init__(
        self,
        seed: int,
        shape: MarketShape,
        live_base_url: str,
        as_of: datetime,
        attributes: Sequence[SyntheticAttribute] | None = None,
    ) -> None:
        self.given_attributes = list(attributes) if attributes is not None else None
        self.seed = seed
        self.rng = random.Random(seed)
        self.random = self.rng.random
        self.bits = self.rng.getrandbits
        self.shape = shape
        self.live_base_url = live_base_url.rstrip("/")
        if as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=UTC)
        self.as_of_ms = int(as_of.timestamp() * 1000)
        self.day_prefixes: dict[int, str] = {}
        self.filter_group_counts = _count_table(*shape.filter_groups)
        self.quota_group_counts = _count_table(*shape.quota_groups)
        self.interlock_brackets = [
            b
            for b in range(1, len(AGE_BRACKETS) + 1)
            if shape.quota_objects[0] <= 2 * b <= shape.quota_objects[1]
        ]
        self.age_quota_brackets = [
            b
            for b in range(2, len(AGE_BRACKETS) + 1)
            if shape.quota_objects[0] <= b <= shape.quota_objects[1]
        ]
        self.gender_quota = shape.quota_objects[0] <= 2 <= shape.quota_objects[1]
        self.fresh = False
        # Running surpluses of INEFFABLE and negated cells still owed to reach the shape's shares
        # over the whole market; see `_finish_cells`.
        self.ineffable_owed = 0.0
        self.negation_owed = 0.0

    # -- market ---------------------------------------------------------------------------------

    def build(self, count: int, continuation: Continuation | None = None) -> Market:
        shape = self.shape
        self._catalogue()
        self.attribute_table = self.attribute_tables[None]

        self.next_opportunity_id = 20_000 + self.bits(12)
        self.next_project_id = 1_600_000 + self.bits(16)
        self.next_group_id = 112_500_000 + self.bits(20)
        self.next_order_number = 3000 + self.bits(10)
        if continuation is not None:
            # Everything above is the market's catalogue, drawn from its seed as it was; the
            # batch's opportunities come from their own seed, with ids past the given floors.
            self.rng.seed(continuation.seed)
            self.next_opportunity_id = continuation.first_id - 1
            self.next_project_id = max(self.next_project_id, continuation.first_project_id - 1)
            self.next_group_id = max(self.next_group_id, continuation.first_group_id - 1)
            self.next_order_number += self.bits(16)
            self.fresh = continuation.fresh
        self.project: _Project | None = None
        self.project_ids: list[int] = []
        wants_project_exclusions: list[Document] = []

        opportunities = []
        for _ in range(count):
            opportunity = self._opportunity()
            if self.random() < shape.project_exclusion_share:
                wants_project_exclusions.append(opportunity)
            opportunities.append(opportunity)
        self._exclude_projects(wants_project_exclusions)

        collections: dict[str, tuple[str, ...]] = {}
        invites: dict[str, tuple[str, ...]] = {}
        for opportunity in opportunities:
            for cell in opportunity["cells"]:
                kind = cell["kind"]
                if kind == "COLLECTION":
                    collections.setdefault(
                        cell["collection"], self.postal_collections[cell["collection"]]
                    )
                elif kind == "INVITE_COLLECTIONS" or kind == "STATIC_INVITE_COLLECTIONS":
                    for collection_id in cell["invite_collections"]:
                        invites.setdefault(collection_id, self.invite_collections[collection_id])
        return Market(
            opportunities=opportunities,
            collections={key: list(values) for key, values in sorted(collections.items())},
            attributes=list(self.attributes),
            invite_collections={key: list(values) for key, values in sorted(invites.items())},
            postal_codes=self.postal_codes,
            shape=shape,
        )

    def _catalogue(self) -> None:
        """Draw (or recall) what the opportunities target and reference: attributes, postal
        codes and collections, invite collections. They depend on the seed, the shape and the
        given attributes only, and a later batch (`Continuation`) of a market needs them again,
        so the last few are kept; the rng then continues from where the draw left it."""
        given = self.given_attributes
        key: tuple[Any, ...] | None = (
            self.seed,
            self.shape,
            None if given is None else tuple(given),
        )
        try:
            hash(key)
        except TypeError:  # attributes built with lists: not kept, drawn every time
            key = None
        with _CATALOGUE_LOCK:
            cached = None if key is None else _CATALOGUES.get(key)
        if cached is not None:
            catalogue, state = cached
            vars(self).update(catalogue)
            self.rng.setstate(state)
            return
        self.attributes = given or self._attributes()
        self.answer_orders = {
            attribute.id: _shuffles(self.rng, attribute.answers) for attribute in self.attributes
        }
        self.attribute_tables = _attribute_tables(self.attributes)
        self.b2b_attribute_tables = (
            _attribute_tables(self.attributes, business=True)
            if any(attribute.b2b_weight is not None for attribute in self.attributes)
            else self.attribute_tables
        )
        self.postal_codes = self._postal_codes()
        self.postal_collections = self._postal_collections()
        self.invite_collections = self._invite_collections()
        names = (
            "attributes",
            "answer_orders",
            "attribute_tables",
            "b2b_attribute_tables",
            "postal_codes",
            "postal_collections",
            "postal_collection_ids",
            "invite_collections",
            "invite_collection_ids",
        )
        if key is None:
            return
        with _CATALOGUE_LOCK:
            _CATALOGUES[key] = ({name: getattr(self, name) for name in names}, self.rng.getstate())
            while len(_CATALOGUES) > _CATALOGUE_CACHE_SIZE:
                del _CATALOGUES[next(iter(_CATALOGUES))]

    def _attributes(self) -> list[SyntheticAttribute]:
        shape = self.shape
        count = shape.attribute_count
        numbers = max(1, round(count * 0.10)) if count >= 3 else 0
        multis = max(1, round(count * 0.25)) if count >= 3 else 0
        kinds: list[AttributeKind] = ["number"] * numbers
        kinds += ["multi"] * multis
        kinds += ["single"] * (count - numbers - multis)
        self.rng.shuffle(kinds)
        # REX-looking ids: six digits, clear of the standard ids (REX §7 examples: 100262, 231302).
        ids = sorted(self.rng.sample(range(100_000, 260_000), count))
        next_answer = 20_000_100
        attributes = []
        for attribute_id, kind in zip(ids, kinds, strict=True):
            size = self.rng.randint(*shape.attribute_answers)
            if kind == "number":
                start = self.rng.choice((0, 1))
                answers = tuple(str(value) for value in range(start, start + size))
            else:
                answers = tuple(str(answer) for answer in range(next_answer, next_answer + size))
                next_answer += size + self.rng.randint(1, 40)
            attributes.append(SyntheticAttribute(attribute_id, kind, answers))
        return attributes

    def _postal_codes(self) -> tuple[str, ...]:
        return tuple(
            f"{code:05d}"
            for code in sorted(self.rng.sample(range(501, 99_951), self.shape.postal_pool_size))
        )

    def _postal_collections(self) -> dict[str, tuple[str, ...]]:
        low, high = self.shape.postal_collection_size
        collections = {}
        collection_id = 2_169_000 + self.bits(10)
        for _ in range(self.shape.postal_collection_count):
            collection_id += 1 + self.bits(8)
            codes = self.rng.sample(self.postal_codes, self.rng.randint(low, high))
            collections[str(collection_id)] = tuple(sorted(codes))
        self.postal_collection_ids = tuple(collections)
        return collections

    def _invite_collections(self) -> dict[str, tuple[str, ...]]:
        # Members are REX respondent ids of past participants: ten digits, never a profile's id.
        collections = {}
        collection_id = 2_171_000 + self.bits(10)
        for _ in range(40):
            collection_id += 1 + self.bits(6)
            members = self.rng.sample(
                range(2_790_000_000, 2_800_000_000), self.rng.randint(20, 200)
            )
            collections[f"{EXCLUSION_ATTRIBUTE}_{collection_id}"] = tuple(
                str(member) for member in sorted(members)
            )
        self.invite_collection_ids = tuple(collections)
        return collections

    def _exclude_projects(self, opportunities: list[Document]) -> None:
        # REX §3.1: ids of other projects whose participants this one turns away.
        project_ids = self.project_ids
        if len(project_ids) < 2:
            return
        for opportunity in opportunities:
            excluded = set()
            for _ in range(1 + int(self.random() * 4)):
                project_id = project_ids[int(self.random() * len(project_ids))]
                if project_id != opportunity["project_id"]:
                    excluded.add(project_id)
            opportunity["project_exclusions"] = sorted(excluded)

    # -- one opportunity --------------------------------------------------------------------------

    def _opportunity(self) -> Document:
        random_ = self.random
        bits = self.bits
        shape = self.shape
        project = self.project
        if project is None or random_() >= _SAME_PROJECT_SHARE:
            project = self.project = self._project()

        self.next_opportunity_id += 1 + bits(3)
        self.next_group_id += 1 + bits(6)
        incidence = _INCIDENCE[bits(_TABLE_BITS)]
        price = _CPI_LEVEL * project.cpi_factor * _IR_FACTOR[incidence] * _LOI_FACTOR[project.loi]
        price *= _CPI_NOISE[bits(_TABLE_BITS)]
        cost_per_interview = round(min(_CPI_RANGE[1], max(_CPI_RANGE[0], price)), 2)
        completes = _COMPLETES[bits(_TABLE_BITS)]
        created_ms = project.created_ms + bits(26)  # another group, up to ~18 h later
        notified_ms = created_ms + int(random_() * (self.as_of_ms - created_ms))

        self.cells: list[Document] = []
        self.synthetic_filter_cells: list[Document] = []
        self.negatable_cells: list[Document] = []
        self.negated_cells = 0
        filters = self._filters()
        quotas = self._quotas(completes)
        self._finish_cells()

        requirements = dict.fromkeys(REQUIREMENTS, False)
        if random_() < _REQUIREMENT_SHARE:
            requirements[REQUIREMENTS[int(random_() * len(REQUIREMENTS))]] = True
        category_exclusions: list[int] = []
        if random_() < shape.category_exclusion_share:
            category_exclusions = sorted(
                {_CATEGORIES[bits(_TABLE_BITS)] for _ in range(1 + int(random_() * 3))}
            )

        return {
            "id": self.next_opportunity_id,
            "status": _STATUS[bits(_TABLE_BITS)],
            "client_id": None,
            "length_of_interview": project.loi,
            "incidence_rate": incidence,
            "cost_per_interview": cost_per_interview,
            "completes": completes,
            "project_id": project.project_id,
            "group_id": self.next_group_id,
            "order_number": project.order_number,
            "evaluation": project.evaluation,
            "days_in_field": project.days_in_field,
            "category_ids": list(project.category_ids),
            "locale": {"language": project.language, "country": project.country},
            "devices": list(project.devices),
            "cells": self.cells,
            "filters": filters,
            "quotas": quotas,
            "links": {
                "live": f"{self.live_base_url}/start?ctx={self._tag()}&language={project.language}"
            },
            "created": self._timestamp(created_ms),
            "notified": self._timestamp(notified_ms),
            "project_exclusions": [],
            "category_exclusions": category_exclusions,
            "requirements": requirements,
        }

    def _project(self) -> _Project:
        bits = self.bits
        self.next_project_id += 1 + bits(4)
        self.next_order_number += 1 + bits(2)
        self.project_ids.append(self.next_project_id)
        language, country, cpi_factor = _LOCALES[bits(_TABLE_BITS)]
        days_in_field = _DAYS_IN_FIELD[bits(_TABLE_BITS)]
        tables = self.attribute_tables
        if self.random() < _B2B_SHARE:
            low, high = _B2B_MULTIPLE
            cpi_factor *= low + (high - low) * self.random()
            categories = [BUSINESS_CATEGORY]
            tables = self.b2b_attribute_tables
        else:
            categories = [_CONSUMER_CATEGORIES[bits(_TABLE_BITS)]]
        if self.random() < 0.2:
            categories.append(_CONSUMER_CATEGORIES[bits(_TABLE_BITS)])
        self.attribute_table = tables.get(country, tables[None])
        # Created within its time in field and a day before `as_of`, so that its later quota
        # groups (up to ~18 h later, see `_opportunity`) still precede `as_of`.
        created_ms = self.as_of_ms - 86_400_000 - int(self.random() * days_in_field * 86_400_000)
        return _Project(
            project_id=self.next_project_id,
            order_number=f"ORD-{self.next_order_number}-{bits(24):06x}",
            language=language,
            country=country,
            cpi_factor=cpi_factor,
            devices=_DEVICES[bits(_TABLE_BITS)],
            category_ids=tuple(sorted(set(categories))),
            loi=_LOI[bits(_TABLE_BITS)],
            days_in_field=days_in_field,
            evaluation=_EVALUATION[bits(_TABLE_BITS)],
            created_ms=created_ms,
        )

    # -- filters (REX §5: AND of groups, OR of objects, AND of cells) -----------------------------

    def _filters(self) -> list[list[Document]]:
        random_ = self.random
        shape = self.shape
        size = self.filter_group_counts[self.bits(_TABLE_BITS)]
        builders: list[Callable[[], list[Document]]] = []
        # Ordered by how much each must survive a small group budget: the postal share is a knob.
        if random_() < shape.postal_collection_share:
            builders.append(self._postal_filter)
        if random_() < shape.age_filter_share:
            builders.append(self._age_filter)
        if random_() < shape.gender_filter_share:
            builders.append(self._gender_filter)
        if random_() < shape.exclusion_cell_share:
            builders.append(self._exclusion_filter)
        if len(builders) > size:
            size = min(len(builders), shape.filter_groups[1])
            del builders[size:]
        groups = [build() for build in builders]
        for _ in range(size - len(groups)):
            groups.append(self._synthetic_filter())
        return groups

    def _postal_filter(self) -> list[Document]:
        collection = self.postal_collection_ids[
            int(self.random() * len(self.postal_collection_ids))
        ]
        cell: Document = {
            "tag": self._tag(),
            "attribute_id": POSTAL_ATTRIBUTE,
            "negate": False,
            "kind": "COLLECTION",
            "collection": collection,
        }
        self.cells.append(cell)
        self.negatable_cells.append(cell)
        return [self._filter_object([cell["tag"]])]

    def _age_filter(self) -> list[Document]:
        draw = self.random()
        if draw < 0.80:
            cell = self._range_cell(AGE_ATTRIBUTE, *_AGE_FILTERS[self.bits(_TABLE_BITS)])
            self.negatable_cells.append(cell)
            return [self._filter_object([cell["tag"]])]
        brackets = AGE_BRACKETS if self.random() < 0.7 else _BROAD_AGE_BRACKETS
        width = 2 + int(self.random() * 2)
        start = int(self.random() * (len(brackets) - width + 1))
        chosen = brackets[start : start + width]
        if draw < 0.95:
            # Ages OR'd: one object per bracket.
            objects = []
            for low, high in chosen:
                cell = self._range_cell(AGE_ATTRIBUTE, low, high)
                self.negatable_cells.append(cell)
                objects.append(self._filter_object([cell["tag"]]))
            return objects
        # Objects of two cells: e.g. men 18-34 or women 35-54.
        objects = []
        for low, high in chosen[:2]:
            gender = self._value_cell(GENDER_ATTRIBUTE, "1" if self.random() < 0.5 else "2")
            age = self._range_cell(AGE_ATTRIBUTE, low, high)
            objects.append(self._filter_object([gender["tag"], age["tag"]]))
        return objects

    def _gender_filter(self) -> list[Document]:
        cell = self._value_cell(GENDER_ATTRIBUTE, "1" if self.random() < 0.5 else "2")
        return [self._filter_object([cell["tag"]])]

    def _exclusion_filter(self) -> list[Document]:
        # REX §4 (/registry/exclusions): attribute 28, always negated, operator OR.
        kind = "STATIC_INVITE_COLLECTIONS" if self.random() < 0.6 else "INVITE_COLLECTIONS"
        ids = self.invite_collection_ids
        collections = [ids[int(self.random() * len(ids))]]
        if self.random() < 0.2:
            other = ids[int(self.random() * len(ids))]
            if other != collections[0]:
                collections.append(other)
        cell: Document = {
            "tag": self._tag(),
            "attribute_id": EXCLUSION_ATTRIBUTE,
            "negate": True,
            "kind": kind,
            "operator": "OR",
            "invite_collections": collections,
        }
        self.cells.append(cell)
        self.negated_cells += 1
        return [self._filter_object([cell["tag"]])]

    def _synthetic_filter(self) -> list[Document]:
        if self.random() >= _MULTI_OBJECT_FILTER_SHARE:
            return [self._filter_object([self._synthetic_filter_cell()["tag"]])]
        # 2-3 OR'd objects, now and then an object of two AND'ed cells.
        objects = []
        for _ in range(2 + int(self.random() * 2)):
            tags = [self._synthetic_filter_cell()["tag"]]
            if self.random() < 0.2:
                tags.append(self._synthetic_filter_cell()["tag"])
            objects.append(self._filter_object(tags))
        return objects

    def _synthetic_filter_cell(self) -> Document:
        random_ = self.random
        attribute = self.attribute_table[self.bits(_TABLE_BITS)]
        answers = attribute.answers
        draw = random_()
        if draw < self.shape.answered_share:
            cell = {
                "tag": self._tag(),
                "attribute_id": attribute.id,
                "negate": False,
                "kind": "ANSWERED",
            }
            self.cells.append(cell)
        elif attribute.kind == "number":
            low = high = None
            if random_() < 0.8:
                low = int(answers[int(random_() * len(answers))])
            if low is None or random_() < 0.8:
                floor = int(answers[0]) if low is None else low
                high = floor + int(random_() * (int(answers[-1]) - floor + 1))
            cell = self._range_cell(attribute.id, low, high)
        else:
            lows, highs = self.shape.list_values
            highs = min(highs, len(answers))
            draw = random_()
            if attribute.kind == "multi" and draw < 0.2 and lows <= highs:
                # contains-all-of (REX §4 LIST AND) only makes sense on multi-punch attributes.
                size = lows + int(random_() * (min(highs, max(lows, 3)) - lows + 1))
                cell = self._list_cell(attribute.id, self._subset(attribute, size), "AND")
            elif draw < 0.35 or lows > highs:
                cell = self._value_cell(attribute.id, answers[int(random_() * len(answers))])
            else:
                size = lows + int(random_() * (highs - lows + 1))
                cell = self._list_cell(attribute.id, self._subset(attribute, size), "OR")
        self.synthetic_filter_cells.append(cell)
        return cell

    def _filter_object(self, tags: list[str]) -> Document:
        return {"id": self.bits(256).to_bytes(32).hex(), "cells": tags}

    # -- quotas (REX §5: AND of groups, OR of OPEN objects with count > 0, AND of cells) ----------

    def _quotas(self, completes: int) -> list[list[Document]]:
        size = self.quota_group_counts[self.bits(_TABLE_BITS)]
        groups = []
        used: set[str] = set()
        for index in range(size):
            table = _QUOTA_KINDS_FIRST if index == 0 else _QUOTA_KINDS_LATER
            kind = table[self.bits(_TABLE_BITS)]
            if (kind in used and kind != "synthetic") or not self._quota_fits(kind):
                kind = "synthetic"
            used.add(kind)
            # Counts are what is left to fill (INFERRED, REX §5.4), so they sum to at most about
            # the completes requested; a fresh batch has filled nothing yet.
            if self.fresh:
                remaining = completes
            else:
                remaining = max(1, int(completes * (0.1 + 0.9 * self.random())))
            if kind == "interlock":
                groups.append(self._interlock_quota(remaining))
            elif kind == "total":
                groups.append([self._quota_object(TOTAL_QUOTA_ID, [], remaining)])
            elif kind == "age":
                groups.append(self._age_quota(remaining))
            elif kind == "gender":
                groups.append(self._gender_quota(remaining))
            else:
                groups.append(self._synthetic_quota(remaining))
        return groups

    def _quota_fits(self, kind: str) -> bool:
        if kind == "interlock":
            return bool(self.interlock_brackets)
        if kind == "age":
            return bool(self.age_quota_brackets)
        if kind == "gender":
            return self.gender_quota
        return True

    def _interlock_quota(self, remaining: int) -> list[Document]:
        # The REX §3.4 pattern: objects of (gender, age bracket), one gender and one bracket cell
        # each, shared by every object they appear in.
        count = self.interlock_brackets[int(self.random() * len(self.interlock_brackets))]
        brackets = _BROAD_AGE_BRACKETS if count <= 3 and self.random() < 0.3 else AGE_BRACKETS
        start = int(self.random() * (len(brackets) - count + 1))
        ages = [
            self._range_cell(AGE_ATTRIBUTE, low, high)["tag"]
            for low, high in brackets[start : start + count]
        ]
        genders = [
            self._value_cell(GENDER_ATTRIBUTE, "1")["tag"],
            self._value_cell(GENDER_ATTRIBUTE, "2")["tag"],
        ]
        share = remaining / (2 * count)
        return [
            self._quota_object(self._hex_id(), [gender, age], self._share_count(share))
            for gender in genders
            for age in ages
        ]

    def _age_quota(self, remaining: int) -> list[Document]:
        count = self.age_quota_brackets[int(self.random() * len(self.age_quota_brackets))]
        brackets = _BROAD_AGE_BRACKETS if count <= 3 and self.random() < 0.3 else AGE_BRACKETS
        start = int(self.random() * (len(brackets) - count + 1))
        share = remaining / count
        return [
            self._quota_object(
                self._hex_id(),
                [self._range_cell(AGE_ATTRIBUTE, low, high)["tag"]],
                self._share_count(share),
            )
            for low, high in brackets[start : start + count]
        ]

    def _gender_quota(self, remaining: int) -> list[Document]:
        share = remaining / 2
        return [
            self._quota_object(
                self._hex_id(),
                [self._value_cell(GENDER_ATTRIBUTE, value)["tag"]],
                self._share_count(share),
            )
            for value in ("1", "2")
        ]

    def _synthetic_quota(self, remaining: int) -> list[Document]:
        # Layered buckets on one attribute: one VALUE per answer, LISTs of neighbouring answers, or
        # RANGE bands of a number.
        low, high = self.shape.quota_objects
        attribute = self.attribute_table[self.bits(_TABLE_BITS)]
        answers = attribute.answers
        count = low + int(self.random() * (min(high, 8) - low + 1)) if low <= 8 else low
        width = len(answers) // count
        lows, highs = self.shape.list_values
        list_width = min(max(width, lows), highs, len(answers))
        cells = []
        if attribute.kind == "number":
            step = max(1, width)
            for index in range(count):
                start = int(answers[(index * step) % len(answers)])
                end = None if index == count - 1 else start + step - 1
                cells.append(self._range_cell(attribute.id, start, end))
        elif width <= 1 or list_width < lows:
            offset = int(self.random() * len(answers))
            for index in range(count):
                cells.append(
                    self._value_cell(attribute.id, answers[(offset + index) % len(answers)])
                )
        else:
            width = list_width
            offset = int(self.random() * len(answers))
            for index in range(count):
                start = offset + index * width
                values = [answers[(start + j) % len(answers)] for j in range(width)]
                cells.append(self._list_cell(attribute.id, values, "OR"))
        self.negatable_cells.extend(cells)
        share = remaining / count
        return [
            self._quota_object(self._hex_id(), [cell["tag"]], self._share_count(share))
            for cell in cells
        ]

    def _share_count(self, share: float) -> int:
        return max(1, int(share * (0.5 + self.random())))

    def _quota_object(self, quota_id: str, tags: list[str], count: int) -> Document:
        status = "OPEN"
        if self.random() < self.shape.closed_or_zero_share:
            draw = self.random()
            if draw < 0.45:
                status = "CLOSED"
            elif draw < 0.65:
                status = "PAUSED"
            else:
                count = 0
        return {"id": quota_id, "cells": tags, "count": count, "status": status}

    # -- cells ----------------------------------------------------------------------------------

    def _finish_cells(self) -> None:
        """Turn some synthetic filter cells INEFFABLE and negate others, to the shape's shares.

        Shares are of all cells, but only some cells can take either change (an interlocked gender
        cell is never negated), so the owed amount is carried across opportunities: over the market
        the shares come out as configured even when one opportunity has no candidate.
        """
        random_ = self.random
        total = len(self.cells)
        candidates = self.synthetic_filter_cells
        self.ineffable_owed += self.shape.ineffable_share * total
        negatable = self.negatable_cells
        if candidates:
            chance = self.ineffable_owed / len(candidates)
            for cell in candidates:
                if random_() < chance:
                    self.ineffable_owed -= 1
                    # REX §4: INEFFABLE targeting the partner can't evaluate; its attribute is
                    # one REX doesn't expose.
                    attribute_id = _HIDDEN_ATTRIBUTES[self.bits(_TABLE_BITS)]
                    tag = cell["tag"]
                    cell.clear()
                    cell.update(tag=tag, attribute_id=attribute_id, negate=False, kind="INEFFABLE")
                else:
                    negatable.append(cell)
        self.negation_owed += self.shape.negated_share * total - self.negated_cells
        if negatable:
            chance = self.negation_owed / len(negatable)
            for cell in negatable:
                if random_() < chance:
                    self.negation_owed -= 1
                    cell["negate"] = True

    def _value_cell(self, attribute_id: int, value: str) -> Document:
        cell = {
            "tag": self._tag(),
            "attribute_id": attribute_id,
            "negate": False,
            "kind": "VALUE",
            "value": value,
        }
        self.cells.append(cell)
        return cell

    def _subset(self, attribute: SyntheticAttribute, size: int) -> list[str]:
        return _window(self.rng, self.answer_orders[attribute.id], size)

    def _list_cell(self, attribute_id: int, values: list[str], operator: str) -> Document:
        cell = {
            "tag": self._tag(),
            "attribute_id": attribute_id,
            "negate": False,
            "kind": "LIST",
            "operator": operator,
            "list": values,
        }
        self.cells.append(cell)
        return cell

    def _range_cell(self, attribute_id: int, low: int | None, high: int | None) -> Document:
        cell = {
            "tag": self._tag(),
            "attribute_id": attribute_id,
            "negate": False,
            "kind": "RANGE",
            "range": {"from": low, "to": high},
        }
        self.cells.append(cell)
        return cell

    def _tag(self) -> str:
        return _uuid4(self.bits(128))

    def _hex_id(self) -> str:
        # REX §3.4: filter and quota ids are opaque 64-hex strings.
        return self.bits(256).to_bytes(32).hex()

    def _timestamp(self, epoch_ms: int) -> str:
        # RFC 3339 with milliseconds and Z, as REX sends `created` (REX §3.1).
        day, rest = divmod(epoch_ms, 86_400_000)
        prefix = self.day_prefixes.get(day)
        if prefix is None:
            prefix = self.day_prefixes[day] = date.fromordinal(_EPOCH_DAY + day).isoformat()
        hours, rest = divmod(rest, 3_600_000)
        minutes, rest = divmod(rest, 60_000)
        seconds, millis = divmod(rest, 1000)
        return f"{prefix}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


@dataclass(frozen=True, slots=True)
class _Project:
    """What the quota groups (opportunities) of one project have in common."""

    project_id: int
    order_number: str
    language: str
    country: str
    cpi_factor: float
    devices: tuple[str, ...]
    category_ids: tuple[int, ...]
    loi: int
    days_in_field: int
    evaluation: str
    created_ms: int


# ---------------------------------------------------------------------------------------------
# Profiles

# Online US panel age mix (years), weighted toward 25-54.
_PROFILE_AGES = _quantile_table(
    _spread(18, 24, 13)
    + _spread(25, 34, 20)
    + _spread(35, 44, 19)
    + _spread(45, 54, 17)
    + _spread(55, 64, 16)
    + _spread(65, 84, 15)
)
# market.md §2: a little over half of survey traffic is on phones.
_PROFILE_DEVICES = _quantile_table([("mobile", 55), ("desktop", 38), ("tablet", 7)])
_IN_POOL_POSTAL_SHARE = 0.9  # the rest live in ZIPs no collection lists
_ADULT_DAYS = 18 * 366 + 1  # at least 18 years, whatever the leap days


class _ProfileBuilder:
    def __init__(
        self,
        market: Market,
        seed: int,
        reference_date: date,
        negative_answer_share: float,
        participation_share: float,
    ) -> None:
        self.market = market
        self.rng = random.Random(seed)
        self.reference_date = reference_date
        self.negative_answer_share = negative_answer_share
        self.participation_share = participation_share
        excluded_projects = sorted(
            {p for o in market.opportunities for p in o["project_exclusions"]}
        )
        self.past_projects = excluded_projects or sorted(
            {o["project_id"] for o in market.opportunities}
        )
        excluded_categories = sorted(
            {c for o in market.opportunities for c in o["category_exclusions"]}
        )
        self.past_categories = excluded_categories or list(CATEGORY_IDS)
        self.attribute_orders = _shuffles(self.rng, market.attributes)
        self.answer_orders = {
            attribute.id: _shuffles(self.rng, attribute.answers)
            for attribute in market.attributes
            if attribute.kind == "multi"
        }

    def build(self, count: int) -> list[Document]:
        with _collector_paused():
            return [self._profile() for _ in range(count)]

    def _profile(self) -> Document:
        rng = self.rng
        bits = rng.getrandbits
        market = self.market
        low, high = market.shape.profile_attributes
        age = _PROFILE_AGES[bits(_TABLE_BITS)]
        days = max(_ADULT_DAYS, int((age + rng.random()) * 365.2425))
        birth_date = self.reference_date - timedelta(days=days)
        if market.postal_codes and rng.random() < _IN_POOL_POSTAL_SHARE:
            postal_code = market.postal_codes[int(rng.random() * len(market.postal_codes))]
        else:
            postal_code = f"{rng.randrange(501, 99_951):05d}"

        answers: dict[str, list[str]] = {}
        wanted = low + int(rng.random() * (high - low + 1))
        answered = _window(rng, self.attribute_orders, min(wanted, len(market.attributes)))
        for attribute in answered:
            if attribute.kind == "multi":
                picks = _window(rng, self.answer_orders[attribute.id], 1 + int(rng.random() * 3))
            else:
                picks = [attribute.answers[int(rng.random() * len(attribute.answers))]]
            answers[str(attribute.id)] = picks
        if answers and rng.random() < self.negative_answer_share:
            # REX §4: -5 means "derived from an unsupported postal code"; other negatives exist too.
            attribute = answered[int(rng.random() * len(answered))]
            answers[str(attribute.id)] = ["-5" if rng.random() < 0.5 else "-1"]

        projects: list[int] = []
        categories: list[int] = []
        if rng.random() < self.participation_share:
            size = min(len(self.past_projects), rng.randint(1, 3))
            projects = sorted(set(rng.sample(self.past_projects, size)))
            if rng.random() < 0.5:
                size = min(len(self.past_categories), rng.randint(1, 2))
                categories = sorted(set(rng.sample(self.past_categories, size)))

        return {
            "respondent_id": self._respondent_id(),
            "country": "US",
            "language": "en",
            "device": _PROFILE_DEVICES[bits(_TABLE_BITS)],
            "gender": "male" if rng.random() < 0.49 else "female",
            "birth_date": birth_date.isoformat(),
            "postal_code": postal_code,
            "answers": answers,
            "participation": {"projects": projects, "categories": categories},
            "invites": [],
            "collections": {},
        }

    def _respondent_id(self) -> str:
        return _uuid4(self.rng.getrandbits(128))
