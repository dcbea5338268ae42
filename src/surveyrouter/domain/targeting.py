"""Tri-state REX eligibility: the plain reference evaluator (REX spec §4–§5).

This module is written to be read. The fast matcher (``domain/matcher.py``) must agree with it
verdict for verdict, and property tests hold it to that.

Truth values: TRUE (qualifies), FALSE (does not), UNKNOWN (might, once the exchange prescreens or
the respondent answers one more question). AND over UNKNOWN and TRUE is UNKNOWN; OR over UNKNOWN
and FALSE is UNKNOWN.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from surveyrouter.domain.opportunity import (
    Cell,
    CellKind,
    FilterObject,
    ListOperator,
    Opportunity,
    QuotaObject,
)
from surveyrouter.domain.profile import Answers, Profile, targeting_answers

Collections = Mapping[str, frozenset[str]]
"""Downloaded collections by id; a collection that is not here is not known yet."""


class Truth(enum.Enum):
    TRUE = "true"
    FALSE = "false"
    UNKNOWN = "unknown"

    @staticmethod
    def of(value: bool) -> Truth:
        return Truth.TRUE if value else Truth.FALSE

    def negated(self) -> Truth:
        if self is Truth.UNKNOWN:
            return self
        return Truth.FALSE if self is Truth.TRUE else Truth.TRUE


def all_of(values: Iterable[Truth]) -> Truth:
    """Tri-state AND; empty is TRUE."""
    result = Truth.TRUE
    for value in values:
        if value is Truth.FALSE:
            return Truth.FALSE
        if value is Truth.UNKNOWN:
            result = Truth.UNKNOWN
    return result


def any_of(values: Iterable[Truth]) -> Truth:
    """Tri-state OR; empty is FALSE."""
    result = Truth.FALSE
    for value in values:
        if value is Truth.TRUE:
            return Truth.TRUE
        if value is Truth.UNKNOWN:
            result = Truth.UNKNOWN
    return result


class Context(enum.Enum):
    """Negative answers read differently in filters and quotas (REX §4)."""

    FILTER = "filter"
    QUOTA = "quota"


class Result(enum.Enum):
    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Reason:
    """Why an opportunity is closed to the respondent, as a REX (disposition, status) pair."""

    disposition: int
    status: int


# REX §6.5. "Not open" is reported as Dynata Closed Quota (3.3), a deliberate choice.
NOT_OPEN = Reason(3, 3)
INCOMPATIBLE_COUNTRY = Reason(2, 3)
INCOMPATIBLE_LANGUAGE = Reason(2, 4)
INCOMPATIBLE_DEVICE = Reason(2, 5)
DUPLICATE_RESPONDENT = Reason(4, 1)
PROJECT_EXCLUSION = Reason(4, 1)
CATEGORY_EXCLUSION = Reason(4, 2)
FILTER_DISQUALIFICATION = Reason(2, 6)
QUOTA_DISQUALIFICATION = Reason(2, 7)
QUOTA_CELL_NOT_OPEN = Reason(3, 20)


@dataclass(frozen=True, slots=True)
class Verdict:
    result: Result
    exact_match: bool
    matched_quotas: tuple[str, ...]
    missing_attributes: frozenset[int]
    reason: Reason | None

    def as_json(self) -> dict[str, object]:
        return {
            "result": self.result.value,
            "exact_match": self.exact_match,
            "matched_quotas": list(self.matched_quotas),
            "missing_attributes": sorted(self.missing_attributes),
            "reason": (
                None
                if self.reason is None
                else {"disposition": self.reason.disposition, "status": self.reason.status}
            ),
        }


_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def numeric_answer(answer: str) -> Decimal | None:
    """An answer read as a number for RANGE cells; other answers are ignored by ranges."""
    return Decimal(answer) if _NUMBER.fullmatch(answer) else None


def evaluate_cell(
    cell: Cell,
    answers: Mapping[int, Answers],
    invites: frozenset[str],
    collections: Collections,
    context: Context,
) -> Truth:
    """One cell's truth for a respondent, by the rules of REX §4 as this project reads them."""
    if cell.is_opaque:
        # The exchange prescreens what we cannot evaluate; it never blocks on our side.
        return Truth.TRUE
    if cell.is_invite:
        membership = [collection in invites for collection in cell.values]
        member = all(membership) if cell.operator is ListOperator.AND else any(membership)
        return _negate_if(cell, Truth.of(member))
    given = answers.get(cell.attribute_id)
    if given is None:
        # We never ask a question only to disqualify, so "has not answered" holds until asked.
        if cell.kind is CellKind.ANSWERED and cell.negate:
            return Truth.TRUE
        return Truth.UNKNOWN
    if given.negative:
        # REX §4: negative answers match filter cells only if ANSWERED or negated; no quota cell.
        if context is Context.QUOTA:
            return Truth.FALSE
        return Truth.of(cell.kind is CellKind.ANSWERED or cell.negate)
    return _negate_if(cell, _match(cell, given.values, collections))


def _match(cell: Cell, values: tuple[str, ...], collections: Collections) -> Truth:
    if cell.kind is CellKind.VALUE:
        return Truth.of(any(value in values for value in cell.values[:1]))
    if cell.kind is CellKind.LIST:
        listed = [value in values for value in cell.values]
        return Truth.of(all(listed) if cell.operator is ListOperator.AND else any(listed))
    if cell.kind is CellKind.RANGE:
        numbers = [n for n in map(numeric_answer, values) if n is not None]
        return Truth.of(any(_in_range(cell, n) for n in numbers))
    if cell.kind is CellKind.COLLECTION:
        collection = collections.get(cell.collection_id or "")
        if collection is None:
            return Truth.UNKNOWN
        return Truth.of(any(value in collection for value in values))
    return Truth.TRUE  # ANSWERED, and the respondent has


def _in_range(cell: Cell, number: Decimal) -> bool:
    return (cell.range_from is None or number >= cell.range_from) and (
        cell.range_to is None or number <= cell.range_to
    )


def _negate_if(cell: Cell, truth: Truth) -> Truth:
    return truth.negated() if cell.negate else truth


class _Evaluation:
    """One opportunity evaluated for one respondent; keeps every cell's truth for explanations."""

    def __init__(
        self,
        opportunity: Opportunity,
        answers: Mapping[int, Answers],
        invites: frozenset[str],
        collections: Collections,
    ) -> None:
        self.opportunity = opportunity
        self.answers = answers
        self.invites = invites
        self.collections = collections

    def cells(self, tags: tuple[str, ...], context: Context) -> list[tuple[Cell, Truth]]:
        return [
            (cell, evaluate_cell(cell, self.answers, self.invites, self.collections, context))
            for cell in self.opportunity.resolve(tags)
        ]

    def missing(self, cells: list[tuple[Cell, Truth]]) -> set[int]:
        """Unanswered attributes behind this object's UNKNOWN cells."""
        return {
            cell.attribute_id
            for cell, truth in cells
            if truth is Truth.UNKNOWN and cell.attribute_id not in self.answers
        }

    def filter_group(self, group: tuple[FilterObject, ...]) -> tuple[Truth, set[int]]:
        truths, missing = [], set()
        for obj in group:
            cells = self.cells(obj.cell_tags, Context.FILTER)
            truth = all_of(t for _, t in cells)
            truths.append(truth)
            if truth is Truth.UNKNOWN:
                missing |= self.missing(cells)
        return any_of(truths), missing

    def quota_group(
        self, group: tuple[QuotaObject, ...]
    ) -> tuple[Truth, set[int], list[str], bool]:
        """The group's truth, its missing attributes, the objects fitted, and whether the
        respondent fits an object that is closed or at zero."""
        truths, missing, fitted, fits_closed = [], set(), [], False
        for obj in group:
            cells = self.cells(obj.cell_tags, Context.QUOTA)
            cells_truth = all_of(t for _, t in cells)
            truth = cells_truth if obj.is_open else Truth.FALSE
            truths.append(truth)
            if truth is Truth.TRUE:
                fitted.append(obj.id)
            elif truth is Truth.UNKNOWN:
                missing |= self.missing(cells)
            if not obj.is_open and cells_truth is Truth.TRUE:
                fits_closed = True
        return any_of(truths), missing, fitted, fits_closed


def evaluate(
    opportunity: Opportunity,
    profile: Profile,
    at: datetime,
    collections: Collections,
) -> Verdict:
    """Tri-state REX eligibility of one opportunity for one respondent at time ``at``.

    Checks run in the order their failure is reported: status, country, language, device,
    duplicate project, project exclusion, category exclusion, filters, then each quota group.
    """
    answers = targeting_answers(profile, at)
    run = _Evaluation(opportunity, answers, profile.invites, collections)
    history = profile.participation
    checks: list[tuple[Truth, Reason, set[int]]] = [
        (Truth.of(opportunity.is_open), NOT_OPEN, set()),
        (_matches(profile.country, opportunity.country), INCOMPATIBLE_COUNTRY, set()),
        (_matches(profile.language, opportunity.language), INCOMPATIBLE_LANGUAGE, set()),
        (_device_ok(profile, opportunity), INCOMPATIBLE_DEVICE, set()),
        (
            Truth.of(opportunity.project_id not in history.entered_projects),
            DUPLICATE_RESPONDENT,
            set(),
        ),
        (
            Truth.of(not (opportunity.project_exclusions & history.excluding_projects)),
            PROJECT_EXCLUSION,
            set(),
        ),
        (
            Truth.of(not (opportunity.category_exclusions & history.excluding_categories)),
            CATEGORY_EXCLUSION,
            set(),
        ),
    ]
    for group in opportunity.filters:
        if group:  # a group with no objects is ignored
            truth, missing = run.filter_group(group)
            checks.append((truth, FILTER_DISQUALIFICATION, missing))
    matched: list[str] = []
    for quota_group in opportunity.quotas:
        if quota_group:
            truth, missing, fitted, fits_closed = run.quota_group(quota_group)
            group_reason = QUOTA_CELL_NOT_OPEN if fits_closed else QUOTA_DISQUALIFICATION
            checks.append((truth, group_reason, missing))
            for quota_id in fitted:
                if quota_id not in matched:
                    matched.append(quota_id)

    overall = all_of(truth for truth, _, _ in checks)
    reason: Reason | None = next((r for truth, r, _ in checks if truth is Truth.FALSE), None)
    missing_attributes: frozenset[int] = frozenset()
    if overall is Truth.UNKNOWN:
        missing_attributes = frozenset(
            a for truth, _, missing in checks if truth is Truth.UNKNOWN for a in missing
        )
    result = {
        Truth.TRUE: Result.ELIGIBLE,
        Truth.FALSE: Result.INELIGIBLE,
        Truth.UNKNOWN: Result.UNKNOWN,
    }[overall]
    return Verdict(
        result=result,
        exact_match=result is Result.ELIGIBLE and not opportunity.has_opaque_cells,
        matched_quotas=tuple(matched),
        missing_attributes=missing_attributes,
        reason=reason,
    )


def _matches(have: str | None, want: str) -> Truth:
    return Truth.UNKNOWN if have is None else Truth.of(have == want)


def _device_ok(profile: Profile, opportunity: Opportunity) -> Truth:
    if profile.device is None:
        return Truth.UNKNOWN
    return Truth.of(profile.device in opportunity.devices)


def fitted_quotas(
    opportunity: Opportunity, profile: Profile, at: datetime, collections: Collections
) -> tuple[str, ...]:
    """The open quota objects the respondent is known to fit: ``evaluate``'s
    ``matched_quotas`` without the filters and checks (for showing how many places are left)."""
    run = _Evaluation(opportunity, targeting_answers(profile, at), profile.invites, collections)
    fitted: list[str] = []
    for group in opportunity.quotas:
        for quota_id in run.quota_group(group)[2]:
            if quota_id not in fitted:
                fitted.append(quota_id)
    return tuple(fitted)
