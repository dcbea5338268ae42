"""One database per test, on SQLite and on PostgreSQL alike.

Every test that takes ``database_url`` (or a fixture built on it) runs twice: once on a fresh
SQLite file, once in a fresh PostgreSQL schema reached through ``search_path``, so concurrent
runs against the same server never see each other's tables. When PostgreSQL cannot be reached
its variants are skipped with the reason, unless SURVEYROUTER_REQUIRE_POSTGRES=1 (as in CI),
which turns the skip into a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from sqlalchemy.engine import make_url

from surveyrouter.bootstrap import Runtime, build_runtime, prepare_database
from surveyrouter.settings import Settings

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    return os.environ.get("SURVEYROUTER_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def postgres_required() -> bool:
    return os.environ.get("SURVEYROUTER_REQUIRE_POSTGRES", "").strip().lower() in {
        "1",
        "true",
        "yes",
    }


def _libpq_conninfo(url: str) -> str:
    # psycopg takes libpq URLs, which know no "+driver" and no "postgres+psycopg" scheme.
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL URL to test against, once it has answered a connection."""
    url = postgres_url()
    try:
        with psycopg.connect(_libpq_conninfo(url), connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        cause = " ".join(str(error).split())
        reason = (
            f"PostgreSQL is unreachable at {make_url(url)!r} ({type(error).__name__}: {cause}); "
            "the PostgreSQL variants of the store tests did NOT run. "
            "Start PostgreSQL or set SURVEYROUTER_TEST_POSTGRES_URL."
        )
        if postgres_required():
            pytest.fail(f"SURVEYROUTER_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return url


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database, as an operator would write it in SURVEYROUTER_DATABASE_URL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'surveyrouter.db'}"
        return
    server: str = request.getfixturevalue("postgres_server")
    schema = f"surveyrouter_test_{secrets.token_hex(6)}"
    conninfo = _libpq_conninfo(server)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in server else "?"
    try:
        yield f"{server}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, sandbox_enabled=True)


@pytest.fixture
def empty_runtime(settings: Settings) -> Iterator[Runtime]:
    """A runtime on an empty, unmigrated database."""
    runtime = build_runtime(settings)
    try:
        yield runtime
    finally:
        runtime.close()


@pytest.fixture
def runtime(empty_runtime: Runtime) -> Runtime:
    """A runtime on a migrated database seeded as ``serve`` seeds it."""
    prepare_database(empty_runtime)
    return empty_runtime
