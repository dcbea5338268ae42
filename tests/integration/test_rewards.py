"""Rewards on SQLite and PostgreSQL: ledger entry and callback together, replays add nothing,
a complete is reversed once with negative amounts and a RECONCILIATION callback."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from surveyrouter.bootstrap import Runtime
from surveyrouter.cli import app as cli
from surveyrouter.domain.apps import App
from surveyrouter.domain.callbacks import verify_callback
from surveyrouter.domain.money import NotReconcilable, Reward, RewardKind
from surveyrouter.domain.users import User
from surveyrouter.services.apps import change_app, create_app
from surveyrouter.services.rewards import TransactionNotFound, record_reward, reverse_complete
from surveyrouter.store.apps import get_app, update_app
from surveyrouter.store.db import transaction
from surveyrouter.store.ledger import user_entries
from surveyrouter.store.outbox import get_callback
from surveyrouter.store.users import user_on_sight

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
SECRET = "publisher-secret-0001"
TEMPLATE = (
    "https://pub.example/cb?uid=[%UID%]&val=[%VAL%]&raw=[%RAW%]&tx=[%TX%]&type=[%TYPE%]&ref=[%REF%]"
)
COMPLETE = Reward(RewardKind.COMPLETE, Decimal("1.72"), Decimal(860))


@pytest.fixture
def publisher(runtime: Runtime) -> App:
    return create_app(
        runtime.sessions, lambda: T0, {"name": "Quiz", "secret": SECRET, "callback_url": TEMPLATE}
    )


@pytest.fixture
def user(runtime: Runtime, publisher: App) -> User:
    assert publisher.id is not None
    with transaction(runtime.sessions) as session:
        return user_on_sight(session, publisher.id, "user-1", T0)[0]


def record(runtime: Runtime, publisher: App, user: User, reward: Reward, tx: str) -> bool:
    with transaction(runtime.sessions) as session:
        return record_reward(session, publisher, user, reward, tx, T0).recorded


def callback_query(runtime: Runtime, tx: str) -> dict[str, list[str]]:
    with runtime.sessions() as session:
        item = get_callback(session, tx)
    assert item is not None
    assert verify_callback(item.url, SECRET)
    return parse_qs(urlsplit(item.url).query)


def test_a_reward_is_one_ledger_entry_and_one_callback_and_a_replay_adds_nothing(
    runtime: Runtime, publisher: App, user: User
) -> None:
    assert record(runtime, publisher, user, COMPLETE, "c1")
    assert not record(runtime, publisher, user, COMPLETE, "c1")
    with runtime.sessions() as session:
        entries = user_entries(session, user.id)
    assert [(e.transaction_id, e.reward) for e in entries] == [("c1", COMPLETE)]
    query = callback_query(runtime, "c1")
    assert query["val"] == ["860"]
    assert query["raw"] == ["1.72"]
    assert query["type"] == ["COMPLETE"]
    assert query["uid"] == ["user-1"]


def test_a_reversal_is_negative_with_its_own_tx_and_the_original_as_ref(
    runtime: Runtime, publisher: App, user: User
) -> None:
    record(runtime, publisher, user, COMPLETE, "c2")
    reversed_ = reverse_complete(runtime.sessions, "c2", "client rejected", lambda: T0)
    again = reverse_complete(runtime.sessions, "c2", "client rejected", lambda: T0)
    assert reversed_.recorded
    assert not again.recorded  # once only
    assert reversed_.transaction_id == "rc2"
    assert reversed_.reward == Reward(RewardKind.RECONCILIATION, Decimal("-1.72"), Decimal(-860))
    with runtime.sessions() as session:
        entries = user_entries(session, user.id)
    assert sum(e.reward.usd for e in entries) == 0
    assert entries[-1].reference == "c2"
    assert entries[-1].reason == "client rejected"
    query = callback_query(runtime, "rc2")
    assert query["type"] == ["RECONCILIATION"]
    assert query["ref"] == ["c2"]
    assert query["val"] == ["-860"]
    assert query["raw"] == ["-1.72"]


def test_a_reversal_takes_back_exactly_what_was_paid_whatever_the_app_shows_now(
    runtime: Runtime, user: User
) -> None:
    with runtime.sessions() as session:
        publisher = get_app(session, user.app_id)
    change_app(runtime.sessions, lambda: T0, user.app_id, {"currency_whole_units": False})
    paid = Reward(RewardKind.COMPLETE, Decimal("0.03"), Decimal("13.5"))
    record(runtime, publisher, user, paid, "c3")
    change_app(runtime.sessions, lambda: T0, user.app_id, {"currency_whole_units": True})

    reversed_ = reverse_complete(runtime.sessions, "c3", "client rejected", lambda: T0)

    assert reversed_.reward == Reward(RewardKind.RECONCILIATION, Decimal("-0.03"), Decimal("-13.5"))
    with runtime.sessions() as session:
        entries = user_entries(session, user.id)
    assert sum(entry.reward.value for entry in entries) == 0
    assert callback_query(runtime, "rc3")["val"] == ["-13.5"]


@pytest.mark.parametrize(
    "host",
    [
        "exämple..com",
        "xn--a.com",  # a malformed IDNA label: httpx takes the URL, then fails to connect it
    ],
)
def test_a_callback_url_httpx_cannot_send_costs_the_user_nothing(
    runtime: Runtime, publisher: App, user: User, caplog: pytest.LogCaptureFixture, host: str
) -> None:
    # Saved before such URLs were refused: written to the store past the settings' checks.
    unsendable = dataclasses.replace(publisher, callback_url=f"http://{host}/cb?tx=[%TX%]")
    with transaction(runtime.sessions) as session:
        update_app(session, unsendable, T0)

    with transaction(runtime.sessions) as session:
        recorded = record_reward(session, unsendable, user, COMPLETE, "c4", T0)

    assert (recorded.recorded, recorded.callback_queued) == (True, False)
    with runtime.sessions() as session:
        assert [entry.transaction_id for entry in user_entries(session, user.id)] == ["c4"]
        assert get_callback(session, "c4") is None
    assert "callback not queued" in caplog.text


def test_a_reward_of_hundreds_of_millions_of_points_is_recorded_and_reversed(
    runtime: Runtime, publisher: App, user: User
) -> None:
    # A $150 complete at 1,000,000 points per USD and 70 %: NUMERIC(12,4) refused it.
    large = Reward(RewardKind.COMPLETE, Decimal("105.00"), Decimal(105_000_000))
    assert record(runtime, publisher, user, large, "c5")
    reverse_complete(runtime.sessions, "c5", "client rejected", lambda: T0)
    with runtime.sessions() as session:
        entries = user_entries(session, user.id)
    assert [entry.reward.value for entry in entries] == [Decimal(105_000_000), -105_000_000]
    assert callback_query(runtime, "c5")["val"] == ["105000000"]


def test_what_goes_with_a_reversal_commits_with_it_or_neither_does(
    runtime: Runtime, publisher: App, user: User
) -> None:
    record(runtime, publisher, user, COMPLETE, "c6")

    def fails(_session: Session) -> None:
        raise RuntimeError("the activity record could not be written")

    with pytest.raises(RuntimeError):
        reverse_complete(runtime.sessions, "c6", "client rejected", lambda: T0, along=fails)
    with runtime.sessions() as session:
        assert [entry.transaction_id for entry in user_entries(session, user.id)] == ["c6"]
        assert get_callback(session, "rc6") is None

    written: list[str] = []
    reverse_complete(
        runtime.sessions, "c6", "client rejected", lambda: T0, along=lambda _s: written.append("1")
    )
    reverse_complete(
        runtime.sessions, "c6", "client rejected", lambda: T0, along=lambda _s: written.append("2")
    )
    assert written == ["1"]  # the replay reverses nothing, so nothing goes with it


def test_only_a_recorded_complete_can_be_reversed(
    runtime: Runtime, publisher: App, user: User
) -> None:
    record(
        runtime, publisher, user, Reward(RewardKind.SCREENOUT, Decimal("0.02"), Decimal(10)), "s1"
    )
    with pytest.raises(TransactionNotFound):
        reverse_complete(runtime.sessions, "nope", "x", lambda: T0)
    with pytest.raises(NotReconcilable):
        reverse_complete(runtime.sessions, "s1", "x", lambda: T0)
    record(runtime, publisher, user, COMPLETE, "c3")
    reverse_complete(runtime.sessions, "c3", "x", lambda: T0)
    with pytest.raises(NotReconcilable):
        reverse_complete(runtime.sessions, "rc3", "x", lambda: T0)


def test_an_app_without_a_callback_url_gets_ledger_entries_only(runtime: Runtime) -> None:
    quiet = create_app(runtime.sessions, lambda: T0, {"name": "No callbacks"})
    assert quiet.id is not None
    with transaction(runtime.sessions) as session:
        someone = user_on_sight(session, quiet.id, "u", T0)[0]
        result = record_reward(session, quiet, someone, COMPLETE, "c4", T0)
    assert result.recorded
    assert not result.callback_queued
    with runtime.sessions() as session:
        assert get_callback(session, "c4") is None


@pytest.mark.parametrize("tx", ["", "has space", "tx-with-dash", "x" * 65])
def test_transaction_ids_are_alphanumeric(
    runtime: Runtime, publisher: App, user: User, tx: str
) -> None:
    with pytest.raises(ValueError, match="letters and digits"):
        record(runtime, publisher, user, COMPLETE, tx)


def test_surveyrouter_reconcile_reverses_from_the_command_line(
    runtime: Runtime, publisher: App, user: User, database_url: str
) -> None:
    record(runtime, publisher, user, COMPLETE, "c5")
    environment = {"SURVEYROUTER_DATABASE_URL": database_url}
    runner = CliRunner()
    done = runner.invoke(cli, ["reconcile", "c5", "--reason", "fraud"], env=environment)
    unknown = runner.invoke(cli, ["reconcile", "c6", "--reason", "fraud"], env=environment)
    assert done.exit_code == 0, done.stderr
    assert '"transaction_id": "rc5"' in done.stdout
    assert '"usd": "-1.72"' in done.stdout
    assert unknown.exit_code == 2
    assert "no ledger entry" in unknown.stderr
