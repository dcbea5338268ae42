"""Parsing REX opportunity JSON (REX spec §3–§5) into domain opportunities.

The real sample payloads (``../shared/fixtures/rex``) come first; invented payloads add what
they lack — the other cell kinds, optional fields, and everything the exchange may add later.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from surveyrouter.domain.opportunity import (
    Cell,
    CellKind,
    Device,
    FilterObject,
    ListOperator,
    OpportunityStatus,
    QuotaObject,
    Requirements,
)
from surveyrouter.networks.rex import wire
from surveyrouter.networks.rex.opportunities import InvalidOpportunity, parse_opportunity

OPEN = OpportunityStatus.OPEN
TOTAL = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.fixture(scope="module")
def notifications(rex_fixtures: Path) -> dict[int, dict[str, Any]]:
    raw = json.loads((rex_fixtures / "receive_notifications.json").read_text())
    return {item["id"]: item for item in raw}


@pytest.fixture
def sample(notifications: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A private copy of opportunity 13231 (REX §3.4) to change."""
    return copy.deepcopy(notifications[13231])


@pytest.fixture(autouse=True)
def fresh_log(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Each test starts as a new process would: nothing logged yet."""
    monkeypatch.setattr(wire, "_already_logged", set())
    with caplog.at_level(logging.INFO, logger=wire.logger.name):
        yield


def logged(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    """The warnings that mention ``name``."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.WARNING and name in record.getMessage()
    ]


# --- the fixtures -----------------------------------------------------------------------------


def test_every_fixture_opportunity_parses(notifications: dict[int, dict[str, Any]]) -> None:
    parsed = [parse_opportunity(raw) for raw in notifications.values()]
    assert [o.id for o in parsed] == [12871, 13174, 12872, 13231]
    assert {o.network for o in parsed} == {"rex"}


def test_network_names_the_source(sample: dict[str, Any]) -> None:
    assert parse_opportunity(sample, network="rex-sandbox").network == "rex-sandbox"


def test_fixture_scalar_fields_convert(sample: dict[str, Any]) -> None:
    o = parse_opportunity(sample)
    assert {
        "id": o.id,
        "status": o.status,
        "country": o.country,
        "language": o.language,
        "loi_minutes": o.loi_minutes,
        "incidence_rate": o.incidence_rate,
        "completes": o.completes,
        "project_id": o.project_id,
        "group_id": o.group_id,
        "evaluation": o.evaluation,
        "days_in_field": o.days_in_field,
        "client_id": o.client_id,
        "category_ids": o.category_ids,
        "category_exclusions": o.category_exclusions,
        "project_exclusions": o.project_exclusions,
        "devices": o.devices,
        "live_link": o.live_link,
        "created": o.created,
    } == {
        "id": 13231,
        "status": OPEN,
        "country": "US",
        "language": "en",
        "loi_minutes": 10,
        "incidence_rate": 80,
        "completes": 1000,
        "project_id": 1589419,
        "group_id": 112412497,
        "evaluation": "COMPLETES",
        "days_in_field": 56,
        "client_id": None,
        "category_ids": (572,),
        "category_exclusions": frozenset(),
        "project_exclusions": frozenset(),
        "devices": frozenset({Device.DESKTOP, Device.MOBILE, Device.TABLET}),
        "live_link": (
            "https://respondent.qa-rex.dynata.com/start"
            "?ctx=7321f626-0de5-4d45-b138-29864ce635b4&language=en"
        ),
        "created": datetime(2021, 11, 5, 12, 29, 33, 4000, tzinfo=UTC),
    }


def test_cost_per_interview_is_exactly_the_decimal_sent(sample: dict[str, Any]) -> None:
    cpi = parse_opportunity(sample).cpi
    assert isinstance(cpi, Decimal)
    assert cpi == Decimal("0.77")
    assert str(cpi) == "0.77"


def test_cost_per_interview_sent_as_a_string_is_read_exactly(sample: dict[str, Any]) -> None:
    sample["cost_per_interview"] = "1.10"
    assert str(parse_opportunity(sample).cpi) == "1.10"


def test_closed_fixture_opportunity_keeps_its_status(
    notifications: dict[int, dict[str, Any]],
) -> None:
    closed = parse_opportunity(notifications[12871])
    assert closed.status is OpportunityStatus.CLOSED
    assert not closed.is_open


def test_fixture_cells_convert(sample: dict[str, Any]) -> None:
    cells = parse_opportunity(sample).cells
    assert len(cells) == 7
    male = "b81daaee-dc56-4c30-a823-73d29225076c"
    young = "23cb8f40-eac6-4d13-9f15-98a3b3d5cc6b"
    zips = "1c1c0c57-8f91-46a9-aa4a-9cbcc97efdcc"
    assert cells[male] == Cell(tag=male, attribute_id=1, kind=CellKind.VALUE, values=("1",))
    assert cells[young] == Cell(
        tag=young, attribute_id=80, kind=CellKind.RANGE, range_from=18, range_to=24
    )
    assert cells[zips] == Cell(
        tag=zips, attribute_id=8, kind=CellKind.COLLECTION, collection_id="2169971"
    )


def test_fixture_negated_list_converts(notifications: dict[int, dict[str, Any]]) -> None:
    tag = "9bfe64b0-9a3f-4551-9a90-d437d88e30f5"
    cell = parse_opportunity(notifications[12872]).cells[tag]
    assert cell == Cell(
        tag=tag,
        attribute_id=100262,
        kind=CellKind.LIST,
        negate=True,
        values=(
            "20000144",
            "20000149",
            "20000127",
            "20000158",
            "20000140",
            "20000152",
            "20000155",
            "20000124",
        ),
        operator=ListOperator.OR,
    )


def test_fixture_filters_and_quotas_keep_their_structure(sample: dict[str, Any]) -> None:
    o = parse_opportunity(sample)
    assert o.filters == (
        (
            FilterObject(
                id="2cde78b2732c394cb02526bd1e8e3c7f15d11948cb6f215835f833c557b686c4",
                cell_tags=("287cbfd1-6c2b-463a-9e62-f3229fe110c0",),
            ),
        ),
        (
            FilterObject(
                id="9c78d747c5b69571f06e42c00f05c9fb1be6464ee9278b930b1bf69d5e9fcb30",
                cell_tags=("eada53bf-6d8a-4c54-92bd-ea3afd9efba9",),
            ),
        ),
        (
            FilterObject(
                id="b2784121ab5c9b565414d2d156568b57092fc291c5385f8d310ff8f9a5cdd5bc",
                cell_tags=("1c1c0c57-8f91-46a9-aa4a-9cbcc97efdcc",),
            ),
        ),
    )
    male, female = "b81daaee-dc56-4c30-a823-73d29225076c", "ad4e59d5-b2b3-4fb3-9e3e-37ed67180b70"
    young, older = "23cb8f40-eac6-4d13-9f15-98a3b3d5cc6b", "3af91cc1-6287-4d20-97a3-e965a08e7cbd"
    assert o.quotas == (
        (
            QuotaObject(
                id="6f49b6b637befada84f2c57f8afb5f0cc53b2a35e970431fd4348ff58d6cf348",
                cell_tags=(male, young),
                count=250,
                status=OPEN,
            ),
            QuotaObject(
                id="0a538c0eabad742acc3f1cf7ac5ab5415b36cef027ba174b703d6d30ea945b85",
                cell_tags=(male, older),
                count=250,
                status=OPEN,
            ),
            QuotaObject(
                id="558093d56c894f6f1c0081327fca31da662868870adf915ed557ed9c777271b6",
                cell_tags=(female, young),
                count=250,
                status=OPEN,
            ),
            QuotaObject(
                id="8afeca9cdcef231a9f7bb4365c0918d5f152e0301183ca83fbda015005b925c1",
                cell_tags=(female, older),
                count=250,
                status=OPEN,
            ),
        ),
    )


def test_fixture_cell_less_quota_object_converts(
    notifications: dict[int, dict[str, Any]],
) -> None:
    o = parse_opportunity(notifications[12871])
    assert o.quotas == ((QuotaObject(id=TOTAL, cell_tags=(), count=100, status=OPEN),),)


def test_get_opportunity_payload_parses_like_its_notification(
    rex_fixtures: Path, notifications: dict[int, dict[str, Any]]
) -> None:
    single = json.loads((rex_fixtures / "get_opportunity.json").read_text())
    assert parse_opportunity(single) == parse_opportunity(notifications[12871])


def test_fixtures_log_nothing(
    notifications: dict[int, dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    for raw in notifications.values():
        parse_opportunity(raw)
    assert caplog.records == []


# --- fields the fixtures lack -----------------------------------------------------------------


def test_locale_is_normalised(sample: dict[str, Any]) -> None:
    sample["locale"] = {"language": "EN", "country": "us"}
    o = parse_opportunity(sample)
    assert (o.country, o.language) == ("US", "en")


@pytest.mark.parametrize(
    ("devices", "expected"),
    [
        (["mobile"], {Device.MOBILE}),
        (["desktop", "tablet"], {Device.DESKTOP, Device.TABLET}),
        ([], set()),
    ],
)
def test_devices_convert(sample: dict[str, Any], devices: list[str], expected: set[Device]) -> None:
    sample["devices"] = devices
    assert parse_opportunity(sample).devices == expected


EVERY_KIND = [
    {"tag": "value", "attribute_id": 120, "negate": False, "kind": "VALUE", "value": 45398},
    {
        "tag": "list-and",
        "attribute_id": 231302,
        "negate": True,
        "kind": "LIST",
        "list": [514802, "514804"],
        "operator": "AND",
    },
    {
        "tag": "range-from",
        "attribute_id": 80,
        "negate": False,
        "kind": "RANGE",
        "range": {"from": 18, "to": None},
    },
    {
        "tag": "range-to",
        "attribute_id": 80,
        "negate": True,
        "kind": "RANGE",
        "range": {"from": None, "to": 30},
    },
    {"tag": "collection", "attribute_id": 8, "kind": "COLLECTION", "collection": 2169971},
    {
        "tag": "ineffable",
        "attribute_id": 83,
        "negate": False,
        "kind": "INEFFABLE",
        "ineffable": "targeting Dynata prescreens",
    },
    {"tag": "answered", "attribute_id": 115, "negate": True, "kind": "ANSWERED"},
    {
        "tag": "invites",
        "attribute_id": 238384,
        "negate": False,
        "kind": "INVITE_COLLECTIONS",
        "operator": "AND",
        "invite_collections": ["621041", 621042],
    },
    {
        "tag": "exclusions",
        "attribute_id": 28,
        "negate": True,
        "kind": "STATIC_INVITE_COLLECTIONS",
        "operator": "OR",
        "invite_collections": ["28_2171139"],
    },
]


def test_cells_of_every_kind_convert(
    sample: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    sample["cells"] = EVERY_KIND
    sample["filters"] = [[{"id": "f", "cells": [c["tag"] for c in EVERY_KIND]}]]
    sample["quotas"] = []
    cells = parse_opportunity(sample).cells
    assert list(cells.values()) == [
        Cell(tag="value", attribute_id=120, kind=CellKind.VALUE, values=("45398",)),
        Cell(
            tag="list-and",
            attribute_id=231302,
            kind=CellKind.LIST,
            negate=True,
            values=("514802", "514804"),
            operator=ListOperator.AND,
        ),
        Cell(tag="range-from", attribute_id=80, kind=CellKind.RANGE, range_from=18),
        Cell(tag="range-to", attribute_id=80, kind=CellKind.RANGE, negate=True, range_to=30),
        Cell(tag="collection", attribute_id=8, kind=CellKind.COLLECTION, collection_id="2169971"),
        Cell(tag="ineffable", attribute_id=83, kind=CellKind.INEFFABLE),
        Cell(tag="answered", attribute_id=115, kind=CellKind.ANSWERED, negate=True),
        Cell(
            tag="invites",
            attribute_id=238384,
            kind=CellKind.INVITE_COLLECTIONS,
            values=("621041", "621042"),
            operator=ListOperator.AND,
        ),
        Cell(
            tag="exclusions",
            attribute_id=28,
            kind=CellKind.STATIC_INVITE_COLLECTIONS,
            negate=True,
            values=("28_2171139",),
            operator=ListOperator.OR,
        ),
    ]
    assert caplog.records == []  # every documented kind and payload is known


def test_integer_ids_are_coerced_to_strings(sample: dict[str, Any]) -> None:
    sample["cells"] = [
        {"tag": 7, "attribute_id": 120, "kind": "VALUE", "value": 45398},
        {"tag": "l", "attribute_id": 120, "kind": "LIST", "list": [1, 2]},
        {"tag": "c", "attribute_id": 8, "kind": "COLLECTION", "collection": 2169971},
    ]
    sample["filters"] = [[{"id": 1, "cells": [7, "l", "c"]}]]
    sample["quotas"] = [[{"id": 2, "cells": [7], "count": 5, "status": "OPEN"}]]
    o = parse_opportunity(sample)
    assert o.cells["7"].values == ("45398",)
    assert o.cells["l"].values == ("1", "2")
    assert o.cells["c"].collection_id == "2169971"
    assert o.filters == ((FilterObject(id="1", cell_tags=("7", "l", "c")),),)
    assert o.quotas == ((QuotaObject(id="2", cell_tags=("7",), count=5, status=OPEN),),)


def test_list_without_operator_is_or(sample: dict[str, Any]) -> None:
    sample["cells"] = [{"tag": "l", "attribute_id": 120, "kind": "LIST", "list": ["1"]}]
    assert parse_opportunity(sample).cells["l"].operator is ListOperator.OR


def test_optional_fields_may_be_missing(sample: dict[str, Any]) -> None:
    for name in ("notified", "order_number", "requirements", "client_id"):
        sample.pop(name, None)
    o = parse_opportunity(sample)
    assert (o.notified, o.order_number, o.client_id) == (None, None, None)
    assert o.requirements == Requirements()


def test_optional_fields_convert_when_present(
    sample: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    sample["notified"] = "2022-08-01T10:00:00.5Z"
    sample["order_number"] = "ORD-1234-5ab678"
    sample["client_id"] = 42
    sample["requirements"] = {"requires_webcam": True, "requires_pii_collection": True}
    o = parse_opportunity(sample)
    assert o.notified == datetime(2022, 8, 1, 10, 0, 0, 500000, tzinfo=UTC)
    assert o.order_number == "ORD-1234-5ab678"
    assert o.client_id == 42
    assert o.requirements == Requirements(webcam=True, pii_collection=True)
    assert caplog.records == []


# --- what the exchange may add later: kept, logged once ---------------------------------------


def test_unknown_field_is_tolerated_and_logged_once(
    sample: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    sample["surprise_score"] = 0.9
    assert parse_opportunity(sample).id == 13231
    assert len(logged(caplog, "surprise_score")) == 1
    caplog.clear()
    sample["id"] = 13232
    assert parse_opportunity(sample).id == 13232
    assert logged(caplog, "surprise_score") == []


def test_unknown_cell_field_is_tolerated_and_logged_once(
    sample: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    for cell in sample["cells"]:
        cell["weight"] = 2
    parse_opportunity(sample)
    assert len(logged(caplog, "weight")) == 1


@pytest.mark.parametrize(
    ("where", "field"),
    [
        (lambda o: o["locale"], "region"),
        (lambda o: o["links"], "test"),
        (lambda o: o["filters"][0][0], "label"),
        (lambda o: o["quotas"][0][0], "priority"),
        (lambda o: next(c for c in o["cells"] if c["kind"] == "RANGE")["range"], "unit"),
        (lambda o: o.setdefault("requirements", {}), "requires_vr_headset"),
    ],
    ids=["locale", "links", "filter-object", "quota-object", "range", "requirements"],
)
def test_unknown_nested_field_is_tolerated_and_logged_once(
    sample: dict[str, Any], caplog: pytest.LogCaptureFixture, where: Any, field: str
) -> None:
    where(sample)[field] = True
    parse_opportunity(sample)
    assert len(logged(caplog, field)) == 1
    caplog.clear()
    parse_opportunity(sample)
    assert logged(caplog, field) == []


def test_unknown_category_is_kept_and_logged_once(
    sample: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    sample["category_ids"] = [572, 999]
    sample["category_exclusions"] = [999, 23]
    o = parse_opportunity(sample)
    assert o.category_ids == (572, 999)
    assert o.category_exclusions == {999, 23}
    assert len(logged(caplog, "999")) == 1
    assert len(logged(caplog, "23")) == 1
    caplog.clear()
    parse_opportunity(sample)
    assert caplog.records == []


def test_unknown_status_is_other_and_logged_once(
    sample: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    sample["status"] = "ARCHIVED"
    o = parse_opportunity(sample)
    assert o.status is OpportunityStatus.OTHER
    assert not o.is_open
    assert len(logged(caplog, "ARCHIVED")) == 1
    caplog.clear()
    parse_opportunity(sample)
    assert logged(caplog, "ARCHIVED") == []


def test_unknown_quota_status_is_other_and_logged_once(
    sample: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    sample["quotas"][0][0]["status"] = "BALANCING"
    sample["quotas"][0][1]["status"] = "BALANCING"
    quota = parse_opportunity(sample).quotas[0][0]
    assert quota.status is OpportunityStatus.OTHER
    assert not quota.is_open
    assert len(logged(caplog, "BALANCING")) == 1


def test_unknown_device_is_dropped_and_logged_once(
    sample: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    sample["devices"] = ["mobile", "smart_tv"]
    assert parse_opportunity(sample).devices == {Device.MOBILE}
    assert len(logged(caplog, "smart_tv")) == 1
    caplog.clear()
    parse_opportunity(sample)
    assert logged(caplog, "smart_tv") == []


def test_unknown_cell_kind_is_kept_as_unknown_and_logged_once(
    sample: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    recontact = {"tag": "r", "attribute_id": 500, "negate": True, "kind": "RECONTACT"}
    sample["cells"].append(recontact)
    sample["filters"].append([{"id": "f-recontact", "cells": ["r"]}])
    o = parse_opportunity(sample)
    assert o.cells["r"] == Cell(tag="r", attribute_id=500, kind=CellKind.UNKNOWN, negate=True)
    assert o.has_opaque_cells
    assert len(logged(caplog, "RECONTACT")) == 1
    caplog.clear()
    sample["id"] = 13232
    parse_opportunity(sample)
    assert logged(caplog, "RECONTACT") == []


def test_unknown_cell_kind_with_a_foreign_payload_still_parses(sample: dict[str, Any]) -> None:
    odd = {"tag": "o", "attribute_id": 7, "negate": False, "kind": "GEOFENCE",
           "value": {"lat": 1.5}, "range": "10km", "list": 3}  # fmt: skip
    sample["cells"].append(odd)
    sample["filters"].append([{"id": "f-odd", "cells": ["o"]}])
    assert parse_opportunity(sample).cells["o"].kind is CellKind.UNKNOWN
    assert sample["cells"][-1]["value"] == {"lat": 1.5}  # the payload kept is as sent


def test_dangling_tag_is_kept_and_logged(
    sample: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    sample["filters"].append([{"id": "f-dangling", "cells": ["no-such-cell"]}])
    o = parse_opportunity(sample)
    assert o.filters[-1] == (FilterObject(id="f-dangling", cell_tags=("no-such-cell",)),)
    assert o.has_opaque_cells
    assert len(logged(caplog, "no-such-cell")) == 1


# --- payloads that cannot be routed -----------------------------------------------------------


@pytest.mark.parametrize("field", ["id", "locale"])
def test_missing_required_field_is_invalid_and_named(sample: dict[str, Any], field: str) -> None:
    del sample[field]
    with pytest.raises(InvalidOpportunity, match=rf"\b{field}\b"):
        parse_opportunity(sample)


def test_locale_without_a_language_is_invalid(sample: dict[str, Any]) -> None:
    sample["locale"] = {"country": "US"}
    with pytest.raises(InvalidOpportunity, match=r"13231.*locale\.language"):
        parse_opportunity(sample)


@pytest.mark.parametrize(
    "cpi",
    # Not a number, below nothing, or above what any survey pays (money.MAX_CPI_USD).
    ["abc", "", "NaN", "Infinity", None, [0.77], -0.01, 10_000.01, "250000"],
)
def test_a_cost_per_interview_that_is_no_price_is_invalid_and_named(
    sample: dict[str, Any], cpi: Any
) -> None:
    sample["cost_per_interview"] = cpi
    with pytest.raises(InvalidOpportunity, match=r"13231.*\bcost_per_interview\b"):
        parse_opportunity(sample)


def test_the_highest_price_a_survey_may_pay_is_read(sample: dict[str, Any]) -> None:
    sample["cost_per_interview"] = 10_000
    assert parse_opportunity(sample).cpi == Decimal(10_000)


def test_invalid_opportunity_is_a_value_error() -> None:
    assert issubclass(InvalidOpportunity, ValueError)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("cost_per_interview", -0.5, "cost_per_interview"),
        ("cost_per_interview", 1e20, "cost_per_interview"),
        ("order_number", "ORD-" + "9" * 80, "order_number"),
        ("evaluation", "C" * 40, "evaluation"),
        ("locale", {"language": "en", "country": "U" * 20}, "locale.country"),
    ],
)
def test_values_the_store_cannot_keep_make_that_opportunity_invalid(
    sample: dict[str, Any], field: str, value: Any, named: str
) -> None:
    sample[field] = value
    with pytest.raises(InvalidOpportunity, match=named):
        parse_opportunity(sample)
