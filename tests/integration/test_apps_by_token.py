"""An API process keeps the apps it read by token for a few seconds, on SQLite and PostgreSQL:
a change is seen once that time is up, an unknown token is asked again every time."""

from __future__ import annotations

from datetime import UTC, datetime

from surveyrouter.bootstrap import Runtime
from surveyrouter.services.apps import change_app, create_app
from surveyrouter.services.callers import AppsByToken

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
        assert apps.find(session, "quiz-api-token-0001") == app
    change_app(runtime.sessions, lambda: T0, app.id, {"name": "Quiz 2"})

    ticks.now += 4.9
    with runtime.sessions() as session:
        kept = apps.find(session, "quiz-api-token-0001")
    ticks.now += 0.2
    with runtime.sessions() as session:
        fresh = apps.find(session, "quiz-api-token-0001")

    assert kept is not None
    assert kept.name == "Quiz"
    assert fresh is not None
    assert fresh.name == "Quiz 2"


def test_an_unknown_token_is_not_kept(runtime: Runtime) -> None:
    apps = AppsByToken(ttl=60.0, clock=Ticks())
    with runtime.sessions() as session:
        assert apps.find(session, "later-api-token-0001") is None
    create_app(runtime.sessions, lambda: T0, {"name": "Later", "api_token": "later-api-token-0001"})
    with runtime.sessions() as session:
        found = apps.find(session, "later-api-token-0001")
    assert found is not None
    assert found.name == "Later"


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
    assert found.name == "Quiz 2"
