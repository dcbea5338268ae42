"""The dashboard's callback outbox over real HTTP, on SQLite and PostgreSQL: deliveries listed
newest first with filters and pages; a dead callback retried by hand is due now and then
delivered; a pending one dead-lettered is never claimed; a delivered one cannot be touched."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from surveyrouter.bootstrap import Runtime
from surveyrouter.clock import utc_now
from surveyrouter.domain.apps import App
from surveyrouter.services.callback_delivery import CallbackDelivery
from surveyrouter.store.db import transaction
from surveyrouter.store.outbox import CallbackStatus, OutboxItem, claim_due, enqueue_callback
from surveyrouter.store.outbox import get_callback as stored_callback
from tests.integration.admin_session import dashboard
from tests.integration.receiver import Receiver, receiving
from tests.integration.test_outcomes import open_click, person, publisher, signed_return
from tests.integration.test_server import HTTP_TIMEOUT

_ROW = re.compile(r'<tr data-transaction="([^"]+)" data-status="([^"]+)">')
_ROW_ACTIONS = re.compile(r'action="/admin/callbacks/(\d+)/(retry|dead-letter)"')


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    with receiving() as running:
        yield running


@pytest.fixture
def admin(runtime: Runtime) -> Iterator[tuple[httpx.Client, str]]:
    with dashboard(runtime) as signed_in:
        yield signed_in


def receiving_app(runtime: Runtime, base: str, name: str = "Quiz") -> App:
    return publisher(runtime, name, callback_url=f"{base}/cb?tx=[%TX%]&type=[%TYPE%]&uid=[%UID%]")


def complete(runtime: Runtime, http: httpx.Client, app: App, uid: str = "user-1") -> str:
    """A user of ``app`` completes a survey through the exchange's signed return: the ledger
    entry and its callback are written. Returns the transaction id."""
    click = open_click(runtime, person(runtime, app, uid))
    returned = http.get(signed_return(runtime, click.id, (1, 0)))
    assert returned.status_code == 303, returned.text
    return click.id


def callback(runtime: Runtime, tx: str) -> OutboxItem:
    with runtime.sessions() as session:
        item = stored_callback(session, tx)
    assert item is not None
    return item


def deliver(runtime: Runtime, *, hours_later: float = 0) -> None:
    """One round of the delivery worker, ``hours_later`` than now."""
    with CallbackDelivery(
        runtime.sessions, lambda: utc_now() + timedelta(hours=hours_later), timeout=5
    ) as delivery:
        delivery.deliver_due()


def make_dead(runtime: Runtime, receiver: Receiver) -> None:
    """Every due callback fails once after its 24-hour window: a dead letter."""
    receiver.failures = 1_000
    deliver(runtime, hours_later=25)
    receiver.failures = 0


def rows(page: str) -> list[tuple[str, str]]:
    return _ROW.findall(page)


def list_page(http: httpx.Client, **params: str) -> str:
    response = http.get("/admin/callbacks", params=params)
    assert response.status_code == 200, response.text
    return response.text


def post(http: httpx.Client, runtime: Runtime, tx: str, action: str, **data: str) -> httpx.Response:
    return http.post(f"/admin/callbacks/{callback(runtime, tx).id}/{action}", data=data)


def test_the_list_shows_each_delivery_with_its_facts_and_a_shortened_url(
    runtime: Runtime, admin: tuple[httpx.Client, str], receiver: tuple[Receiver, str]
) -> None:
    http, _csrf = admin
    target, base = receiver
    app = receiving_app(runtime, base)
    tx = complete(runtime, http, app)
    target.failures = 1
    deliver(runtime)

    page = list_page(http)

    assert rows(page) == [(tx, "pending")]
    item = callback(runtime, tx)
    assert item.attempts == 1
    assert f"<code>{tx}</code>" in page
    assert "Quiz" in page
    assert "COMPLETE" in page
    assert "HTTP 503" in page  # the last error
    assert ">503<" in page  # the last response code
    assert f'title="{html.escape(item.url)}"' in page  # the whole URL on hover
    assert f">{html.escape(item.url[:47])}…<" in page  # shortened in the cell
    assert "Retry now" in page
    assert "Dead-letter" in page
    assert page.count('class="status-pending"') == 1


def test_a_dead_callback_retried_by_hand_is_due_now_keeps_its_attempts_and_is_delivered(
    runtime: Runtime, admin: tuple[httpx.Client, str], receiver: tuple[Receiver, str]
) -> None:
    http, csrf = admin
    target, base = receiver
    tx = complete(runtime, http, receiving_app(runtime, base))
    make_dead(runtime, target)
    dead = callback(runtime, tx)
    assert dead.status is CallbackStatus.DEAD
    assert dead.attempts == 1
    assert rows(list_page(http, status="dead")) == [(tx, "dead")]

    before = utc_now()
    response = post(http, runtime, tx, "retry", csrf_token=csrf, status="dead")

    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/admin/callbacks?status=dead&")
    retried = callback(runtime, tx)
    assert retried.status is CallbackStatus.PENDING
    assert retried.attempts == 1  # kept
    assert retried.finished_at is None
    assert before - timedelta(seconds=1) <= retried.next_attempt_at <= utc_now()
    shown = http.get(location)
    assert f"Callback {tx} is pending and due now" in shown.text
    assert rows(shown.text) == []  # no longer dead

    deliver(runtime)  # the worker, at the real time: the callback is due

    delivered = callback(runtime, tx)
    assert delivered.status is CallbackStatus.DELIVERED
    assert delivered.attempts == 2
    assert delivered.last_status_code == 200
    assert len(target.received) == 2
    assert len(set(target.received)) == 1  # the same signed URL both times


def test_a_pending_callback_retried_now_is_claimable_at_once(
    runtime: Runtime, admin: tuple[httpx.Client, str]
) -> None:
    http, csrf = admin
    tx = complete(runtime, http, publisher(runtime))
    with transaction(runtime.sessions) as session:  # a worker claims it, then dies
        assert len(claim_due(session, utc_now(), 10, timedelta(hours=1))) == 1
        assert claim_due(session, utc_now(), 10, timedelta(hours=1)) == []

    response = post(http, runtime, tx, "retry", csrf_token=csrf)

    assert response.status_code == 303
    assert "was pending already" in http.get(response.headers["location"]).text
    with transaction(runtime.sessions) as session:
        [claimed] = claim_due(session, utc_now(), 10, timedelta(hours=1))
    assert claimed.transaction_id == tx
    assert claimed.attempts == 0


def test_dead_lettering_a_pending_callback_stops_its_retries(
    runtime: Runtime, admin: tuple[httpx.Client, str]
) -> None:
    http, csrf = admin
    tx = complete(runtime, http, publisher(runtime))

    response = post(http, runtime, tx, "dead-letter", csrf_token=csrf)

    assert response.status_code == 303
    assert "is a dead letter now" in http.get(response.headers["location"]).text
    item = callback(runtime, tx)
    assert item.status is CallbackStatus.DEAD
    assert item.finished_at is not None
    assert item.attempts == 0
    with transaction(runtime.sessions) as session:
        assert claim_due(session, utc_now() + timedelta(days=2), 10, timedelta(minutes=2)) == []
    again = post(http, runtime, tx, "dead-letter", csrf_token=csrf)
    assert again.status_code == 303
    assert "was a dead letter already" in http.get(again.headers["location"]).text
    page = list_page(http)
    assert rows(page) == [(tx, "dead")]
    assert "Retry now" in page
    assert ">Dead-letter<" not in page  # only a pending one is offered


def test_a_delivered_callback_can_be_neither_retried_nor_dead_lettered(
    runtime: Runtime, admin: tuple[httpx.Client, str], receiver: tuple[Receiver, str]
) -> None:
    http, csrf = admin
    target, base = receiver
    tx = complete(runtime, http, receiving_app(runtime, base))
    deliver(runtime)
    assert callback(runtime, tx).status is CallbackStatus.DELIVERED
    page = list_page(http)
    assert rows(page) == [(tx, "delivered")]
    assert _ROW_ACTIONS.findall(page) == []

    for action in ("retry", "dead-letter"):
        refused = post(http, runtime, tx, action, csrf_token=csrf)
        assert refused.status_code == 400
        assert "cannot be retried or dead-lettered" in refused.text

    item = callback(runtime, tx)
    assert item.status is CallbackStatus.DELIVERED
    assert item.attempts == 1
    assert len(target.received) == 1


def test_an_unknown_callback_is_404(admin: tuple[httpx.Client, str]) -> None:
    http, csrf = admin
    for path in (
        "/admin/callbacks/999999/retry",
        "/admin/callbacks/x/dead-letter",
        f"/admin/callbacks/{2**64}/retry",  # beyond a bigint: a miss, not a database error
    ):
        response = http.post(path, data={"csrf_token": csrf})
        assert response.status_code == 404, path


def test_filters_by_app_and_status(
    runtime: Runtime, admin: tuple[httpx.Client, str], receiver: tuple[Receiver, str]
) -> None:
    http, _csrf = admin
    target, base = receiver
    quiz, other = receiving_app(runtime, base), receiving_app(runtime, base, "Other")
    assert quiz.id is not None
    assert other.id is not None
    delivered = complete(runtime, http, quiz)
    deliver(runtime)
    dead = complete(runtime, http, other)
    make_dead(runtime, target)
    pending = complete(runtime, http, quiz, "user-2")

    assert rows(list_page(http)) == [(pending, "pending"), (dead, "dead"), (delivered, "delivered")]
    assert rows(list_page(http, app=str(quiz.id))) == [
        (pending, "pending"),
        (delivered, "delivered"),
    ]
    assert rows(list_page(http, app=str(other.id))) == [(dead, "dead")]
    assert rows(list_page(http, status="dead")) == [(dead, "dead")]
    assert rows(list_page(http, status="pending")) == [(pending, "pending")]
    assert rows(list_page(http, app=str(quiz.id), status="delivered")) == [(delivered, "delivered")]
    assert rows(list_page(http, app=str(other.id), status="pending")) == []
    chosen = list_page(http, app=str(other.id), status="dead")
    assert f'<option value="{other.id}" selected>' in chosen
    assert '<option value="dead" selected>' in chosen
    bad = ("status", "lost"), ("app", "quiz"), ("app", str(2**64)), ("page", "0"), ("page", "x")
    for params in ({name: value} for name, value in bad):
        assert http.get("/admin/callbacks", params=params).status_code == 400, params


def test_fifty_callbacks_a_page_newest_first_and_the_filters_survive_a_change(
    runtime: Runtime, admin: tuple[httpx.Client, str]
) -> None:
    http, csrf = admin
    app = publisher(runtime)
    assert app.id is not None
    now = utc_now()
    with transaction(runtime.sessions) as session:
        for number in range(55):
            url = f"https://pub.example/cb?tx=t{number}&hash=0"
            assert enqueue_callback(session, app.id, f"t{number}", "COMPLETE", url, now)

    first = list_page(http, app=str(app.id), status="pending")
    second = list_page(http, app=str(app.id), status="pending", page="2")

    assert [tx for tx, _ in rows(first)] == [f"t{number}" for number in range(54, 4, -1)]
    assert [tx for tx, _ in rows(second)] == [f"t{number}" for number in range(4, -1, -1)]
    assert f'href="/admin/callbacks?app={app.id}&amp;status=pending&amp;page=2"' in first
    assert "Newer" not in first
    assert f'href="/admin/callbacks?app={app.id}&amp;status=pending"' in second  # newer
    assert "Older" not in second
    assert rows(list_page(http, page="3")) == []

    filters = {"app": str(app.id), "status": "pending", "page": "2"}
    response = post(http, runtime, "t2", "dead-letter", csrf_token=csrf, **filters)

    assert response.status_code == 303
    assert response.headers["location"] == (
        f"/admin/callbacks?app={app.id}&status=pending&page=2&done=dead-lettered&tx=t2"
    )
    back = http.get(response.headers["location"]).text
    assert [tx for tx, _ in rows(back)] == ["t4", "t3", "t1", "t0"]
    assert "Callback t2 is a dead letter now" in back


def test_a_notice_names_only_a_transaction_id(admin: tuple[httpx.Client, str]) -> None:
    http, _csrf = admin
    page = list_page(http, done="retried", tx="go to evil.example")
    assert "evil.example" not in page
    assert 'class="notice"' not in page
    assert 'class="notice"' not in list_page(http, done="anything", tx="abc")
    assert "Callback abc is pending" in list_page(http, done="retried", tx="abc")


def test_every_change_needs_the_sessions_csrf_token(
    runtime: Runtime, admin: tuple[httpx.Client, str]
) -> None:
    http, _csrf = admin
    tx = complete(runtime, http, publisher(runtime))
    for action in ("retry", "dead-letter"):
        assert post(http, runtime, tx, action).status_code == 403
        assert post(http, runtime, tx, action, csrf_token="forged").status_code == 403
    item = callback(runtime, tx)
    assert item.status is CallbackStatus.PENDING
    assert item.finished_at is None


def test_a_stranger_is_sent_to_sign_in(runtime: Runtime, admin: tuple[httpx.Client, str]) -> None:
    http, _csrf = admin
    tx = complete(runtime, http, publisher(runtime))
    with httpx.Client(timeout=HTTP_TIMEOUT, base_url=http.base_url) as stranger:
        assert stranger.get("/admin/callbacks").status_code == 303
        forged = stranger.post(f"/admin/callbacks/{callback(runtime, tx).id}/dead-letter")
        assert forged.status_code == 303
        assert forged.headers["location"].startswith("/admin/sign-in")
    assert callback(runtime, tx).status is CallbackStatus.PENDING
