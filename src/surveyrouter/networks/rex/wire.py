"""REX wire models: the Opportunity object (REX §3) and its cells (§4), as the registry sends them.

Parsing is liberal on purpose. Dynata's own SDK rejects any opportunity with a field, status or
cell kind it does not know and then acks it — silent data loss (REX §8). Here unknown fields,
categories, statuses, devices and cell kinds are kept or tolerated, and logged once each.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from surveyrouter.domain.money import MAX_CPI_USD

logger = logging.getLogger(__name__)

_already_logged: set[tuple[str, str]] = set()


def log_once(what: str, name: str, **context: Any) -> None:
    """Log an unexpected name from the exchange the first time this process sees it."""
    key = (what, name)
    if key in _already_logged:
        return
    _already_logged.add(key)
    fields = {"rex_" + what.replace(" ", "_"): name, **context}
    logger.warning("rex: unexpected %s %r", what, name, extra={"fields": fields})


class WireModel(BaseModel):
    # REX sends answer ids and collection ids as strings but integers have been seen in the wild.
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True, populate_by_name=True)


class RexRange(WireModel):
    from_: int | None = Field(default=None, alias="from")
    to: int | None = None


KNOWN_CELL_KINDS = frozenset(
    {"VALUE", "LIST", "RANGE", "COLLECTION", "INEFFABLE", "ANSWERED", "INVITE_COLLECTIONS",
     "STATIC_INVITE_COLLECTIONS"}
)  # fmt: skip
_CELL_HEADER = ("tag", "attribute_id", "negate", "kind")


class RexCell(WireModel):
    tag: str
    attribute_id: int
    negate: bool = False
    kind: str
    value: str | None = None
    list_: list[str] | None = Field(default=None, alias="list")
    operator: str | None = None
    range_: RexRange | None = Field(default=None, alias="range")
    collection: str | None = None
    ineffable: str | None = None
    invite_collections: list[str] | None = None


class RexFilterObject(WireModel):
    id: str
    cells: list[str] = []


class RexQuotaObject(WireModel):
    id: str
    cells: list[str] = []
    count: int
    status: str


class RexLocale(WireModel):
    language: str = Field(min_length=2, max_length=16)
    country: str = Field(min_length=2, max_length=8)


class RexLinks(WireModel):
    live: str


class RexRequirements(WireModel):
    requires_recontact: bool = False
    requires_pii_collection: bool = False
    requires_webcam: bool = False
    requires_eye_tracking: bool = False
    requires_cookie_drops: bool = False
    requires_sample_plus: bool = False
    requires_app_vpn: bool = False
    requires_manual_rewards: bool = False


class RexOpportunity(WireModel):
    """REX §3.1. Fields the docs mark required but real payloads omit are optional here."""

    id: int
    status: str
    length_of_interview: int
    incidence_rate: int
    # A price outside is a broken payload for that one opportunity, not a failed batch.
    cost_per_interview: Decimal = Field(ge=0, le=MAX_CPI_USD)
    completes: int | None = None
    project_id: int | None = None
    group_id: int | None = None
    order_number: str | None = Field(default=None, max_length=64)
    client_id: int | None = None
    evaluation: str | None = Field(default=None, max_length=32)
    days_in_field: int | None = None
    locale: RexLocale
    devices: list[str] = []
    links: RexLinks
    category_ids: list[int] = []
    category_exclusions: list[int] = []
    project_exclusions: list[int] = []
    created: datetime | None = None
    notified: datetime | None = None
    requirements: RexRequirements | None = None
    cells: list[RexCell] = []
    filters: list[list[RexFilterObject]] = []
    quotas: list[list[RexQuotaObject]] = []

    @model_validator(mode="before")
    @classmethod
    def _opaque_payload_of_unknown_cell_kinds(cls, data: Any) -> Any:
        # A kind we do not know may reuse a payload name with another shape; its payload is
        # never read (the cell evaluates as INEFFABLE), so it must not fail the opportunity.
        # Checked here, once per opportunity, rather than by a validator on every cell: the
        # sync path parses a dozen cells per opportunity and pays for each validator call.
        if not isinstance(data, dict):
            return data
        cells = data.get("cells")
        if not isinstance(cells, list):
            return data
        for cell in cells:
            if isinstance(cell, dict) and not _known_kind(cell):
                break
        else:
            return data
        # The payload is the exchange's as sent (stored, audited): changed on a copy only.
        opaque = [
            {name: cell[name] for name in _CELL_HEADER if name in cell}
            if isinstance(cell, dict) and not _known_kind(cell)
            else cell
            for cell in cells
        ]
        return {**data, "cells": opaque}


def _known_kind(cell: dict[str, Any]) -> bool:
    # A kind that is not even a string is left for the model to refuse, not hashed.
    kind = cell.get("kind")
    return isinstance(kind, str) and kind in KNOWN_CELL_KINDS
