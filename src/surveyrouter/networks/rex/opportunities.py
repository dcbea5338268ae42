"""Turning REX opportunity JSON into domain opportunities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from surveyrouter import json_codec
from surveyrouter.domain.opportunity import (
    Cell,
    CellKind,
    FilterObject,
    ListOperator,
    Opportunity,
    OpportunityStatus,
    QuotaObject,
    Requirements,
)
from surveyrouter.networks.rex.common_shape import (
    DEVICE_BY_NAME,
    KIND_BY_NAME,
    KNOWN_CATEGORY_IDS,
    STATUS_BY_NAME,
    parse_common,
    parse_common_document,
    requirements_of,
)
from surveyrouter.networks.rex.wire import (
    RexCell,
    RexOpportunity,
    RexRequirements,
    WireModel,
    log_once,
)


class InvalidOpportunity(ValueError):
    """An opportunity payload that cannot be routed: a required field is missing or malformed."""


def parse_opportunity(raw: Mapping[str, Any], network: str = "rex") -> Opportunity:
    """Validate one REX opportunity object (§3.1) and convert it to the domain.

    A payload in the common shape is read directly (``common_shape``); any other goes through
    the wire models, which give the same result for the common shape (a property test holds
    them to it) and are the ones that coerce, log what they do not know and explain errors.
    """
    common = parse_common(raw, network)
    if common is not None:
        return common
    return parse_with_models(raw, network)


def parse_document(document: bytes | str, network: str = "rex") -> Opportunity:
    """``parse_opportunity`` of a JSON document: one in the common shape is read straight from
    its text, without building the dictionaries first. ``ValueError`` if it is not JSON."""
    common = parse_common_document(document, network)
    if common is not None:
        return common
    return parse_opportunity(json_codec.loads(document), network)


def parse_with_models(raw: Mapping[str, Any], network: str = "rex") -> Opportunity:
    """``parse_opportunity`` by the wire models alone: the plain reference."""
    try:
        wire = RexOpportunity.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "opportunity"
        identifier = raw.get("id", "?") if isinstance(raw, Mapping) else "?"
        message = f"REX opportunity {identifier!r}: {where}: {first['msg']}"
        raise InvalidOpportunity(message) from error
    return to_domain(wire, network)


def to_domain(wire: RexOpportunity, network: str = "rex") -> Opportunity:
    _log_extras(wire, "opportunity")
    _log_extras(wire.locale, "locale")
    _log_extras(wire.links, "links")
    status = STATUS_BY_NAME.get(wire.status)
    if status is None:
        log_once("status", wire.status, opportunity_id=wire.id)
        status = OpportunityStatus.OTHER
    devices = set()
    for name in wire.devices:
        device = DEVICE_BY_NAME.get(name)
        if device is None:
            log_once("device", name, opportunity_id=wire.id)
        else:
            devices.add(device)
    for category in (*wire.category_ids, *wire.category_exclusions):
        if category not in KNOWN_CATEGORY_IDS:
            log_once("category", str(category), opportunity_id=wire.id)
    cells = {cell.tag: _cell(cell, wire.id) for cell in wire.cells}
    for filter_group in wire.filters:
        for filter_object in filter_group:
            _log_extras(filter_object, "filter object")
            _check_tags(filter_object.cells, cells, wire.id)
    for quota_group in wire.quotas:
        for quota_object in quota_group:
            _log_extras(quota_object, "quota object")
            _check_tags(quota_object.cells, cells, wire.id)
    return Opportunity(
        network=network,
        id=wire.id,
        status=status,
        country=wire.locale.country.upper(),
        language=wire.locale.language.lower(),
        cpi=wire.cost_per_interview,
        loi_minutes=wire.length_of_interview,
        incidence_rate=wire.incidence_rate,
        devices=frozenset(devices),
        live_link=wire.links.live,
        project_id=wire.project_id,
        group_id=wire.group_id,
        completes=wire.completes,
        days_in_field=wire.days_in_field,
        evaluation=wire.evaluation,
        order_number=wire.order_number,
        client_id=wire.client_id,
        category_ids=tuple(wire.category_ids),
        category_exclusions=frozenset(wire.category_exclusions),
        project_exclusions=frozenset(wire.project_exclusions),
        requirements=_requirements(wire.requirements),
        created=wire.created,
        notified=wire.notified,
        cells=cells,
        filters=tuple(
            tuple(FilterObject(id=o.id, cell_tags=tuple(o.cells)) for o in group)
            for group in wire.filters
        ),
        quotas=tuple(
            tuple(
                QuotaObject(
                    id=o.id,
                    cell_tags=tuple(o.cells),
                    count=o.count,
                    status=_quota_status(o.status, wire.id),
                )
                for o in group
            )
            for group in wire.quotas
        ),
    )


def _cell(cell: RexCell, opportunity_id: int) -> Cell:
    _log_extras(cell, "cell")
    if cell.range_ is not None:
        _log_extras(cell.range_, "range")
    kind = KIND_BY_NAME.get(cell.kind)
    if kind is None:
        log_once("cell kind", cell.kind, opportunity_id=opportunity_id)
        kind = CellKind.UNKNOWN
    operator = ListOperator.AND if (cell.operator or "OR").upper() == "AND" else ListOperator.OR
    values: tuple[str, ...] = ()
    if kind is CellKind.VALUE and cell.value is not None:
        values = (cell.value,)
    elif kind is CellKind.LIST:
        values = tuple(cell.list_ or ())
    elif kind in (CellKind.INVITE_COLLECTIONS, CellKind.STATIC_INVITE_COLLECTIONS):
        values = tuple(cell.invite_collections or ())
    return Cell(
        tag=cell.tag,
        attribute_id=cell.attribute_id,
        kind=kind,
        negate=cell.negate,
        values=values,
        operator=operator,
        range_from=cell.range_.from_ if cell.range_ else None,
        range_to=cell.range_.to if cell.range_ else None,
        collection_id=cell.collection if kind is CellKind.COLLECTION else None,
    )


def _quota_status(name: str, opportunity_id: int) -> OpportunityStatus:
    status = STATUS_BY_NAME.get(name)
    if status is None:
        log_once("quota status", name, opportunity_id=opportunity_id)
        return OpportunityStatus.OTHER
    return status


def _requirements(wire: RexRequirements | None) -> Requirements:
    if wire is None:
        return Requirements()
    _log_extras(wire, "requirement")
    return requirements_of(wire)


def _check_tags(tags: list[str], cells: Mapping[str, Cell], opportunity_id: int) -> None:
    for tag in tags:
        if tag not in cells:
            # Evaluated as an INEFFABLE cell (see Opportunity.resolve); worth a look all the same.
            log_once("dangling tag", tag, opportunity_id=opportunity_id)


def _log_extras(model: WireModel, what: str) -> None:
    extra = model.__pydantic_extra__  # what ``model_extra`` returns, without its property call
    if extra:
        for name in extra:
            log_once(what + " field", name)
