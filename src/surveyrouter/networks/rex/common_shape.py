"""REX opportunities in the shape exchanges nearly always send, converted without pydantic.

``parse_opportunity`` validates every payload with the wire models and converts the result:
about two thirds of a synced opportunity's parsing time, paid again by every process that
follows the change feed. Nearly every payload has exactly the documented fields with exactly
JSON's types, every name known (status, devices, categories, cell kinds, quota statuses) and
every tag resolving. Such a payload gives the same domain opportunity read directly, so this
module reads it directly: msgspec checks the fields and their types against the strict
``_Wire*`` structs below (in C, about five times faster than the same checks written out in
Python), and the rest (names, bounds, tags) is checked while converting. Anything else (an
extra field, a number where a string belongs, an unknown name, a dangling tag, a bound crossed)
answers ``None`` and takes the wire models' path, which coerces, logs once and explains errors
as it always has. A property test holds the two paths to the same result.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from surveyrouter.domain.money import MAX_CPI_USD
from surveyrouter.domain.opportunity import (
    Cell,
    CellKind,
    Device,
    FilterObject,
    ListOperator,
    Opportunity,
    OpportunityStatus,
    QuotaObject,
    Requirements,
)

# REX §3.2 (SDK-PY CategoryEnum). Other ids are kept as they are: the list grows without notice.
KNOWN_CATEGORY_IDS: frozenset[int] = frozenset(range(550, 579)) | {581, 582, 583, 587}
# The names REX uses for the domain's values; any other name is logged once by the wire path.
STATUS_BY_NAME: dict[str, OpportunityStatus] = {
    s.value: s for s in OpportunityStatus if s is not OpportunityStatus.OTHER
}
DEVICE_BY_NAME: dict[str, Device] = {d.value: d for d in Device}
KIND_BY_NAME: dict[str, CellKind] = {k.value: k for k in CellKind if k is not CellKind.UNKNOWN}
# RFC 3339 as REX writes it; other spellings the wire models accept take their path.
_TIMESTAMP = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)\Z", re.ASCII
)
_NO_REQUIREMENTS = Requirements()


# The common shape, field for field (REX §3.1–§3.3). Strict: no coercion, no unknown field.
# Transient and acyclic, so kept out of the cyclic collector (``gc=False``).
class _WireRange(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    from_: int | None = msgspec.field(default=None, name="from")
    to: int | None = None


class _WireCell(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    tag: str
    attribute_id: int
    kind: str
    negate: bool = False
    value: str | None = None
    list: tuple[str, ...] | None = None
    operator: str | None = None
    range: _WireRange | None = None
    collection: str | None = None
    ineffable: str | None = None
    invite_collections: tuple[str, ...] | None = None


class _WireFilterObject(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    id: str
    cells: tuple[str, ...] = ()


class _WireQuotaObject(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    id: str
    count: int
    status: str
    cells: tuple[str, ...] = ()


class _WireLocale(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    language: str
    country: str


class _WireLinks(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    live: str


class _WireRequirements(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    requires_recontact: bool = False
    requires_pii_collection: bool = False
    requires_webcam: bool = False
    requires_eye_tracking: bool = False
    requires_cookie_drops: bool = False
    requires_sample_plus: bool = False
    requires_app_vpn: bool = False
    requires_manual_rewards: bool = False


class _WireOpportunity(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    id: int
    status: str
    length_of_interview: int
    incidence_rate: int
    cost_per_interview: int | float
    locale: _WireLocale
    links: _WireLinks
    completes: int | None = None
    project_id: int | None = None
    group_id: int | None = None
    client_id: int | None = None
    days_in_field: int | None = None
    order_number: str | None = None
    evaluation: str | None = None
    devices: tuple[str, ...] = ()
    category_ids: tuple[int, ...] = ()
    category_exclusions: tuple[int, ...] = ()
    project_exclusions: tuple[int, ...] = ()
    created: str | None = None
    notified: str | None = None
    requirements: _WireRequirements | None = None
    cells: tuple[_WireCell, ...] = ()
    filters: tuple[tuple[_WireFilterObject, ...], ...] = ()
    quotas: tuple[tuple[_WireQuotaObject, ...], ...] = ()


class _Uncommon(Exception):
    """The payload is not in the common shape: the wire models decide."""


_DECODER = msgspec.json.Decoder(_WireOpportunity)


def parse_common(raw: Mapping[str, Any], network: str) -> Opportunity | None:
    """The opportunity ``raw`` describes if it is in the common shape, else ``None``."""
    if type(raw) is not dict:
        return None
    try:
        wire = msgspec.convert(raw, _WireOpportunity)
    except msgspec.ValidationError:
        return None
    return _converted(wire, network)


def parse_common_document(document: bytes | str, network: str) -> Opportunity | None:
    """``parse_common`` of a JSON document's value, read straight from its text (malformed
    JSON answers ``None`` too: the caller's reader then says what is wrong)."""
    try:
        wire = _DECODER.decode(document)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return _converted(wire, network)


def _converted(wire: _WireOpportunity, network: str) -> Opportunity | None:
    try:
        return _opportunity(wire, network)
    except _Uncommon:
        return None


def _opportunity(wire: _WireOpportunity, network: str) -> Opportunity:
    status = STATUS_BY_NAME.get(wire.status)
    if status is None:
        raise _Uncommon
    language, country = wire.locale.language, wire.locale.country
    if not (2 <= len(language) <= 16 and 2 <= len(country) <= 8):
        raise _Uncommon
    order_number, evaluation = wire.order_number, wire.evaluation
    if (order_number is not None and len(order_number) > 64) or (
        evaluation is not None and len(evaluation) > 32
    ):
        raise _Uncommon
    if not KNOWN_CATEGORY_IDS.issuperset(wire.category_ids) or not KNOWN_CATEGORY_IDS.issuperset(
        wire.category_exclusions
    ):
        raise _Uncommon
    cells = {cell.tag: cell for cell in map(_cell, wire.cells)}
    return Opportunity(
        network=network,
        id=wire.id,
        status=status,
        country=country.upper(),
        language=language.lower(),
        cpi=_cpi(wire.cost_per_interview),
        loi_minutes=wire.length_of_interview,
        incidence_rate=wire.incidence_rate,
        devices=_devices(wire.devices),
        live_link=wire.links.live,
        project_id=wire.project_id,
        group_id=wire.group_id,
        completes=wire.completes,
        days_in_field=wire.days_in_field,
        evaluation=evaluation,
        order_number=order_number,
        client_id=wire.client_id,
        category_ids=wire.category_ids,
        category_exclusions=frozenset(wire.category_exclusions),
        project_exclusions=frozenset(wire.project_exclusions),
        requirements=_requirements(wire.requirements),
        created=_timestamp(wire.created),
        notified=_timestamp(wire.notified),
        cells=cells,
        filters=tuple(
            tuple([FilterObject(o.id, _tags(o.cells, cells)) for o in group])
            for group in wire.filters
        ),
        quotas=tuple(tuple([_quota_object(o, cells) for o in group]) for group in wire.quotas),
    )


def _cell(wire: _WireCell) -> Cell:
    kind = KIND_BY_NAME.get(wire.kind)
    if kind is None:
        raise _Uncommon
    values: tuple[str, ...] = ()
    if kind is CellKind.VALUE:
        if wire.value is not None:
            values = (wire.value,)
    elif kind is CellKind.LIST:
        values = wire.list or ()
    elif kind is CellKind.INVITE_COLLECTIONS or kind is CellKind.STATIC_INVITE_COLLECTIONS:
        values = wire.invite_collections or ()
    bounds = wire.range
    operator = wire.operator
    return Cell(
        wire.tag,
        wire.attribute_id,
        kind,
        wire.negate,
        values,
        ListOperator.AND if operator is not None and operator.upper() == "AND" else ListOperator.OR,
        None if bounds is None else bounds.from_,
        None if bounds is None else bounds.to,
        wire.collection if kind is CellKind.COLLECTION else None,
    )


def _quota_object(wire: _WireQuotaObject, cells: Mapping[str, Cell]) -> QuotaObject:
    status = STATUS_BY_NAME.get(wire.status)
    if status is None:
        raise _Uncommon
    return QuotaObject(wire.id, _tags(wire.cells, cells), wire.count, status)


def _tags(tags: tuple[str, ...], cells: Mapping[str, Cell]) -> tuple[str, ...]:
    for tag in tags:
        if tag not in cells:
            raise _Uncommon  # a dangling tag is logged on the other path
    return tags


def _requirements(wire: _WireRequirements | None) -> Requirements:
    return _NO_REQUIREMENTS if wire is None else requirements_of(wire)


def requirements_of(wire: Any) -> Requirements:
    """The domain's flags from a wire object's ``requires_*`` attributes (REX §3.3), whichever
    reader (these structs, the pydantic models) produced it."""
    return Requirements(
        recontact=wire.requires_recontact,
        pii_collection=wire.requires_pii_collection,
        webcam=wire.requires_webcam,
        eye_tracking=wire.requires_eye_tracking,
        cookie_drops=wire.requires_cookie_drops,
        sample_plus=wire.requires_sample_plus,
        app_vpn=wire.requires_app_vpn,
        manual_rewards=wire.requires_manual_rewards,
    )


def _devices(names: tuple[str, ...]) -> frozenset[Device]:
    devices = set()
    for name in names:
        device = DEVICE_BY_NAME.get(name)
        if device is None:
            raise _Uncommon
        devices.add(device)
    return frozenset(devices)


def _cpi(raw: int | float) -> Decimal:
    if type(raw) is int:
        cpi = Decimal(raw)
    elif math.isfinite(raw):
        cpi = Decimal(repr(raw))  # the shortest decimal that reads back as this float
    else:
        raise _Uncommon
    if not 0 <= cpi <= MAX_CPI_USD:
        raise _Uncommon
    return cpi


def _timestamp(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    if _TIMESTAMP.match(raw) is None:
        raise _Uncommon
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise _Uncommon from None
