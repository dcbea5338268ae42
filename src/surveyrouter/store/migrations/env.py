"""Alembic environment: migrates the engine handed over by ``store.migrate``, or the settings'."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from surveyrouter.settings import Settings
from surveyrouter.store.db import create_store_engine
from surveyrouter.store.schema import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if not isinstance(engine, Engine):
        # The `alembic` command line: migrate whatever SURVEYROUTER_DATABASE_URL names.
        engine = create_store_engine(Settings())
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite cannot ALTER most things in place; batch mode copies the table instead.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run against a database")
run_migrations_online()
