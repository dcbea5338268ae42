"""Reading an opportunity's objects: which cells their tags name, and which the exchange must
prescreen."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given

from surveyrouter.domain.opportunity import (
    DISCARDED_ATTRIBUTE_ID,
    Cell,
    CellKind,
    Device,
    FilterObject,
    Opportunity,
    OpportunityStatus,
)
from tests.unit.domain.strategies import opportunities


def uses_opaque_cells(opportunity: Opportunity) -> bool:
    """The plain definition: some object's resolved cells include an opaque one."""
    objects = [o.cell_tags for group in opportunity.filters for o in group]
    objects += [o.cell_tags for group in opportunity.quotas for o in group]
    return any(cell.is_opaque for tags in objects for cell in opportunity.resolve(tags))


@given(opportunities(1))
def test_has_opaque_cells_reads_the_tags_as_resolve_does(opportunity: Opportunity) -> None:
    # Dangling tags (opaque), discarded cells (attribute -1, not used, even when opaque),
    # closed quota objects (still the opportunity's objects) and opaque kinds all occur.
    assert opportunity.has_opaque_cells == uses_opaque_cells(opportunity)


def _with_cells(*cells: Cell, tags: tuple[str, ...] | None = None) -> Opportunity:
    return Opportunity(
        network="test",
        id=1,
        status=OpportunityStatus.OPEN,
        country="US",
        language="en",
        cpi=Decimal("1.00"),
        loi_minutes=10,
        incidence_rate=50,
        devices=frozenset(Device),
        live_link="https://example.invalid/start",
        cells={cell.tag: cell for cell in cells},
        filters=((FilterObject("f", tags if tags is not None else tuple(c.tag for c in cells)),),),
    )


GENDER = Cell("g", 1, CellKind.VALUE, values=("1",))


def test_an_ineffable_cell_is_prescreened() -> None:
    assert _with_cells(GENDER, Cell("i", 96, CellKind.INEFFABLE)).has_opaque_cells


def test_a_discarded_cell_is_not_used_even_when_opaque() -> None:
    discarded = Cell("d", DISCARDED_ATTRIBUTE_ID, CellKind.INEFFABLE)
    assert not _with_cells(GENDER, discarded).has_opaque_cells


def test_a_tag_naming_no_cell_is_prescreened() -> None:
    assert _with_cells(GENDER, tags=("g", "dangling")).has_opaque_cells


def test_answerable_cells_alone_are_not_prescreened() -> None:
    assert not _with_cells(GENDER).has_opaque_cells
