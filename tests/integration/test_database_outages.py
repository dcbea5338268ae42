"""Which database errors are outages (the API answers 503, retry later) and which are bugs
(500): ``store.db.database_unavailable`` on real errors of both backends."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from surveyrouter.bootstrap import Runtime
from surveyrouter.settings import Settings
from surveyrouter.store.db import create_store_engine, database_unavailable


def raised(action: Callable[[], object]) -> SQLAlchemyError:
    with pytest.raises(SQLAlchemyError) as caught:
        action()
    return caught.value


def run(engine: Engine, statement: str) -> Callable[[], object]:
    def action() -> object:
        with engine.connect() as connection:
            return connection.execute(text(statement)).all()

    return action


@pytest.mark.parametrize(
    "statement", ["SELEC 1", "SELECT * FROM no_such_table", "SELECT no_such_column FROM apps"]
)
def test_a_wrong_statement_is_a_bug_not_an_outage(runtime: Runtime, statement: str) -> None:
    assert not database_unavailable(raised(run(runtime.engine, statement)))


def test_a_server_that_refuses_connections_is_an_outage() -> None:
    engine = create_store_engine(Settings(database_url="postgresql://nobody@127.0.0.1:1/none"))
    try:
        assert database_unavailable(raised(run(engine, "SELECT 1")))
    finally:
        engine.dispose()


def test_every_pooled_connection_busy_past_the_timeout_is_an_outage(runtime: Runtime) -> None:
    url = runtime.engine.url
    engine = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.05)
    try:
        with engine.connect():
            assert database_unavailable(raised(run(engine, "SELECT 1")))
    finally:
        engine.dispose()


def test_a_lock_given_up_on_is_an_outage(runtime: Runtime) -> None:
    engine = runtime.engine
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as holder, engine.connect() as waiter:
        if sqlite:  # a write takes the database's one write lock until its commit
            holder.exec_driver_sql("UPDATE apps SET name = name")
            waiter.exec_driver_sql("PRAGMA busy_timeout=0")
            write = "UPDATE apps SET name = name"
        else:
            holder.execute(text("LOCK TABLE apps IN ACCESS EXCLUSIVE MODE"))
            waiter.execute(text("SET lock_timeout = '20ms'"))
            write = "SELECT * FROM apps"
        error = raised(lambda: waiter.exec_driver_sql(write))
        holder.rollback()
    assert database_unavailable(error), error
