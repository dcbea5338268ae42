"""The fast matcher gives the reference evaluator's verdict for every opportunity and profile."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surveyrouter.domain.matcher import Matcher
from surveyrouter.domain.opportunity import (
    Cell,
    CellKind,
    Device,
    Opportunity,
    OpportunityStatus,
    QuotaObject,
)
from surveyrouter.domain.profile import Gender, Profile
from surveyrouter.domain.targeting import Result, evaluate
from surveyrouter.networks.rex.opportunities import parse_opportunity

from .strategies import collection_contents, opportunities, profiles

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def assert_agrees(
    matcher: Matcher,
    live: Sequence[Opportunity],
    profile: Profile,
    collections: Mapping[str, frozenset[str]],
) -> None:
    result = matcher.match(profile, AT)
    expected_unlock: dict[int, Decimal] = defaultdict(Decimal)
    assert int(result.eligible.sum() + result.unknown.sum()) <= len(live)
    for opportunity in live:
        verdict = evaluate(opportunity, profile, AT, collections)
        slot = matcher.slot_of(opportunity.network, opportunity.id)
        assert slot is not None
        context = (opportunity, profile, verdict)
        assert result.result_at(slot) is verdict.result, context
        assert bool(result.exact[slot]) is verdict.exact_match, context
        assert matcher.missing_attributes(result, slot) == verdict.missing_attributes, context
        missing = verdict.missing_attributes
        single = next(iter(missing)) if len(missing) == 1 else -1
        assert int(result.single_missing[slot]) == single, context
        waits_for_nothing = verdict.result is Result.UNKNOWN and not missing
        assert bool(result.prescreened[slot]) is waits_for_nothing, context
        if single != -1:
            expected_unlock[single] += opportunity.cpi
        assert matcher.verdict(result, opportunity, profile, AT, collections) == verdict, context
        fitted = matcher.fitted_quotas(result, opportunity) if opportunity.is_open else None
        if fitted is not None:
            assert fitted == verdict.matched_quotas, context
    assert dict(result.unlock) == dict(expected_unlock)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fast_matcher_equals_reference(data: st.DataObject) -> None:
    live = [data.draw(opportunities(i)) for i in range(data.draw(st.integers(1, 8)))]
    collections = data.draw(collection_contents)
    matcher = Matcher()
    matcher.add(live)
    matcher.add_collections(collections)
    for profile in data.draw(st.lists(profiles(), min_size=1, max_size=4)):
        assert_agrees(matcher, live, profile, collections)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_incremental_updates_equal_a_fresh_index(data: st.DataObject) -> None:
    """Adds, replacements, removals and late collections leave the index as if built anew."""
    matcher = Matcher()
    first = [data.draw(opportunities(i)) for i in range(data.draw(st.integers(1, 8)))]
    early = data.draw(collection_contents)
    matcher.add_collections(early)
    for opportunity in first:  # one at a time
        matcher.add([opportunity])
    replaced = {
        i: data.draw(opportunities(i)) for i in data.draw(st.sets(st.integers(0, len(first) - 1)))
    }
    matcher.add(replaced.values())  # a batch
    removed = data.draw(st.sets(st.integers(0, len(first) - 1)))
    matcher.remove(("test", i) for i in removed)
    late = data.draw(collection_contents)
    matcher.add_collections(late)
    added = [data.draw(opportunities(100 + i)) for i in range(data.draw(st.integers(0, 4)))]
    matcher.add(added)

    live = [replaced.get(o.id, o) for o in first if o.id not in removed] + added
    collections = {**late, **early}  # a known collection never changes
    assert len(matcher) == len(live)
    for profile in data.draw(st.lists(profiles(), min_size=1, max_size=3)):
        assert_agrees(matcher, live, profile, collections)


def mobile_us_opportunity(opportunity_id: int, **fields: Any) -> Opportunity:
    """An open US/en mobile opportunity of network "test", with ``fields`` on top."""
    return Opportunity(
        network="test",
        id=opportunity_id,
        status=OpportunityStatus.OPEN,
        country="US",
        language="en",
        cpi=Decimal("1.50"),
        loi_minutes=10,
        incidence_rate=50,
        devices=frozenset({Device.MOBILE}),
        live_link="https://example.invalid/start",
        **fields,
    )


def test_removed_opportunities_are_in_no_result() -> None:
    matcher = Matcher()
    opportunity = mobile_us_opportunity(1)
    profile = Profile(
        country="US",
        language="en",
        device=Device.MOBILE,
        gender=Gender.FEMALE,
        birth_date=date(1990, 5, 1),
    )
    matcher.add([opportunity])
    slot = matcher.slot_of("test", 1)
    assert slot is not None
    assert matcher.match(profile, AT).eligible[slot]
    matcher.remove([("test", 1)])
    result = matcher.match(profile, AT)
    assert not result.eligible.any()
    assert not result.unknown.any()
    assert len(matcher) == 0


def test_sample_opportunities_for_a_young_man_in_the_zip_collection(rex_fixtures: Path) -> None:
    """Hand-checked on Dynata's published samples: 12871 is closed, 13174 and 13231 take him,
    and 12872 waits only for attribute 100262, so answering it could unlock its $0.77."""
    notifications = json.loads((rex_fixtures / "receive_notifications.json").read_text())
    live = [parse_opportunity(raw, "rex") for raw in notifications]
    zips = frozenset((rex_fixtures / "download_collection.txt").read_text().split())
    collections = {"2169971": zips}
    matcher = Matcher()
    matcher.add(live)
    matcher.add_collections(collections)
    young_man = Profile(
        country="US",
        language="en",
        device=Device.MOBILE,
        gender=Gender.MALE,
        birth_date=date(2004, 3, 1),
        postal_code="10110",
    )
    result = matcher.match(young_man, AT)

    def slot(opportunity_id: int) -> int:
        found = matcher.slot_of("rex", opportunity_id)
        assert found is not None
        return found

    assert result.result_at(slot(12871)) is Result.INELIGIBLE
    assert result.result_at(slot(13174)) is Result.ELIGIBLE
    assert result.result_at(slot(13231)) is Result.ELIGIBLE
    assert result.result_at(slot(12872)) is Result.UNKNOWN
    assert int(result.single_missing[slot(12872)]) == 100262
    assert result.unlock == {100262: Decimal("0.77")}
    assert_agrees(matcher, live, young_man, collections)


def test_an_opportunity_the_index_cannot_hold_leaves_it_unchanged() -> None:
    base = Opportunity(
        network="test",
        id=7,
        status=OpportunityStatus.OPEN,
        country="US",
        language="en",
        cpi=Decimal("1"),
        loi_minutes=10,
        incidence_rate=50,
        devices=frozenset(Device),
        live_link="https://example.invalid/start",
    )
    matcher = Matcher()
    with pytest.raises(ValueError, match="CPI"):
        matcher.add([replace(base, cpi=Decimal("-1"))])
    assert len(matcher) == 0
    assert matcher.slot_of("test", 7) is None


def test_fitted_quotas_kept_for_an_opportunity_notice_an_atom_freed_and_reused_by_others() -> None:
    """An opportunity whose quota group folded to TRUE (an object without cells) does not hold
    its other objects' atoms; another opportunity's may stand in, and later be freed and its
    slot reused. What ``fitted_quotas`` kept must not read the new atom as the old one."""

    def quota_cell(value: str) -> Cell:
        return Cell(tag=f"c{value}", attribute_id=100, kind=CellKind.VALUE, values=(value,))

    def with_quotas(
        opportunity_id: int, *objects: QuotaObject, cells: tuple[Cell, ...]
    ) -> Opportunity:
        return mobile_us_opportunity(
            opportunity_id, cells={cell.tag: cell for cell in cells}, quotas=(tuple(objects),)
        )

    one, two = quota_cell("1"), quota_cell("2")
    folded = with_quotas(
        1,
        QuotaObject("q1", ("c1",), 5, OpportunityStatus.OPEN),
        QuotaObject("q2", (), 5, OpportunityStatus.OPEN),
        cells=(one,),
    )
    holder = with_quotas(2, QuotaObject("h", ("c1",), 5, OpportunityStatus.OPEN), cells=(one,))
    profile = Profile(country="US", language="en", device=Device.MOBILE, answers={100: ("2",)})
    expected = evaluate(folded, profile, AT, {}).matched_quotas
    matcher = Matcher()
    matcher.add([folded, holder])
    assert matcher.fitted_quotas(matcher.match(profile, AT), folded) == expected == ("q2",)

    matcher.remove([("test", 2)])
    newcomer = with_quotas(3, QuotaObject("n", ("c2",), 5, OpportunityStatus.OPEN), cells=(two,))
    matcher.add([newcomer])

    assert matcher.fitted_quotas(matcher.match(profile, AT), folded) in (None, expected)
