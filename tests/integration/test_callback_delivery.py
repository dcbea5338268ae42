"""Publisher callbacks from the outbox over real HTTP, on SQLite and PostgreSQL: at least once,
the same signed URL every attempt, backoff, dead letters, nothing lost across a restart."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import OperationalError

from surveyrouter.bootstrap import Runtime
from surveyrouter.domain.apps import App
from surveyrouter.domain.callbacks import CallbackFacts, build_callback_url, verify_callback
from surveyrouter.domain.money import Reward, RewardKind
from surveyrouter.services import callback_delivery
from surveyrouter.services.apps import create_app
from surveyrouter.services.callback_delivery import CallbackDelivery, DeliveryRound
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
from tests.integration.test_server import serving

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
    with CallbackDelivery(runtime.sessions, clock, timeout=5) as delivery:
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
    with CallbackDelivery(runtime.sessions, clock, timeout=5) as delivery:
        delivery.deliver_due()
    assert status(runtime, "tx2") is CallbackStatus.PENDING
    clock.now += timedelta(minutes=1)
    # A new process: nothing in memory, everything in the outbox.
    with CallbackDelivery(runtime.sessions, clock, timeout=5) as delivery:
        assert delivery.deliver_due().delivered == 1
    assert status(runtime, "tx2") is CallbackStatus.DELIVERED


def test_a_worker_that_died_mid_delivery_leaves_the_callback_to_be_sent_again(
    runtime: Runtime, publisher: App, receiver: tuple[Receiver, str]
) -> None:
    _target, base = receiver
    enqueue(runtime, publisher, signed_url(base, publisher, "tx3"), "tx3")
    clock = Clock(T0)
    with CallbackDelivery(
        runtime.sessions, clock, timeout=5, lease=timedelta(minutes=2)
    ) as delivery:
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
    with CallbackDelivery(runtime.sessions, clock, timeout=2) as delivery:
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

    async def publisher_takes_70_seconds(response: httpx.Response) -> None:
        answered.append(str(response.url))
        slow.now += timedelta(seconds=70)
        if len(answered) == 2:
            # tx6 was renewed before it was sent; tx7's claim from T0 has run out by now, and
            # another worker takes it.
            other.now = T0 + lease + timedelta(seconds=1)
            taken = await asyncio.to_thread(deliver_as_another_worker)
            assert taken.delivered == 1

    def deliver_as_another_worker() -> DeliveryRound:
        with CallbackDelivery(runtime.sessions, other, timeout=5, lease=lease) as delivery:
            return delivery.deliver_due()

    with CallbackDelivery(
        runtime.sessions,
        slow,
        timeout=5,
        batch=3,
        lease=lease,
        concurrency=1,  # one after the other, each answer taking 70 s
        response_hooks=[publisher_takes_70_seconds],
    ) as delivery:
        batch = delivery.deliver_due()

    assert batch.delivered == 2  # tx5 and tx6; tx7 was the other worker's by then
    sent = sorted(url.partition("tx=")[2][:3] for url in target.received)
    assert sent == ["tx5", "tx6", "tx7"]  # each once
    assert {status(runtime, tx) for tx in ("tx5", "tx6", "tx7")} == {CallbackStatus.DELIVERED}


@pytest.fixture
def silent_publisher() -> Iterator[str]:
    """A publisher endpoint that takes the connection and the request and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as listening:
        listening.listen(16)  # the kernel accepts; no one ever reads or writes
        yield f"http://127.0.0.1:{listening.getsockname()[1]}"


def test_an_attempt_that_outlasts_its_limit_fails_and_is_retried(
    runtime: Runtime, publisher: App, silent_publisher: str
) -> None:
    enqueue(runtime, publisher, f"{silent_publisher}/cb?tx=tx8&hash=00", "tx8")
    clock = Clock(T0)
    with CallbackDelivery(runtime.sessions, clock, timeout=30, attempt_limit=0.5) as delivery:
        assert delivery.deliver_due().failed == 1
    with runtime.sessions() as session:
        item = get_callback(session, "tx8")
    assert item is not None
    assert (item.status, item.attempts, item.last_error) == (
        CallbackStatus.PENDING,
        1,
        "no answer within 0.5 s",
    )
    assert item.next_attempt_at == T0 + timedelta(seconds=30)


def test_a_publisher_that_never_answers_does_not_hold_up_the_others_callbacks(
    runtime: Runtime,
    publisher: App,
    silent_publisher: str,
    receiver: tuple[Receiver, str],
) -> None:
    target, base = receiver
    for n in range(3):  # older, so first in the batch
        enqueue(runtime, publisher, f"{silent_publisher}/cb?tx=s{n}", f"s{n}", T0)
    enqueue(
        runtime, publisher, signed_url(base, publisher, "tx9"), "tx9", T0 + timedelta(seconds=1)
    )
    clock = Clock(T0 + timedelta(seconds=2))
    with CallbackDelivery(runtime.sessions, clock, timeout=30, attempt_limit=2) as delivery:
        started = time.monotonic()
        result = delivery.deliver_due()
        took = time.monotonic() - started
    assert (result.delivered, result.failed) == (1, 3)
    assert [url.partition("tx=")[2][:3] for url in target.received] == ["tx9"]
    assert took < 5, f"the round took {took:.1f} s: the silent attempts ran one after another"


def test_only_the_answers_status_is_read_never_its_body(runtime: Runtime, publisher: App) -> None:
    endless = FastAPI()

    @endless.get("/cb")
    def answer() -> StreamingResponse:
        def forever() -> Iterator[bytes]:
            while True:
                yield b"x" * 65_536

        return StreamingResponse(forever(), media_type="text/plain")

    with serving(endless) as url:
        enqueue(runtime, publisher, f"{url}/cb?tx=tx10", "tx10")
        with CallbackDelivery(runtime.sessions, Clock(T0), attempt_limit=10) as delivery:
            assert delivery.deliver_due().delivered == 1
    assert status(runtime, "tx10") is CallbackStatus.DELIVERED


def test_a_failure_after_another_worker_delivered_counts_for_nothing_and_is_no_dead_letter(
    runtime: Runtime,
    publisher: App,
    receiver: tuple[Receiver, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    target, base = receiver
    target.failures = 1
    enqueue(runtime, publisher, signed_url(base, publisher, "tx11"), "tx11")

    async def delivered_elsewhere_meanwhile(response: httpx.Response) -> None:
        with transaction(runtime.sessions) as session:
            item = get_callback(session, "tx11")
            assert item is not None
            record_delivered(session, item.id, T0, 200)

    late = Clock(T0 + timedelta(days=2))  # past the retry window: this failure would be dead
    with CallbackDelivery(
        runtime.sessions, late, response_hooks=[delivered_elsewhere_meanwhile]
    ) as delivery:
        assert delivery.deliver_due().attempted == 0
    assert status(runtime, "tx11") is CallbackStatus.DELIVERED
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


def test_a_stored_url_httpx_cannot_send_fails_its_own_attempt_and_stops_no_other(
    runtime: Runtime, publisher: App, receiver: tuple[Receiver, str]
) -> None:
    target, base = receiver
    # Written before such hosts were refused (a malformed IDNA label), and older: first.
    enqueue(runtime, publisher, "http://xn--a.com/cb?tx=tx12", "tx12", T0)
    enqueue(runtime, publisher, signed_url(base, publisher, "tx13"), "tx13", T0)
    with CallbackDelivery(runtime.sessions, Clock(T0)) as delivery:
        result = delivery.deliver_due()
    assert (result.delivered, result.failed) == (1, 1)
    assert len(target.received) == 1
    with runtime.sessions() as session:
        item = get_callback(session, "tx12")
    assert item is not None
    assert (item.status, item.attempts) == (CallbackStatus.PENDING, 1)
    assert item.last_error is not None
    assert "xn--a" in item.last_error or "codepoint" in item.last_error.lower()


def test_a_result_the_store_fails_to_record_loses_no_other_result(
    runtime: Runtime,
    publisher: App,
    receiver: tuple[Receiver, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target, base = receiver
    for tx in ("tx14", "tx15", "tx16"):
        enqueue(runtime, publisher, signed_url(base, publisher, tx), tx)
    with runtime.sessions() as session:
        failing = get_callback(session, "tx15")
    assert failing is not None
    real = callback_delivery.record_delivered

    def store_fails_for_tx15(session: Any, item_id: int, at: datetime, status: int) -> None:
        if item_id == failing.id:
            raise OperationalError("UPDATE callback_outbox", {}, Exception("database is locked"))
        real(session, item_id, at, status)

    monkeypatch.setattr(callback_delivery, "record_delivered", store_fails_for_tx15)
    clock = Clock(T0)
    with CallbackDelivery(runtime.sessions, clock) as delivery:
        assert delivery.deliver_due().delivered == 2
        monkeypatch.setattr(callback_delivery, "record_delivered", real)
        assert delivery.deliver_due().attempted == 0  # tx15 is still claimed
        clock.now += timedelta(minutes=2)  # its claim runs out: sent again, at least once
        assert delivery.deliver_due().delivered == 1
    assert {status(runtime, tx) for tx in ("tx14", "tx15", "tx16")} == {CallbackStatus.DELIVERED}
    assert sorted(url.partition("tx=")[2][:4] for url in target.received) == [
        "tx14",
        "tx15",
        "tx15",
        "tx16",
    ]


def test_a_round_runs_from_a_thread_whose_own_event_loop_is_running(
    runtime: Runtime, publisher: App, receiver: tuple[Receiver, str]
) -> None:
    # As under Playwright's sync API, or any caller already inside asyncio.
    _target, base = receiver
    enqueue(runtime, publisher, signed_url(base, publisher, "tx17"), "tx17")

    async def inside_a_running_loop() -> DeliveryRound:
        with CallbackDelivery(runtime.sessions, Clock(T0)) as delivery:
            return delivery.deliver_due()

    # A thread of its own: the test's may already run a loop (Playwright's, after the
    # browser tests), and asyncio.run refuses to start a second one there.
    with ThreadPoolExecutor(1) as thread:
        result = thread.submit(asyncio.run, inside_a_running_loop()).result()
    assert result.delivered == 1
    assert status(runtime, "tx17") is CallbackStatus.DELIVERED
