"""An API process keeps the apps it read by token, on SQLite and PostgreSQL: a client call
checks the kept app in the same read as its user and sees a change at once; other readers see
it once the app's seconds are up; an unknown token is asked again every time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from surveyrouter.bootstrap import Runtime
from surveyrouter.services.apps import change_app, create_app
from surveyrouter.services.callers import AppsByToken, UnknownApiToken, identify

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_app_is_kept_for_its_seconds_then_read_again(runtime: Runtime) -> None:
    app = create_app(
        runtime.sessions, lambda: T0, {"name": "Quiz", "api_token": "quiz-api-token-0001"}
    )
    assert app.id is not None
    ticks = Ticks()
    apps = AppsByToken(ttl=5.0, clock=ticks)
    with runtime.sessions() as session:
        first = apps.find(session, "quiz-api-token-0001")
    assert first is not None
    assert first.app == app
    change_app(runtime.sessions, lambda: T0, app.id, {"name": "Quiz 2"})

    ticks.now += 4.9
    with runtime.sessions() as session:
        kept = apps.find(session, "quiz-api-token-0001")
    ticks.now += 0.2
    with runtime.sessions() as session:
        fresh = apps.find(session, "quiz-api-token-0001")

    assert kept is not None
    assert kept.app.name == "Quiz"
    assert fresh is not None
    assert fresh.app.name == "Quiz 2"


def test_an_unknown_token_is_not_kept(runtime: Runtime) -> None:
    apps = AppsByToken(ttl=60.0, clock=Ticks())
    with runtime.sessions() as session:
        assert apps.find(session, "later-api-token-0001") is None
    create_app(runtime.sessions, lambda: T0, {"name": "Later", "api_token": "later-api-token-0001"})
    with runtime.sessions() as session:
        found = apps.find(session, "later-api-token-0001")
    assert found is not None
    assert found.app.name == "Later"


def test_clearing_forgets_every_app(runtime: Runtime) -> None:
    app = create_app(
        runtime.sessions, lambda: T0, {"name": "Quiz", "api_token": "quiz-api-token-0001"}
    )
    assert app.id is not None
    apps = AppsByToken(ttl=60.0, clock=Ticks())
    with runtime.sessions() as session:
        apps.find(session, "quiz-api-token-0001")
    change_app(runtime.sessions, lambda: T0, app.id, {"name": "Quiz 2"})
    apps.clear()
    with runtime.sessions() as session:
        found = apps.find(session, "quiz-api-token-0001")
    assert found is not None
    assert found.app.name == "Quiz 2"


def test_a_client_call_sees_an_apps_change_at_once_in_every_process(runtime: Runtime) -> None:
    app = create_app(
        runtime.sessions, lambda: T0, {"name": "Quiz", "api_token": "quiz-api-token-0001"}
    )
    assert app.id is not None
    # Two API processes, each keeping the app for a minute.
    one, two = AppsByToken(ttl=60.0, clock=Ticks()), AppsByToken(ttl=60.0, clock=Ticks())

    def call(apps: AppsByToken, token: str = "quiz-api-token-0001") -> str:
        return identify(token, "user-1", apps, reads=runtime.reads).app.name

    assert call(one) == call(two) == "Quiz"
    change_app(runtime.sessions, lambda: T0 + timedelta(seconds=1), app.id, {"name": "Quiz 2"})
    assert call(one) == call(two) == "Quiz 2"  # the user's read said the app changed

    rotated = {"api_token": "quiz-api-token-0002"}
    change_app(runtime.sessions, lambda: T0 + timedelta(seconds=2), app.id, rotated)
    for apps in (one, two):
        with pytest.raises(UnknownApiToken):
            call(apps)  # the old token stops working in every process at once
        assert call(apps, "quiz-api-token-0002") == "Quiz 2"
