"""The REX Opportunity Registry client (REX §2) and the Gateway attribute catalogue (§6.1).

Dynata's side is faked with ``httpx.MockTransport``: the fake checks every request's signature
the way the exchange would (§1.3) and answers with the real sample payloads where they fit.
"""

from __future__ import annotations

import copy
import json
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from surveyrouter import json_codec
from surveyrouter.domain.opportunity import Opportunity
from surveyrouter.networks.rex import registry as registry_module
from surveyrouter.networks.rex.opportunities import InvalidOpportunity, parse_document
from surveyrouter.networks.rex.registry import (
    CollectionNotReady,
    GatewayClient,
    Invite,
    ListedAttribute,
    RegistryClient,
    RegistryError,
    RegistryNotFound,
    RegistryProtocolError,
    RegistryUnauthorized,
    RegistryUnavailable,
    RetryPolicy,
    RexApi,
    Shard,
)
from surveyrouter.networks.rex.signing import (
    ACCESS_KEY_HEADER,
    EXPIRATION_HEADER,
    SIGNING_STRING_HEADER,
    KeyPair,
    SignatureError,
    verify_request,
)
from tests.clock import Clock

KEYS = KeyPair("access_key", "secret_key")
SECRETS = {"access_key": "secret_key"}
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
BASE_URL = "https://registry.qa-rex.dynata.com"

# REX §1.2's test vectors: the SDK's exact bytes for these bodies, and their digests.
SDK_RECEIVE_BODY = b'{"limit": 10, "shards": {"count": 1, "current": 1}}'
SDK_RECEIVE_DIGEST = "9daa3661cc762e42995d59da6a3ca6377cdf651b5c41e37aeb178e1e1ad05071"
SDK_ACK_BODY = b"[12871, 13174]"
SDK_ACK_DIGEST = "498422696164df9a7249872130f104d233518e5cd93ac179c77310a702a06755"

# §2.6's documented receive-invites item.
INVITE_MESSAGE = {
    "invite": {
        "id": 17,
        "collection_id": "618400",
        "respondent_id": "2792483699",
        "expiration": "2023-05-10T00:55:32.344Z",
        "modified": "2023-01-19T02:23:34.225618Z",
        "created": "2023-01-19T02:23:34.225618Z",
    },
    "created": "2023-01-19T02:23:34.225618Z",
}
INVITE_CSV = (
    "id,collection_id,respondent_id,expiration,created,modified\n"
    "4,618400,2792483702,2023-05-10T00:55:32.344Z,2023-01-24T18:14:45.694610Z,"
    "2023-01-19T13:13:31.167732Z\n"
    "5,618400,2792483703,,2023-01-24T18:14:45.694610Z,2023-01-19T13:13:31.167732Z\n"
)

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class Received:
    path: str
    method: str
    body: bytes
    headers: httpx.Headers

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeRex:
    """Dynata's side: verifies each signature, records each request, plays scripted replies."""

    clock: Callable[[], datetime]
    replies: dict[str, deque[Reply]] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)

    def script(self, path: str, *replies: Reply) -> None:
        self.replies.setdefault(path, deque()).extend(replies)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        self.requests.append(Received(request.url.path, request.method, body, request.headers))
        try:
            verify_request(request.headers, body, SECRETS, self.clock())
        except SignatureError as error:
            return httpx.Response(401, json={"message": str(error)})
        queue = self.replies.get(request.url.path)
        if not queue:
            return httpx.Response(404, json={"message": f"no reply for {request.url.path}"})
        reply = queue.popleft() if len(queue) > 1 else queue[0]  # the last reply repeats
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(request)
        # A fresh response each time: the transport takes ownership of what it returns.
        return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)

    def sent(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]


@dataclass
class Sleeper:
    slept: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sleeper() -> Sleeper:
    return Sleeper()


@pytest.fixture
def fake(clock: Clock) -> FakeRex:
    return FakeRex(clock=lambda: clock.now)


@pytest.fixture
def api(fake: FakeRex, clock: Clock, sleeper: Sleeper) -> Iterator[RexApi]:
    http = httpx.Client(base_url=BASE_URL, transport=httpx.MockTransport(fake.handle))
    # random() == 0.5 puts every jittered delay in the middle of its range.
    rex = RexApi(http, KEYS, clock=clock, sleep=sleeper, random=lambda: 0.5)
    yield rex
    rex.close()


@pytest.fixture
def registry(api: RexApi) -> RegistryClient:
    return RegistryClient(api, collection_attempts=4)


@pytest.fixture(scope="module")
def notifications(rex_fixtures: Path) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads(
        (rex_fixtures / "receive_notifications.json").read_text()
    )
    return loaded


@pytest.fixture(scope="module")
def collection_text(rex_fixtures: Path) -> str:
    return (rex_fixtures / "download_collection.txt").read_text()


def ok_json(document: Any, **headers: str) -> httpx.Response:
    return httpx.Response(200, json=document, headers=headers)


# --- signing and request shape ------------------------------------------------------------------


def test_every_call_is_a_signed_json_post_of_the_exact_bytes_sent(
    registry: RegistryClient, fake: FakeRex, notifications: list[dict[str, Any]]
) -> None:
    fake.script("/receive-notifications", ok_json(notifications))
    fake.script("/ack-notifications", httpx.Response(204))

    registry.receive_notifications(limit=10, shard=Shard(count=1, current=1))
    registry.ack_notifications([12871, 13174])

    assert [r.path for r in fake.requests] == ["/receive-notifications", "/ack-notifications"]
    for request in fake.requests:
        assert request.method == "POST"
        assert request.headers["content-type"] == "application/json"
        # The fake already refused anything unsigned; check again to fail loudly here.
        assert verify_request(request.headers, request.body, SECRETS, NOW) == "access_key"
    # Byte for byte the SDK's bodies, so §1.2's vectors pin the digest that was signed.
    receive, ack = fake.requests
    assert receive.body == SDK_RECEIVE_BODY
    assert receive.headers[SIGNING_STRING_HEADER] == SDK_RECEIVE_DIGEST
    assert ack.body == SDK_ACK_BODY
    assert ack.headers[SIGNING_STRING_HEADER] == SDK_ACK_DIGEST


def test_signatures_expire_a_short_while_after_the_injected_clock(
    registry: RegistryClient, fake: FakeRex
) -> None:
    fake.script("/list-project-opportunities", ok_json([]))
    registry.list_project_opportunities(1589419)
    (request,) = fake.requests
    assert request.headers[EXPIRATION_HEADER] == "2026-03-02T09:31:00.000Z"
    assert request.headers[ACCESS_KEY_HEADER] == "access_key"


def test_a_request_the_server_cannot_verify_is_refused_as_unauthorized(
    fake: FakeRex, clock: Clock, sleeper: Sleeper
) -> None:
    http = httpx.Client(base_url=BASE_URL, transport=httpx.MockTransport(fake.handle))
    wrong = RegistryClient(RexApi(http, KeyPair("access_key", "not-the-secret"), clock=clock))
    with pytest.raises(RegistryUnauthorized, match="invalid signature"):
        wrong.ack_notifications([1])


@pytest.mark.parametrize(
    ("call", "path", "body"),
    [
        (lambda r: r.receive_notifications(), "/receive-notifications", {"limit": 50}),
        (
            lambda r: r.receive_notifications(25, shard=Shard(3, 2), visibility_timeout=300),
            "/receive-notifications",
            {"limit": 25, "shards": {"count": 3, "current": 2}, "visibility_timeout": 300},
        ),
        (lambda r: r.ack_notifications((12871,)), "/ack-notifications", [12871]),
        (lambda r: r.get_opportunity(55304), "/get-opportunity", {"id": 55304}),
        (
            lambda r: r.get_group_opportunity(1174589, "us", "EN"),
            "/get-opportunity",
            {"group_id": 1174589, "country": "US", "language": "en"},
        ),
        (
            lambda r: r.list_project_opportunities(1589419),
            "/list-project-opportunities",
            {"project_id": 1589419},
        ),
        (lambda r: r.download_collection(2169971), "/download-collection", {"id": "2169971"}),
        (
            lambda r: r.receive_invites(25, visibility_timeout=60),
            "/receive-invites",
            {"limit": 25, "visibility_timeout": 60},
        ),
        (lambda r: r.ack_invites([17, 18]), "/ack-invites", [17, 18]),
        (
            lambda r: r.download_invite_collection("618400"),
            "/download-invite-collection",
            {"id": "618400"},
        ),
    ],
)
def test_each_operation_posts_the_body_section_2_documents(
    registry: RegistryClient,
    fake: FakeRex,
    notifications: list[dict[str, Any]],
    call: Callable[[RegistryClient], object],
    path: str,
    body: Any,
) -> None:
    fake.script("/receive-notifications", ok_json([]))
    fake.script("/ack-notifications", httpx.Response(204))
    fake.script("/get-opportunity", ok_json(notifications[0]))
    fake.script("/list-project-opportunities", ok_json([12871]))
    fake.script("/download-collection", httpx.Response(200, text="10110\n"))
    fake.script("/receive-invites", ok_json([]))
    fake.script("/ack-invites", httpx.Response(200))
    fake.script("/download-invite-collection", httpx.Response(200, text=INVITE_CSV))

    call(registry)

    (request,) = fake.requests
    assert request.path == path
    assert request.json == body


# --- receive-notifications ----------------------------------------------------------------------


def test_notifications_keep_the_raw_json_and_parse_each_opportunity(
    registry: RegistryClient, fake: FakeRex, notifications: list[dict[str, Any]]
) -> None:
    fake.script(
        "/receive-notifications",
        ok_json(notifications, notification_count="4", notification_total="17"),
    )

    batch = registry.receive_notifications()

    assert [o.id for o in batch.opportunities] == [12871, 13174, 12872, 13231]
    assert list(batch.raw) == notifications
    assert [item.raw for item in batch.received] == notifications
    assert all(o.network == "rex" for o in batch.opportunities)
    assert batch.rejected == ()
    assert batch.ids == (12871, 13174, 12872, 13231)
    assert (batch.notification_count, batch.notification_total) == (4, 17)
    assert len(batch) == 4


def test_notification_headers_are_none_when_absent_or_unreadable(
    registry: RegistryClient, fake: FakeRex
) -> None:
    fake.script("/receive-notifications", ok_json([], notification_count="many"))
    batch = registry.receive_notifications()
    assert (batch.notification_count, batch.notification_total) == (None, None)
    assert len(batch) == 0


def test_one_broken_opportunity_is_reported_and_does_not_fail_the_batch(
    registry: RegistryClient, fake: FakeRex, notifications: list[dict[str, Any]]
) -> None:
    items: list[Any] = copy.deepcopy(notifications)
    del items[1]["locale"]  # 13174 loses a required field
    items.append("not an opportunity")
    fake.script("/receive-notifications", ok_json(items))

    batch = registry.receive_notifications()

    assert [o.id for o in batch.opportunities] == [12871, 12872, 13231]
    broken, garbage = batch.rejected
    assert broken.id == 13174
    assert broken.raw == items[1]
    assert "13174" in broken.error
    assert "locale" in broken.error
    assert garbage.id is None
    assert garbage.raw == "not an opportunity"
    # The worker decides whether to ack the broken one; its id is there to ack with.
    assert batch.ids == (12871, 12872, 13231, 13174)
    assert list(batch.raw) == items


def test_an_unexpected_parser_failure_is_reported_too(
    registry: RegistryClient,
    fake: FakeRex,
    notifications: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A parser bug on one odd opportunity must not stall the queue behind it.
    def parse(document: bytes, network: str) -> Opportunity:
        if json_codec.loads(document)["id"] == 12872:
            raise KeyError("surprise")
        return parse_document(document, network)

    monkeypatch.setattr(registry_module, "parse_document", parse)
    fake.script("/receive-notifications", ok_json(notifications))

    batch = registry.receive_notifications()

    assert [o.id for o in batch.opportunities] == [12871, 13174, 13231]
    (rejected,) = batch.rejected
    assert (rejected.id, rejected.error) == (12872, "KeyError: 'surprise'")


def test_notifications_that_are_not_an_array_are_a_protocol_error(
    registry: RegistryClient, fake: FakeRex
) -> None:
    fake.script("/receive-notifications", ok_json({"opportunities": []}))
    with pytest.raises(RegistryProtocolError, match="expected a JSON array"):
        registry.receive_notifications()


def test_each_item_is_kept_exactly_as_the_registry_wrote_it(
    registry: RegistryClient, fake: FakeRex, notifications: list[dict[str, Any]]
) -> None:
    # Spacing, key order and all: the store keeps this text as its audit copy.
    items = [json.dumps(item, indent=1) for item in notifications[:2]]
    body = ("[ " + " ,\n".join(items) + " ]").encode()
    fake.script("/receive-notifications", httpx.Response(200, content=body))

    batch = registry.receive_notifications()

    assert batch.documents == tuple(item.encode() for item in items)
    assert [r.document for r in batch.received] == list(batch.documents)
    assert [o.id for o in batch.opportunities] == [12871, 13174]


def test_an_item_json_cannot_carry_is_read_as_the_standard_library_reads_it(
    registry: RegistryClient, fake: FakeRex, notifications: list[dict[str, Any]]
) -> None:
    # NaN is not JSON; Python's reader takes it, and so the batch is read item by item.
    good = json.dumps(notifications[0])
    odd = json.dumps({**notifications[2], "cost_per_interview": float("nan")})
    body = f"[{good}, {odd}]".encode()
    fake.script("/receive-notifications", httpx.Response(200, content=body))

    batch = registry.receive_notifications()

    assert [o.id for o in batch.opportunities] == [12871]
    (rejected,) = batch.rejected
    assert rejected.id == 12872
    assert len(batch) == 2


def test_a_notifications_body_that_is_not_json_is_a_protocol_error(
    registry: RegistryClient, fake: FakeRex
) -> None:
    fake.script("/receive-notifications", httpx.Response(200, content=b"[{"))
    with pytest.raises(RegistryProtocolError, match="not JSON"):
        registry.receive_notifications()


@pytest.mark.parametrize(
    ("call", "complaint"),
    [
        (lambda r: r.receive_notifications(0), "limit must be an integer 1..50, not 0"),
        (lambda r: r.receive_notifications(51), "limit must be an integer 1..50, not 51"),
        (lambda r: r.receive_notifications(True), "limit must be an integer 1..50"),
        (lambda r: r.receive_notifications(visibility_timeout=601), "visibility_timeout"),
        (lambda r: r.receive_notifications(visibility_timeout=-1), "visibility_timeout"),
        (lambda r: r.receive_invites(51), "limit must be an integer 1..50"),
        (lambda r: r.ack_notifications([12871, "13174"]), "opportunity id"),
        (lambda r: r.ack_invites([0]), "invite id"),
        (lambda r: r.get_opportunity(-5), "opportunity id"),
        (lambda r: r.get_group_opportunity(1, "USA", "en"), "country must be a two-letter"),
        (lambda r: r.get_group_opportunity(1, "US", "e1"), "language must be a two-letter"),
        (lambda r: r.list_project_opportunities(0), "project id"),
        (lambda r: r.download_collection(""), "collection id must be a non-empty string"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    registry: RegistryClient,
    fake: FakeRex,
    call: Callable[[RegistryClient], object],
    complaint: str,
) -> None:
    with pytest.raises(ValueError, match=complaint):
        call(registry)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("count", "current", "complaint"),
    [
        (2, 3, "shard current 3 is greater than the shard count 2"),
        (6, 1, r"shard count must be an integer 1\.\.5"),
        (1, 0, r"shard current must be an integer 1\.\.5"),
    ],
)
def test_a_shard_must_name_a_consumer_within_its_count(
    count: int, current: int, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        Shard(count=count, current=current)


def test_acking_nothing_sends_nothing(registry: RegistryClient, fake: FakeRex) -> None:
    registry.ack_notifications([])
    registry.ack_invites(())
    assert fake.requests == []


# --- get-opportunity, list-project-opportunities -------------------------------------------------


def test_get_opportunity_returns_the_raw_json_and_the_parsed_opportunity(
    registry: RegistryClient, fake: FakeRex, rex_fixtures: Path
) -> None:
    raw = json.loads((rex_fixtures / "get_opportunity.json").read_text())
    fake.script("/get-opportunity", ok_json(raw))

    fetched = registry.get_opportunity(raw["id"])

    assert fetched.raw == raw
    assert fetched.opportunity.id == raw["id"]
    assert fetched.opportunity.project_id == raw["project_id"]


def test_get_opportunity_raises_invalid_opportunity_for_an_unparseable_one(
    registry: RegistryClient, fake: FakeRex, notifications: list[dict[str, Any]]
) -> None:
    broken = {k: v for k, v in notifications[0].items() if k != "links"}
    fake.script("/get-opportunity", ok_json(broken))
    with pytest.raises(InvalidOpportunity, match="links"):
        registry.get_opportunity(12871)


def test_list_project_opportunities_returns_the_ids(
    registry: RegistryClient, fake: FakeRex
) -> None:
    ids = [17039, 17344, 17038, 17040, 17041, 17042]  # the SDK's test response (§2.4)
    fake.script("/list-project-opportunities", ok_json(ids))
    assert registry.list_project_opportunities(1589419) == ids


# --- download-collection ------------------------------------------------------------------------


def test_a_collection_is_its_lines(
    registry: RegistryClient, fake: FakeRex, collection_text: str
) -> None:
    fake.script(
        "/download-collection",
        httpx.Response(200, text=collection_text, headers={"status": "AVAILABLE"}),
    )
    values = registry.download_collection("2169971")
    assert len(values) == 131
    assert values[:3] == ("10110", "10120", "10150")
    assert values[-1] == "15811"
    assert values == tuple(collection_text.split("\n"))


def test_a_trailing_newline_adds_no_empty_value(
    registry: RegistryClient, fake: FakeRex, collection_text: str
) -> None:
    # The SDK's split('\n') gave a trailing "" here, a postal code nobody has (§8).
    fake.script("/download-collection", httpx.Response(200, text=collection_text + "\n"))
    values = registry.download_collection("2169971")
    assert len(values) == 131
    assert "" not in values


def test_collection_lines_are_stripped_and_blank_ones_dropped(
    registry: RegistryClient, fake: FakeRex
) -> None:
    fake.script("/download-collection", httpx.Response(200, text="10110\r\n 10120 \r\n\r\n10150"))
    assert registry.download_collection("1") == ("10110", "10120", "10150")


def test_an_empty_collection_is_empty(registry: RegistryClient, fake: FakeRex) -> None:
    fake.script("/download-collection", httpx.Response(200, headers={"status": "EMPTY_PAYLOAD"}))
    assert registry.download_collection("1") == ()


def test_a_collection_is_downloaded_once_per_id(
    registry: RegistryClient, fake: FakeRex, collection_text: str
) -> None:
    fake.script("/download-collection", httpx.Response(200, text=collection_text))

    first = registry.download_collection("2169971")
    again = registry.download_collection(2169971)  # the same id, as a cell's number

    assert again == first
    assert len(fake.sent("/download-collection")) == 1
    registry.download_collection("2169972")
    assert len(fake.sent("/download-collection")) == 2


@pytest.mark.parametrize(
    "processing",
    [
        httpx.Response(202, headers={"status": "PROCESSING"}),
        httpx.Response(200, headers={"status": "PROCESSING"}),
        httpx.Response(202),
        httpx.Response(200, json={"status": "PROCESSING"}),
    ],
    ids=["202-header", "200-header", "202", "json-body"],
)
def test_a_processing_collection_is_asked_for_again_after_5_to_10_seconds(
    registry: RegistryClient,
    fake: FakeRex,
    sleeper: Sleeper,
    collection_text: str,
    processing: httpx.Response,
) -> None:
    ready = httpx.Response(200, text=collection_text, headers={"status": "AVAILABLE"})
    fake.script("/download-collection", processing, processing, ready)

    values = registry.download_collection("2169971")

    assert len(values) == 131
    assert len(fake.sent("/download-collection")) == 3
    assert sleeper.slept == [7.5, 7.5]  # 5 + random() * 5, with random() == 0.5
    # Each ask is signed afresh; all of them pass the fake's verification.
    assert all(verify_request(r.headers, r.body, SECRETS, NOW) for r in fake.requests)


def test_a_collection_that_stays_processing_fails_clearly_after_the_last_try(
    registry: RegistryClient, fake: FakeRex, sleeper: Sleeper
) -> None:
    fake.script("/download-collection", httpx.Response(202, headers={"status": "PROCESSING"}))

    with pytest.raises(CollectionNotReady, match="2169971 was still PROCESSING after 4 tries"):
        registry.download_collection("2169971")

    assert len(fake.sent("/download-collection")) == 4
    assert len(sleeper.slept) == 3
    assert all(5 <= s <= 10 for s in sleeper.slept)
    # Nothing was cached: the next call asks again.
    fake.replies["/download-collection"] = deque([httpx.Response(200, text="10110")])
    assert registry.download_collection("2169971") == ("10110",)


def test_a_missing_collection_is_not_found_with_the_servers_error_text(
    registry: RegistryClient, fake: FakeRex, sleeper: Sleeper
) -> None:
    fake.script(
        "/download-collection",
        httpx.Response(404, json={"error": "collection with id 2169971 was not found"}),
    )
    with pytest.raises(RegistryNotFound) as raised:
        registry.download_collection("2169971")
    assert raised.value.status == 404
    assert raised.value.message == "collection with id 2169971 was not found"
    assert raised.value.operation == "/download-collection"
    assert len(fake.requests) == 1
    assert sleeper.slept == []


def test_a_json_object_is_never_taken_for_collection_values(
    registry: RegistryClient, fake: FakeRex
) -> None:
    fake.script("/download-collection", ok_json({"message": "maintenance"}))
    with pytest.raises(RegistryProtocolError, match="maintenance"):
        registry.download_collection("1")


# --- invites ------------------------------------------------------------------------------------


def test_invites_are_read_from_the_documented_nested_shape(
    registry: RegistryClient, fake: FakeRex
) -> None:
    flat = {"id": 18, "collection_id": 618400, "respondent_id": "2792483700"}  # the SDK's shape
    broken = {"invite": {"id": 19, "collection_id": "618400"}, "created": "2023-01-19T02:23:34Z"}
    fake.script("/receive-invites", ok_json([INVITE_MESSAGE, flat, broken]))

    batch = registry.receive_invites()

    first, second = batch.invites
    assert first == Invite(
        id=17,
        collection_id="618400",
        respondent_id="2792483699",
        expiration=datetime(2023, 5, 10, 0, 55, 32, 344000, tzinfo=UTC),
        created=datetime(2023, 1, 19, 2, 23, 34, 225618, tzinfo=UTC),
        modified=datetime(2023, 1, 19, 2, 23, 34, 225618, tzinfo=UTC),
    )
    assert (second.id, second.collection_id, second.expiration) == (18, "618400", None)
    (rejected,) = batch.rejected
    assert rejected.id == 19
    assert "respondent_id" in rejected.error
    assert batch.ids == (17, 18, 19)


def test_an_invite_collection_is_its_csv_rows_and_is_not_cached(
    registry: RegistryClient, fake: FakeRex
) -> None:
    fake.script("/download-invite-collection", httpx.Response(200, text=INVITE_CSV))

    rows = registry.download_invite_collection("618400")
    registry.download_invite_collection("618400")

    assert [(r.id, r.respondent_id) for r in rows] == [(4, "2792483702"), (5, "2792483703")]
    assert rows[0].expiration == datetime(2023, 5, 10, 0, 55, 32, 344000, tzinfo=UTC)
    assert rows[1].expiration is None
    # Invite collections change as invites are created and updated (§2.6).
    assert len(fake.sent("/download-invite-collection")) == 2


def test_an_invite_collection_processing_is_asked_for_again(
    registry: RegistryClient, fake: FakeRex, sleeper: Sleeper
) -> None:
    fake.script(
        "/download-invite-collection",
        httpx.Response(202, headers={"status": "PROCESSING"}),
        httpx.Response(200, text=INVITE_CSV),
    )
    assert len(registry.download_invite_collection("618400")) == 2
    assert sleeper.slept == [7.5]


def test_a_missing_invite_collection_is_not_found(registry: RegistryClient, fake: FakeRex) -> None:
    message = "invite collection with id 618400 was not found"
    fake.script("/download-invite-collection", httpx.Response(404, json={"error": message}))
    with pytest.raises(RegistryNotFound, match=message):
        registry.download_invite_collection("618400")


# --- errors and retries -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "error"),
    [
        (401, "signature expired", RegistryUnauthorized),
        (403, "account has no access to this project", RegistryUnauthorized),
        (404, "opportunity 55304 not found", RegistryNotFound),
        (400, "limit must be <= 50", RegistryError),
        (422, "unprocessable", RegistryError),
    ],
)
def test_a_refusal_surfaces_the_servers_message_and_is_not_retried(
    registry: RegistryClient,
    fake: FakeRex,
    sleeper: Sleeper,
    status: int,
    message: str,
    error: type[RegistryError],
) -> None:
    fake.script("/get-opportunity", httpx.Response(status, json={"message": message}))

    with pytest.raises(error) as raised:
        registry.get_opportunity(55304)

    assert type(raised.value) is error
    assert (raised.value.status, raised.value.message) == (status, message)
    assert str(raised.value) == f"REX /get-opportunity: HTTP {status}: {message}"
    assert len(fake.requests) == 1
    assert sleeper.slept == []


def test_a_non_json_error_body_is_kept_as_the_message(
    registry: RegistryClient, fake: FakeRex
) -> None:
    fake.script("/get-opportunity", httpx.Response(400, text="<html>Bad Request</html>"))
    with pytest.raises(RegistryError, match="<html>Bad Request</html>"):
        registry.get_opportunity(1)


def test_429_waits_as_long_as_retry_after_says(
    registry: RegistryClient, fake: FakeRex, sleeper: Sleeper
) -> None:
    fake.script(
        "/ack-notifications",
        httpx.Response(429, json={"message": "Too many requests"}, headers={"retry-after": "7"}),
        httpx.Response(204),
    )
    registry.ack_notifications([12871])
    assert sleeper.slept == [7.0]
    assert len(fake.requests) == 2


def test_429_without_retry_after_backs_off(
    registry: RegistryClient, fake: FakeRex, sleeper: Sleeper
) -> None:
    fake.script("/ack-notifications", httpx.Response(429), httpx.Response(204))
    registry.ack_notifications([12871])
    assert sleeper.slept == [0.75]  # first backoff: 1 s jittered into [0.5, 1]


def test_a_retry_after_beyond_the_limit_fails_at_once_for_the_caller_to_schedule(
    registry: RegistryClient, fake: FakeRex, sleeper: Sleeper
) -> None:
    fake.script(
        "/ack-notifications",
        httpx.Response(429, json={"message": "slow down"}, headers={"retry-after": "3600"}),
    )
    with pytest.raises(RegistryUnavailable) as raised:
        registry.ack_notifications([12871])
    assert raised.value.retry_after == 3600
    assert raised.value.message == "slow down"
    assert sleeper.slept == []


def test_a_503_then_success_is_retried_with_backoff(
    registry: RegistryClient, fake: FakeRex, sleeper: Sleeper, notifications: list[dict[str, Any]]
) -> None:
    fake.script(
        "/receive-notifications",
        httpx.Response(503, json={"message": "Service unavailable"}),
        httpx.Response(503, json={"message": "Service unavailable"}),
        ok_json(notifications),
    )
    batch = registry.receive_notifications()
    assert len(batch.opportunities) == 4
    assert sleeper.slept == [0.75, 1.5]  # 1 s then 2 s, each jittered into its upper half


def test_a_connection_error_then_success_is_retried(
    registry: RegistryClient, fake: FakeRex, sleeper: Sleeper
) -> None:
    fake.script(
        "/list-project-opportunities",
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        ok_json([17039]),
    )
    assert registry.list_project_opportunities(1589419) == [17039]
    assert len(sleeper.slept) == 2


def test_exhausted_retries_raise_unavailable_with_the_last_message(
    registry: RegistryClient, fake: FakeRex, sleeper: Sleeper
) -> None:
    fake.script(
        "/download-collection",
        httpx.ConnectError("connection refused"),
        httpx.Response(502, text="Bad Gateway"),
        httpx.Response(500, json={"message": "first"}),
        httpx.Response(500, json={"message": "disk on fire"}, headers={"status": "NOT_AVAILABLE"}),
    )
    with pytest.raises(RegistryUnavailable) as raised:
        registry.download_collection("2169971")
    assert (raised.value.status, raised.value.message) == (500, "disk on fire")
    assert raised.value.attempts == 4
    assert str(raised.value) == (
        "REX /download-collection: HTTP 500: disk on fire (after 4 attempts)"
    )
    assert sleeper.slept == [0.75, 1.5, 3.0]


def test_exhausted_connection_errors_say_so(api: RexApi, fake: FakeRex, sleeper: Sleeper) -> None:
    registry = RegistryClient(
        RexApi(api.http, KEYS, clock=api.clock, sleep=sleeper, retry=RetryPolicy(max_attempts=2))
    )
    fake.script("/ack-invites", httpx.ConnectError("connection refused"))
    with pytest.raises(RegistryUnavailable) as raised:
        registry.ack_invites([17])
    assert raised.value.status is None
    assert raised.value.message == "ConnectError: connection refused"
    assert isinstance(raised.value.__cause__, httpx.ConnectError)
    assert len(fake.requests) == 2


def test_each_retry_is_signed_afresh(registry: RegistryClient, fake: FakeRex, clock: Clock) -> None:
    clock.step = timedelta(seconds=2)
    fake.script("/ack-notifications", httpx.Response(503), httpx.Response(204))

    registry.ack_notifications([12871])

    first, second = fake.requests
    assert first.body == second.body
    assert first.headers[EXPIRATION_HEADER] != second.headers[EXPIRATION_HEADER]
    assert first.headers["dynata-signature"] != second.headers["dynata-signature"]


def test_backoff_is_capped_and_jittered_within_its_upper_half() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0)
    assert [policy.backoff(n, lambda: 0.0) for n in (1, 2, 3, 4, 50)] == [0.5, 1, 2, 2.5, 2.5]
    assert [policy.backoff(n, lambda: 0.999999) for n in (1, 4)] == pytest.approx([1, 5])


# --- the Gateway's attribute catalogue ------------------------------------------------------------


@pytest.fixture
def gateway(api: RexApi) -> GatewayClient:
    return GatewayClient(api)


def test_list_attributes_posts_country_and_paging(gateway: GatewayClient, fake: FakeRex) -> None:
    fake.script(
        "/list-attributes",
        ok_json(
            {"data": [{"active": True, "parameter_id": 402}, {"active": False, "attribute_id": 1}]}
        ),
    )

    listed = gateway.list_attributes("us", page_number=3, page_size=100)

    assert listed == (ListedAttribute(402, True), ListedAttribute(1, False))
    (request,) = fake.requests
    assert request.json == {"country": "US", "page_number": 3, "page_size": 100}


def test_get_attribute_info_sends_attribute_id_not_id(
    gateway: GatewayClient, fake: FakeRex
) -> None:
    info = {"id": 402, "name": "This Parameter", "display_mode": "single_select", "answers": []}
    fake.script("/get-attribute-info", ok_json(info))

    assert gateway.get_attribute_info(402) == info
    (request,) = fake.requests
    assert request.json == {"attribute_id": 402}  # §8: SDK PR #17


def test_list_attributes_without_data_is_a_protocol_error(
    gateway: GatewayClient, fake: FakeRex
) -> None:
    fake.script("/list-attributes", ok_json([]))
    with pytest.raises(RegistryProtocolError, match="data"):
        gateway.list_attributes("US", 1, 10)


# --- construction -------------------------------------------------------------------------------


def test_connect_builds_a_client_for_the_base_url_with_the_timeout() -> None:
    # The sandbox may be mounted under a path; the operation paths go below it.
    with RegistryClient.connect(
        "http://127.0.0.1:8000/rex/registry/", KEYS, timeout=12.5
    ) as registry:
        http = registry.api.http
        url = http.build_request("POST", "/receive-notifications").url
        assert str(url) == "http://127.0.0.1:8000/rex/registry/receive-notifications"
        assert http.timeout == httpx.Timeout(12.5)
    assert http.is_closed
    with GatewayClient.connect("https://respondent.qa-rex.dynata.com", KEYS) as gateway:
        assert gateway.api.http.timeout == httpx.Timeout(60.0)
