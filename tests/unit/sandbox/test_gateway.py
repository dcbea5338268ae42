"""The sandbox gateway serves entry links the way REX's does, and counts what happens."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from surveyrouter.domain.outcome import Outcome
from surveyrouter.domain.profile import Gender
from surveyrouter.networks.rex.gateway import Disposition, entry_link, verify_return
from surveyrouter.networks.rex.signing import KeyPair
from surveyrouter.sandbox.gateway import (
    CLIENT_DISQUALIFICATION,
    COMPLETE,
    EntryRefused,
    GatewaySimulator,
    device_of,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ENTRY_KEYS = KeyPair("partner-key", "partner-secret")
REDIRECT_KEYS = KeyPair("redirect-key", "redirect-secret")
RETURN_URL = "https://router.invalid/v1/rex/return"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"


class FakeMarket:
    """The exchange state the gateway needs: opportunities by context, changes, collections."""

    def __init__(self, opportunities: list[dict[str, Any]], collections: Mapping[str, list[str]]):
        self.opportunities = {o["id"]: copy.deepcopy(o) for o in opportunities}
        self.collections = {k: frozenset(v) for k, v in collections.items()}
        self.changes: list[int] = []

    def opportunity_for_context(self, ctx: str, language: str | None) -> Mapping[str, Any] | None:
        group = [
            o
            for o in self.opportunities.values()
            if f"ctx={ctx}&" in o["links"]["live"] and language in (None, o["locale"]["language"])
        ]
        return next((o for o in group if o["status"] == "OPEN"), group[0] if group else None)

    def change(self, opportunity_id: int, mutate: Callable[[dict[str, Any]], None]) -> None:
        mutate(self.opportunities[opportunity_id])
        self.changes.append(opportunity_id)

    def collection_values(self, collection_id: str) -> frozenset[str] | None:
        return self.collections.get(collection_id)


@pytest.fixture
def market(rex_fixtures: Path) -> FakeMarket:
    notifications = json.loads((rex_fixtures / "receive_notifications.json").read_text())
    zips = (rex_fixtures / "download_collection.txt").read_text().split()
    return FakeMarket(notifications, {"2169971": zips})


@pytest.fixture
def gateway(market: FakeMarket) -> GatewaySimulator:
    return GatewaySimulator(
        market=market,
        entry_secrets={"partner-key": "partner-secret"},
        redirect_keys=REDIRECT_KEYS,
        partner_return_url=RETURN_URL,
        clock=lambda: NOW,
        rng=random.Random(7),
    )


def link_for(market: FakeMarket, opportunity_id: int, respondent: str, **fields: Any) -> str:
    return entry_link(
        market.opportunities[opportunity_id]["links"]["live"],
        ENTRY_KEYS,
        NOW + timedelta(minutes=5),
        respondent,
        passthrough={"sr_click": "c-1"},
        **fields,
    )


YOUNG_MAN = {"gender": Gender.MALE, "birth_date": date(2005, 1, 1), "postal_code": "10110"}


def quota_count(market: FakeMarket, opportunity_id: int, quota_id: str) -> int:
    groups = market.opportunities[opportunity_id]["quotas"]
    return next(q["count"] for group in groups for q in group if q["id"] == quota_id)


MALE_18_24 = "6f49b6b637befada84f2c57f8afb5f0cc53b2a35e970431fd4348ff58d6cf348"


def test_a_qualified_respondent_completes_and_returns_signed(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    gateway.forced = COMPLETE
    visit = gateway.start(link_for(market, 13231, "r-1", **YOUNG_MAN), PHONE)
    returned = verify_return(visit.redirect_url, {"redirect-key": "redirect-secret"}, NOW)
    assert returned.disposition == Disposition(1, 0)
    assert returned.disposition.outcome is Outcome.COMPLETE
    assert returned.parameters == {"sr_click": "c-1"}
    assert json.loads(visit.callback_body) == {
        "respondent_id": "r-1",
        "disposition": 1,
        "status": 0,
        "parameters": {"sr_click": "c-1"},
    }
    assert quota_count(market, 13231, MALE_18_24) == 249  # COMPLETES: the complete counts


def test_a_respondent_who_fails_targeting_goes_back_at_once_with_the_reason(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    woman = {**YOUNG_MAN, "gender": Gender.FEMALE}
    visit = gateway.start(link_for(market, 13231, "r-2", **woman), PHONE)
    assert visit.disposition == Disposition(2, 6)  # the male filter
    assert market.changes == []


def test_a_context_leads_to_the_live_opportunity_of_its_group(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    """12871 (CLOSED) and 13174 (OPEN) share a context in Dynata's samples."""
    gateway.forced = COMPLETE
    visit = gateway.start(link_for(market, 12871, "r-3", **YOUNG_MAN), PHONE)
    assert visit.opportunity_id == 13174
    market.opportunities[13174]["status"] = "CLOSED"
    closed = gateway.start(link_for(market, 12871, "r-3b", **YOUNG_MAN), PHONE)
    assert closed.disposition == Disposition(3, 3)


def test_what_the_gateway_cannot_evaluate_is_prescreened_by_incidence(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    """12872 targets attribute 100262, which this respondent never answered: with an incidence
    of 100 % the prescreen always lets them through to the client survey."""
    gateway.forced = CLIENT_DISQUALIFICATION
    visit = gateway.start(link_for(market, 12872, "r-4", **YOUNG_MAN), PHONE)
    assert visit.disposition == Disposition(2, 2)
    market.opportunities[12872]["incidence_rate"] = 0
    again = gateway.start(link_for(market, 12872, "r-5", **YOUNG_MAN), PHONE)
    assert again.disposition == Disposition(2, 1)


def test_a_second_entry_into_the_same_project_is_a_duplicate(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    gateway.forced = CLIENT_DISQUALIFICATION
    gateway.start(link_for(market, 13231, "r-6", **YOUNG_MAN), PHONE)
    second = gateway.start(link_for(market, 12872, "r-6", **YOUNG_MAN), PHONE)
    assert second.disposition == Disposition(4, 1)  # same project 1589419


def test_starts_evaluation_counts_every_start_and_closes_an_empty_quota(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    market.opportunities[13231]["evaluation"] = "STARTS"
    for group in market.opportunities[13231]["quotas"]:
        for quota in group:
            quota["count"] = 1
    gateway.forced = CLIENT_DISQUALIFICATION
    gateway.start(link_for(market, 13231, "r-7", **YOUNG_MAN), PHONE)
    quota = market.opportunities[13231]["quotas"][0][0]
    assert (quota["count"], quota["status"]) == (0, "CLOSED")
    assert market.changes == [13231]
    late = gateway.start(link_for(market, 13231, "r-8", **YOUNG_MAN), PHONE)
    assert late.disposition == Disposition(3, 20)  # fits a closed quota object


def test_a_screenout_does_not_count_under_completes(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    gateway.forced = CLIENT_DISQUALIFICATION
    gateway.start(link_for(market, 13231, "r-9", **YOUNG_MAN), PHONE)
    assert quota_count(market, 13231, MALE_18_24) == 250


def test_tampered_expired_or_foreign_links_are_refused(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    link = link_for(market, 13231, "r-10", **YOUNG_MAN)
    with pytest.raises(EntryRefused):
        gateway.start(link.replace("postal_code=10110", "postal_code=10120"))
    gateway.clock = lambda: NOW + timedelta(hours=1)
    with pytest.raises(EntryRefused, match="expired"):
        gateway.start(link)
    gateway.clock = lambda: NOW
    foreign = entry_link("https://x.invalid/start?ctx=nope&language=en", ENTRY_KEYS,
                         NOW + timedelta(minutes=5), "r-11")  # fmt: skip
    with pytest.raises(EntryRefused, match="unknown context"):
        gateway.start(foreign)


def test_outcomes_follow_the_incidence_rate_over_many_entries(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    market.opportunities[13231]["incidence_rate"] = 50
    for group in market.opportunities[13231]["quotas"]:
        for quota in group:
            quota["count"] = 10_000
    endings = [
        gateway.start(link_for(market, 13231, f"many-{i}", **YOUNG_MAN), PHONE).disposition
        for i in range(600)
    ]
    completes = endings.count(COMPLETE) / len(endings)
    assert 0.35 < completes < 0.55  # 50 % of the 88 % not over quota or removed for quality
    assert Disposition(3, 2) in endings
    assert Disposition(5, 1) in endings


def test_devices_are_read_from_the_user_agent() -> None:
    assert device_of(PHONE).value == "mobile"  # type: ignore[union-attr]
    assert device_of("Mozilla/5.0 (iPad; CPU OS 17_0)").value == "tablet"  # type: ignore[union-attr]
    assert device_of("Mozilla/5.0 (X11; Linux x86_64)").value == "desktop"  # type: ignore[union-attr]
    assert device_of("") is None
