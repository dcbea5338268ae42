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
    Dropout,
    EntryContextExpired,
    EntryRefused,
    GatewaySimulator,
    Session,
    SessionNotFound,
    SessionStageMismatch,
    Stage,
    UnknownContext,
    Visit,
    device_of,
)
from surveyrouter.sandbox.outcomes import ABANDONED
from surveyrouter.sandbox.respondents import (
    RespondentInvalid,
    RespondentNotFound,
    RespondentUpdate,
    read_put_respondent,
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


AGE_18_24 = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"
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
    visits = [
        gateway.start(link_for(market, 13231, f"many-{i}", **YOUNG_MAN), PHONE) for i in range(800)
    ]
    endings = [v.disposition for v in visits if isinstance(v, Visit)]
    dropouts = [v for v in visits if isinstance(v, Dropout)]
    model = gateway.outcomes
    stayed = 1 - model.drop_off_rate(market.opportunities[13231]["length_of_interview"])
    expected = stayed * (1 - model.over_quota_rate) * 0.5 * (1 - model.quality_rate)
    assert abs(endings.count(COMPLETE) / len(visits) - expected) < 0.06
    assert abs(len(dropouts) / len(visits) - (1 - stayed)) < 0.05
    assert Disposition(3, 2) in endings
    assert Disposition(5, 1) in endings


def test_a_respondent_who_drops_out_gets_no_return_and_is_a_duplicate_afterwards(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    gateway.forced = ABANDONED

    left = gateway.start(link_for(market, 13231, "leaver", **YOUNG_MAN), PHONE)

    assert isinstance(left, Dropout)
    assert left.respondent_id == "leaver"
    gateway.forced = None
    again = gateway.start(link_for(market, 13231, "leaver", **YOUNG_MAN), PHONE)
    assert isinstance(again, Visit)
    assert again.disposition == Disposition(4, 1)


def test_devices_are_read_from_the_user_agent() -> None:
    assert device_of(PHONE).value == "mobile"  # type: ignore[union-attr]
    assert device_of("Mozilla/5.0 (iPad; CPU OS 17_0)").value == "tablet"  # type: ignore[union-attr]
    assert device_of("Mozilla/5.0 (X11; Linux x86_64)").value == "desktop"  # type: ignore[union-attr]
    assert device_of("") is None


# --- contexts (REX §6.2) -----------------------------------------------------------------------


def context_link(ctx: str, respondent: str, **fields: Any) -> str:
    return entry_link(
        f"https://gateway.invalid/start?ctx={ctx}&language=en",
        ENTRY_KEYS,
        NOW + timedelta(minutes=5),
        respondent,
        **fields,
    )


def opportunity_ctx(market: FakeMarket, opportunity_id: int) -> str:
    live = market.opportunities[opportunity_id]["links"]["live"]
    return str(live.split("ctx=")[1].split("&")[0])


def test_an_entry_through_contexts_takes_the_parents_values_over_the_childs_and_the_links(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    gateway.forced = COMPLETE
    parent = gateway.contexts.create(
        {"ctx": opportunity_ctx(market, 13231), "gender": "male", "birth_date": "2005-01-01",
         "postal_code": "10110"},
        NOW,
    )  # fmt: skip
    child = gateway.contexts.create({"ctx": parent.id, "gender": "female"}, NOW)

    visit = gateway.start(context_link(child.id, "r-20", gender=Gender.FEMALE), PHONE)

    assert (visit.opportunity_id, visit.disposition) == (13231, COMPLETE)
    assert gateway.respondents["r-20"].gender is Gender.MALE


def test_an_entry_through_a_context_whose_parent_says_female_fails_the_male_filter(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    parent = gateway.contexts.create(
        {"ctx": opportunity_ctx(market, 13231), "gender": "female", "birth_date": "2005-01-01",
         "postal_code": "10110"},
        NOW,
    )  # fmt: skip
    child = gateway.contexts.create({"ctx": parent.id, "gender": "male"}, NOW)

    assert gateway.start(context_link(child.id, "r-21"), PHONE).disposition == Disposition(2, 6)


def test_an_expired_or_dangling_context_refuses_the_entry(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    context = gateway.contexts.create({"ctx": opportunity_ctx(market, 13231)}, NOW)
    gateway.contexts.expire(context.id, NOW)
    dangling = gateway.contexts.create({"gender": "male"}, NOW)

    with pytest.raises(EntryContextExpired, match="expired"):
        gateway.start(context_link(context.id, "r-22"), PHONE)
    with pytest.raises(UnknownContext, match="leads to no opportunity"):
        gateway.start(context_link(dangling.id, "r-22"), PHONE)
    assert "r-22" not in gateway.respondents


# --- respondents put beforehand (REX §6.1) ---------------------------------------------------


def test_a_respondent_put_beforehand_enters_with_the_stored_profile(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    gateway.put_respondent(
        read_put_respondent(
            {"respondent_id": "r-30", "language": "en", "country": "US", "gender": "female",
             "birth_date": "2005-01-01", "postal_code": "10110"},
            NOW.date(),
        )
    )  # fmt: skip

    assert gateway.start(link_for(market, 13231, "r-30"), PHONE).disposition == Disposition(2, 6)
    assert gateway.respondent_info("r-30")["date_created"] == "2026-11-23T12:00:00.000Z"


def test_stored_answers_decide_what_the_prescreen_would_have(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    """12872 excludes these answers to attribute 100262 (a negated LIST)."""
    gateway.forced = COMPLETE
    gateway.put_respondent(RespondentUpdate("r-31", country="US", language="en"))
    gateway.put_answers(RespondentUpdate("r-31", answers={100262: ("20000144",)}))

    visit = gateway.start(link_for(market, 12872, "r-31", **YOUNG_MAN), PHONE)

    assert visit.disposition == Disposition(2, 6)


def test_answers_for_an_unknown_respondent_are_refused(gateway: GatewaySimulator) -> None:
    with pytest.raises(RespondentNotFound):
        gateway.put_answers(RespondentUpdate("nobody", answers={2001: ("200101",)}))
    with pytest.raises(RespondentNotFound):
        gateway.respondent_info("nobody")


# --- interactive sessions ----------------------------------------------------------------------


class FakeCatalogue:
    """One attribute document: 100262, which 12872 targets with a negated LIST."""

    def attribute_info(self, attribute_id: int) -> dict[str, Any] | None:
        if attribute_id != 100262:
            return None
        return {
            "id": 100262,
            "name": "some_attribute",
            "display_mode": "single_select",
            "question": {"text": "Which one?", "translations": [{"locale": "DE", "text": "Was?"}]},
            "answers": [{"id": 20000144, "text": "Excluded"}, {"id": 20000999, "text": "Fine"}],
        }


def test_the_prescreen_asks_the_unknown_standard_fields_first(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    session = gateway.open(link_for(market, 13231, "r-40"), PHONE)

    assert isinstance(session, Session)
    assert session.stage is Stage.PRESCREEN
    assert [q.name for q in session.questions] == ["gender", "birth_date", "postal_code"]


def test_an_interactive_respondent_answers_the_prescreen_then_picks_the_ending(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    gateway.catalogue = FakeCatalogue()
    session = gateway.open(link_for(market, 12872, "r-41", **YOUNG_MAN), PHONE)
    assert isinstance(session, Session)
    assert [(q.name, q.text, q.options) for q in session.questions] == [
        ("a100262", "Which one?", (("20000144", "Excluded"), ("20000999", "Fine")))
    ]

    surveyed = gateway.answer_prescreen(session.id, {"a100262": ["20000999"]})

    assert surveyed is session
    assert session.stage is Stage.SURVEY
    visit = gateway.end_survey(session.id, COMPLETE)
    assert (visit.opportunity_id, visit.disposition) == (12872, COMPLETE)
    returned = verify_return(visit.redirect_url, {"redirect-key": "redirect-secret"}, NOW)
    assert returned.parameters == {"sr_click": "c-1"}
    assert quota_count(market, 12872, AGE_18_24) == 99
    assert gateway.respondents["r-41"].answers[100262] == ("20000999",)
    with pytest.raises(SessionNotFound):
        gateway.end_survey(session.id, COMPLETE)


def test_a_prescreen_answer_that_fails_targeting_goes_back_with_the_reason(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    gateway.catalogue = FakeCatalogue()
    session = gateway.open(link_for(market, 12872, "r-42", **YOUNG_MAN), PHONE)
    assert isinstance(session, Session)

    visit = gateway.answer_prescreen(session.id, {"a100262": ["20000144"]})

    assert isinstance(visit, Visit)
    assert visit.disposition == Disposition(2, 6)
    assert session.id not in gateway.sessions
    assert market.changes == []


def test_a_prescreen_answer_not_offered_is_refused_and_changes_nothing(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    gateway.catalogue = FakeCatalogue()
    session = gateway.open(link_for(market, 12872, "r-43", **YOUNG_MAN), PHONE)
    assert isinstance(session, Session)

    with pytest.raises(RespondentInvalid, match="a100262"):
        gateway.answer_prescreen(session.id, {"a100262": ["123"]})
    with pytest.raises(SessionStageMismatch):
        gateway.end_survey(session.id, COMPLETE)

    assert session.stage is Stage.PRESCREEN
    assert 100262 not in gateway.respondents["r-43"].answers


def test_an_open_session_makes_a_second_entry_into_the_project_a_duplicate(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    first = gateway.open(link_for(market, 13231, "r-44", **YOUNG_MAN), PHONE)
    assert isinstance(first, Session)
    assert first.stage is Stage.SURVEY  # nothing left to ask

    second = gateway.open(link_for(market, 12872, "r-44", **YOUNG_MAN), PHONE)

    assert isinstance(second, Visit)
    assert second.disposition == Disposition(4, 1)


def test_a_session_left_open_too_long_is_gone(
    market: FakeMarket, gateway: GatewaySimulator
) -> None:
    session = gateway.open(link_for(market, 13231, "r-45", **YOUNG_MAN), PHONE)
    assert isinstance(session, Session)
    gateway.clock = lambda: NOW + gateway.session_ttl

    with pytest.raises(SessionNotFound):
        gateway.end_survey(session.id, COMPLETE)
