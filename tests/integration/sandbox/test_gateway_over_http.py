"""The sandbox Respondent Gateway through a real socket, with our own REX side as the partner.

Respondents arrive on entry links signed by ``networks.rex.gateway.entry_link``; the returns
and callbacks they produce are checked with our ``verify_return`` and ``verify_callback``. The
partner's backend is a tiny HTTP server on a loopback port. The sandbox and the partner share
one fake clock, so expirations move together.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from surveyrouter.cli import bind
from surveyrouter.domain.profile import Gender
from surveyrouter.networks.rex.gateway import (
    Disposition,
    entry_link,
    verify_callback,
    verify_return,
)
from surveyrouter.networks.rex.registry import (
    GatewayClient,
    RegistryClient,
    RegistryNotFound,
    RetryPolicy,
    RexApi,
)
from surveyrouter.networks.rex.signing import KeyPair, sign_request
from surveyrouter.sandbox.app import create_sandbox_app
from surveyrouter.sandbox.exchange import SandboxExchange, SandboxOptions, assemble_sandbox
from surveyrouter.sandbox.market import Market
from surveyrouter.sandbox.outcomes import ABANDONED
from surveyrouter.sandbox.registry import RegistryState
from surveyrouter.store.question_library import load_question_library
from tests.clock import Clock
from tests.integration.test_server import serving

KEYS = KeyPair("partner-access-key", "partner-secret-key")
STRANGER = KeyPair("stranger-access-key", "stranger-secret-key")
REDIRECT = KeyPair("redirect-access-key", "redirect-secret-key")
REDIRECT_SECRETS = {REDIRECT.access_key: REDIRECT.secret_key}
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
YOUNG_MAN: dict[str, Any] = {
    "gender": Gender.MALE,
    "birth_date": date(2005, 1, 1),
    "postal_code": "10110",
}
COMPLETE = Disposition(1, 0)
# 13231's quota object for men aged 18-24 (REX's sample opportunity).
MALE_18_24 = "6f49b6b637befada84f2c57f8afb5f0cc53b2a35e970431fd4348ff58d6cf348"


# --- the partner's backend -------------------------------------------------------------------


@dataclasses.dataclass
class Partner:
    """What the partner's server received: returns (GET) and callbacks (POST)."""

    url: str = ""
    returns: list[str] = dataclasses.field(default_factory=list)
    callbacks: list[tuple[httpx.Headers, bytes]] = dataclasses.field(default_factory=list)

    @property
    def return_url(self) -> str:
        return f"{self.url}/rex/return"

    @property
    def callback_url(self) -> str:
        return f"{self.url}/rex/callback"


@contextmanager
def partner_server() -> Iterator[Partner]:
    partner = Partner()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            partner.returns.append(f"{partner.url}{self.path}")
            self._answer()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            partner.callbacks.append((httpx.Headers(dict(self.headers.items())), body))
            self._answer()

        def _answer(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    partner.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield partner
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- the sandbox -----------------------------------------------------------------------------


@dataclasses.dataclass
class Sandbox:
    url: str  # where the sandbox's own paths are (base_url)
    exchange: SandboxExchange
    clock: Clock
    documents: dict[int, dict[str, Any]]  # REX's sample opportunities as the registry holds them

    def live(self, opportunity_id: int) -> str:
        return str(self.documents[opportunity_id]["links"]["live"])

    def enter(self, link: str, **options: Any) -> httpx.Response:
        return httpx.get(link, headers={"User-Agent": PHONE}, **options)

    def post(self, path: str, body: Any, keys: KeyPair = KEYS) -> httpx.Response:
        raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
        headers = sign_request(keys, raw, self.clock() + timedelta(seconds=60))
        headers["Content-Type"] = "application/json"
        return httpx.post(f"{self.url}{path}", content=raw, headers=headers)

    def quota_count(self, opportunity_id: int, quota_id: str) -> int:
        document = self.exchange.registry.get(opportunity_id)
        return next(q["count"] for g in document["quotas"] for q in g if q["id"] == quota_id)


def sample_market(rex_fixtures: Path, base_url: str) -> Market:
    """REX's sample opportunities, their links pointing at this sandbox's gateway."""
    documents = json.loads((rex_fixtures / "receive_notifications.json").read_text())
    for document in documents:
        query = urlsplit(document["links"]["live"]).query
        document["links"]["live"] = f"{base_url}/start?{query}"
    zips = (rex_fixtures / "download_collection.txt").read_text().split()
    return Market(opportunities=documents, collections={"2169971": zips}, attributes=[])


@contextmanager
def sandbox_serving(
    rex_fixtures: Path,
    options: Callable[[str], SandboxOptions],
    mount: str = "",
) -> Iterator[Sandbox]:
    """The sandbox on a loopback port; ``mount`` puts it under a prefix of an outer app."""
    listener = bind("127.0.0.1", 0)
    base_url = f"http://127.0.0.1:{listener.getsockname()[1]}{mount}"
    clock = Clock(START)
    registry = RegistryState(clock)
    registry.seed(sample_market(rex_fixtures, base_url))
    exchange = assemble_sandbox(options(base_url), registry, load_question_library(), clock)
    app = create_sandbox_app(exchange)
    if mount:
        outer = FastAPI()
        outer.mount(mount, app)
        app = outer
    documents = {d["id"]: d for d in registry.documents()}
    # Bound before the market is built: its links and the options name the port.
    with serving(app, listener):
        yield Sandbox(base_url, exchange, clock, documents)


def options_for(partner: Partner, **overrides: Any) -> Callable[[str], SandboxOptions]:
    def build(base_url: str) -> SandboxOptions:
        defaults: dict[str, Any] = {
            "partner_return_url": partner.return_url,
            "partner_callback_url": partner.callback_url,
            "forced_outcome": COMPLETE,
        }
        return SandboxOptions(
            api_keys={KEYS.access_key: KEYS.secret_key},
            redirect_keys=REDIRECT,
            base_url=base_url,
            **{**defaults, **overrides},
        )

    return build


@pytest.fixture
def partner() -> Iterator[Partner]:
    with partner_server() as server:
        yield server


@pytest.fixture
def sandbox(rex_fixtures: Path, partner: Partner) -> Iterator[Sandbox]:
    with sandbox_serving(rex_fixtures, options_for(partner)) as running_sandbox:
        yield running_sandbox


def link(
    sandbox: Sandbox, live: str, respondent_id: str, keys: KeyPair = KEYS, **fields: Any
) -> str:
    return entry_link(
        live,
        keys,
        sandbox.clock() + timedelta(minutes=5),
        respondent_id,
        passthrough={"sr_click": "click-1", "sr_note": "a b&c"},
        **fields,
    )


# --- in and back out -------------------------------------------------------------------------


def test_a_complete_returns_signed_with_its_parameters_and_calls_back_signed(
    sandbox: Sandbox, partner: Partner
) -> None:
    entry = link(sandbox, sandbox.live(13231), "r-1", **YOUNG_MAN)

    response = sandbox.enter(entry, follow_redirects=True)

    [redirect] = response.history
    assert redirect.status_code == 302
    assert redirect.headers["location"].startswith(partner.return_url + "?")
    assert (response.status_code, response.text) == (200, "ok")
    assert partner.returns == [str(response.url)]
    returned = verify_return(partner.returns[0], REDIRECT_SECRETS, sandbox.clock())
    assert returned.disposition == COMPLETE
    assert returned.parameters == {"sr_click": "click-1", "sr_note": "a b&c"}
    assert not returned.late

    [(headers, body)] = partner.callbacks
    callback = verify_callback(headers, body, REDIRECT_SECRETS, sandbox.clock())
    assert callback.respondent_id == "r-1"
    assert callback.disposition == COMPLETE
    assert callback.parameters == {"sr_click": "click-1", "sr_note": "a b&c"}
    assert sandbox.quota_count(13231, MALE_18_24) == 249


def test_a_return_is_not_valid_under_the_api_keys(sandbox: Sandbox) -> None:
    location = sandbox.enter(link(sandbox, sandbox.live(13231), "r-2", **YOUNG_MAN)).headers[
        "location"
    ]

    with pytest.raises(ValueError, match="unknown access key"):
        verify_return(location, {KEYS.access_key: KEYS.secret_key}, sandbox.clock())


def test_a_respondent_failing_targeting_goes_back_at_once_with_the_reason(
    sandbox: Sandbox, partner: Partner
) -> None:
    woman = {**YOUNG_MAN, "gender": Gender.FEMALE}

    location = sandbox.enter(link(sandbox, sandbox.live(13231), "r-3", **woman)).headers["location"]

    assert verify_return(location, REDIRECT_SECRETS, sandbox.clock()).disposition == Disposition(
        2, 6
    )
    assert sandbox.quota_count(13231, MALE_18_24) == 250
    [(headers, body)] = partner.callbacks
    assert verify_callback(headers, body, REDIRECT_SECRETS, sandbox.clock()).disposition == (
        Disposition(2, 6)
    )


def test_the_forced_outcome_decides_every_client_survey(
    rex_fixtures: Path, partner: Partner
) -> None:
    over_quota = Disposition(3, 2)
    with sandbox_serving(rex_fixtures, options_for(partner, forced_outcome=over_quota)) as box:
        first = box.enter(link(box, box.live(13231), "r-4", **YOUNG_MAN)).headers["location"]
        box.exchange.gateway.forced = Disposition(5, 1)  # switched while serving
        second = box.enter(link(box, box.live(13174), "r-5", **YOUNG_MAN)).headers["location"]

        assert verify_return(first, REDIRECT_SECRETS, box.clock()).disposition == over_quota
        assert verify_return(second, REDIRECT_SECRETS, box.clock()).disposition == (
            Disposition(5, 1)
        )
        assert box.quota_count(13231, MALE_18_24) == 250  # COMPLETES: an over-quota is no count


def test_a_respondent_who_drops_out_is_shown_a_page_and_nothing_goes_back(
    rex_fixtures: Path, partner: Partner
) -> None:
    with sandbox_serving(rex_fixtures, options_for(partner, forced_outcome=ABANDONED)) as box:
        response = box.enter(link(box, box.live(13231), "r-left", **YOUNG_MAN))

        assert response.status_code == 200
        assert "location" not in response.headers
        assert "without finishing" in response.text
        assert partner.callbacks == []
        assert partner.returns == []


def test_a_callback_that_fails_is_logged_and_the_respondent_still_goes_back(
    rex_fixtures: Path, partner: Partner, caplog: pytest.LogCaptureFixture
) -> None:
    closed = bind("127.0.0.1", 0)
    dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}/callback"
    closed.close()  # nothing listens there: the connection is refused at once
    options = options_for(partner, partner_callback_url=dead_url)

    with (
        sandbox_serving(rex_fixtures, options) as box,
        caplog.at_level(logging.WARNING, "surveyrouter.sandbox.gateway_api"),
    ):
        response = box.enter(link(box, box.live(13231), "r-6", **YOUNG_MAN))

    assert response.status_code == 302
    assert verify_return(response.headers["location"], REDIRECT_SECRETS, START).disposition == (
        COMPLETE
    )
    assert any("callback" in record.getMessage() for record in caplog.records)


# --- refused entries -------------------------------------------------------------------------


def tampered(url: str) -> str:
    return url.replace("postal_code=10110", "postal_code=10120")


@pytest.mark.parametrize(
    ("make_link", "message"),
    [
        (lambda box, live: tampered(link(box, live, "r-7", **YOUNG_MAN)), "invalid signature"),
        (lambda box, live: link(box, live, "r-7", STRANGER, **YOUNG_MAN), "unknown access key"),
        (lambda box, live: live, "carries no complete access_key"),
        (lambda box, live: link(box, live, "r-7", **YOUNG_MAN) + "&ctx=again", "repeated"),
    ],
    ids=["tampered", "unknown-key", "unsigned", "repeated-parameter"],
)
def test_a_link_that_is_not_ours_is_refused_with_401_and_nothing_happens(
    sandbox: Sandbox,
    partner: Partner,
    make_link: Callable[[Sandbox, str], str],
    message: str,
) -> None:
    response = sandbox.enter(make_link(sandbox, sandbox.live(13231)))

    assert response.status_code == 401
    assert set(response.json()) == {"message"}
    assert message in response.json()["message"]
    assert partner.callbacks == []
    assert "r-7" not in sandbox.exchange.gateway.respondents


def test_an_expired_link_is_refused_with_401(sandbox: Sandbox, partner: Partner) -> None:
    entry = link(sandbox, sandbox.live(13231), "r-8", **YOUNG_MAN)
    sandbox.clock.advance(minutes=5)

    response = sandbox.enter(entry)

    assert response.status_code == 401
    assert response.json()["message"].startswith("signature expired at ")
    assert partner.callbacks == []


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("ctx=no-such-context&language=en", 404, "unknown context 'no-such-context'"),
        ("language=en", 400, "the entry link has no ctx"),
    ],
)
def test_a_signed_link_to_nowhere_is_refused_with_a_message(
    sandbox: Sandbox, query: str, status: int, message: str
) -> None:
    response = sandbox.enter(link(sandbox, f"{sandbox.url}/start?{query}", "r-9"))

    assert response.status_code == status
    assert response.json() == {"message": message}


def test_a_respondent_id_over_100_characters_is_refused(sandbox: Sandbox) -> None:
    response = sandbox.enter(link(sandbox, sandbox.live(13231), "x" * 101, **YOUNG_MAN))

    assert response.status_code == 400
    assert '"respondent_id"' in response.json()["message"]


# --- contexts (§6.1, §6.2) -------------------------------------------------------------------


def opportunity_ctx(sandbox: Sandbox, opportunity_id: int) -> str:
    return urlsplit(sandbox.live(opportunity_id)).query.split("&")[0].removeprefix("ctx=")


def test_an_entry_through_a_context_chain_uses_the_parents_values(
    sandbox: Sandbox, partner: Partner
) -> None:
    parent = sandbox.post(
        "/create-context",
        {"items": {"ctx": opportunity_ctx(sandbox, 13231), "gender": "male",
                   "birth_date": "2005-01-01", "postal_code": "10110"}},
    )  # fmt: skip
    assert parent.status_code == 200
    child = sandbox.post(
        "/create-context",
        {"id": "child-context", "items": {"ctx": parent.json()["id"], "gender": "female"}},
    )
    assert child.json() == {"id": "child-context"}

    entry = link(sandbox, f"{sandbox.url}/start?ctx=child-context&language=en", "r-10")
    location = sandbox.enter(entry).headers["location"]

    assert verify_return(location, REDIRECT_SECRETS, sandbox.clock()).disposition == COMPLETE
    assert sandbox.exchange.gateway.respondents["r-10"].gender is Gender.MALE
    assert sandbox.quota_count(13231, MALE_18_24) == 249


def test_contexts_are_read_back_and_expired(sandbox: Sandbox) -> None:
    ctx = opportunity_ctx(sandbox, 13231)
    created = sandbox.post(
        "/create-context",
        {"items": {"ctx": ctx, "gender": "male"}, "expiration": "2026-11-23T10:00:00+00:00"},
    ).json()

    read = sandbox.post("/get-context", {"id": created["id"], "account": None})
    expired = sandbox.post("/expire-context", {"id": created["id"]})
    entry = link(sandbox, f"{sandbox.url}/start?ctx={created['id']}&language=en", "r-11")
    refused = sandbox.enter(entry)

    assert read.json() == {
        "id": created["id"],
        "expiration": "2026-11-23T10:00:00.000Z",
        "items": {"ctx": ctx, "gender": "male"},
    }
    assert expired.status_code == 200
    assert expired.json()["expiration"] == "2026-11-23T09:00:00.000Z"
    assert refused.status_code == 410
    assert "expired" in refused.json()["message"]


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/create-context", {}, 400, '"items" is required'),
        ("/create-context", {"items": {"gender": 1}}, 400, '"items.gender" must be a string'),
        ("/create-context", {"items": {}, "expiration": "soon"}, 400, "RFC 3339"),
        ("/create-context", {"items": {}, "id": ""}, 400, '"id" must be a non-empty string'),
        ("/get-context", {"id": "missing"}, 404, "context 'missing' was not found"),
        ("/expire-context", {}, 400, '"id" must be a non-empty string'),
    ],
)
def test_bad_context_calls_are_refused_with_a_message(
    sandbox: Sandbox, path: str, body: Any, status: int, message: str
) -> None:
    response = sandbox.post(path, body)

    assert response.status_code == status
    assert set(response.json()) == {"message"}
    assert message in response.json()["message"]


def test_a_chosen_context_id_is_taken_once(sandbox: Sandbox) -> None:
    first = sandbox.post("/create-context", {"id": "mine", "items": {}})
    second = sandbox.post("/create-context", {"id": "mine", "items": {"gender": "male"}})
    opportunity = sandbox.post(
        "/create-context", {"id": opportunity_ctx(sandbox, 13231), "items": {}}
    )

    assert first.status_code == 200
    assert (second.status_code, opportunity.status_code) == (422, 422)


# --- respondents (§6.1) ----------------------------------------------------------------------


def test_a_respondent_put_beforehand_enters_with_the_stored_profile(
    sandbox: Sandbox,
) -> None:
    put = sandbox.post(
        "/put-respondent",
        {"respondent_id": "r-12", "language": "en", "country": "US", "gender": "f",
         "birth_date": "2005-01-01", "postal_code": "10110"},
    )  # fmt: skip
    assert put.status_code == 204

    location = sandbox.enter(link(sandbox, sandbox.live(13231), "r-12")).headers["location"]

    # The stored gender is female: 13231's male filter fails without the link saying anything.
    assert verify_return(location, REDIRECT_SECRETS, sandbox.clock()).disposition == Disposition(
        2, 6
    )


def test_stored_answers_are_used_at_entry_and_shown_by_respondent_info(
    sandbox: Sandbox,
) -> None:
    """12872 excludes answer 20000144 of attribute 100262 (a negated LIST)."""
    sandbox.post("/put-respondent", {"respondent_id": "r-13", "language": "en", "country": "US"})
    answers = sandbox.post(
        "/put-respondent-answers",
        {"respondent_id": "r-13", "attributes": [{"id": 100262, "answers": [20000144]}]},
    )
    assert answers.status_code == 204

    location = sandbox.enter(link(sandbox, sandbox.live(12872), "r-13", **YOUNG_MAN)).headers[
        "location"
    ]
    info = sandbox.post("/get-respondent-info", {"respondent_id": "r-13"}).json()

    assert verify_return(location, REDIRECT_SECRETS, sandbox.clock()).disposition == Disposition(
        2, 6
    )
    assert info["attributes"] == {"100262": [20000144]}
    assert (info["gender"], info["birth_date"], info["country"]) == ("male", "2005-01-01", "US")
    assert info["date_created"] == "2026-11-23T09:00:00.000Z"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"respondent_id": "x" * 101, "language": "en", "country": "US"}, "respondent_id"),
        ({"respondent_id": "r", "language": "EN", "country": "US"}, "language"),
        ({"respondent_id": "r", "language": "en", "country": "usa"}, "country"),
        ({"respondent_id": "r", "language": "en", "country": "US", "gender": "x"}, "gender"),
        ({"respondent_id": "r", "language": "en", "country": "US", "birth_date": "1.2.1990"},
         "birth_date"),
        ({"respondent_id": "r", "language": "en", "country": "US", "attributes": [{"id": 5}]},
         "attributes[0].answers"),
    ],
)  # fmt: skip
def test_put_respondent_refuses_a_bad_field_with_422_naming_it(
    sandbox: Sandbox, body: dict[str, Any], field: str
) -> None:
    response = sandbox.post("/put-respondent", body)

    assert response.status_code == 422
    assert set(response.json()) == {"message"}
    assert response.json()["message"].startswith(f'"{field}"')
    assert "r" not in sandbox.exchange.gateway.respondents


def test_an_unknown_respondent_is_404(sandbox: Sandbox) -> None:
    answers = sandbox.post(
        "/put-respondent-answers",
        {"respondent_id": "nobody", "attributes": [{"id": 2001, "answers": [200101]}]},
    )
    info = sandbox.post("/get-respondent-info", {"respondent_id": "nobody"})

    assert (answers.status_code, info.status_code) == (404, 404)
    assert info.json() == {"message": "respondent 'nobody' was not found"}


# --- the attribute catalogue through our GatewayClient ---------------------------------------


@pytest.fixture
def gateway_client(sandbox: Sandbox) -> Iterator[GatewayClient]:
    http = httpx.Client(base_url=sandbox.url, timeout=10)
    api = RexApi(http, KEYS, clock=sandbox.clock, retry=RetryPolicy(max_attempts=1))
    with GatewayClient(api) as client:
        yield client


def test_list_attributes_pages_through_the_catalogue(
    gateway_client: GatewayClient, sandbox: Sandbox
) -> None:
    everything = gateway_client.list_attributes("US", 1, 500)
    first = gateway_client.list_attributes("US", 1, 5)
    second = gateway_client.list_attributes("US", 2, 5)

    ids = [entry.parameter_id for entry in everything]
    assert {2001, 2008, 910001} <= set(ids)
    assert [e.parameter_id for e in (*first, *second)] == ids[:10]
    assert all(entry.active for entry in everything)
    german = {e.parameter_id for e in gateway_client.list_attributes("DE", 1, 500)}
    assert 2008 not in german  # ethnicity is asked in the US only
    deprecated = sandbox.post(
        "/get-attributes", {"country": "US", "page_number": 1, "page_size": 5}
    )
    assert [item["parameter_id"] for item in deprecated.json()["data"]] == ids[:5]


def test_get_attribute_info_serves_the_catalogues_document(
    gateway_client: GatewayClient, sandbox: Sandbox
) -> None:
    document = gateway_client.get_attribute_info(910002)

    assert document == sandbox.exchange.attributes.attribute_info(910002)
    assert document["question"]["text"] == "Do you own a smart speaker?"
    with pytest.raises(RegistryNotFound, match="attribute 424242 was not found"):
        gateway_client.get_attribute_info(424242)
    legacy = sandbox.post("/get-attribute-info", {"id": 910002})
    assert legacy.json() == document


def test_the_sandbox_root_says_what_it_is_and_never_shows_a_secret(
    rex_fixtures: Path, partner: Partner
) -> None:
    with sandbox_serving(rex_fixtures, options_for(partner), mount="/sandbox/rex") as box:
        page = httpx.get(f"{box.url}/")

    assert page.status_code == 200
    assert f"{box.url}/start" in page.text
    assert KEYS.access_key in page.text
    assert KEYS.secret_key not in page.text
    assert "open" in page.text.lower()


# --- interactive mode, mounted under a prefix ------------------------------------------------


def test_an_interactive_respondent_walks_through_the_pages_under_a_mount_prefix(
    rex_fixtures: Path, partner: Partner
) -> None:
    options = options_for(partner, interactive=True, forced_outcome=None)
    with sandbox_serving(rex_fixtures, options, mount="/sandbox/rex") as box:
        assert box.url.endswith("/sandbox/rex")
        entry = link(box, box.live(13231), "r-20")  # no profile: the prescreen asks it

        arrived = box.enter(entry)
        assert arrived.status_code == 303
        page_url = arrived.headers["location"]
        assert page_url.startswith(f"{box.url}/sessions/")
        prescreen = box.enter(page_url)
        assert prescreen.status_code == 200
        assert "What is your gender?" in prescreen.text
        action = re.search(r'action="([^"]+)"', prescreen.text)
        assert action is not None
        assert action.group(1) == f"{page_url}/prescreen"

        answered = httpx.post(
            action.group(1),
            data={"gender": "male", "birth_date": "2005-01-01", "postal_code": "10110"},
        )
        assert answered.status_code == 303
        assert answered.headers["location"] == page_url
        survey = box.enter(page_url)
        assert 'value="1.0"' in survey.text
        assert 'value="5.1"' in survey.text

        ended = httpx.post(f"{page_url}/survey", data={"outcome": "1.0"})
        assert ended.status_code == 303
        returned = verify_return(ended.headers["location"], REDIRECT_SECRETS, box.clock())
        assert returned.disposition == COMPLETE
        assert returned.parameters == {"sr_click": "click-1", "sr_note": "a b&c"}
        [(headers, body)] = partner.callbacks
        assert verify_callback(headers, body, REDIRECT_SECRETS, box.clock()).respondent_id == "r-20"
        assert box.quota_count(13231, MALE_18_24) == 249

        replayed = httpx.post(f"{page_url}/survey", data={"outcome": "1.0"})
        assert replayed.status_code == 404
        assert set(replayed.json()) == {"message"}
        assert box.quota_count(13231, MALE_18_24) == 249


def test_an_interactive_prescreen_answer_that_fails_goes_back_and_a_bad_one_is_asked_again(
    rex_fixtures: Path, partner: Partner
) -> None:
    options = options_for(partner, interactive=True, forced_outcome=None)
    with sandbox_serving(rex_fixtures, options) as box:
        page_url = box.enter(link(box, box.live(13231), "r-21")).headers["location"]

        bad = httpx.post(f"{page_url}/prescreen", data={"birth_date": "01/01/2005"})
        skipped_survey = httpx.post(f"{page_url}/survey", data={"outcome": "1.0"})
        failed = httpx.post(
            f"{page_url}/prescreen",
            data={"gender": "female", "birth_date": "2005-01-01", "postal_code": "10110"},
        )

    assert bad.status_code == 422
    assert "birth_date" in bad.text
    assert "<form" in bad.text
    assert skipped_survey.status_code == 409
    assert failed.status_code == 303
    returned = verify_return(failed.headers["location"], REDIRECT_SECRETS, START)
    assert returned.disposition == Disposition(2, 6)


def test_the_sandboxs_own_end_page_checks_the_return(rex_fixtures: Path, partner: Partner) -> None:
    def own_end_page(base_url: str) -> SandboxOptions:
        return options_for(partner, partner_return_url=f"{base_url}/end")(base_url)

    with sandbox_serving(rex_fixtures, own_end_page) as box:
        ended = box.enter(link(box, box.live(13231), "r-22", **YOUNG_MAN), follow_redirects=True)
        forged = box.enter(str(ended.url).replace("status=0", "status=1"))

    assert ended.status_code == 200
    assert "Complete" in ended.text
    assert "click-1" in ended.text
    assert forged.status_code == 401


# --- no input makes the gateway fail ---------------------------------------------------------

GATEWAY_OPERATIONS = [
    "/create-context",
    "/get-context",
    "/expire-context",
    "/put-respondent",
    "/put-respondent-answers",
    "/get-respondent-info",
    "/list-attributes",
    "/get-attributes",
    "/get-attribute-info",
]
ODD_BODIES = [
    b"null",
    b'"text"',
    b"1e999",
    b"[]",
    b"\xff\xfe\x00",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"id": {"nested": 1}, "items": [], "respondent_id": 5, "attributes": "x"}',
    b'{"items": {"ctx": "a"}, "expiration": 5, "country": "U\\u00dc", "page_size": 1e999}',
    b'{"respondent_id": "r", "language": "en", "country": "US", "attributes": [null, 1]}',
    b'{"attribute_id": 99999999999999999999999999, "page_number": -1, "country": "US"}',
]


@pytest.mark.parametrize("path", GATEWAY_OPERATIONS)
def test_no_body_makes_the_gateway_fail_with_a_500(sandbox: Sandbox, path: str) -> None:
    for body in ODD_BODIES:
        response = sandbox.post(path, body)

        assert response.status_code < 500, (body[:40], response.text)
        if response.status_code >= 400:
            assert set(response.json()) == {"message"}


def test_unsigned_gateway_calls_are_401(sandbox: Sandbox) -> None:
    response = httpx.post(f"{sandbox.url}/put-respondent", content=b"{}")

    assert response.status_code == 401
    assert "missing" in response.json()["message"]


def test_odd_entries_and_session_paths_never_fail_with_a_500(sandbox: Sandbox) -> None:
    odd = [
        "/start",
        "/start?%ff%fe=1",
        "/start?access_key=&expiration=&signature=",
        "/start?ctx=a&access_key=partner-access-key&expiration=x&signature=y",
        "/end?disposition=1",
        "/sessions/nope",
    ]
    for path in odd:
        response = httpx.get(f"{sandbox.url}{path}")
        assert 400 <= response.status_code < 500, (path, response.text)
        assert set(response.json()) == {"message"}
    for path in ("/sessions/nope/prescreen", "/sessions/nope/survey"):
        response = httpx.post(f"{sandbox.url}{path}", content=b"\xff" * 10)
        assert 400 <= response.status_code < 500, (path, response.text)


# --- `surveyrouter sandbox` ------------------------------------------------------------------


def test_the_sandbox_command_serves_a_market_our_registry_client_syncs() -> None:
    command = [
        sys.executable, "-m", "surveyrouter", "sandbox", "--host", "127.0.0.1", "--port", "0",
        "--access-key", KEYS.access_key, "--secret-key", KEYS.secret_key,
        "--redirect-access-key", REDIRECT.access_key, "--redirect-secret-key",
        REDIRECT.secret_key, "--opportunities", "40", "--seed", "5", "--force-outcome", "1.0",
    ]  # fmt: skip
    environment = {**os.environ, "COLUMNS": "160", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        banner, base_url = read_base_url(process)
        with RegistryClient(
            RexApi.connect(base_url, KEYS, retry=RetryPolicy(max_attempts=1))
        ) as registry:
            first = wait_for(lambda: registry.receive_notifications(10))
            registry.ack_notifications(first.ids)
            second = registry.receive_notifications(10)
    finally:
        process.terminate()
        process.communicate(timeout=15)

    assert (first.notification_count, first.notification_total) == (10, 40)
    assert len(first.opportunities) == 10
    assert all(o.live_link.startswith(f"{base_url}/start?ctx=") for o in first.opportunities)
    assert second.notification_total == 30
    assert not set(second.ids) & set(first.ids)
    assert KEYS.access_key in banner
    assert REDIRECT.access_key in banner
    assert KEYS.secret_key not in banner
    assert REDIRECT.secret_key not in banner


def test_the_sandbox_command_refuses_a_bad_forced_outcome() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "surveyrouter", "sandbox", "--access-key", "k", "--secret-key",
         "s", "--port", "0", "--force-outcome", "complete"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "160"},
    )  # fmt: skip

    assert result.returncode == 2
    assert "--force-outcome: an ending is DISPOSITION.STATUS" in result.stdout


def read_base_url(process: subprocess.Popen[str]) -> tuple[str, str]:
    assert process.stdout is not None
    printed = []
    for line in process.stdout:
        printed.append(line)
        if "Mode" in line:
            banner = "".join(printed)
            match = re.search(r"http://127\.0\.0\.1:\d+", banner)
            assert match is not None, banner
            return banner, match.group(0)
    raise AssertionError(f"the sandbox printed no banner: {''.join(printed)!r}")


def wait_for(call: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + 15
    while True:
        try:
            return call()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
