"""Engines and sessions for the configured database, and the upsert both backends share."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Executable, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from surveyrouter import json_codec
from surveyrouter.settings import Settings, sqlalchemy_url, sqlite_path

# A writer waits this long for SQLite's single write lock before giving up with "locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT_S = 5
T = TypeVar("T")


def create_store_engine(settings: Settings) -> Engine:
    """An engine for ``settings.database_url`` with the pool its settings ask for; for
    SQLite, creates the file's directory."""
    return engine_for_url(
        sqlalchemy_url(settings),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_overflow,
        pool_timeout=settings.database_pool_timeout_seconds,
    )


def engine_for_url(url: URL, **pool: Any) -> Engine:
    """An engine for ``url``; ``pool`` (``pool_size``, ``max_overflow``, ``pool_timeout``)
    sizes a PostgreSQL engine's pool, SQLAlchemy's defaults otherwise."""
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, json_serializer=json_codec.dumps, json_deserializer=json_codec.loads
        )
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_sqlite_transaction)
        return engine
    return create_engine(
        url,
        json_serializer=json_codec.dumps,
        json_deserializer=json_codec.loads,
        pool_pre_ping=True,
        # A health check must answer "down" quickly rather than hang on an unreachable host.
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
        **pool,
    )


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Python's sqlite3 opens transactions only before INSERT/UPDATE/DELETE, so a SELECT would
    # run outside the transaction its session thinks it is in; we issue BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while the sync worker writes; foreign keys are off by default.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


# Execution option ``transaction`` sets: this connection's transaction is going to write.
_WRITES = "surveyrouter_writes"


def _begin_sqlite_transaction(connection: Connection) -> None:
    # A deferred transaction that reads and then writes cannot wait for another writer: in WAL
    # mode SQLite fails it at once ("database is locked") once its snapshot is stale. Taking
    # the write lock at BEGIN makes concurrent writers queue behind busy_timeout instead.
    writes = connection.get_execution_options().get(_WRITES, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # Rows returned by the repository stay readable after commit without another query.
    return sessionmaker(engine, expire_on_commit=False)


def read_sessions(engine: Engine) -> sessionmaker[Session]:
    """Sessions for reads that stand alone, each statement seeing what is committed when it
    runs; never for writes.

    On PostgreSQL their connections are in autocommit: no BEGIN before the first statement
    and no ROLLBACK when the session closes, two of the four round trips (with the pool's
    ping) of a client call's one read. SQLite's transactions cost no round trip, and its
    BEGIN is ours (``_begin_sqlite_transaction``), so there they are ordinary sessions.
    """
    if engine.dialect.name == "sqlite":
        return make_session_factory(engine)
    return make_session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any exception.

    For work that writes: on SQLite it holds the database's write lock from its first
    statement, so that concurrent writers wait for each other rather than fail.
    """
    with factory() as session, session.begin():
        session.connection(execution_options={_WRITES: True})
        yield session


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot serve now rather than that a statement is
    wrong: unreachable or gone away, every pooled connection busy past the pool's timeout,
    out of connections or disk, shutting down, a lock or deadlock given up on. Worth retrying
    later. Both drivers raise their OperationalError for some bugs too (SQLite's "no such
    table", PostgreSQL's program limits), so the driver's own code decides."""
    if isinstance(error, PoolTimeout):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError):
        return False
    cause = error.orig
    sqlite_name = getattr(cause, "sqlite_errorname", None)
    if sqlite_name is not None:
        return str(sqlite_name).startswith(_SQLITE_UNAVAILABLE)
    sqlstate = getattr(cause, "sqlstate", None)
    # No SQLSTATE: psycopg failed on the client's side (refused, timed out, lost).
    return sqlstate is None or str(sqlstate).startswith(_POSTGRES_UNAVAILABLE)


# SQLite result codes (``sqlite_errorname``) that say the file is busy or cannot be used now.
_SQLITE_UNAVAILABLE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR",
                       "SQLITE_FULL", "SQLITE_PROTOCOL")  # fmt: skip
# PostgreSQL SQLSTATE classes and codes of the same kind: connection exception (08),
# transaction rollback: serialization failure, deadlock (40), insufficient resources: too many
# connections, disk full (53), operator intervention: shutdown, cannot connect now (57),
# lock not available (55P03).
_POSTGRES_UNAVAILABLE = ("08", "40", "53", "57", "55P03")


def ping(reads: sessionmaker[Session]) -> None:
    """Raise unless the database answers a trivial query.

    Through ``read_sessions``: on PostgreSQL no BEGIN and ROLLBACK around the query, so a
    health check costs two round trips (the pool's ping, the query) rather than four.
    """
    with reads() as session:
        session.execute(text("SELECT 1"))


def upsert(
    session: Session,
    model: type[DeclarativeBase],
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    keep: Sequence[str] = (),
) -> None:
    """Insert ``rows``, or update the existing row with the same ``keys``, in one statement.

    Every column given is overwritten except ``keep`` (e.g. a creation time). Both backends
    speak ``INSERT … ON CONFLICT DO UPDATE``, which is atomic where a read-then-write is not.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    statement = _upsert_statement(dialect, model, tuple(rows[0]), tuple(keys), tuple(keep))
    session.execute(statement, list(rows))


def insert_unless_present(
    session: Session, model: type[DeclarativeBase], row: Mapping[str, Any], keys: Sequence[str]
) -> bool:
    """Insert ``row`` unless a row with the same ``keys`` exists; True if this call inserted it.

    Atomic on both backends (``ON CONFLICT DO NOTHING``): of several concurrent callers, one
    inserts and the others learn it is there.
    """
    dialect = session.get_bind().dialect.name
    statement = _insert_unless_present_statement(dialect, model, tuple(keys))
    # RETURNING, not rowcount: psycopg reports -1 for this statement through SQLAlchemy.
    return session.execute(statement, dict(row)).first() is not None


@functools.lru_cache(maxsize=64)
def _insert_unless_present_statement(
    dialect: str, model: type[DeclarativeBase], keys: tuple[str, ...]
) -> Executable:
    statement, table = _dialect_insert(dialect, model)
    return statement.on_conflict_do_nothing(index_elements=list(keys)).returning(
        *(table.c[key] for key in keys)
    )


@functools.lru_cache(maxsize=256)
def _upsert_statement(
    dialect: str,
    model: type[DeclarativeBase],
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    keep: tuple[str, ...],
) -> Executable:
    """The upsert statement for one shape of row, built once: building it costs more than
    running it for a small batch."""
    statement, _table = _dialect_insert(dialect, model)
    updated = [name for name in columns if name not in keys and name not in keep]
    if updated:
        return statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: statement.excluded[name] for name in updated},
        )
    return statement.on_conflict_do_nothing(index_elements=list(keys))


def _dialect_insert(
    dialect: str, model: type[DeclarativeBase]
) -> tuple[postgresql.Insert | sqlite.Insert, Table]:
    """An INSERT into ``model``'s table in the dialect that speaks ON CONFLICT for it.

    On the table, not the mapped class: a Core executemany, without the ORM's bulk-insert
    bookkeeping. Attribute names are the column names throughout the schema.
    """
    table = table_of(model)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table), table


# SQLite allows a limited number of bound parameters per statement: an IN list of ids is sent
# this many at a time.
IDS_PER_STATEMENT = 500


def in_chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """``values`` in slices short enough for one statement's IN list on every backend."""
    for start in range(0, len(values), IDS_PER_STATEMENT):
        yield values[start : start + IDS_PER_STATEMENT]


def table_of(model: type[DeclarativeBase]) -> Table:
    """``model``'s table, for Core statements built once at import and run with parameters
    (the hot paths: building a statement costs more than running it on a small table)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
