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
from surveyrouter.store.outbox import CallbackStatus, claim_due, enqueue_callback, get_callback
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
