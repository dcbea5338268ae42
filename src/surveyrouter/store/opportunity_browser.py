"""Browsing stored opportunities for the operator: filtered, sorted, a page at a time.

The sync path never reads these queries; they serve ``/admin/opportunities``, where an
operator looks for one survey or a kind of survey. The exchange's JSON is not read here (a
page of summaries stays small); ``store.opportunities.raw_payloads`` gives it by change
number when a page needs it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from surveyrouter.domain.opportunity import Device, OpportunityStatus
from surveyrouter.store.schema import OpportunityRow

DEFAULT_PAGE_SIZE = 50


class OpportunityOrder(enum.Enum):
    """How a page is sorted; each ends on the change number, so the order is total and a page
    boundary never splits ties differently from one read to the next."""

    CHANGED = "changed"  # the most recently written first
    CPI = "cpi"  # the best paid first
    LOI = "loi"  # the shortest first


@dataclass(frozen=True, slots=True)
class OpportunityFilter:
    """What a browsed opportunity must be; None accepts anything. ``number`` matches the
    exchange's opportunity id or its project id."""

    network_id: str | None = None
    status: OpportunityStatus | None = None
    country: str | None = None
    language: str | None = None
    min_cpi: Decimal | None = None
    max_loi_minutes: int | None = None
    number: int | None = None


@dataclass(frozen=True, slots=True)
class OpportunitySummary:
    """One row of the browser: the normalized columns, no payload."""

    network_id: str
    external_id: int
    project_id: int | None
    status: OpportunityStatus
    country: str
    language: str
    cpi: Decimal
    loi_minutes: int
    incidence_rate: int
    devices: frozenset[Device]
    category_ids: tuple[int, ...]
    change_seq: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class OpportunityPage:
    """Page ``page`` (from 1) of at most ``page_size`` rows, of ``total`` that match."""

    items: tuple[OpportunitySummary, ...]
    page: int
    page_size: int
    total: int

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page * self.page_size < self.total

    @property
    def first_position(self) -> int:
        """The 1-based position of the page's first row among all matches (0: none)."""
        return (self.page - 1) * self.page_size + 1 if self.items else 0

    @property
    def last_position(self) -> int:
        return (self.page - 1) * self.page_size + len(self.items)


_SUMMARY_COLUMNS = (
    OpportunityRow.network_id,
    OpportunityRow.external_id,
    OpportunityRow.project_id,
    OpportunityRow.status,
    OpportunityRow.country,
    OpportunityRow.language,
    OpportunityRow.cpi,
    OpportunityRow.loi_minutes,
    OpportunityRow.incidence_rate,
    OpportunityRow.devices,
    OpportunityRow.category_ids,
    OpportunityRow.change_seq,
    OpportunityRow.updated_at,
)


def browse_opportunities(
    session: Session,
    wanted: OpportunityFilter,
    order: OpportunityOrder = OpportunityOrder.CHANGED,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> OpportunityPage:
    """Page ``page`` of the opportunities ``wanted`` describes, in ``order``; a page past the
    last is empty."""
    if page < 1 or page_size < 1:
        raise ValueError(f"page and page_size start at 1, not {page} and {page_size}")
    conditions = _conditions(wanted)
    total = int(session.scalar(select(func.count(OpportunityRow.id)).where(*conditions)) or 0)
    statement: Select[Any] = (
        select(*_SUMMARY_COLUMNS)
        .where(*conditions)
        .order_by(*_ORDERS[order])
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    items = tuple(_summary(row) for row in session.execute(statement))
    return OpportunityPage(items=items, page=page, page_size=page_size, total=total)


_ORDERS: dict[OpportunityOrder, tuple[Any, ...]] = {
    OpportunityOrder.CHANGED: (OpportunityRow.change_seq.desc(),),
    OpportunityOrder.CPI: (OpportunityRow.cpi.desc(), OpportunityRow.change_seq.desc()),
    OpportunityOrder.LOI: (OpportunityRow.loi_minutes.asc(), OpportunityRow.change_seq.desc()),
}


def _conditions(wanted: OpportunityFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if wanted.network_id is not None:
        conditions.append(OpportunityRow.network_id == wanted.network_id)
    if wanted.status is not None:
        conditions.append(OpportunityRow.status == wanted.status.value)
    if wanted.country is not None:
        conditions.append(OpportunityRow.country == wanted.country)
    if wanted.language is not None:
        conditions.append(OpportunityRow.language == wanted.language)
    if wanted.min_cpi is not None:
        conditions.append(OpportunityRow.cpi >= wanted.min_cpi)
    if wanted.max_loi_minutes is not None:
        conditions.append(OpportunityRow.loi_minutes <= wanted.max_loi_minutes)
    if wanted.number is not None:
        conditions.append(
            or_(
                OpportunityRow.external_id == wanted.number,
                OpportunityRow.project_id == wanted.number,
            )
        )
    return conditions


def _summary(row: Any) -> OpportunitySummary:
    return OpportunitySummary(
        network_id=row.network_id,
        external_id=row.external_id,
        project_id=row.project_id,
        status=_status(row.status),
        country=row.country,
        language=row.language,
        cpi=row.cpi,
        loi_minutes=row.loi_minutes,
        incidence_rate=row.incidence_rate,
        devices=frozenset(_devices(row.devices)),
        category_ids=tuple(row.category_ids),
        change_seq=row.change_seq,
        updated_at=row.updated_at,
    )


def _status(value: str) -> OpportunityStatus:
    try:
        return OpportunityStatus(value)
    except ValueError:
        return OpportunityStatus.OTHER


def _devices(values: list[Any]) -> list[Device]:
    known = {device.value for device in Device}
    return [Device(value) for value in values if value in known]
