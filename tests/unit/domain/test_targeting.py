"""The plain reference evaluator, rule by rule (REX spec §4–§5 as this project reads them).

Each test builds the smallest opportunity that shows one rule with the builders below; the
fixture tests at the end replay the real REX sample opportunities for hand-checked respondents.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
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
from surveyrouter.domain.profile import (
    AGE_ATTRIBUTE_ID,
    Gender,
    Participation,
    Profile,
    targeting_answers,
)
from surveyrouter.domain.targeting import Result, Verdict, evaluate, fitted_quotas
from surveyrouter.networks.rex.opportunities import parse_opportunity

from .strategies import collection_contents, opportunities, profiles

AT = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
GENDER, POSTAL_CODE, AGE = 1, 8, 80
OPEN = OpportunityStatus.OPEN
ZIPS = "zips"
COLLECTIONS = {ZIPS: frozenset({"10110", "10120"})}

ELIGIBLE, INELIGIBLE, UNKNOWN = Result.ELIGIBLE, Result.INELIGIBLE, Result.UNKNOWN

# REX §6.5 (disposition, status) pairs, spelled out so the numbers themselves are pinned.
NOT_OPEN = (3, 3)
COUNTRY = (2, 3)
LANGUAGE = (2, 4)
DEVICE = (2, 5)
DUPLICATE = (4, 1)
PROJECT_EXCLUSION = (4, 1)
CATEGORY_EXCLUSION = (4, 2)
FILTER = (2, 6)
QUOTA = (2, 7)
QUOTA_CELL_NOT_OPEN = (3, 20)


# --- builders ---------------------------------------------------------------------------------

_tags = itertools.count()


def _cell(kind: CellKind, attribute: int, negate: bool = False, **payload: Any) -> Cell:
    return Cell(
        tag=f"{kind.value.lower()}-{next(_tags)}",
        attribute_id=attribute,
        kind=kind,
        negate=negate,
        **payload,
    )


def value(attribute: int, answer: str, *, negate: bool = False) -> Cell:
    return _cell(CellKind.VALUE, attribute, negate, values=(answer,))


def listed(
    attribute: int, *answers: str, operator: ListOperator = ListOperator.OR, negate: bool = False
) -> Cell:
    return _cell(CellKind.LIST, attribute, negate, values=answers, operator=operator)


def between(attribute: int, low: int | None, high: int | None, *, negate: bool = False) -> Cell:
    return _cell(CellKind.RANGE, attribute, negate, range_from=low, range_to=high)


def in_collection(attribute: int, collection: str = ZIPS, *, negate: bool = False) -> Cell:
    return _cell(CellKind.COLLECTION, attribute, negate, collection_id=collection)


def answered(attribute: int, *, negate: bool = False) -> Cell:
    return _cell(CellKind.ANSWERED, attribute, negate)


def ineffable(attribute: int = 83, *, negate: bool = False) -> Cell:
    return _cell(CellKind.INEFFABLE, attribute, negate)


def unknown_kind(attribute: int = 500, *, negate: bool = False) -> Cell:
    return _cell(CellKind.UNKNOWN, attribute, negate)


def invited(
    *collections: str,
    operator: ListOperator = ListOperator.OR,
    negate: bool = False,
    kind: CellKind = CellKind.INVITE_COLLECTIONS,
) -> Cell:
    return _cell(kind, 238384, negate, values=collections, operator=operator)


def discarded(kind: CellKind = CellKind.VALUE) -> Cell:
    """A cell on attribute -1 that would fail anyone if it were evaluated."""
    return _cell(kind, -1, values=("never",))


Spec = tuple[Cell | str, ...]
"""An object's cells; a string is a tag that names no cell."""


@dataclass(frozen=True)
class Quota:
    cells: Spec
    id: str
    count: int
    status: OpportunityStatus


def quota(
    *cells: Cell | str, id: str = "q", count: int = 10, status: OpportunityStatus = OPEN
) -> Quota:
    return Quota(cells, id, count, status)


def _tags_of(cells: Spec, known: dict[str, Cell]) -> tuple[str, ...]:
    for cell in cells:
        if isinstance(cell, Cell):
            known[cell.tag] = cell
    return tuple(c.tag if isinstance(c, Cell) else c for c in cells)


def opportunity(
    *,
    filters: list[list[Spec]] | None = None,
    quotas: list[list[Quota]] | None = None,
    unreferenced: tuple[Cell, ...] = (),
    **fields: Any,
) -> Opportunity:
    """An open US/en opportunity for every device; filter groups hold objects (tuples of cells),
    quota groups hold ``quota(...)`` objects, and every cell used is registered by its tag."""
    cells = {cell.tag: cell for cell in unreferenced}
    built_filters = tuple(
        tuple(
            FilterObject(id=f"f{g}.{o}", cell_tags=_tags_of(spec, cells))
            for o, spec in enumerate(group)
        )
        for g, group in enumerate(filters or [])
    )
    built_quotas = tuple(
        tuple(
            QuotaObject(id=q.id, cell_tags=_tags_of(q.cells, cells), count=q.count, status=q.status)
            for q in group
        )
        for group in quotas or []
    )
    defaults: dict[str, Any] = {
        "network": "test",
        "id": 1,
        "status": OPEN,
        "country": "US",
        "language": "en",
        "cpi": Decimal("1.00"),
        "loi_minutes": 10,
        "incidence_rate": 50,
        "devices": frozenset(Device),
        "live_link": "https://example.invalid/start",
        "project_id": 100,
    }
    return Opportunity(
        **{**defaults, **fields}, cells=cells, filters=built_filters, quotas=built_quotas
    )


def filtered_by(*cells: Cell | str) -> Opportunity:
    """One filter group with one object holding ``cells``."""
    return opportunity(filters=[[cells]])


def quota_on(*cells: Cell | str) -> Opportunity:
    """One quota group with one open object holding ``cells``."""
    return opportunity(quotas=[[quota(*cells)]])


def respondent(answers: Mapping[int, tuple[str, ...]] | None = None, **fields: Any) -> Profile:
    """A US/en desktop respondent, so that targeting alone decides."""
    defaults: dict[str, Any] = {
        "respondent_id": "r1",
        "country": "US",
        "language": "en",
        "device": Device.DESKTOP,
    }
    return Profile(**{**defaults, **fields}, answers=dict(answers or {}))


def judge(
    target: Opportunity,
    profile: Profile | None = None,
    *,
    at: datetime = AT,
    collections: Mapping[str, frozenset[str]] = COLLECTIONS,
) -> Verdict:
    return evaluate(target, profile if profile is not None else respondent(), at, collections)


def code(verdict: Verdict) -> tuple[int, int] | None:
    return None if verdict.reason is None else (verdict.reason.disposition, verdict.reason.status)


def born(age: int) -> date:
    """A birth date that makes the respondent ``age`` at ``AT`` (birthday in January)."""
    return date(AT.year - age, 1, 10)


# --- discarded cells, empty objects and groups, dangling tags ---------------------------------


def test_discarded_cell_leaves_an_empty_object_that_matches() -> None:
    verdict = judge(filtered_by(discarded()))
    assert verdict.result is ELIGIBLE
    assert verdict.exact_match


def test_discarded_cell_is_removed_beside_the_other_cells_of_its_object() -> None:
    target = filtered_by(discarded(), value(120, "1"))
    assert judge(target, respondent({120: ("1",)})).result is ELIGIBLE
    assert code(judge(target, respondent({120: ("2",)}))) == FILTER


def test_discarded_quota_cell_leaves_an_object_that_fits_everyone() -> None:
    target = opportunity(quotas=[[quota(discarded(), id="total")]])
    verdict = judge(target)
    assert verdict.result is ELIGIBLE
    assert verdict.matched_quotas == ("total",)


def test_discarded_ineffable_cell_does_not_block_exact_match() -> None:
    verdict = judge(filtered_by(discarded(CellKind.INEFFABLE)))
    assert verdict.result is ELIGIBLE
    assert verdict.exact_match


def test_object_with_no_cells_matches() -> None:
    target = opportunity(filters=[[()]], quotas=[[quota(id="total")]])
    verdict = judge(target)
    assert verdict.result is ELIGIBLE
    assert verdict.exact_match
    assert verdict.matched_quotas == ("total",)


def test_groups_with_no_objects_are_ignored() -> None:
    verdict = judge(opportunity(filters=[[]], quotas=[[]]))
    assert verdict.result is ELIGIBLE
    assert verdict.exact_match
    assert verdict.reason is None


def test_dangling_tag_reads_as_ineffable_and_blocks_exact_match() -> None:
    verdict = judge(filtered_by("no-such-cell"))
    assert verdict.result is ELIGIBLE
    assert not verdict.exact_match
    assert verdict.missing_attributes == frozenset()


def test_dangling_tag_in_a_quota_object_still_fits() -> None:
    verdict = judge(opportunity(quotas=[[quota("no-such-cell", id="q1")]]))
    assert verdict.result is ELIGIBLE
    assert verdict.matched_quotas == ("q1",)
    assert not verdict.exact_match


# --- INEFFABLE and unknown kinds --------------------------------------------------------------


@pytest.mark.parametrize("opaque", [ineffable, unknown_kind], ids=["ineffable", "unknown-kind"])
@pytest.mark.parametrize("negate", [False, True], ids=["plain", "negated"])
@pytest.mark.parametrize("place", ["filter", "quota"])
def test_opaque_cells_are_satisfied_but_block_exact_match(
    opaque: Any, negate: bool, place: str
) -> None:
    cell = opaque(negate=negate)
    target = filtered_by(cell) if place == "filter" else quota_on(cell)
    verdict = judge(target)  # the respondent has no answer for the cell's attribute
    assert verdict.result is ELIGIBLE
    assert not verdict.exact_match
    assert verdict.missing_attributes == frozenset()


def test_opaque_cell_is_satisfied_even_for_negative_answers_in_a_quota() -> None:
    verdict = judge(quota_on(ineffable(83)), respondent({83: ("-1",)}))
    assert verdict.result is ELIGIBLE


def test_ineffable_cell_is_never_a_missing_attribute() -> None:
    target = opportunity(filters=[[(ineffable(83), value(120, "1"))]])
    verdict = judge(target)
    assert verdict.result is UNKNOWN
    assert verdict.missing_attributes == {120}


def test_opaque_cell_outside_filters_and_quotas_keeps_exact_match() -> None:
    target = opportunity(filters=[[(value(120, "1"),)]], unreferenced=(ineffable(),))
    verdict = judge(target, respondent({120: ("1",)}))
    assert verdict.result is ELIGIBLE
    assert verdict.exact_match


def test_opaque_cell_in_a_closed_quota_object_still_blocks_exact_match() -> None:
    target = opportunity(
        quotas=[
            [quota(id="open"), quota(ineffable(), id="closed", status=OpportunityStatus.CLOSED)]
        ]
    )
    verdict = judge(target)
    assert verdict.result is ELIGIBLE
    assert not verdict.exact_match


# --- how the profile becomes answers ----------------------------------------------------------


@pytest.mark.parametrize(("gender", "answer"), [(Gender.MALE, "1"), (Gender.FEMALE, "2")])
def test_gender_answers_attribute_1(gender: Gender, answer: str) -> None:
    assert judge(filtered_by(value(GENDER, answer)), respondent(gender=gender)).result is ELIGIBLE
    other = "2" if answer == "1" else "1"
    assert judge(filtered_by(value(GENDER, other)), respondent(gender=gender)).result is INELIGIBLE


def test_postal_code_answers_attribute_8() -> None:
    target = filtered_by(in_collection(POSTAL_CODE))
    assert judge(target, respondent(postal_code="10110")).result is ELIGIBLE
    assert judge(target, respondent(postal_code="99999")).result is INELIGIBLE


def test_birth_date_answers_attribute_80_with_the_age() -> None:
    target = filtered_by(between(AGE, 30, 30))
    assert judge(target, respondent(birth_date=born(30))).result is ELIGIBLE
    assert judge(target, respondent(birth_date=born(31))).result is INELIGIBLE


@pytest.mark.parametrize(
    ("field", "attribute", "standard", "cell_value", "stale"),
    [
        ("gender", GENDER, Gender.FEMALE, "2", "1"),
        ("postal_code", POSTAL_CODE, "10110", "10110", "99999"),
        ("birth_date", AGE, born(40), "40", "25"),
    ],
)
def test_standard_profile_wins_over_answers_for_its_attributes(
    field: str, attribute: int, standard: Any, cell_value: str, stale: str
) -> None:
    profile = respondent({attribute: (stale,)}, **{field: standard})
    assert judge(filtered_by(value(attribute, cell_value)), profile).result is ELIGIBLE
    assert judge(filtered_by(value(attribute, stale)), profile).result is INELIGIBLE


def test_answers_stand_in_for_an_absent_standard_profile_field() -> None:
    profile = respondent({GENDER: ("2",), AGE: ("40",)})
    target = opportunity(filters=[[(value(GENDER, "2"),)], [(between(AGE, 40, 40),)]])
    assert judge(target, profile).result is ELIGIBLE


def test_age_is_computed_at_evaluation_time_across_a_birthday() -> None:
    profile = respondent(birth_date=date(2000, 6, 16))
    target = filtered_by(between(AGE, 26, None))
    eve = datetime(2026, 6, 15, 23, 59, tzinfo=UTC)
    birthday = datetime(2026, 6, 16, 0, 0, tzinfo=UTC)
    assert judge(target, profile, at=eve).result is INELIGIBLE
    assert judge(target, profile, at=birthday).result is ELIGIBLE


def test_leap_day_birthday_comes_on_the_first_of_march() -> None:
    profile = respondent(birth_date=date(2004, 2, 29))
    target = filtered_by(between(AGE, 22, None))
    assert judge(target, profile, at=datetime(2026, 2, 28, 12, tzinfo=UTC)).result is INELIGIBLE
    assert judge(target, profile, at=datetime(2026, 3, 1, 12, tzinfo=UTC)).result is ELIGIBLE


def test_empty_answer_list_is_no_answer() -> None:
    profile = respondent({120: ()})
    verdict = judge(filtered_by(value(120, "1")), profile)
    assert verdict.result is UNKNOWN
    assert verdict.missing_attributes == {120}
    assert judge(filtered_by(answered(120)), profile).result is UNKNOWN
    assert judge(filtered_by(answered(120, negate=True)), profile).result is ELIGIBLE


def test_negative_answers_beside_usable_ones_are_ignored() -> None:
    profile = respondent({120: ("-5", "3")})
    # Usable answers read as usual in quotas, where an all-negative attribute fails every cell,
    assert judge(quota_on(value(120, "3")), profile).result is ELIGIBLE
    # and a negated filter cell is not waved through the way all-negative answers are.
    assert code(judge(filtered_by(value(120, "3", negate=True)), profile)) == FILTER
    assert judge(filtered_by(value(120, "-5")), profile).result is INELIGIBLE


# --- no answer --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda negate: value(120, "1", negate=negate),
        lambda negate: listed(120, "1", "2", negate=negate),
        lambda negate: between(120, 1, 5, negate=negate),
        lambda negate: in_collection(120, negate=negate),
    ],
    ids=["value", "list", "range", "collection"],
)
@pytest.mark.parametrize("negate", [False, True], ids=["plain", "negated"])
@pytest.mark.parametrize("place", ["filter", "quota"])
def test_unanswered_cells_are_unknown_negated_or_not(make: Any, negate: bool, place: str) -> None:
    cell = make(negate)
    verdict = judge(filtered_by(cell) if place == "filter" else quota_on(cell))
    assert verdict.result is UNKNOWN
    assert verdict.missing_attributes == {120}
    assert verdict.reason is None
    assert not verdict.exact_match


def test_answered_without_answer_is_unknown() -> None:
    verdict = judge(filtered_by(answered(120)))
    assert verdict.result is UNKNOWN
    assert verdict.missing_attributes == {120}


def test_negated_answered_without_answer_is_true() -> None:
    for target in (filtered_by(answered(120, negate=True)), quota_on(answered(120, negate=True))):
        verdict = judge(target)
        assert verdict.result is ELIGIBLE
        assert verdict.exact_match


# --- all answers negative ---------------------------------------------------------------------

NEGATIVE_ONLY = respondent({120: ("-5", "-1")})

CELL_KINDS = pytest.mark.parametrize(
    "make",
    [
        lambda negate: value(120, "1", negate=negate),
        lambda negate: listed(120, "1", "2", negate=negate),
        lambda negate: between(120, None, None, negate=negate),
        lambda negate: in_collection(120, negate=negate),
        lambda negate: in_collection(120, "not-downloaded", negate=negate),
        lambda negate: answered(120, negate=negate),
    ],
    ids=["value", "list", "range", "collection", "unknown-collection", "answered"],
)


@CELL_KINDS
@pytest.mark.parametrize("negate", [False, True], ids=["plain", "negated"])
def test_all_negative_answers_fail_every_quota_cell(make: Any, negate: bool) -> None:
    verdict = judge(quota_on(make(negate)), NEGATIVE_ONLY)
    assert verdict.result is INELIGIBLE
    assert code(verdict) == QUOTA


@pytest.mark.parametrize("negate", [False, True], ids=["plain", "negated"])
def test_all_negative_answers_pass_answered_filter_cells(negate: bool) -> None:
    verdict = judge(filtered_by(answered(120, negate=negate)), NEGATIVE_ONLY)
    assert verdict.result is ELIGIBLE
    assert verdict.exact_match


@CELL_KINDS
def test_all_negative_answers_pass_negated_filter_cells(make: Any) -> None:
    assert judge(filtered_by(make(True)), NEGATIVE_ONLY).result is ELIGIBLE


@pytest.mark.parametrize(
    "cell",
    [
        value(120, "-5"),
        listed(120, "-5", "-1"),
        between(120, None, None),
        in_collection(120),
        in_collection(120, "not-downloaded"),
    ],
    ids=["value", "list", "range", "collection", "unknown-collection"],
)
def test_all_negative_answers_fail_plain_filter_cells(cell: Cell) -> None:
    assert code(judge(filtered_by(cell), NEGATIVE_ONLY)) == FILTER


# --- cell kinds with usable answers -----------------------------------------------------------


def test_value_matches_when_any_answer_equals_it() -> None:
    target = filtered_by(value(120, "3"))
    assert judge(target, respondent({120: ("1", "3")})).result is ELIGIBLE
    assert judge(target, respondent({120: ("1", "2")})).result is INELIGIBLE


def test_list_or_needs_one_listed_answer() -> None:
    target = filtered_by(listed(120, "1", "2"))
    assert judge(target, respondent({120: ("9", "2")})).result is ELIGIBLE
    assert judge(target, respondent({120: ("9",)})).result is INELIGIBLE


def test_list_and_needs_every_listed_answer() -> None:
    target = filtered_by(listed(231302, "514802", "514804", operator=ListOperator.AND))
    assert judge(target, respondent({231302: ("514802", "514804", "1")})).result is ELIGIBLE
    assert judge(target, respondent({231302: ("514802",)})).result is INELIGIBLE


def test_negated_list_and_fails_only_with_every_listed_answer() -> None:
    target = filtered_by(listed(231302, "514802", "514804", operator=ListOperator.AND, negate=True))
    assert judge(target, respondent({231302: ("514802",)})).result is ELIGIBLE
    assert judge(target, respondent({231302: ("514802", "514804")})).result is INELIGIBLE


@pytest.mark.parametrize(
    ("low", "high", "answer", "inside"),
    [
        (18, 24, "18", True),
        (18, 24, "24", True),
        (18, 24, "17", False),
        (18, 24, "25", False),
        (18, None, "120", True),
        (18, None, "17", False),
        (None, 24, "0", True),
        (None, 24, "25", False),
        (None, None, "7", True),
        (18, 18, "18", True),
    ],
)
def test_range_bounds_are_inclusive_and_null_is_open(
    low: int | None, high: int | None, answer: str, inside: bool
) -> None:
    verdict = judge(filtered_by(between(120, low, high)), respondent({120: (answer,)}))
    assert verdict.result is (ELIGIBLE if inside else INELIGIBLE)


@pytest.mark.parametrize(("answer", "inside"), [("17.5", False), ("17.99", False), ("18.0", True)])
def test_decimal_answer_just_below_an_integer_bound_is_outside(answer: str, inside: bool) -> None:
    verdict = judge(filtered_by(between(120, 18, 24)), respondent({120: (answer,)}))
    assert verdict.result is (ELIGIBLE if inside else INELIGIBLE)


def test_decimal_answer_just_above_an_integer_bound_is_outside() -> None:
    verdict = judge(filtered_by(between(120, 18, 24)), respondent({120: ("24.5",)}))
    assert verdict.result is INELIGIBLE


def test_range_ignores_non_numeric_answers() -> None:
    target = filtered_by(between(120, 18, 24))
    assert judge(target, respondent({120: ("x", "20")})).result is ELIGIBLE
    # Only non-numeric answers: answered, and in no range, so false rather than unknown.
    assert judge(target, respondent({120: ("twenty",)})).result is INELIGIBLE


def test_range_matches_when_any_numeric_answer_is_inside() -> None:
    target = filtered_by(between(120, 18, 24))
    assert judge(target, respondent({120: ("40", "20")})).result is ELIGIBLE


def test_collection_matches_an_answer_among_its_values() -> None:
    target = filtered_by(in_collection(120))
    assert judge(target, respondent({120: ("99999", "10120")})).result is ELIGIBLE
    assert judge(target, respondent({120: ("99999",)})).result is INELIGIBLE


@pytest.mark.parametrize("negate", [False, True], ids=["plain", "negated"])
def test_unknown_collection_is_unknown_but_not_missing(negate: bool) -> None:
    target = filtered_by(in_collection(POSTAL_CODE, "not-downloaded", negate=negate))
    verdict = judge(target, respondent(postal_code="10110"))
    assert verdict.result is UNKNOWN
    assert verdict.missing_attributes == frozenset()


def test_answered_cell_is_true_for_any_answer_and_false_negated() -> None:
    profile = respondent({120: ("7",)})
    assert judge(filtered_by(answered(120)), profile).result is ELIGIBLE
    assert code(judge(filtered_by(answered(120, negate=True)), profile)) == FILTER


@pytest.mark.parametrize(
    ("cell", "answers"),
    [
        (value(120, "1", negate=True), ("1",)),
        (listed(120, "1", "2", negate=True), ("2",)),
        (between(120, 18, 24, negate=True), ("20",)),
        (in_collection(120, negate=True), ("10110",)),
    ],
    ids=["value", "list", "range", "collection"],
)
def test_negate_swaps_true_and_false(cell: Cell, answers: tuple[str, ...]) -> None:
    assert judge(filtered_by(cell), respondent({120: answers})).result is INELIGIBLE
    assert judge(filtered_by(cell), respondent({120: ("999",)})).result is ELIGIBLE


@pytest.mark.parametrize("kind", [CellKind.INVITE_COLLECTIONS, CellKind.STATIC_INVITE_COLLECTIONS])
def test_invite_cells_test_invite_membership(kind: CellKind) -> None:
    any_of = filtered_by(invited("i1", "i2", kind=kind))
    all_of = filtered_by(invited("i1", "i2", operator=ListOperator.AND, kind=kind))
    assert judge(any_of, respondent(invites=frozenset({"i2"}))).result is ELIGIBLE
    assert judge(any_of, respondent(invites=frozenset({"i3"}))).result is INELIGIBLE
    assert judge(all_of, respondent(invites=frozenset({"i1", "i2"}))).result is ELIGIBLE
    assert judge(all_of, respondent(invites=frozenset({"i1"}))).result is INELIGIBLE


def test_respondent_is_not_invited_unless_listed() -> None:
    verdict = judge(filtered_by(invited("i1")))  # no invites at all
    assert verdict.result is INELIGIBLE
    assert code(verdict) == FILTER


def test_negated_invite_cell_excludes_members() -> None:
    # REX exclusions: a negated STATIC_INVITE_COLLECTIONS cell on attribute 28.
    exclusion = invited("28_2171139", negate=True, kind=CellKind.STATIC_INVITE_COLLECTIONS)
    target = filtered_by(exclusion)
    assert judge(target).result is ELIGIBLE
    assert judge(target).exact_match
    assert judge(target, respondent(invites=frozenset({"28_2171139"}))).result is INELIGIBLE


# --- status, locale, device and participation -------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [OpportunityStatus.PAUSED, OpportunityStatus.CLOSED, OpportunityStatus.OTHER],
)
def test_opportunity_that_is_not_open_is_ineligible(status: OpportunityStatus) -> None:
    verdict = judge(opportunity(status=status))
    assert verdict.result is INELIGIBLE
    assert code(verdict) == NOT_OPEN
    assert not verdict.exact_match


def test_other_country_is_incompatible() -> None:
    assert code(judge(opportunity(), respondent(country="DE"))) == COUNTRY


def test_other_language_is_incompatible() -> None:
    assert code(judge(opportunity(), respondent(language="es"))) == LANGUAGE


def test_device_outside_devices_is_incompatible() -> None:
    target = opportunity(devices=frozenset({Device.DESKTOP, Device.TABLET}))
    assert code(judge(target, respondent(device=Device.MOBILE))) == DEVICE
    assert judge(target, respondent(device=Device.TABLET)).result is ELIGIBLE


@pytest.mark.parametrize("field", ["country", "language", "device"])
def test_profile_without_locale_or_device_leaves_that_check_unknown(field: str) -> None:
    verdict = judge(opportunity(), respondent(**{field: None}))
    assert verdict.result is UNKNOWN
    assert verdict.missing_attributes == frozenset()
    assert verdict.reason is None
    assert not verdict.exact_match


def test_entering_the_same_project_again_is_a_duplicate() -> None:
    profile = respondent(participation=Participation(entered_projects=frozenset({100})))
    assert code(judge(opportunity(project_id=100), profile)) == DUPLICATE
    assert judge(opportunity(project_id=101), profile).result is ELIGIBLE


def test_excluding_participation_in_an_excluded_project_excludes() -> None:
    profile = respondent(participation=Participation(excluding_projects=frozenset({7})))
    assert code(judge(opportunity(project_exclusions=frozenset({7, 8})), profile)) == (
        PROJECT_EXCLUSION
    )
    assert judge(opportunity(project_exclusions=frozenset({8})), profile).result is ELIGIBLE


def test_excluding_participation_in_an_excluded_category_excludes() -> None:
    profile = respondent(participation=Participation(excluding_categories=frozenset({572})))
    assert code(judge(opportunity(category_exclusions=frozenset({572})), profile)) == (
        CATEGORY_EXCLUSION
    )
    assert judge(opportunity(category_exclusions=frozenset({573})), profile).result is ELIGIBLE


def test_participation_that_does_not_exclude_does_not_exclude() -> None:
    # Entered (say, screened out by Dynata) but with no excluding outcome.
    profile = respondent(participation=Participation(entered_projects=frozenset({7})))
    target = opportunity(project_id=100, project_exclusions=frozenset({7}))
    assert judge(target, profile).result is ELIGIBLE


# --- reasons and their precedence -------------------------------------------------------------


def test_reasons_are_reported_in_their_order_of_precedence() -> None:
    """Start from a respondent who fails everything; fix one failure at a time."""
    target = opportunity(
        status=OpportunityStatus.PAUSED,
        devices=frozenset({Device.DESKTOP}),
        project_id=100,
        project_exclusions=frozenset({7}),
        category_exclusions=frozenset({572}),
        filters=[[(value(GENDER, "1"),)]],
        quotas=[[quota(value(120, "1"))]],
    )
    profile = respondent(
        {120: ("2",)},
        country="DE",
        language="de",
        device=Device.MOBILE,
        gender=Gender.FEMALE,
        participation=Participation(
            entered_projects=frozenset({100}),
            excluding_projects=frozenset({7}),
            excluding_categories=frozenset({572}),
        ),
    )
    history = profile.participation
    fixes = [
        (NOT_OPEN, lambda o, p: (replace(o, status=OPEN), p)),
        (COUNTRY, lambda o, p: (o, replace(p, country="US"))),
        (LANGUAGE, lambda o, p: (o, replace(p, language="en"))),
        (DEVICE, lambda o, p: (o, replace(p, device=Device.DESKTOP))),
        (
            DUPLICATE,
            lambda o, p: (
                o,
                replace(p, participation=replace(history, entered_projects=frozenset())),
            ),
        ),
        (PROJECT_EXCLUSION, lambda o, p: (replace(o, project_exclusions=frozenset()), p)),
        (CATEGORY_EXCLUSION, lambda o, p: (replace(o, category_exclusions=frozenset()), p)),
        (FILTER, lambda o, p: (o, replace(p, gender=Gender.MALE))),
        (QUOTA, lambda o, p: (o, replace(p, answers={120: ("1",)}))),
    ]
    for expected, fix in fixes:
        verdict = judge(target, profile)
        assert verdict.result is INELIGIBLE, expected
        assert code(verdict) == expected
        target, profile = fix(target, profile)
    assert judge(target, profile).result is ELIGIBLE


def test_project_exclusion_is_reported_before_category_exclusion() -> None:
    target = opportunity(project_exclusions=frozenset({7}), category_exclusions=frozenset({572}))
    history = Participation(
        excluding_projects=frozenset({7}), excluding_categories=frozenset({572})
    )
    assert code(judge(target, respondent(participation=history))) == PROJECT_EXCLUSION


def test_false_check_wins_over_an_earlier_unknown_one() -> None:
    verdict = judge(filtered_by(value(120, "1")), respondent({120: ("2",)}, country=None))
    assert verdict.result is INELIGIBLE
    assert code(verdict) == FILTER


def test_false_quota_group_wins_over_unknown_filters() -> None:
    target = opportunity(filters=[[(value(130, "1"),)]], quotas=[[quota(value(120, "1"))]])
    verdict = judge(target, respondent({120: ("2",)}))
    assert code(verdict) == QUOTA
    assert verdict.missing_attributes == frozenset()


def test_fitting_a_closed_quota_object_gives_quota_cell_not_open() -> None:
    closed = quota(value(120, "1"), id="closed", status=OpportunityStatus.CLOSED)
    other = quota(value(120, "2"), id="other")
    verdict = judge(opportunity(quotas=[[closed, other]]), respondent({120: ("1",)}))
    assert code(verdict) == QUOTA_CELL_NOT_OPEN


def test_fitting_a_quota_object_at_zero_gives_quota_cell_not_open() -> None:
    empty = quota(value(120, "1"), id="full", count=0)
    verdict = judge(opportunity(quotas=[[empty]]), respondent({120: ("1",)}))
    assert code(verdict) == QUOTA_CELL_NOT_OPEN


def test_fitting_no_quota_object_gives_quota_disqualification() -> None:
    closed = quota(value(120, "1"), id="closed", status=OpportunityStatus.PAUSED)
    verdict = judge(opportunity(quotas=[[closed]]), respondent({120: ("2",)}))
    assert code(verdict) == QUOTA


def test_closed_object_with_unknown_cells_gives_quota_disqualification() -> None:
    closed = quota(value(120, "1"), id="closed", status=OpportunityStatus.CLOSED)
    verdict = judge(opportunity(quotas=[[closed]]))
    assert code(verdict) == QUOTA
    assert verdict.missing_attributes == frozenset()


def test_fitting_a_closed_object_beside_a_fitted_open_one_passes_the_group() -> None:
    closed = quota(value(120, "1"), id="closed", status=OpportunityStatus.CLOSED)
    total = quota(id="total")
    verdict = judge(opportunity(quotas=[[closed, total]]), respondent({120: ("1",)}))
    assert verdict.result is ELIGIBLE
    assert verdict.matched_quotas == ("total",)


@pytest.mark.parametrize(
    ("closed_first", "expected"), [(True, QUOTA_CELL_NOT_OPEN), (False, QUOTA)]
)
def test_first_false_quota_group_gives_the_reason(
    closed_first: bool, expected: tuple[int, int]
) -> None:
    fits_closed = [quota(value(120, "1"), id="closed", count=0)]
    fits_none = [quota(value(130, "1"), id="other")]
    groups = [fits_closed, fits_none] if closed_first else [fits_none, fits_closed]
    verdict = judge(opportunity(quotas=groups), respondent({120: ("1",), 130: ("2",)}))
    assert code(verdict) == expected


# --- the verdict ------------------------------------------------------------------------------


def test_eligible_verdict_has_no_reason_and_no_missing_attributes() -> None:
    verdict = judge(filtered_by(value(120, "1")), respondent({120: ("1",)}))
    assert verdict == Verdict(
        result=ELIGIBLE,
        exact_match=True,
        matched_quotas=(),
        missing_attributes=frozenset(),
        reason=None,
    )


def test_unknown_verdict_is_never_an_exact_match() -> None:
    verdict = judge(filtered_by(value(120, "1")))
    assert verdict.result is UNKNOWN
    assert not verdict.exact_match


def test_matched_quotas_are_the_open_objects_whose_cells_all_hold() -> None:
    fits = value(120, "1")
    target = opportunity(
        quotas=[
            [
                quota(fits, id="fits"),
                quota(fits, id="closed", status=OpportunityStatus.CLOSED),
                quota(fits, id="at-zero", count=0),
                quota(fits, value(130, "1"), id="unknown"),
                quota(value(120, "2"), id="false"),
            ],
            [quota(id="total")],
        ]
    )
    verdict = judge(target, respondent({120: ("1",)}))
    assert verdict.result is ELIGIBLE
    assert verdict.matched_quotas == ("fits", "total")


def test_quota_object_fitted_in_two_groups_is_listed_once() -> None:
    target = opportunity(quotas=[[quota(id="total")], [quota(id="total")]])
    assert judge(target).matched_quotas == ("total",)


def test_missing_attributes_skip_objects_already_false() -> None:
    target = opportunity(
        filters=[[(value(120, "1"), value(130, "1")), (value(140, "1"),)]],
    )
    verdict = judge(target, respondent({120: ("2",)}))
    assert verdict.result is UNKNOWN
    assert verdict.missing_attributes == {140}


def test_missing_attributes_skip_groups_already_true() -> None:
    target = opportunity(
        filters=[
            [(value(120, "1"),), (value(130, "1"),)],
            [(value(140, "1"),)],
        ],
    )
    verdict = judge(target, respondent({120: ("1",)}))
    assert verdict.result is UNKNOWN
    assert verdict.missing_attributes == {140}


def test_missing_attributes_skip_closed_quota_objects() -> None:
    target = opportunity(
        quotas=[
            [
                quota(value(120, "1"), id="closed", status=OpportunityStatus.CLOSED),
                quota(value(130, "1"), id="open"),
            ]
        ]
    )
    verdict = judge(target)
    assert verdict.result is UNKNOWN
    assert verdict.missing_attributes == {130}


def test_missing_attributes_gather_filters_and_quotas() -> None:
    target = opportunity(
        filters=[[(value(120, "1"), answered(121))]],
        quotas=[[quota(between(AGE, 18, 24), id="young"), quota(value(130, "1"), id="other")]],
    )
    verdict = judge(target)
    assert verdict.result is UNKNOWN
    assert verdict.missing_attributes == {120, 121, AGE, 130}


def test_missing_attributes_are_empty_when_ineligible() -> None:
    target = opportunity(filters=[[(value(120, "1"),)], [(value(130, "1"),)]])
    verdict = judge(target, respondent({130: ("2",)}))
    assert verdict.result is INELIGIBLE
    assert verdict.missing_attributes == frozenset()


def test_missing_attributes_leave_out_answered_attributes() -> None:
    # 8 is answered (the collection is what is missing), 120 is not.
    target = filtered_by(in_collection(POSTAL_CODE, "not-downloaded"), value(120, "1"))
    verdict = judge(target, respondent(postal_code="10110"))
    assert verdict.missing_attributes == {120}


# --- the real REX sample opportunities (../shared/fixtures/rex) -------------------------------

MALE_18_24 = "6f49b6b637befada84f2c57f8afb5f0cc53b2a35e970431fd4348ff58d6cf348"
MALE_25_31 = "0a538c0eabad742acc3f1cf7ac5ab5415b36cef027ba174b703d6d30ea945b85"
FEMALE_25_31 = "8afeca9cdcef231a9f7bb4365c0918d5f152e0301183ca83fbda015005b925c1"
TOTAL = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
AGED_18_24 = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"
ZIP_COLLECTION = "2169971"


@pytest.fixture(scope="module")
def rex(rex_fixtures: Path) -> dict[int, Opportunity]:
    raw = json.loads((rex_fixtures / "receive_notifications.json").read_text())
    return {o.id: o for o in map(parse_opportunity, raw)}


@pytest.fixture(scope="module")
def zips(rex_fixtures: Path) -> dict[str, frozenset[str]]:
    lines = (rex_fixtures / "download_collection.txt").read_text().splitlines()
    return {ZIP_COLLECTION: frozenset(line.strip() for line in lines if line.strip())}


def man(
    age: int, postal_code: str = "10110", answers: Mapping[int, tuple[str, ...]] | None = None
) -> Profile:
    return respondent(answers, gender=Gender.MALE, birth_date=born(age), postal_code=postal_code)


def woman(age: int, postal_code: str = "10110") -> Profile:
    return respondent(gender=Gender.FEMALE, birth_date=born(age), postal_code=postal_code)


def test_fixture_young_man_in_the_zip_list_fits_the_male_18_24_quota(
    rex: dict[int, Opportunity], zips: dict[str, frozenset[str]]
) -> None:
    verdict = judge(rex[13231], man(20), collections=zips)
    assert verdict == Verdict(
        result=ELIGIBLE,
        exact_match=True,
        matched_quotas=(MALE_18_24,),
        missing_attributes=frozenset(),
        reason=None,
    )


def test_fixture_man_of_25_fits_the_next_age_band(
    rex: dict[int, Opportunity], zips: dict[str, frozenset[str]]
) -> None:
    verdict = judge(rex[13231], man(25), collections=zips)
    assert verdict.result is ELIGIBLE
    assert verdict.matched_quotas == (MALE_25_31,)


def test_fixture_woman_fails_the_male_filter(
    rex: dict[int, Opportunity], zips: dict[str, frozenset[str]]
) -> None:
    verdict = judge(rex[13231], woman(27), collections=zips)
    assert verdict.result is INELIGIBLE
    assert code(verdict) == FILTER


def test_fixture_man_outside_every_age_band_fails_the_quota(
    rex: dict[int, Opportunity], zips: dict[str, frozenset[str]]
) -> None:
    verdict = judge(rex[13231], man(40), collections=zips)
    assert code(verdict) == QUOTA
    assert verdict.matched_quotas == ()


def test_fixture_man_outside_the_zip_list_fails_the_filters(
    rex: dict[int, Opportunity], zips: dict[str, frozenset[str]]
) -> None:
    assert code(judge(rex[13231], man(20, "90210"), collections=zips)) == FILTER


def test_fixture_full_quota_object_gives_quota_cell_not_open(
    rex: dict[int, Opportunity], zips: dict[str, frozenset[str]]
) -> None:
    target = rex[13231]
    full = tuple(
        tuple(replace(o, count=0) if o.id == MALE_18_24 else o for o in group)
        for group in target.quotas
    )
    assert code(judge(replace(target, quotas=full), man(20), collections=zips)) == (
        QUOTA_CELL_NOT_OPEN
    )


def test_fixture_empty_profile_is_unknown_missing_gender_postal_code_and_age(
    rex: dict[int, Opportunity], zips: dict[str, frozenset[str]]
) -> None:
    verdict = judge(rex[13231], Profile(), collections=zips)
    assert verdict.result is UNKNOWN
    assert verdict.missing_attributes == {GENDER, POSTAL_CODE, AGE}
    assert verdict.matched_quotas == ()
    assert not verdict.exact_match


def test_fixture_zip_list_not_downloaded_is_unknown_with_nothing_missing(
    rex: dict[int, Opportunity],
) -> None:
    verdict = judge(rex[13231], man(20), collections={})
    assert verdict.result is UNKNOWN
    assert verdict.missing_attributes == frozenset()
    assert verdict.matched_quotas == (MALE_18_24,)


def test_fixture_closed_opportunity_is_not_open(
    rex: dict[int, Opportunity], zips: dict[str, frozenset[str]]
) -> None:
    verdict = judge(rex[12871], man(20), collections=zips)
    assert verdict.result is INELIGIBLE
    assert code(verdict) == NOT_OPEN


def test_fixture_open_twin_of_the_closed_opportunity_takes_the_man(
    rex: dict[int, Opportunity], zips: dict[str, frozenset[str]]
) -> None:
    verdict = judge(rex[13174], man(20), collections=zips)
    assert verdict.result is ELIGIBLE
    assert verdict.exact_match
    assert verdict.matched_quotas == (TOTAL,)
    assert code(judge(rex[13174], man(17), collections=zips)) == FILTER


def test_fixture_negated_list_excludes_listed_answers(
    rex: dict[int, Opportunity], zips: dict[str, frozenset[str]]
) -> None:
    target = rex[12872]
    assert code(judge(target, man(20, answers={100262: ("20000144",)}), collections=zips)) == FILTER
    verdict = judge(target, man(20, answers={100262: ("20000001",)}), collections=zips)
    assert verdict.result is ELIGIBLE
    assert verdict.exact_match
    assert verdict.matched_quotas == (AGED_18_24,)


def test_fixture_negated_list_without_answer_is_unknown(
    rex: dict[int, Opportunity], zips: dict[str, frozenset[str]]
) -> None:
    verdict = judge(rex[12872], man(20), collections=zips)
    assert verdict.result is UNKNOWN
    assert verdict.missing_attributes == {100262}


def test_fixture_negated_list_passes_all_negative_answers(
    rex: dict[int, Opportunity], zips: dict[str, frozenset[str]]
) -> None:
    verdict = judge(rex[12872], man(20, answers={100262: ("-1",)}), collections=zips)
    assert verdict.result is ELIGIBLE


def test_fixture_age_quota_fails_before_the_unknown_negated_list_matters(
    rex: dict[int, Opportunity], zips: dict[str, frozenset[str]]
) -> None:
    verdict = judge(rex[12872], man(30), collections=zips)
    assert verdict.result is INELIGIBLE
    assert code(verdict) == QUOTA


def test_birth_date_after_the_evaluation_time_is_no_age() -> None:
    unborn = Profile(birth_date=date(2030, 1, 1))
    assert AGE_ATTRIBUTE_ID not in targeting_answers(unborn, datetime(2026, 11, 23, tzinfo=UTC))


def test_a_quota_id_repeated_in_one_group_is_listed_once() -> None:
    target = opportunity(quotas=[[quota(id="same"), quota(id="same")], [quota(id="same")]])
    assert judge(target).matched_quotas == ("same",)


AT_PROPERTY = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fitted_quotas_are_the_quota_objects_evaluate_matches(data: st.DataObject) -> None:
    opportunity = data.draw(opportunities(1))
    collections = data.draw(collection_contents)
    profile = data.draw(profiles())
    verdict = evaluate(opportunity, profile, AT_PROPERTY, collections)
    assert fitted_quotas(opportunity, profile, AT_PROPERTY, collections) == verdict.matched_quotas
