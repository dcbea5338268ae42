from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError

from surveyrouter.bootstrap import Runtime
from surveyrouter.domain.opportunity import Device, Opportunity, OpportunityStatus, Requirements
from surveyrouter.store.db import transaction
from surveyrouter.store.networks import Network, upsert_networks
from surveyrouter.store.opportunities import (
    changes_since,
    get_opportunity,
    live_counts,
    upsert_opportunities,
)
from surveyrouter.store.schema import OpportunityRow

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def opportunity(external_id: int, **changes: Any) -> Opportunity:
    """The domain form of the real REX fixture opportunity 12871, under another id."""
    base = Opportunity(
        network="rex",
        id=external_id,
        status=OpportunityStatus.OPEN,
        country="US",
        language="en",
        cpi=Decimal("0.77"),
        loi_minutes=10,
        incidence_rate=100,
        devices=frozenset({Device.DESKTOP, Device.MOBILE, Device.TABLET}),
        live_link="https://respondent.qa-rex.dynata.com/start?ctx=a7cc720b&language=en",
        project_id=1589419,
        group_id=112411272,
        completes=100,
        days_in_field=58,
        evaluation="COMPLETES",
        category_ids=(572,),
        created=datetime(2021, 11, 2, 18, 45, 4, 256000, tzinfo=UTC),
    )
    return replace(base, **changes)


def raw_for(item: Opportunity, rex_fixtures: Path) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((rex_fixtures / "get_opportunity.json").read_text())
    raw["id"] = item.id
    return raw


def write(
    runtime: Runtime, items: list[tuple[Opportunity, Mapping[str, Any]]], network: str = "sandbox"
) -> list[int]:
    with transaction(runtime.sessions) as session:
        return upsert_opportunities(session, network, items, at=AT)


def row_count(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(OpportunityRow)) or 0


def test_writing_the_same_opportunity_twice_keeps_one_row_with_a_newer_change_seq(
    runtime: Runtime, rex_fixtures: Path
) -> None:
    item = opportunity(12871)
    [first] = write(runtime, [(item, raw_for(item, rex_fixtures))])
    [second] = write(runtime, [(item, raw_for(item, rex_fixtures))])

    assert row_count(runtime) == 1
    assert second > first
    with runtime.sessions() as session:
        stored = get_opportunity(session, "sandbox", 12871)
    assert stored is not None
    assert stored.change_seq == second


def test_a_rewrite_replaces_the_normalized_fields(runtime: Runtime, rex_fixtures: Path) -> None:
    item = opportunity(7)
    write(runtime, [(item, raw_for(item, rex_fixtures))])
    paused = replace(item, status=OpportunityStatus.PAUSED, cpi=Decimal("1.25"), completes=3)
    write(runtime, [(paused, raw_for(paused, rex_fixtures))])

    with runtime.sessions() as session:
        stored = get_opportunity(session, "sandbox", 7)
    assert stored is not None
    assert (stored.status, stored.cpi, stored.completes) == (
        OpportunityStatus.PAUSED,
        Decimal("1.25"),
        3,
    )


def test_normalized_columns_hold_the_domain_values(runtime: Runtime, rex_fixtures: Path) -> None:
    item = opportunity(
        41,
        devices=frozenset({Device.MOBILE}),
        category_exclusions=frozenset({561, 550}),
        project_exclusions=frozenset({99, 12}),
        requirements=Requirements(webcam=True, pii_collection=True),
        client_id=5,
        order_number="ORD-1",
        notified=datetime(2026, 11, 23, 14, 30, tzinfo=timezone(timedelta(hours=2))),
    )
    write(runtime, [(item, raw_for(item, rex_fixtures))])

    with runtime.sessions() as session:
        stored = get_opportunity(session, "sandbox", 41)
    assert stored is not None
    assert stored.network_id == "sandbox"
    assert (stored.country, stored.language) == ("US", "en")
    assert (stored.project_id, stored.group_id, stored.client_id) == (1589419, 112411272, 5)
    assert (stored.loi_minutes, stored.incidence_rate, stored.days_in_field) == (10, 100, 58)
    assert (stored.evaluation, stored.order_number) == ("COMPLETES", "ORD-1")
    assert stored.devices == frozenset({Device.MOBILE})
    assert stored.category_ids == (572,)
    assert stored.category_exclusions == frozenset({550, 561})
    assert stored.project_exclusions == frozenset({12, 99})
    assert stored.requirements == Requirements(webcam=True, pii_collection=True)
    assert stored.live_link == item.live_link
    assert stored.created == item.created
    assert stored.notified == datetime(2026, 11, 23, 12, 30, tzinfo=UTC)
    assert stored.updated_at == AT


def test_raw_json_round_trips_exactly(runtime: Runtime, rex_fixtures: Path) -> None:
    item = opportunity(12871)
    raw = raw_for(item, rex_fixtures)
    raw["unknown_field_from_a_newer_rex"] = {
        "nested": [1, 2.5, None, True, "Grüße — 日本"],
        "big": 9_007_199_254_740_993,
        "empty": {},
    }
    write(runtime, [(item, raw)])

    with runtime.sessions() as session:
        stored = get_opportunity(session, "sandbox", 12871)
    assert stored is not None
    assert stored.raw == raw
    assert json.dumps(stored.raw, sort_keys=True) == json.dumps(raw, sort_keys=True)


@pytest.mark.parametrize(
    "cpi", ["0.77", "0.0001", "12.3456", "99999999.9999", "3", "0.1", "1234.5"]
)
def test_cpi_round_trips_as_the_exact_decimal(
    runtime: Runtime, rex_fixtures: Path, cpi: str
) -> None:
    item = opportunity(1, cpi=Decimal(cpi))
    write(runtime, [(item, raw_for(item, rex_fixtures))])

    with runtime.sessions() as session:
        stored = get_opportunity(session, "sandbox", 1)
    assert stored is not None
    assert isinstance(stored.cpi, Decimal)
    assert stored.cpi == Decimal(cpi)
    assert stored.cpi.as_tuple().exponent == -4


def test_cpi_as_a_float_is_refused(runtime: Runtime, rex_fixtures: Path) -> None:
    item = opportunity(1, cpi=0.77)
    with pytest.raises(StatementError, match="money must be a Decimal"):
        write(runtime, [(item, raw_for(item, rex_fixtures))])


def test_changes_since_returns_rows_in_change_order_from_the_cursor(
    runtime: Runtime, rex_fixtures: Path
) -> None:
    items = [opportunity(i) for i in (30, 10, 20)]
    write(runtime, [(item, raw_for(item, rex_fixtures)) for item in items])
    [rewritten] = write(runtime, [(items[1], raw_for(items[1], rex_fixtures))])

    with runtime.sessions() as session:
        feed = changes_since(session, 0, limit=100)
        assert [row.external_id for row in feed] == [30, 20, 10]
        seqs = [row.change_seq for row in feed]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)
        assert seqs[-1] == rewritten

        first_two = changes_since(session, 0, limit=2)
        assert [row.external_id for row in first_two] == [30, 20]
        rest = changes_since(session, first_two[-1].change_seq, limit=100)
        assert [row.external_id for row in rest] == [10]
        assert changes_since(session, rewritten, limit=100) == []


def test_duplicate_ids_in_one_batch_keep_the_last(runtime: Runtime, rex_fixtures: Path) -> None:
    first = opportunity(5, cpi=Decimal("1.00"))
    last = opportunity(5, cpi=Decimal("2.00"))
    written = write(
        runtime, [(first, raw_for(first, rex_fixtures)), (last, raw_for(last, rex_fixtures))]
    )

    assert len(written) == 1
    with runtime.sessions() as session:
        stored = get_opportunity(session, "sandbox", 5)
    assert stored is not None
    assert stored.cpi == Decimal("2.0000")


def test_the_same_external_id_on_two_networks_is_two_rows(
    runtime: Runtime, rex_fixtures: Path
) -> None:
    with transaction(runtime.sessions) as session:
        upsert_networks(
            session, [Network(id="rex", kind="rex", name="Dynata REX", enabled=True, api_id=2)]
        )
    item = opportunity(12871)
    write(runtime, [(item, raw_for(item, rex_fixtures))], network="sandbox")
    write(runtime, [(item, raw_for(item, rex_fixtures))], network="rex")

    assert row_count(runtime) == 2


def test_an_unknown_opportunity_is_none(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        assert get_opportunity(session, "sandbox", 404) is None


def test_live_counts_count_open_opportunities_per_network(
    runtime: Runtime, rex_fixtures: Path
) -> None:
    with transaction(runtime.sessions) as session:
        upsert_networks(
            session, [Network(id="rex", kind="rex", name="Dynata REX", enabled=True, api_id=2)]
        )
    statuses = [OpportunityStatus.OPEN, OpportunityStatus.OPEN, OpportunityStatus.CLOSED]
    items = [opportunity(i, status=status) for i, status in enumerate(statuses, start=1)]
    write(runtime, [(item, raw_for(item, rex_fixtures)) for item in items])

    with runtime.sessions() as session:
        assert live_counts(session) == {"sandbox": 2, "rex": 0}


def test_concurrent_writers_never_share_a_change_seq(runtime: Runtime, rex_fixtures: Path) -> None:
    raw = raw_for(opportunity(0), rex_fixtures)
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for start in range(offset, offset + 40, 4):
                write(runtime, [(opportunity(i), raw) for i in range(start, start + 4)])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n * 1000,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with runtime.sessions() as session:
        seqs = [row.change_seq for row in changes_since(session, 0, limit=1000)]
    assert len(seqs) == 120
    assert len(set(seqs)) == 120
