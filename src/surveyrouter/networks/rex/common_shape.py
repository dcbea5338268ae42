"""REX opportunities in the shape exchanges nearly always send, converted without pydantic.

``parse_opportunity`` validates every payload with the wire models and converts the result:
about two thirds of a synced opportunity's parsing time, paid again by every process that
follows the change feed. Nearly every payload has exactly the documented fields with exactly
JSON's types, every name known (status, devices, categories, cell kinds, quota statuses) and
every tag resolving. Such a payload gives the same domain opportunity read directly, so this
module reads it directly. Anything else (an extra field, a number where a string belongs, an
unknown name, a dangling tag, a bound crossed) answers ``None`` and takes the wire models' path,
which coerces, logs once and explains errors as it always has. A property test holds the two
paths to the same result.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

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
_MAX_CPI = Decimal("99999999.9999")

_REQUIRED = frozenset(
    {"id", "status", "length_of_interview", "incidence_rate", "cost_per_interview", "locale",
     "links"}
)  # fmt: skip
_OPTIONAL_INTS = ("completes", "project_id", "group_id", "client_id", "days_in_field")
_FIELDS = _REQUIRED | {
    *_OPTIONAL_INTS, "order_number", "evaluation", "devices", "category_ids",
    "category_exclusions", "project_exclusions", "created", "notified", "requirements", "cells",
    "filters", "quotas",
}  # fmt: skip
_CELL_FIELDS = frozenset(
    {"tag", "attribute_id", "negate", "kind", "value", "list", "operator", "range", "collection",
     "ineffable", "invite_collections"}
)  # fmt: skip
_REQUIREMENT_FIELDS: dict[str, str] = {
    "requires_recontact": "recontact",
    "requires_pii_collection": "pii_collection",
    "requires_webcam": "webcam",
    "requires_eye_tracking": "eye_tracking",
    "requires_cookie_drops": "cookie_drops",
    "requires_sample_plus": "sample_plus",
    "requires_app_vpn": "app_vpn",
    "requires_manual_rewards": "manual_rewards",
}
# RFC 3339 as REX writes it; other spellings the wire models accept take their path.
_TIMESTAMP = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)\Z", re.ASCII
)
_NO_REQUIREMENTS = Requirements()


class _Uncommon(Exception):
    """The payload is not in the common shape: the wire models decide."""


def parse_common(raw: Mapping[str, Any], network: str) -> Opportunity | None:
    """The opportunity ``raw`` describes if it is in the common shape, else ``None``."""
    if type(raw) is not dict or not raw.keys() <= _FIELDS or not raw.keys() >= _REQUIRED:
        return None
    try:
        return _opportunity(raw, network)
    except _Uncommon:
        return None


def _opportunity(raw: dict[str, Any], network: str) -> Opportunity:
    opportunity_id = _int(raw["id"])
    status = STATUS_BY_NAME.get(_str(raw["status"]))
    if status is None:
        raise _Uncommon
    locale = raw["locale"]
    links = raw["links"]
    if type(locale) is not dict or locale.keys() != {"language", "country"}:
        raise _Uncommon
    if type(links) is not dict or links.keys() != {"live"}:
        raise _Uncommon
    language, country = _str(locale["language"]), _str(locale["country"])
    if not (2 <= len(language) <= 16 and 2 <= len(country) <= 8):
        raise _Uncommon
    optional = [_optional_int(raw.get(name)) for name in _OPTIONAL_INTS]
    completes, project_id, group_id, client_id, days_in_field = optional
    order_number = _optional_str(raw.get("order_number"), 64)
    evaluation = _optional_str(raw.get("evaluation"), 32)
    category_ids = _ints(raw.get("category_ids", ()))
    category_exclusions = _ints(raw.get("category_exclusions", ()))
    if not KNOWN_CATEGORY_IDS.issuperset(category_ids) or not KNOWN_CATEGORY_IDS.issuperset(
        category_exclusions
    ):
        raise _Uncommon
    cells = {cell.tag: cell for cell in map(_cell, _list(raw.get("cells", ())))}
    return Opportunity(
        network=network,
        id=opportunity_id,
        status=status,
        country=country.upper(),
        language=language.lower(),
        cpi=_cpi(raw["cost_per_interview"]),
        loi_minutes=_int(raw["length_of_interview"]),
        incidence_rate=_int(raw["incidence_rate"]),
        devices=_devices(raw.get("devices", ())),
        live_link=_str(links["live"]),
        project_id=project_id,
        group_id=group_id,
        completes=completes,
        days_in_field=days_in_field,
        evaluation=evaluation,
        order_number=order_number,
        client_id=client_id,
        category_ids=tuple(category_ids),
        category_exclusions=frozenset(category_exclusions),
        project_exclusions=frozenset(_ints(raw.get("project_exclusions", ()))),
        requirements=_requirements(raw.get("requirements")),
        created=_timestamp(raw.get("created")),
        notified=_timestamp(raw.get("notified")),
        cells=cells,
        filters=tuple(
            tuple(_filter_object(o, cells) for o in _list(group))
            for group in _list(raw.get("filters", ()))
        ),
        quotas=tuple(
            tuple(_quota_object(o, cells) for o in _list(group))
            for group in _list(raw.get("quotas", ()))
        ),
    )


def _cell(raw: Any) -> Cell:
    # The hottest loop of syncing (a dozen cells per opportunity): checks written out inline.
    if type(raw) is not dict or not raw.keys() <= _CELL_FIELDS:
        raise _Uncommon
    get = raw.get
    tag, attribute_id, name = get("tag"), get("attribute_id"), get("kind")
    negate = get("negate", False)
    if type(tag) is not str or type(attribute_id) is not int or type(negate) is not bool:
        raise _Uncommon
    kind = KIND_BY_NAME.get(name) if type(name) is str else None
    if kind is None:
        raise _Uncommon
    # Every payload field is checked for its type, as the wire models check it, read or not.
    value, collection, ineffable, operator = (
        get("value"), get("collection"), get("ineffable"), get("operator")
    )  # fmt: skip
    for text in (value, collection, ineffable, operator):
        if text is not None and type(text) is not str:
            raise _Uncommon
    listed = _optional_strs(get("list"))
    invites = _optional_strs(get("invite_collections"))
    range_from, range_to = _range(get("range"))
    values: tuple[str, ...] = ()
    if kind is CellKind.VALUE:
        if value is not None:
            values = (value,)
    elif kind is CellKind.LIST:
        values = tuple(listed or ())
    elif kind is CellKind.INVITE_COLLECTIONS or kind is CellKind.STATIC_INVITE_COLLECTIONS:
        values = tuple(invites or ())
    return Cell(
        tag,
        attribute_id,
        kind,
        negate,
        values,
        ListOperator.AND if operator is not None and operator.upper() == "AND" else ListOperator.OR,
        range_from,
        range_to,
        collection if kind is CellKind.COLLECTION else None,
    )


def _range(raw: Any) -> tuple[int | None, int | None]:
    if raw is None:
        return None, None
    if type(raw) is not dict or not raw.keys() <= {"from", "to"}:
        raise _Uncommon
    return _optional_int(raw.get("from")), _optional_int(raw.get("to"))


def _filter_object(raw: Any, cells: Mapping[str, Cell]) -> FilterObject:
    if type(raw) is not dict or not raw.keys() <= {"id", "cells"} or "id" not in raw:
        raise _Uncommon
    return FilterObject(id=_str(raw["id"]), cell_tags=_tags(raw.get("cells", ()), cells))


def _quota_object(raw: Any, cells: Mapping[str, Cell]) -> QuotaObject:
    if type(raw) is not dict or raw.keys() - {"cells"} != {"id", "count", "status"}:
        raise _Uncommon
    status = STATUS_BY_NAME.get(_str(raw["status"]))
    if status is None:
        raise _Uncommon
    return QuotaObject(
        id=_str(raw["id"]),
        cell_tags=_tags(raw.get("cells", ()), cells),
        count=_int(raw["count"]),
        status=status,
    )


def _tags(raw: Any, cells: Mapping[str, Cell]) -> tuple[str, ...]:
    tags = tuple(_strs(raw))
    for tag in tags:
        if tag not in cells:
            raise _Uncommon  # a dangling tag is logged on the other path
    return tags


def _requirements(raw: Any) -> Requirements:
    if raw is None:
        return _NO_REQUIREMENTS
    if type(raw) is not dict or not raw.keys() <= _REQUIREMENT_FIELDS.keys():
        raise _Uncommon
    flags = {}
    for name, flag in raw.items():
        if type(flag) is not bool:
            raise _Uncommon
        flags[_REQUIREMENT_FIELDS[name]] = flag
    return Requirements(**flags)


def _devices(raw: Any) -> frozenset[Device]:
    devices = set()
    for name in _list(raw):
        device = DEVICE_BY_NAME.get(_str(name))
        if device is None:
            raise _Uncommon
        devices.add(device)
    return frozenset(devices)


def _cpi(raw: Any) -> Decimal:
    kind = type(raw)
    if kind is int:
        cpi = Decimal(raw)
    elif kind is float and math.isfinite(raw):
        cpi = Decimal(repr(raw))  # the shortest decimal that reads back as this float
    else:
        raise _Uncommon
    if not 0 <= cpi <= _MAX_CPI:
        raise _Uncommon
    return cpi


def _timestamp(raw: Any) -> datetime | None:
    if raw is None:
        return None
    if type(raw) is not str or _TIMESTAMP.match(raw) is None:
        raise _Uncommon
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise _Uncommon from None


def _int(raw: Any) -> int:
    if type(raw) is not int:
        raise _Uncommon
    return raw


def _optional_int(raw: Any) -> int | None:
    return None if raw is None else _int(raw)


def _str(raw: Any) -> str:
    if type(raw) is not str:
        raise _Uncommon
    return raw


def _optional_str(raw: Any, max_length: int | None = None) -> str | None:
    if raw is None:
        return None
    text = _str(raw)
    if max_length is not None and len(text) > max_length:
        raise _Uncommon
    return text


def _list(raw: Any) -> list[Any] | tuple[()]:
    if type(raw) is not list and raw != ():
        raise _Uncommon
    return raw  # type: ignore[no-any-return]


def _ints(raw: Any) -> list[int]:
    items = _list(raw)
    for item in items:
        _int(item)
    return list(items)


def _strs(raw: Any) -> list[str]:
    items = _list(raw)
    for item in items:
        _str(item)
    return list(items)


def _optional_strs(raw: Any) -> list[str] | None:
    return None if raw is None else _strs(raw)
