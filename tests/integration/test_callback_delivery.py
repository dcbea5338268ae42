"""Publisher callbacks from the outbox over real HTTP, on SQLite and PostgreSQL: at least once,
the same signed URL every attempt, backoff, dead letters, nothing lost across a restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from surveyrouter.bootstrap import Runtime
from surveyrouter.domain.apps import App
from surveyrouter.domain.callbacks import CallbackFacts, build_callback_url, verify_callback
from surveyrouter.domain.money import Reward, RewardKind
from surveyrouter.services.apps import create_app
from surveyrouter.services.callback_delivery import CallbackDelivery
from surveyrouter.store.db import transaction
from surveyrouter.store.outbox import (
    CallbackStatus,
    claim_due,
    enqueue_callback,
    get_callback,
    record_delivered,
    record_failure,
)
from surveyrouter.workers.callbacks import callback_loop
from surveyrouter.workers.loops import BackgroundLoops
from tests.clock import Clock
from tests.integration.receiver import Receiver, receiving

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
SECRET = "JLOIAUNMHFli7ZJOQVEzm98rzqnm9"


@pytest.fixture
def publisher(runtime: Runtime) -> App:
    return create_app(runtime.sessions, lambda: T0, {"name": "Quiz", "secret": SECRET})


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    with receiving() as running_receiver:
        yield running_receiver


def signed_url(base: str, publisher: App, tx: str) -> str:
    # Spaces, non-ASCII and an upper-case host in the template: the hash must still verify
    # against the URL the receiver actually gets.
    template = base.replace("127.0.0.1", "LOCALHOST") + (
        "/Callbacks/Über Uns?uid=[%USER:UID%]&val=[%VAL%]&raw=[%RAW%]&tx=[%TX%]&type=[%TYPE%]"
    )
    facts = CallbackFacts(
        user_id="user 1/ü",
        transaction_id=tx,
        reward=Reward(RewardKind.COMPLETE, Decimal("1.72"), Decimal(860)),
        app_id=publisher.id or 0,
        app_token=publisher.api_token,
    )
    return build_callback_url(template, facts, SECRET, normalize=lambda u: str(httpx.URL(u)))


def enqueue(runtime: Runtime, publisher: App, url: str, tx: str, at: datetime = T0) -> bool:
    assert publisher.id is not None
    with transaction(runtime.sessions) as session:
        return enqueue_callback(session, publisher.id, tx, "COMPLETE", url, at)


def status(runtime: Runtime, tx: str) -> CallbackStatus:
    with runtime.sessions() as session:
        item = get_callback(session, tx)
    assert item is not None
    return item.status


def test_a_callback_that_fails_twice_is_delivered_on_the_third_attempt_with_the_same_url(
    runtime: Runtime, publisher: App, receiver: tuple[Receiver, str]
) -> None:
    target, base = receiver
    target.failures = 2
    url = signed_url(base, publisher, "tx1")
    assert enqueue(runtime, publisher, url, "tx1")
    clock = Clock(T0)
    with httpx.Client(timeout=5) as http:
        delivery = CallbackDelivery(runtime.sessions, http, clock)
        assert delivery.deliver_due().failed == 1
        assert delivery.deliver_due().attempted == 0  # not due again yet
        clock.now += timedelta(seconds=30)
        assert delivery.deliver_due().failed == 1
        clock.now += timedelta(seconds=59)
        assert delivery.deliver_due().attempted == 0  # the second wait is a minute
        clock.now += timedelta(seconds=1)
        assert delivery.deliver_due().delivered == 1
        clock.now += timedelta(hours=1)
        assert delivery.deliver_due().attempted == 0  # delivered means done
    assert len(target.received) == 3
    assert len(set(target.received)) == 1  # same TX, same bytes
    assert all(verify_callback(received, SECRET) for received in target.received)
    assert "tx=tx1" in target.received[0]
    with runtime.sessions() as session:
        item = get_callback(session, "tx1")
    assert item is not None
    assert item.status is CallbackStatus.DELIVERED
    assert item.attempts == 3
    assert item.last_status_code == 200


def test_the_same_transaction_is_enqueued_once(runtime: Runtime, publisher: App) -> None:
    assert enqueue(runtime, publisher, "https://pub.example/cb?tx=a&hash=1", "a")
    assert not enqueue(runtime, publisher, "https://pub.example/cb?tx=a&hash=2", "a")
    with runtime.sessions() as session:
        item = get_callback(session, "a")
    assert item is not None
    assert item.url.endswith("hash=1")


def test_pending_callbacks_survive_a_restart(
    runtime: Runtime, publisher: App, receiver: tuple[Receiver, str]
) -> None:
    target, base = receiver
    target.failures = 1
    enqueue(runtime, publisher, signed_url(base, publisher, "tx2"), "tx2")
    clock = Clock(T0)
    with httpx.Client(timeout=5) as http:
        CallbackDelivery(runtime.sessions, http, clock).deliver_due()
    assert status(runtime, "tx2") is CallbackStatus.PENDING
    clock.now += timedelta(minutes=1)
    # A new process: nothing in memory, everything in the outbox.
    with httpx.Client(timeout=5) as http:
        assert CallbackDelivery(runtime.sessions, http, clock).deliver_due().delivered == 1
    assert status(runtime, "tx2") is CallbackStatus.DELIVERED


def test_a_worker_that_died_mid_delivery_leaves_the_callback_to_be_sent_again(
    runtime: Runtime, publisher: App, receiver: tuple[Receiver, str]
) -> None:
    _target, base = receiver
    enqueue(runtime, publisher, signed_url(base, publisher, "tx3"), "tx3")
    clock = Clock(T0)
    with httpx.Client(timeout=5) as http:
        delivery = CallbackDelivery(runtime.sessions, http, clock, lease=timedelta(minutes=2))
        # Claimed, then the process died before sending: the claim is committed, no result.
        with transaction(runtime.sessions) as session:
            assert len(claim_due(session, clock(), 10, timedelta(minutes=2))) == 1
        assert delivery.deliver_due().attempted == 0  # leased to the dead worker
        clock.now += timedelta(minutes=2)
        assert delivery.deliver_due().delivered == 1


def test_an_unreachable_publisher_is_retried_for_24_hours_then_dead_lettered(
    runtime: Runtime, publisher: App
) -> None:
    enqueue(runtime, publisher, "http://127.0.0.1:9/cb?tx=tx4&hash=00", "tx4")
    clock = Clock(T0)
    attempts = 0
    with httpx.Client(timeout=2) as http:
        delivery = CallbackDelivery(runtime.sessions, http, clock)
        while status(runtime, "tx4") is CallbackStatus.PENDING:
            result = delivery.deliver_due()
            attempts += result.attempted
            clock.now += timedelta(minutes=5)
            assert clock.now < T0 + timedelta(hours=30), "never dead-lettered"
    with runtime.sessions() as session:
        item = get_callback(session, "tx4")
    assert item is not None
    assert item.status is CallbackStatus.DEAD
    assert item.finished_at is not None
    assert item.finished_at >= T0 + timedelta(hours=24)
    assert item.last_error is not None
    assert "ConnectError" in item.last_error
    # 30 s, 1, 2, 4, 8, 16, 32 min, then hourly: about 30 attempts in a day, not thousands.
    assert 20 <= attempts <= 40


def test_the_serve_loop_delivers_what_is_enqueued_while_it_runs(
    runtime: Runtime, publisher: App, receiver: tuple[Receiver, str]
) -> None:
    target, base = receiver
    loops = BackgroundLoops(callback_loop(runtime))
    loops.start()
    try:
        enqueue(runtime, publisher, signed_url(base, publisher, "tx5"), "tx5", datetime.now(UTC))
        deadline = time.monotonic() + 10
        while status(runtime, "tx5") is CallbackStatus.PENDING:
            assert time.monotonic() < deadline, "not delivered within 10 s"
            time.sleep(0.05)
    finally:
        loops.stop()
    assert status(runtime, "tx5") is CallbackStatus.DELIVERED
    assert len(target.received) == 1


def test_a_late_failure_never_turns_a_delivered_callback_into_a_dead_letter(
    runtime: Runtime, publisher: App
) -> None:
    enqueue(runtime, publisher, "https://pub.example/cb?tx=tx7&hash=00", "tx7")
    with transaction(runtime.sessions) as session:
        [item] = claim_due(session, T0, 10, timedelta(minutes=2))
        record_delivered(session, item.id, T0, 200)
    with transaction(runtime.sessions) as session:  # another worker's attempt, given up on
        record_failure(session, item.id, T0, retry_at=None, status_code=None, error="timeout")
    with runtime.sessions() as session:
        finished = get_callback(session, "tx7")
    assert finished is not None
    assert (finished.status, finished.attempts, finished.last_error) == (
        CallbackStatus.DELIVERED,
        1,
        None,
    )


def test_a_slow_batch_renews_its_claims_and_leaves_alone_what_another_worker_took(
    runtime: Runtime, publisher: App, receiver: tuple[Receiver, str]
) -> None:
    target, base = receiver
    for tx in ("tx5", "tx6", "tx7"):
        enqueue(runtime, publisher, signed_url(base, publisher, tx), tx)
    slow, other = Clock(T0), Clock(T0)
    lease = timedelta(minutes=2)
    answered: list[str] = []

    def publisher_takes_70_seconds(response: httpx.Response) -> None:
        answered.append(str(response.url))
        slow.now += timedelta(seconds=70)
        if len(answered) == 2:
            # tx6 was renewed before it was sent; tx7's claim from T0 has run out by now, and
            # another worker takes it.
            other.now = T0 + lease + timedelta(seconds=1)
            with httpx.Client(timeout=5) as http:
                taken = CallbackDelivery(runtime.sessions, http, other, lease=lease).deliver_due()
            assert taken.delivered == 1

    hooks = {"response": [publisher_takes_70_seconds]}
    with httpx.Client(timeout=5, event_hooks=hooks) as http:
        batch = CallbackDelivery(runtime.sessions, http, slow, batch=3, lease=lease).deliver_due()

    assert batch.delivered == 2  # tx5 and tx6; tx7 was the other worker's by then
    sent = sorted(url.partition("tx=")[2][:3] for url in target.received)
    assert sent == ["tx5", "tx6", "tx7"]  # each once
    assert {status(runtime, tx) for tx in ("tx5", "tx6", "tx7")} == {CallbackStatus.DELIVERED}
