"""Survey opportunities and their targeting, as the router sees them.

An exchange adapter (``networks/rex``) converts its wire format into these objects; the
targeting model — cells referenced by tag from filter and quota objects, grouped in AND-ed groups
of OR-ed objects — follows REX §4–§5 and is general enough for other exchanges.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


class OpportunityStatus(enum.Enum):
    OPEN = "OPEN"
    PAUSED = "PAUSED"
    CLOSED = "CLOSED"
    # A status the exchange added after we were written: never routable, never dropped.
    OTHER = "OTHER"


class Device(enum.Enum):
    MOBILE = "mobile"
    DESKTOP = "desktop"
    TABLET = "tablet"


class CellKind(enum.Enum):
    VALUE = "VALUE"
    LIST = "LIST"
    RANGE = "RANGE"
    COLLECTION = "COLLECTION"
    INEFFABLE = "INEFFABLE"
    ANSWERED = "ANSWERED"
    INVITE_COLLECTIONS = "INVITE_COLLECTIONS"
    STATIC_INVITE_COLLECTIONS = "STATIC_INVITE_COLLECTIONS"
    # A kind the exchange added after we were written; evaluated like INEFFABLE.
    UNKNOWN = "UNKNOWN"


class ListOperator(enum.Enum):
    OR = "OR"
    AND = "AND"


# REX §5.2: a cell whose attribute id is -1 is ineffable and is discarded from its objects.
DISCARDED_ATTRIBUTE_ID = -1
# Stands in for the attribute of a tag that names no cell; opaque cells never ask for answers.
UNRESOLVED_ATTRIBUTE_ID = 0


@dataclass(frozen=True, slots=True)
class Cell:
    """One targeting atom, referenced by ``tag`` from filter and quota objects.

    ``values`` holds the payload of the value-like kinds: the single value of a VALUE cell, the
    answer ids of a LIST cell, or the invite collection ids of the invite kinds. RANGE bounds are
    inclusive and ``None`` means unbounded; COLLECTION cells name a downloadable collection.
    """

    tag: str
    attribute_id: int
    kind: CellKind
    negate: bool = False
    values: tuple[str, ...] = ()
    operator: ListOperator = ListOperator.OR
    range_from: int | None = None
    range_to: int | None = None
    collection_id: str | None = None

    @property
    def is_discarded(self) -> bool:
        return self.attribute_id == DISCARDED_ATTRIBUTE_ID

    @property
    def is_opaque(self) -> bool:
        """True for cells the partner cannot evaluate: the exchange prescreens them."""
        return self.kind in (CellKind.INEFFABLE, CellKind.UNKNOWN)

    @property
    def is_invite(self) -> bool:
        return self.kind in (CellKind.INVITE_COLLECTIONS, CellKind.STATIC_INVITE_COLLECTIONS)


@dataclass(frozen=True, slots=True)
class FilterObject:
    id: str
    cell_tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class QuotaObject:
    id: str
    cell_tags: tuple[str, ...]
    count: int
    status: OpportunityStatus

    @property
    def is_open(self) -> bool:
        # REX §5.2: a quota object needs status OPEN and count > 0.
        return self.status is OpportunityStatus.OPEN and self.count > 0


@dataclass(frozen=True, slots=True)
class Requirements:
    """REX §3.3 requirement flags; all default to false."""

    recontact: bool = False
    pii_collection: bool = False
    webcam: bool = False
    eye_tracking: bool = False
    cookie_drops: bool = False
    sample_plus: bool = False
    app_vpn: bool = False
    manual_rewards: bool = False


@dataclass(frozen=True, slots=True)
class Opportunity:
    """One exchange survey with everything the router needs to match, rank and link it."""

    network: str
    id: int
    status: OpportunityStatus
    country: str
    language: str
    cpi: Decimal
    loi_minutes: int
    incidence_rate: int
    devices: frozenset[Device]
    live_link: str
    project_id: int | None = None
    group_id: int | None = None
    completes: int | None = None
    days_in_field: int | None = None
    evaluation: str | None = None
    order_number: str | None = None
    client_id: int | None = None
    category_ids: tuple[int, ...] = ()
    category_exclusions: frozenset[int] = frozenset()
    project_exclusions: frozenset[int] = frozenset()
    requirements: Requirements = Requirements()
    created: datetime | None = None
    notified: datetime | None = None
    cells: Mapping[str, Cell] = field(default_factory=dict)
    filters: tuple[tuple[FilterObject, ...], ...] = ()
    quotas: tuple[tuple[QuotaObject, ...], ...] = ()

    def __hash__(self) -> int:
        return hash((self.network, self.id))

    @property
    def is_open(self) -> bool:
        return self.status is OpportunityStatus.OPEN

    def resolve(self, tags: tuple[str, ...]) -> tuple[Cell, ...]:
        """The cells an object's tags name, as evaluation sees them.

        REX §5.2: attribute -1 cells are discarded. A tag naming no cell stands for an opaque
        (INEFFABLE) cell, so a broken reference never turns into a silent pass or fail.
        """
        resolved = []
        for tag in tags:
            cell = self.cells.get(tag)
            if cell is None:
                cell = Cell(tag=tag, attribute_id=UNRESOLVED_ATTRIBUTE_ID, kind=CellKind.INEFFABLE)
            elif cell.is_discarded:
                continue
            resolved.append(cell)
        return tuple(resolved)

    @property
    def has_opaque_cells(self) -> bool:
        """Whether any filter or quota object uses a cell the exchange must prescreen (as
        ``resolve`` reads the objects' tags: a dangling tag is opaque, a discarded cell is not
        used)."""
        cells = self.cells
        for groups in (self.filters, self.quotas):
            for group in groups:
                for o in group:
                    for tag in o.cell_tags:
                        cell = cells.get(tag)
                        if cell is None or (cell.is_opaque and not cell.is_discarded):
                            return True
        return False
