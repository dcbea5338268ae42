from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, text

from surveyrouter.bootstrap import Runtime
from surveyrouter.clock import utc_now
from surveyrouter.store import migrate
from surveyrouter.store.db import transaction
from surveyrouter.store.operator_actions import list_actions
from surveyrouter.store.operators import insert_operator
from surveyrouter.store.schema import Base, OperatorActionRow

TABLES = {
    "networks",
    "opportunities",
    "collections",
    "questions",
    "question_mappings",
    "apps",
    "users",
    "server_secrets",
}


def table_names(runtime: Runtime) -> set[str]:
    return set(inspect(runtime.engine).get_table_names())


def test_migrations_build_the_schema_from_empty_and_downgrade_to_nothing(
    empty_runtime: Runtime,
) -> None:
    assert not table_names(empty_runtime) & TABLES

    migrate.upgrade(empty_runtime.engine)
    assert table_names(empty_runtime) >= TABLES

    migrate.downgrade(empty_runtime.engine, "base")
    assert not table_names(empty_runtime) & TABLES

    migrate.upgrade(empty_runtime.engine)
    assert table_names(empty_runtime) >= TABLES


def test_upgrading_twice_changes_nothing(runtime: Runtime) -> None:
    migrate.upgrade(runtime.engine)
    with runtime.engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    assert len(versions) == 1


def test_models_match_the_migrated_schema(runtime: Runtime) -> None:
    with runtime.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_opportunity_indexes_exist(runtime: Runtime) -> None:
    indexes = {
        index["name"]: (tuple(index["column_names"]), bool(index["unique"]))
        for index in inspect(runtime.engine).get_indexes("opportunities")
    }
    assert indexes["ix_opportunities_status"] == (("status",), False)
    assert indexes["ix_opportunities_country_language"] == (("country", "language"), False)
    assert indexes["ix_opportunities_change_seq"] == (("change_seq",), True)
    unique = inspect(runtime.engine).get_unique_constraints("opportunities")
    assert [tuple(u["column_names"]) for u in unique] == [("network_id", "external_id")]


def test_stored_documents_are_json_compressed_with_lz4_on_postgresql(runtime: Runtime) -> None:
    documents = {}
    with runtime.engine.connect() as connection:
        head = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        if runtime.engine.dialect.name == "postgresql":
            for table, column in (("opportunities", "raw"), ("collections", "values")):
                documents[table] = connection.execute(
                    text(
                        "SELECT format_type(atttypid, atttypmod), attcompression "
                        "FROM pg_attribute WHERE attrelid = CAST(:table AS regclass) "
                        "AND attname = :column"
                    ),
                    {"table": table, "column": column},
                ).one()

    assert (
        head
        == ScriptDirectory.from_config(migrate.alembic_config(runtime.engine)).get_current_head()
    )
    if runtime.engine.dialect.name == "postgresql":
        # Kept as text, as sent; PostgreSQL 15 here is built with lz4.
        assert documents == {"opportunities": ("json", "l"), "collections": ("json", "l")}
    else:
        assert documents == {}  # SQLite has no such settings


def test_traffic_indexes_exist(runtime: Runtime) -> None:
    def indexes(table: str) -> dict[str, tuple[str, ...]]:
        found = inspect(runtime.engine).get_indexes(table)
        return {index["name"]: tuple(index["column_names"]) for index in found}

    assert indexes("clicks")["ix_clicks_created_at"] == ("created_at",)
    assert indexes("clicks")["ix_clicks_ended_at"] == ("ended_at",)
    assert indexes("ledger_entries")["ix_ledger_entries_created_at"] == ("created_at",)


def test_going_back_before_command_line_actions_keeps_the_dashboards(
    empty_runtime: Runtime,
) -> None:
    engine = empty_runtime.engine
    migrate.upgrade(engine)
    now = utc_now()
    with transaction(empty_runtime.sessions) as session:
        operator = insert_operator(session, "alice", "not a real hash", now)
        common = {"at": now, "action": "app.update", "subject": "app 1", "detail": "x"}
        session.execute(
            insert(OperatorActionRow),
            [{**common, "operator_id": operator.id}, {**common, "shell_user": "root@host"}],
        )

    migrate.downgrade(engine, "0017")
    columns = {column["name"]: column for column in inspect(engine).get_columns("operator_actions")}
    assert "shell_user" not in columns
    assert columns["operator_id"]["nullable"] is False
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT operator_id FROM operator_actions")).scalars().all()
    assert kept == [operator.id]

    migrate.upgrade(engine)
    with empty_runtime.sessions() as session:
        [action] = list_actions(session)
    assert (action.operator, action.command_line) == ("alice", False)


def test_the_one_actor_check_has_the_name_the_model_gives_it(runtime: Runtime) -> None:
    checks = inspect(runtime.engine).get_check_constraints("operator_actions")
    assert [check["name"] for check in checks] == ["ck_operator_actions_one_actor"]
