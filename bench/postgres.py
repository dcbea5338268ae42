"""A PostgreSQL schema of its own for one benchmark run, dropped afterwards.

The server is SURVEYROUTER_BENCH_POSTGRES_URL, by default the development machine's
postgresql://postgres@127.0.0.1:5432/test.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import psycopg
from sqlalchemy.engine import make_url

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclasses.dataclass(frozen=True)
class Schema:
    url: str  # for SQLAlchemy and surveyrouter, search_path set to the schema
    conninfo: str  # for psycopg, on the server's default search path
    name: str


@contextmanager
def bench_schema() -> Iterator[Schema]:
    server = os.environ.get("SURVEYROUTER_BENCH_POSTGRES_URL", DEFAULT_URL)
    conninfo = make_url(server).render_as_string(hide_password=False)
    name = f"surveyrouter_bench_{secrets.token_hex(6)}"
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{name}"')
    try:
        separator = "&" if "?" in server else "?"
        yield Schema(f"{server}{separator}options={quote(f'-csearch_path={name}')}", conninfo, name)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{name}" CASCADE')
