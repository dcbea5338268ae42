"""The sandbox Opportunity Registry through a real socket, with our own REX client as the peer.

The server and the client share one fake clock, so signature expirations and visibility
timeouts move together and nothing waits on the wall clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from surveyrouter.networks.rex.registry import (
    RegistryClient,
    RegistryNotFound,
    RegistryUnauthorized,
    RetryPolicy,
    RexApi,
    Shard,
)
from surveyrouter.networks.rex.signing import KeyPair, sign_request
from surveyrouter.sandbox.app import create_registry_app
from surveyrouter.sandbox.market import Market, generate_market
from surveyrouter.sandbox.registry import RegistryState
from tests.clock import Clock
from tests.integration.test_server import serving

KEYS = KeyPair("partner-access-key", "partner-secret-key")
OTHER = KeyPair("other-access-key", "other-secret-key")
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def market() -> Market:
    return generate_market(300, seed=11)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def state(market: Market, clock: Clock) -> RegistryState:
    registry = RegistryState(clock)
    registry.seed(market)
    return registry


@pytest.fixture
def base_url(state: RegistryState, clock: Clock) -> Iterator[str]:
    secrets = {KEYS.access_key: KEYS.secret_key, OTHER.access_key: OTHER.secret_key}
    with serving(create_registry_app(state, secrets, clock)) as url:
        yield url


def connect(base_url: str, clock: Clock, keys: KeyPair = KEYS) -> RegistryClient:
    http = httpx.Client(base_url=base_url, timeout=10)
    return RegistryClient(RexApi(http, keys, clock=clock, retry=RetryPolicy(max_attempts=1)))


@pytest.fixture
def client(base_url: str, clock: Clock) -> Iterator[RegistryClient]:
    with connect(base_url, clock) as registry:
        yield registry


def post(
    base_url: str,
    path: str,
    body: bytes,
    *,
    keys: KeyPair = KEYS,
    expires_at: datetime | None = None,
    **overrides: str,
) -> httpx.Response:
    """A raw signed POST; ``overrides`` replace (or, set to "", drop) signing headers."""
    headers = sign_request(keys, body, expires_at or START + timedelta(seconds=60))
    headers["Content-Type"] = "application/json"
    for name, value in overrides.items():
        header = name.replace("_", "-")
        if value:
            headers[header] = value
        else:
            del headers[header]
    return httpx.post(f"{base_url}{path}", content=body, headers=headers)


def sync(client: RegistryClient, shard: Shard | None = None) -> list[dict[str, Any]]:
    """Receive batches of 50 and ack them until the queue is empty; every raw item received."""
    received: list[dict[str, Any]] = []
    while True:
        batch = client.receive_notifications(50, shard=shard)
        assert batch.rejected == ()
        if not len(batch):
            return received
        received += batch.raw
        client.ack_notifications(batch.ids)


# --- notifications ---------------------------------------------------------------------------


def test_a_full_sync_receives_every_opportunity_once_and_each_parses(
    client: RegistryClient, market: Market
) -> None:
    first = client.receive_notifications(50)
    assert (first.notification_count, first.notification_total) == (50, 300)
    client.ack_notifications(first.ids)

    rest = sync(client)

    received = [item["id"] for item in first.raw] + [item["id"] for item in rest]
    assert sorted(received) == sorted(o["id"] for o in market.opportunities)
    seeded = {o["id"]: o for o in market.opportunities}
    assert all(item == seeded[item["id"]] for item in [*first.raw, *rest])
    last = client.receive_notifications(50)
    assert (len(last), last.notification_count, last.notification_total) == (0, 0, 0)


def test_a_quota_change_is_notified_again_with_a_new_notified(
    client: RegistryClient, state: RegistryState, market: Market, clock: Clock
) -> None:
    sync(client)
    target = market.opportunities[10]["id"]
    clock.advance(42)

    def close_first_quota(document: dict[str, Any]) -> None:
        document["quotas"][0][0]["count"] = 0

    state.change(target, close_first_quota)

    batch = client.receive_notifications(50)
    assert batch.ids == (target,)
    assert batch.raw[0]["quotas"][0][0]["count"] == 0
    assert batch.raw[0]["notified"] == "2026-11-23T09:00:42.000Z"
    assert batch.received[0].opportunity.id == target
    client.ack_notifications(batch.ids)
    assert len(client.receive_notifications(50)) == 0


def test_a_change_between_delivery_and_ack_is_delivered_again(
    client: RegistryClient, state: RegistryState
) -> None:
    delivered = client.receive_notifications(1)
    target = delivered.ids[0]

    state.change(target, lambda document: document.update(status="PAUSED"))
    client.ack_notifications(delivered.ids)

    again = [item for item in sync(client) if item["id"] == target]
    assert [item["status"] for item in again] == ["PAUSED"]


def test_a_delivery_is_hidden_for_its_visibility_timeout(
    client: RegistryClient, clock: Clock
) -> None:
    first = client.receive_notifications(5, visibility_timeout=30)

    hidden = client.receive_notifications(5)
    assert not set(hidden.ids) & set(first.ids)
    assert hidden.notification_total == 300

    clock.advance(30)
    assert client.receive_notifications(5).ids == first.ids


def test_shards_split_the_queue_between_consumers(
    base_url: str, clock: Clock, market: Market
) -> None:
    parts = []
    for current in (1, 2, 3):
        with connect(base_url, clock) as consumer:
            parts.append({item["id"] for item in sync(consumer, Shard(3, current))})

    assert sum(map(len, parts)) == 300
    assert set().union(*parts) == {o["id"] for o in market.opportunities}
    assert all(i % 3 == current - 1 for current, part in enumerate(parts, 1) for i in part)


def test_each_access_key_has_its_own_queue(
    client: RegistryClient, base_url: str, clock: Clock
) -> None:
    sync(client)

    with connect(base_url, clock, OTHER) as other:
        assert other.receive_notifications(50).notification_total == 300


# --- lookups and collections -----------------------------------------------------------------


def test_get_opportunity_by_id_and_by_group_and_locale(
    client: RegistryClient, market: Market
) -> None:
    wanted = market.opportunities[7]
    locale = wanted["locale"]

    by_id = client.get_opportunity(wanted["id"])
    by_group = client.get_group_opportunity(
        wanted["group_id"], locale["country"], locale["language"]
    )

    assert by_id.raw == wanted
    assert by_group.raw == wanted
    assert by_id.opportunity.id == wanted["id"]


def test_an_unknown_opportunity_is_404_with_a_message(client: RegistryClient) -> None:
    with pytest.raises(RegistryNotFound, match="opportunity 1 was not found"):
        client.get_opportunity(1)


def test_list_project_opportunities_returns_the_project_ids(
    client: RegistryClient, market: Market
) -> None:
    project_id = market.opportunities[0]["project_id"]

    listed = client.list_project_opportunities(project_id)

    assert sorted(listed) == sorted(
        o["id"] for o in market.opportunities if o["project_id"] == project_id
    )


def test_collections_download_as_one_value_per_line(
    client: RegistryClient, market: Market, base_url: str
) -> None:
    collection_id, values = next(iter(market.collections.items()))

    assert client.download_collection(collection_id) == tuple(values)
    response = post(base_url, "/download-collection", json.dumps({"id": collection_id}).encode())
    assert response.headers["status"] == "AVAILABLE"
    assert response.headers["content-type"].startswith("text/csv")


def test_an_unknown_collection_is_404_with_the_error_shape(
    client: RegistryClient, base_url: str
) -> None:
    with pytest.raises(RegistryNotFound, match="collection with id 404404 was not found"):
        client.download_collection("404404")

    response = post(base_url, "/download-collection", b'{"id": "404404"}')
    assert response.status_code == 404
    assert response.json() == {"error": "collection with id 404404 was not found"}


# --- invites ---------------------------------------------------------------------------------


def test_invites_are_received_acked_and_listed_by_collection(
    client: RegistryClient, market: Market
) -> None:
    everyone = sum(len(members) for members in market.invite_collections.values())
    received = []
    while True:
        batch = client.receive_invites(50)
        if not batch.invites:
            break
        assert batch.rejected == ()
        received += batch.invites
        client.ack_invites(batch.ids)

    assert len(received) == everyone
    collection_id, members = sorted(market.invite_collections.items())[0]
    listed = client.download_invite_collection(collection_id)
    assert [invite.respondent_id for invite in listed] == members
    assert listed[0].created == START


def test_receive_invites_answers_at_the_sdks_underscore_path(base_url: str) -> None:
    response = post(base_url, "/receive_invites", b'{"limit": 2}')

    assert response.status_code == 200
    messages = response.json()
    assert len(messages) == 2
    assert set(messages[0]) == {"invite", "created"}


def test_an_unknown_invite_collection_is_404_with_the_error_shape(base_url: str) -> None:
    response = post(base_url, "/download-invite-collection", b'{"id": "nope"}')

    assert response.status_code == 404
    assert response.json() == {"error": "invite collection with id nope was not found"}


# --- refusals --------------------------------------------------------------------------------

BODY = b'{"limit": 10, "shards": {"count": 1, "current": 1}}'


def test_a_valid_raw_request_is_served(base_url: str) -> None:
    response = post(base_url, "/receive-notifications", BODY)

    assert response.status_code == 200
    assert response.headers["notification_count"] == "10"
    assert response.headers["notification_total"] == "300"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"dynata_signature": "0" * 64}, "invalid signature"),
        ({"dynata_signature": ""}, "missing dynata-signature"),
        ({"dynata_access_key": "stranger"}, "unknown access key"),
        ({"dynata_expiration": "tomorrow"}, "is not an RFC 3339 timestamp"),
        ({"dynata_signing_string": "0" * 64}, "dynata-signing-string does not match the body"),
    ],
)
def test_a_bad_signature_is_401_with_a_message_saying_why(
    base_url: str, overrides: dict[str, str], message: str
) -> None:
    response = post(base_url, "/receive-notifications", BODY, **overrides)

    assert response.status_code == 401
    assert set(response.json()) == {"message"}
    assert message in response.json()["message"]


def test_an_expired_signature_is_401(base_url: str, clock: Clock) -> None:
    response = post(base_url, "/receive-notifications", BODY, expires_at=START)

    assert response.status_code == 401
    assert response.json() == {"message": "signature expired at 2026-11-23T09:00:00.000Z"}


def test_a_body_other_than_the_signed_one_is_401(base_url: str) -> None:
    headers = sign_request(KEYS, BODY, START + timedelta(seconds=60))
    del headers["dynata-signing-string"]

    response = httpx.post(f"{base_url}/receive-notifications", content=b"{}", headers=headers)

    assert response.status_code == 401
    assert response.json() == {"message": "invalid signature"}


def test_the_client_reports_an_expired_signature_as_unauthorized(
    base_url: str, clock: Clock
) -> None:
    lagging = Clock(START)
    lagging.now = START - timedelta(minutes=5)  # signs with a TTL of a minute: already expired

    with connect(base_url, lagging) as late, pytest.raises(RegistryUnauthorized, match="expired"):
        late.receive_notifications(10)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/receive-notifications", b"{not json", "the request body is not JSON"),
        ("/receive-notifications", b"", "the request body is empty"),
        ("/receive-notifications", b"[1, 2]", "expected a JSON object, got an array"),
        ("/receive-notifications", b'{"limit": "10"}', '"limit" must be an integer 1..50'),
        ("/receive-notifications", b'{"limit": 51}', '"limit" must be an integer 1..50'),
        ("/receive-notifications", b'{"visibility_timeout": 601}', '"visibility_timeout"'),
        (
            "/receive-notifications",
            b'{"shards": {"count": 2, "current": 3}}',
            'shard "current" 3 is greater than "count" 2',
        ),
        ("/receive-notifications", b'{"shards": {"count": 2}}', '"current" is required'),
        ("/ack-notifications", b'["12871"]', "every opportunity id must be a positive integer"),
        ("/ack-notifications", b'{"ids": [1]}', "expected a JSON array of opportunity ids"),
        ("/get-opportunity", b"{}", '"id" is required'),
        ("/get-opportunity", b'{"id": 1, "group_id": 2}', "not both"),
        ("/get-opportunity", b'{"group_id": 2, "country": "USA", "language": "en"}', "country"),
        ("/list-project-opportunities", b'{"project_id": true}', '"project_id" must be'),
        ("/download-collection", b'{"collection_id": 5}', '"id" must be a non-empty string'),
        ("/ack-invites", b"17", "expected a JSON array of invite ids, got a number"),
    ],
)
def test_a_malformed_body_is_400_naming_the_problem(
    base_url: str, path: str, body: bytes, message: str
) -> None:
    response = post(base_url, path, body)

    assert response.status_code == 400
    assert set(response.json()) == {"message"}
    assert message in response.json()["message"]


def test_the_php_sdks_wrapped_ack_is_accepted(base_url: str, client: RegistryClient) -> None:
    delivered = client.receive_notifications(3)

    body = json.dumps({"opportunity_ids": list(delivered.ids)}).encode()
    response = post(base_url, "/ack-notifications", body)

    assert response.status_code == 204
    assert client.receive_notifications(50).notification_total == 297


def test_unknown_paths_and_methods_answer_with_a_message(base_url: str) -> None:
    missing = httpx.post(f"{base_url}/no-such-operation", content=b"{}")
    wrong_method = httpx.get(f"{base_url}/get-opportunity")

    assert missing.status_code == 404
    assert set(missing.json()) == {"message"}
    assert wrong_method.status_code == 405
    assert set(wrong_method.json()) == {"message"}


def test_an_empty_collection_is_served_as_an_empty_payload(
    client: RegistryClient, state: RegistryState, base_url: str
) -> None:
    state.seed(Market(opportunities=[], collections={"777": []}, attributes=[]))

    response = post(base_url, "/download-collection", b'{"id": "777"}')

    assert response.status_code == 200
    assert response.headers["status"] == "EMPTY_PAYLOAD"
    assert response.text == ""
    assert client.download_collection(777) == ()


OPERATIONS = [
    "/receive-notifications",
    "/ack-notifications",
    "/get-opportunity",
    "/list-project-opportunities",
    "/download-collection",
    "/receive-invites",
    "/receive_invites",
    "/ack-invites",
    "/download-invite-collection",
]
ODD_BODIES = [
    b"null",
    b'"text"',
    b"1e999",
    b"-0",
    b"\xff\xfe\x00",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"id": {"nested": 1}, "limit": null, "shards": [], "project_id": 1.5}',
    b'{"id": 99999999999999999999999999, "group_id": -1}',
    b"[0, -1, 1.0]",
]


@pytest.mark.parametrize("path", OPERATIONS)
def test_no_body_makes_the_registry_fail_with_a_500(base_url: str, path: str) -> None:
    for body in ODD_BODIES:
        response = post(base_url, path, body)

        assert response.status_code < 500, (body[:40], response.text)
        if response.status_code >= 400:
            assert set(response.json()) <= {"message", "error"}
