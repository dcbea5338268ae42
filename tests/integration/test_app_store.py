"""Apps, users and server secrets in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import text
from sqlalchemy.orm import Session

from surveyrouter.bootstrap import Runtime
from surveyrouter.domain.apps import App, AppSettingInvalid
from surveyrouter.domain.opportunity import Device
from surveyrouter.domain.users import respondent_id
from surveyrouter.services.apps import (
    app_document,
    change_app,
    create_app,
    ensure_demo_app,
)
from surveyrouter.store.apps import AppNotFound, find_app_by_token, get_app, list_apps
from surveyrouter.store.db import transaction
from surveyrouter.store.server_secrets import RESPONDENT_ID_SECRET, server_secret
from surveyrouter.store.users import ban_user, find_user, remember_context, user_on_sight

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def clock() -> datetime:
    return NOW


def test_an_app_comes_back_exactly_as_created(runtime: Runtime) -> None:
    created = create_app(
        runtime.sessions,
        clock,
        {
            "name": "Quiz Kingdom",
            "api_token": "quiz-kingdom-token-0001",
            "revenue_share": Decimal("0.65"),
            "currency_factor": Decimal("123.4567"),
            "currency_whole_units": False,
            "screenout_reward": Decimal("0.0105"),
            "allowed_countries": frozenset({"US", "CA"}),
            "leaderboard_rewards": (Decimal("10.5"), Decimal(5)),
            "colors": ("#112233", "#fff"),
            "redirect_complete_url": "https://quiz.example/done?uid=[%UID%]",
        },
    )
    assert created.id is not None
    with runtime.sessions() as session:
        assert get_app(session, created.id) == created
        assert find_app_by_token(session, "quiz-kingdom-token-0001") == created
        assert find_app_by_token(session, "nobody-has-this-token") is None
    document = app_document(created)
    assert document["revenue_share"] == "0.65"
    assert document["currency_factor"] == "123.4567"
    assert document["screenout_reward"] == "0.0105"
    assert document["leaderboard_rewards"] == ["10.5", "5"]
    assert document["allowed_countries"] == ["CA", "US"]


def test_generated_tokens_are_unique_and_unguessable(runtime: Runtime) -> None:
    first = create_app(runtime.sessions, clock, {"name": "One"})
    second = create_app(runtime.sessions, clock, {"name": "Two"})
    assert len({first.api_token, second.api_token, first.s2s_token, second.s2s_token}) == 4
    assert first.secret != second.secret
    assert len(first.secret) >= 32


def test_a_token_another_app_uses_is_refused_and_nothing_is_written(runtime: Runtime) -> None:
    create_app(runtime.sessions, clock, {"name": "One", "api_token": "shared-token-000001"})
    with pytest.raises(AppSettingInvalid) as refused:
        create_app(runtime.sessions, clock, {"name": "Two", "api_token": "shared-token-000001"})
    assert refused.value.setting == "api_token"
    with runtime.sessions() as session:
        assert [a.name for a in list_apps(session)] == ["One"]


def test_a_change_keeps_what_it_does_not_name(runtime: Runtime) -> None:
    created = create_app(runtime.sessions, clock, {"name": "One", "currency_factor": Decimal(500)})
    assert created.id is not None
    changed = change_app(
        runtime.sessions, clock, created.id, {"callback_url": "https://pub.example/cb"}
    )
    assert changed.callback_url == "https://pub.example/cb"
    assert changed.currency.factor == Decimal(500)
    with pytest.raises(AppSettingInvalid):
        change_app(runtime.sessions, clock, created.id, {"revenue_share": Decimal(3)})
    with runtime.sessions() as session:
        assert get_app(session, created.id) == changed
    with pytest.raises(AppNotFound):
        change_app(runtime.sessions, clock, 999, {"name": "Ghost"})


class RecordFailed(Exception):
    pass


def test_what_goes_along_with_a_new_or_changed_app_commits_with_it_or_not_at_all(
    runtime: Runtime,
) -> None:
    seen: list[tuple[str, str]] = []

    def noted(session: Session, created: App) -> None:
        seen.append(("created", created.name))

    created = create_app(runtime.sessions, clock, {"name": "One"}, along=noted)
    assert created.id is not None
    assert seen == [("created", "One")]

    def fails(session: Session, before: App, after: App) -> None:
        seen.append((before.name, after.name))
        raise RecordFailed

    with pytest.raises(RecordFailed):
        change_app(runtime.sessions, clock, created.id, {"name": "Two"}, along=fails)
    assert seen[-1] == ("One", "Two")
    with runtime.sessions() as session:
        assert get_app(session, created.id).name == "One"  # the change was rolled back

    def also_fails(session: Session, created: App) -> None:
        raise RecordFailed

    with pytest.raises(RecordFailed):
        create_app(runtime.sessions, clock, {"name": "Three"}, along=also_fails)
    with runtime.sessions() as session:
        assert [app.name for app in list_apps(session)] == ["One"]


def test_the_demo_app_is_created_once(runtime: Runtime) -> None:
    demo, created = ensure_demo_app(runtime.sessions, clock)
    again, created_again = ensure_demo_app(runtime.sessions, clock)
    assert created
    assert not created_again
    assert again == demo
    assert demo.has_start_bonus
    assert demo.pays_screenouts


def test_the_server_secret_is_made_once_and_kept(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        first = server_secret(session, RESPONDENT_ID_SECRET, NOW)
    with transaction(runtime.sessions) as session:
        assert server_secret(session, RESPONDENT_ID_SECRET, NOW + timedelta(days=1)) == first
    assert len(first) == 32


def test_a_user_is_created_on_first_sight_only(runtime: Runtime) -> None:
    app = create_app(runtime.sessions, clock, {"name": "One"})
    assert app.id is not None
    with transaction(runtime.sessions) as session:
        user, created = user_on_sight(session, app.id, "user-1", NOW)
        secret = server_secret(session, RESPONDENT_ID_SECRET, NOW)
    with transaction(runtime.sessions) as session:
        same, created_again = user_on_sight(session, app.id, "user-1", NOW + timedelta(hours=1))
    assert created
    assert not created_again
    assert same == user
    assert user.respondent_id == respondent_id(secret, app.id, "user-1")
    assert user.country is None
    assert not user.entered_survey


def test_the_same_uid_in_two_apps_is_two_respondents(runtime: Runtime) -> None:
    one = create_app(runtime.sessions, clock, {"name": "One"})
    two = create_app(runtime.sessions, clock, {"name": "Two"})
    assert one.id is not None
    assert two.id is not None
    with transaction(runtime.sessions) as session:
        first, _ = user_on_sight(session, one.id, "7", NOW)
        second, _ = user_on_sight(session, two.id, "7", NOW)
    assert first.id != second.id
    assert first.respondent_id != second.respondent_id


def test_concurrent_first_requests_make_one_user(runtime: Runtime) -> None:
    app = create_app(runtime.sessions, clock, {"name": "One"})
    assert app.id is not None
    app_id = app.id
    seen: list[int] = []
    creators: list[bool] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def first_request() -> None:
        try:
            start.wait()
            with transaction(runtime.sessions) as session:
                user, created = user_on_sight(session, app_id, "racer", NOW)
                seen.append(user.id)
                creators.append(created)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=first_request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(seen)) == 1
    assert creators.count(True) == 1


def test_what_a_request_says_about_the_user_is_remembered(runtime: Runtime) -> None:
    app = create_app(runtime.sessions, clock, {"name": "One"})
    assert app.id is not None
    with transaction(runtime.sessions) as session:
        user, _ = user_on_sight(session, app.id, "u", NOW)
        remember_context(session, user.id, NOW, country="DE", device=Device.MOBILE)
        remember_context(session, user.id, NOW, language="de")
        ban_user(session, user.id, NOW + timedelta(days=1), "too many quality removals")
    with runtime.sessions() as session:
        stored = find_user(session, app.id, "u")
    assert stored is not None
    assert (stored.country, stored.language, stored.device) == ("DE", "de", Device.MOBILE)
    assert stored.banned_at(NOW)
    assert stored.ban_reason == "too many quality removals"


def transaction_status(session: Session) -> TransactionStatus | None:
    """The PostgreSQL connection's transaction status as the server last reported it."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    connection = session.connection().connection.dbapi_connection
    assert connection is not None
    return TransactionStatus(connection.info.transaction_status)


def test_a_read_session_sees_what_is_committed_and_on_postgresql_opens_no_transaction(
    runtime: Runtime,
) -> None:
    app = create_app(runtime.sessions, clock, {"name": "Quiz", "api_token": "read-session-token-1"})
    assert app.id is not None
    with runtime.reads() as session:
        assert find_user(session, app.id, "u1") is None
    with transaction(runtime.sessions) as session:
        created, _ = user_on_sight(session, app.id, "u1", NOW)

    with runtime.reads() as session:
        found = find_user(session, app.id, "u1")
        status = transaction_status(session)
    with runtime.sessions() as session:
        session.execute(text("SELECT 1"))
        status_after = transaction_status(session)

    assert found == created
    if runtime.engine.dialect.name == "postgresql":
        # Autocommit: no BEGIN went before the read, no ROLLBACK follows it; and the pool's
        # connection is back to transactions for every other session.
        assert (status, status_after) == (TransactionStatus.IDLE, TransactionStatus.INTRANS)
