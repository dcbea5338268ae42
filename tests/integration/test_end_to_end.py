"""The whole money path over real HTTP, on SQLite and PostgreSQL: ``serve`` with its embedded
sandbox exchange, a publisher app whose callbacks and landing pages are a local HTTP receiver,
and users who answer the standard profile, see ranked surveys, open one, come back from the
sandbox and get paid exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from surveyrouter.bootstrap import Runtime, build_runtime, prepare_database, sandbox_options
from surveyrouter.cli.serve import bind
from surveyrouter.domain.apps import App, Currency
from surveyrouter.domain.callbacks import verify_callback
from surveyrouter.domain.money import RewardKind, publisher_cpi, user_value
from surveyrouter.domain.opportunity import Device, Opportunity
from surveyrouter.domain.profile import (
    AGE_ATTRIBUTE_ID,
    GENDER_ATTRIBUTE_ID,
    POSTAL_CODE_ATTRIBUTE_ID,
)
from surveyrouter.networks.rex.signing import KeyPair, sign_url
from surveyrouter.sandbox.exchange import SandboxExchange
from surveyrouter.sandbox.outcomes import parse_ending
from surveyrouter.server import build_server
from surveyrouter.services.apps import create_app as create_publisher_app
from surveyrouter.services.index_feed import IndexFeed
from surveyrouter.services.rewards import reverse_complete
from surveyrouter.settings import Settings
from surveyrouter.store.apps import find_app_by_token
from surveyrouter.store.ledger import LedgerEntry, user_entries
from surveyrouter.store.outbox import CallbackStatus, get_callback
from surveyrouter.store.users import find_user
from tests.eventually import eventually
from tests.integration.receiver import Receiver, receiving
from tests.integration.test_server import serving

TOKEN = "end-to-end-api-token-01"
SECRET = "end-to-end-publisher-secret"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"
STANDARD = {"gender": ["1"], "birth_date": ["1990-05-01"], "postal_code": ["10110"]}
STANDARD_ATTRIBUTES = {GENDER_ATTRIBUTE_ID, AGE_ATTRIBUTE_ID, POSTAL_CODE_ATTRIBUTE_ID}


@dataclass
class Server:
    url: str
    runtime: Runtime
    sandbox: SandboxExchange
    feed: IndexFeed


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    with receiving() as running_receiver:
        yield running_receiver


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        sandbox_state_path=tmp_path / "sandbox-exchange.db",
        sandbox_opportunities=300,
        sandbox_frozen=True,
        sandbox_forced_outcome="1.0",
        index_poll_interval_seconds=0.2,
        callback_first_retry_seconds=0.2,
    )


@contextmanager
def running(settings: Settings, port: int = 0) -> Iterator[Server]:
    runtime = build_runtime(settings)
    try:
        prepare_database(runtime)
        listener = bind("127.0.0.1", port)
        app = build_server(runtime, listener.getsockname()[1])
        with serving(app, listener) as url:
            server = Server(url, runtime, app.state.sandbox, app.state.feed)
            assert eventually(lambda: server.feed.indexed > 0), "the sandbox never synced"
            open_to_everyone(server)
            yield server
    finally:
        runtime.close()


# Most sandbox surveys target attributes beyond the standard profile, which the sandbox's
# gateway then prescreens with a random draw by incidence. The money path is what is tested
# here, so a few surveys are opened to every American adult (one overall quota, no filters)
# and made the best paid per minute, so they lead the list.
PLAIN_SURVEYS = 12


def open_to_every_adult(document: dict[str, Any], cpi: float = 4.2, loi: int = 5) -> None:
    """Makes a sandbox registry document a survey every adult qualifies for on every device,
    paying ``cpi`` for ``loi`` minutes: one overall quota, no filters, full incidence."""
    document.update(
        cells=[],
        filters=[],
        quotas=[[{"id": "everyone", "cells": [], "count": 1000, "status": "OPEN"}]],
        devices=["desktop", "mobile", "tablet"],
        incidence_rate=100,
        cost_per_interview=cpi,
        length_of_interview=loi,
        project_exclusions=[],
        category_exclusions=[],
    )


def open_to_everyone(server: Server) -> None:
    chosen = [
        document["id"]
        for document in server.sandbox.registry.documents()
        if document["status"] == "OPEN"
        and document["locale"] == {"language": "en", "country": "US"}
    ][:PLAIN_SURVEYS]

    for opportunity_id in chosen:
        server.sandbox.registry.change(opportunity_id, open_to_every_adult)
    assert eventually(
        lambda: (
            all(
                not server.feed.opportunities[("sandbox", i)].cells
                for i in chosen
                if ("sandbox", i) in server.feed.opportunities
            )
            and all(("sandbox", i) in server.feed.opportunities for i in chosen)
        )
    ), "the plain surveys never reached the index"


def publisher(server: Server, receiver_url: str, **settings: Any) -> App:
    # Spaces, non-ASCII and an upper-case host in the template: the receiver verifies the hash
    # against the URL exactly as it arrived.
    callback = receiver_url.replace("127.0.0.1", "LOCALHOST") + (
        "/Callbacks/Über Uns?uid=[%UID%]&val=[%VAL%]&raw=[%RAW%]&tx=[%TX%]&type=[%TYPE%]"
        "&ref=[%REF%]"
    )
    return create_publisher_app(
        server.runtime.sessions,
        lambda: datetime.now(UTC),
        {
            "name": "End to end",
            "api_token": TOKEN,
            "secret": SECRET,
            "callback_url": callback,
            "redirect_complete_url": f"{receiver_url}/landing/complete?val=[%VAL%]&tx=[%TX%]",
            "redirect_screenout_url": f"{receiver_url}/landing/screenout?val=[%VAL%]",
            "redirect_termination_url": f"{receiver_url}/landing/terminated",
            **settings,
        },
    )


class User:
    """One publisher user in a browser-like client (desktop User-Agent, cookies ignored)."""

    def __init__(self, server: Server, uid: str) -> None:
        self.server = server
        self.uid = uid
        self.http = httpx.Client(
            base_url=server.url,
            headers={"X-Api-Token": TOKEN, "X-User-Id": uid, "User-Agent": DESKTOP},
            timeout=30,
        )

    def actions(self) -> dict[str, Any]:
        response = self.http.get("/v1/client/actions")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    def answer_standard_profile(self) -> None:
        """Answers what Get Actions asks until it lists surveys."""
        for _ in range(len(STANDARD) + 1):
            qualification = self.actions()["qualification"]
            if qualification is None or not qualification["is_standard_profile"]:
                return
            key = qualification["question_id"]
            response = self.http.post(
                f"/v1/client/networks/0/questions/{key}", json={"answers": STANDARD[key]}
            )
            assert response.status_code == 200, response.text
        raise AssertionError("the standard profile was asked more than once")

    def plain_survey(self) -> tuple[dict[str, Any], Opportunity]:
        """A listed survey the sandbox decides on the standard profile alone (no prescreen
        draw), so its forced ending is what comes back."""
        for survey in self.actions()["surveys"]:
            opportunity = self.server.feed.opportunities[("sandbox", survey["id"])]
            cells = opportunity.cells.values()
            if (
                survey["missing_questions"] == 0
                and Device.DESKTOP in opportunity.devices
                and all(c.attribute_id in STANDARD_ATTRIBUTES and not c.is_opaque for c in cells)
            ):
                return survey, opportunity
        raise AssertionError("no listed survey targets the standard profile alone")

    def open(self, survey: dict[str, Any]) -> str:
        """Follow the survey link into the sandbox; the return link it sends back."""
        entry = self.http.get(survey["link"], follow_redirects=False)
        assert entry.status_code == 307, entry.text
        sent_back = self.http.get(entry.headers["location"], follow_redirects=False)
        assert sent_back.status_code == 302, sent_back.text
        return str(sent_back.headers["location"])

    def entry_click(self, survey: dict[str, Any]) -> str:
        """Open the survey but stay at the door: the click id the entry link carries."""
        entry = self.http.get(survey["link"], follow_redirects=False)
        assert entry.status_code == 307, entry.text
        return parse_qs(urlsplit(entry.headers["location"]).query)["sr_click"][0]

    def ledger(self) -> list[LedgerEntry]:
        with self.server.runtime.sessions() as session:
            app_id = _app_id(self.server)
            found = find_user(session, app_id, self.uid)
            return [] if found is None else user_entries(session, found.id)


def _app_id(server: Server) -> int:
    with server.runtime.sessions() as session:
        app = find_app_by_token(session, TOKEN)
        assert app is not None
        assert app.id is not None
        return app.id


def callbacks_for(receiver: Receiver, transaction_id: str) -> list[str]:
    return [
        url
        for url in receiver.received
        if "/Callbacks/" in url and parse_qs(urlsplit(url).query).get("tx") == [transaction_id]
    ]


def delivered(server: Server, transaction_id: str) -> bool:
    with server.runtime.sessions() as session:
        item = get_callback(session, transaction_id)
    return item is not None and item.status is CallbackStatus.DELIVERED


def test_a_complete_is_verified_paid_once_called_back_and_reversed(
    settings: Settings, receiver: tuple[Receiver, str]
) -> None:
    target, receiver_url = receiver
    with running(settings) as server:
        publisher(server, receiver_url)
        user = User(server, "player-1")
        first = user.actions()
        assert first["is_new_user"] is True
        assert first["surveys"] == []
        assert first["qualification"]["is_standard_profile"] is True
        user.answer_standard_profile()
        listed = user.actions()
        assert listed["surveys"], "no surveys after the standard profile"
        assert [s["sequence"] for s in listed["surveys"]] == sorted(
            s["sequence"] for s in listed["surveys"]
        )
        survey, opportunity = user.plain_survey()

        # The user opens it, the sandbox completes it, the return is verified and paid.
        return_url = user.open(survey)
        landed = user.http.get(return_url, follow_redirects=True)
        assert landed.status_code == 200
        assert urlsplit(str(landed.url)).path == "/landing/complete"
        usd = publisher_cpi(opportunity.cpi, Decimal("0.7"))
        value = user_value(usd, Currency())  # the app's default: 1000 points per USD
        entries = user.ledger()
        assert [(e.reward.kind, e.reward.usd, e.reward.value) for e in entries] == [
            (RewardKind.COMPLETE, usd, value)
        ]
        transaction_id = entries[0].transaction_id
        assert parse_qs(urlsplit(str(landed.url)).query) == {
            "val": [str(value)],
            "tx": [transaction_id],
        }

        # The publisher's receiver gets the callback, with a hash that verifies.
        assert eventually(lambda: bool(callbacks_for(target, transaction_id)))
        (callback,) = callbacks_for(target, transaction_id)
        assert verify_callback(callback, SECRET)
        query = parse_qs(urlsplit(callback).query)
        assert query["type"] == ["COMPLETE"]
        assert query["val"] == [str(value)]
        assert query["uid"] == ["player-1"]

        # A replayed return adds nothing and lands in the same place.
        replay = user.http.get(return_url, follow_redirects=False)
        assert replay.status_code == 303
        assert urlsplit(replay.headers["location"]).path == "/landing/complete"
        assert len(user.ledger()) == 1

        # The operator reverses it: a negative entry and a RECONCILIATION callback.
        reverse_complete(
            server.runtime.sessions, transaction_id, "client rejected", lambda: datetime.now(UTC)
        )
        reversal = "r" + transaction_id
        assert eventually(lambda: bool(callbacks_for(target, reversal)))
        (reversal_callback,) = callbacks_for(target, reversal)
        assert verify_callback(reversal_callback, SECRET)
        reversal_query = parse_qs(urlsplit(reversal_callback).query)
        assert reversal_query["type"] == ["RECONCILIATION"]
        assert reversal_query["ref"] == [transaction_id]
        assert reversal_query["val"] == [f"-{value}"]
        assert sum(e.reward.usd for e in user.ledger()) == 0


def test_screenouts_over_quotas_and_exchange_terminations_pay_as_the_app_says(
    settings: Settings, receiver: tuple[Receiver, str]
) -> None:
    _target, receiver_url = receiver
    with running(settings) as server:
        publisher(server, receiver_url, screenout_reward=Decimal("0.05"))
        cases = [
            ("2.2", "/landing/screenout", [(RewardKind.SCREENOUT, Decimal("0.05"), 50)]),
            ("3.2", "/landing/screenout", [(RewardKind.SCREENOUT, Decimal("0.05"), 50)]),
            ("2.1", "/landing/screenout", []),  # Dynata's own termination pays nothing
            ("5.1", "/landing/terminated", []),  # removed for answer quality
        ]
        for number, (ending, landing, paid) in enumerate(cases):
            server.sandbox.gateway.forced = parse_ending(ending)
            user = User(server, f"screened-{number}")
            user.answer_standard_profile()
            survey, _ = user.plain_survey()
            landed = user.http.get(user.open(survey), follow_redirects=True)
            assert urlsplit(str(landed.url)).path == landing, ending
            assert [(e.reward.kind, e.reward.usd, e.reward.value) for e in user.ledger()] == [
                (kind, usd, Decimal(value)) for kind, usd, value in paid
            ], ending


def test_late_forged_and_expired_returns(
    settings: Settings, receiver: tuple[Receiver, str]
) -> None:
    _target, receiver_url = receiver
    with running(settings) as server:
        publisher(server, receiver_url)
        keys = sandbox_options(settings).redirect_keys
        return_url = f"{server.url}/v1/exchanges/sandbox/return"
        now = datetime.now(UTC)

        user = User(server, "late-1")
        user.answer_standard_profile()
        survey, _ = user.plain_survey()
        click = user.entry_click(survey)
        ending = {"sr_click": click, "disposition": "1", "status": "0"}

        expired = sign_url(return_url, keys, now - timedelta(hours=25), ending)
        gone = user.http.get(expired, follow_redirects=False)
        assert gone.status_code == 410, gone.text
        wrong_key = KeyPair(keys.access_key, "not-the-secret")
        forged = sign_url(return_url, wrong_key, now + timedelta(minutes=5), ending)
        assert user.http.get(forged, follow_redirects=False).status_code == 401
        assert user.ledger() == []

        late = sign_url(return_url, keys, now - timedelta(hours=2), ending)
        accepted = user.http.get(late, follow_redirects=False)
        assert accepted.status_code == 303, accepted.text
        assert [e.reward.kind for e in user.ledger()] == [RewardKind.COMPLETE]


def test_a_failing_receiver_gets_the_same_callback_until_it_answers_even_across_a_restart(
    settings: Settings, receiver: tuple[Receiver, str]
) -> None:
    target, receiver_url = receiver
    with running(settings) as server:
        publisher(server, receiver_url)

        # Fails twice, then succeeds: three identical attempts. (The landing page is not
        # followed: the receiver would count it as one of its failures.)
        user = User(server, "retry-1")
        user.answer_standard_profile()
        survey, _ = user.plain_survey()
        target.failures = 2
        user.http.get(user.open(survey), follow_redirects=False)
        transaction_id = user.ledger()[0].transaction_id
        assert eventually(lambda: delivered(server, transaction_id))
        attempts = callbacks_for(target, transaction_id)
        assert len(attempts) == 3
        assert len(set(attempts)) == 1
        assert verify_callback(attempts[0], SECRET)

        # The receiver is down when the next complete is paid, and the server stops.
        target.failures = 10**6
        other = User(server, "retry-2")
        other.answer_standard_profile()
        survey, _ = other.plain_survey()
        other.http.get(other.open(survey), follow_redirects=False)
        pending = other.ledger()[0].transaction_id
        assert eventually(lambda: bool(callbacks_for(target, pending)))
        assert not delivered(server, pending)
        port = int(urlsplit(server.url).port or 0)

    target.failures = 0
    with running(settings, port) as restarted:
        assert eventually(lambda: delivered(restarted, pending))
    final = callbacks_for(target, pending)
    assert len(set(final)) == 1
    assert verify_callback(final[-1], SECRET)


def test_a_v2_click_with_tags_is_paid_and_its_callbacks_carry_the_tags_under_the_hash(
    settings: Settings, receiver: tuple[Receiver, str]
) -> None:
    target, receiver_url = receiver
    with running(settings) as server:
        publisher(server, receiver_url)
        user = User(server, "v2-player")
        user.answer_standard_profile()
        survey, _ = user.plain_survey()
        listing = user.http.get(
            "/v2/client/surveys", params={"tags": "Campaign=Spring Sale&placement=home"}
        )
        assert listing.status_code == 200, listing.text
        entry = next(s for s in listing.json()["data"]["surveys"] if s["id"] == f"1-{survey['id']}")
        created = user.http.post(entry["click_url"])
        assert created.status_code == 200, created.text
        state = user.http.get(f"/v2/client/clicks/{created.json()['data']['id']}")
        redirect = state.json()["data"]["redirect"]
        assert redirect["type"] == "survey"

        sent_back = user.http.get(redirect["url"], follow_redirects=False)
        assert sent_back.status_code == 302, sent_back.text
        landed = user.http.get(sent_back.headers["location"], follow_redirects=True)
        assert urlsplit(str(landed.url)).path == "/landing/complete"
        (entry_paid,) = user.ledger()
        transaction_id = entry_paid.transaction_id

        assert eventually(lambda: bool(callbacks_for(target, transaction_id)))
        (callback,) = callbacks_for(target, transaction_id)
        assert verify_callback(callback, SECRET)
        query = parse_qs(urlsplit(callback).query)
        assert query["campaign"] == ["spring sale"]
        assert query["placement"] == ["home"]
        assert query["type"] == ["COMPLETE"]

        # Reversed, the RECONCILIATION callback carries the same tags.
        reverse_complete(
            server.runtime.sessions, transaction_id, "client rejected", lambda: datetime.now(UTC)
        )
        assert eventually(lambda: bool(callbacks_for(target, "r" + transaction_id)))
        (reversal,) = callbacks_for(target, "r" + transaction_id)
        assert verify_callback(reversal, SECRET)
        reversal_query = parse_qs(urlsplit(reversal).query)
        assert reversal_query["type"] == ["RECONCILIATION"]
        assert reversal_query["campaign"] == ["spring sale"]
