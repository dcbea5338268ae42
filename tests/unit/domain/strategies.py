"""Hypothesis strategies for opportunities and profiles that reach every targeting rule.

The pools are small on purpose: with few attributes, values and collections, random profiles
often hit, miss and half-answer the same cells, which is where evaluators disagree.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import strategies as st

from surveyrouter.domain.opportunity import (
    Cell,
    CellKind,
    Device,
    FilterObject,
    ListOperator,
    Opportunity,
    OpportunityStatus,
    QuotaObject,
)
from surveyrouter.domain.profile import Gender, Participation, Profile

ATTRIBUTES = [1, 8, 80, 101, 102, 103]
VALUES = ["1", "2", "3", "4"]
AGES = ["17", "18", "24", "25", "31", "40", "23.5", "24.5"]
ANSWERS = [*VALUES, *AGES, "x", "10110", "10120"]
COLLECTIONS = ["c1", "c2", "c3"]
INVITES = ["i1", "i2", "i3"]
PROJECTS = [1, 2, 3]
CATEGORIES = [572, 573, 999]

# Locale, device and history checks mostly pass, so that targeting decides most verdicts.
ALL_DEVICES = frozenset(Device)
DESKTOP_ONLY = frozenset({Device.DESKTOP})
statuses = st.sampled_from([OpportunityStatus.OPEN] * 3 + list(OpportunityStatus))


def rarely(sets: st.SearchStrategy[set[int]]) -> st.SearchStrategy[frozenset[int]]:
    return st.one_of(*[st.just(frozenset())] * 4, sets.map(frozenset))


# Bounds sit on and between the ages above, where off-by-one and rounding slips show.
bounds = st.sampled_from([None, 17, 18, 23, 24, 25, 31, 40])


@st.composite
def cells(draw: st.DrawFn, tag: str) -> Cell:
    kind = draw(st.sampled_from(list(CellKind)))
    attribute = draw(st.sampled_from([*ATTRIBUTES, -1]))
    negate = draw(st.booleans())
    operator = draw(st.sampled_from(list(ListOperator)))
    values: tuple[str, ...] = ()
    collection = None
    range_from = range_to = None
    if kind is CellKind.VALUE:
        values = (draw(st.sampled_from([*VALUES, *AGES[:3], "10110"])),)
    elif kind is CellKind.LIST:
        pool = st.sampled_from([*VALUES, "18", "10120"])
        values = tuple(draw(st.one_of(st.just([]), st.lists(pool, min_size=1, max_size=4))))
    elif kind is CellKind.RANGE:
        range_from, range_to = draw(bounds), draw(bounds)
    elif kind is CellKind.COLLECTION:
        collection = draw(st.sampled_from(COLLECTIONS))
    elif kind in (CellKind.INVITE_COLLECTIONS, CellKind.STATIC_INVITE_COLLECTIONS):
        values = tuple(draw(st.lists(st.sampled_from(INVITES), max_size=3)))
    return Cell(
        tag=tag,
        attribute_id=attribute,
        kind=kind,
        negate=negate,
        values=values,
        operator=operator,
        range_from=range_from,
        range_to=range_to,
        collection_id=collection,
    )


@st.composite
def opportunities(draw: st.DrawFn, identifier: int) -> Opportunity:
    count = draw(st.integers(0, 7))
    tags = [f"t{i}" for i in range(count)]
    cell_map = {tag: draw(cells(tag)) for tag in tags}
    # "dangling" names no cell: it must read as an INEFFABLE cell.
    tag_pool = st.sampled_from([*tags, "dangling"]) if tags else st.just("dangling")
    object_tags = st.lists(tag_pool, max_size=3).map(tuple)
    filters = draw(
        st.lists(
            st.lists(
                st.builds(FilterObject, id=st.just("f"), cell_tags=object_tags), max_size=3
            ).map(tuple),
            max_size=3,
        )
    )
    quota_objects = st.builds(
        QuotaObject,
        id=st.sampled_from(["q1", "q2", "q3", "q4"]),
        cell_tags=object_tags,
        count=st.integers(0, 3),
        status=statuses,
    )
    quotas = draw(st.lists(st.lists(quota_objects, max_size=3).map(tuple), max_size=3))
    return Opportunity(
        network="test",
        id=identifier,
        status=draw(st.sampled_from([OpportunityStatus.OPEN] * 4 + list(OpportunityStatus))),
        country=draw(st.sampled_from(["US"] * 5 + ["DE"])),
        language=draw(st.sampled_from(["en"] * 5 + ["de"])),
        cpi=draw(st.decimals(min_value=Decimal("0.10"), max_value=Decimal("9.99"), places=2)),
        loi_minutes=10,
        incidence_rate=50,
        devices=draw(st.sampled_from([ALL_DEVICES] * 4 + [DESKTOP_ONLY, frozenset()])),
        live_link="https://example.invalid/start",
        project_id=draw(st.sampled_from([*PROJECTS, None])),
        category_exclusions=draw(rarely(st.sets(st.sampled_from(CATEGORIES), max_size=1))),
        project_exclusions=draw(rarely(st.sets(st.sampled_from(PROJECTS), max_size=1))),
        cells=cell_map,
        filters=tuple(filters),
        quotas=tuple(quotas),
    )


NEGATIVE = ["-5", "-1"]
usable = st.lists(st.sampled_from(ANSWERS), min_size=1, max_size=3)
# Each shape the negative-answer rules tell apart: usable, all negative, mixed, and empty.
answer_lists = st.one_of(
    usable,
    st.lists(st.sampled_from(NEGATIVE), min_size=1, max_size=2),
    st.tuples(usable, st.sampled_from(NEGATIVE)).map(lambda pair: [*pair[0], pair[1]]),
    st.just([]),
).map(tuple)


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    answers = draw(st.dictionaries(st.sampled_from(ATTRIBUTES), answer_lists, max_size=4))
    return Profile(
        respondent_id="r1",
        country=draw(st.sampled_from(["US"] * 8 + ["DE", None])),
        language=draw(st.sampled_from(["en"] * 8 + ["de", None])),
        device=draw(st.sampled_from([Device.MOBILE] * 8 + [Device.DESKTOP, None])),
        gender=draw(st.one_of(st.none(), st.sampled_from(list(Gender)))),
        birth_date=draw(st.one_of(st.none(), st.dates(date(1950, 1, 1), date(2012, 12, 31)))),
        postal_code=draw(st.sampled_from(["10110", "10120", "99999", None])),
        answers=answers,
        participation=Participation(
            entered_projects=draw(rarely(st.sets(st.sampled_from(PROJECTS), max_size=1))),
            excluding_projects=draw(rarely(st.sets(st.sampled_from(PROJECTS), max_size=1))),
            excluding_categories=draw(rarely(st.sets(st.sampled_from(CATEGORIES), max_size=1))),
        ),
        invites=frozenset(draw(st.sets(st.sampled_from(INVITES), max_size=2))),
    )


collection_contents = st.dictionaries(
    st.sampled_from(COLLECTIONS),
    st.frozensets(st.sampled_from(["10110", "10120", "10150", "1", "2"]), max_size=3),
)
