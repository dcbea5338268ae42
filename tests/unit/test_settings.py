from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy.pool import QueuePool

from surveyrouter.settings import Settings, UnsupportedDatabaseUrl, sqlalchemy_url, sqlite_path
from surveyrouter.store.db import create_store_engine


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SURVEYROUTER_"):
            monkeypatch.delenv(name)


def test_defaults_run_on_a_laptop() -> None:
    settings = Settings()

    assert settings.database_url == "sqlite:///./var/surveyrouter.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.log_level == "INFO"
    assert settings.sandbox_enabled is True


def test_every_setting_reads_its_prefixed_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SURVEYROUTER_DATABASE_URL", "postgresql://u@db:5432/router")
    monkeypatch.setenv("SURVEYROUTER_HOST", "0.0.0.0")
    monkeypatch.setenv("SURVEYROUTER_PORT", "9000")
    monkeypatch.setenv("SURVEYROUTER_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("SURVEYROUTER_SANDBOX_ENABLED", "false")

    settings = Settings()

    assert settings.database_url == "postgresql://u@db:5432/router"
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert settings.log_level == "DEBUG"
    assert settings.sandbox_enabled is False


def test_a_port_out_of_range_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURVEYROUTER_PORT", "70000")
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("sqlite:///./var/surveyrouter.db", "sqlite+pysqlite:///./var/surveyrouter.db"),
        ("sqlite:////srv/router.db", "sqlite+pysqlite:////srv/router.db"),
        ("sqlite://", "sqlite+pysqlite://"),
        ("postgresql://u:p@db:5432/router", "postgresql+psycopg://u:p@db:5432/router"),
        ("postgres://u:p@db/router", "postgresql+psycopg://u:p@db/router"),
        ("postgresql+psycopg2://u@db/router", "postgresql+psycopg://u@db/router"),
        (
            "postgresql://u@db/router?sslmode=require",
            "postgresql+psycopg://u@db/router?sslmode=require",
        ),
    ],
)
def test_sqlalchemy_url_picks_the_driver(configured: str, expected: str) -> None:
    url = sqlalchemy_url(Settings(database_url=configured))
    assert url.render_as_string(hide_password=False) == expected


def test_sqlalchemy_url_refuses_other_databases() -> None:
    with pytest.raises(UnsupportedDatabaseUrl, match="mysql"):
        sqlalchemy_url(Settings(database_url="mysql://u@db/router"))


def test_sqlite_path_is_the_file_for_sqlite_only() -> None:
    assert sqlite_path(sqlalchemy_url(Settings())) == Path("var/surveyrouter.db")
    assert sqlite_path(sqlalchemy_url(Settings(database_url="sqlite://"))) is None
    assert sqlite_path(sqlalchemy_url(Settings(database_url="postgresql://db/x"))) is None


def test_the_sqlite_directory_is_created(tmp_path: Path) -> None:
    database = tmp_path / "var" / "nested" / "surveyrouter.db"
    engine = create_store_engine(Settings(database_url=f"sqlite:///{database}"))
    engine.dispose()

    assert database.parent.is_dir()


def test_in_memory_sqlite_gets_an_engine() -> None:
    engine = create_store_engine(Settings(database_url="sqlite://"))
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        engine.dispose()


def test_rex_is_off_until_its_key_pair_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not Settings().rex_enabled
    assert Settings().rex_registry_url == "https://registry.rex.dynata.com"
    monkeypatch.setenv("SURVEYROUTER_REX_ACCESS_KEY", "key")
    monkeypatch.setenv("SURVEYROUTER_REX_SECRET_KEY", "s3cr3t-value")
    monkeypatch.setenv("SURVEYROUTER_REX_REGISTRY_URL", "https://registry.qa-rex.dynata.com")
    monkeypatch.setenv("SURVEYROUTER_REX_SHARD_COUNT", "3")
    monkeypatch.setenv("SURVEYROUTER_REX_SHARD_INDEX", "2")
    settings = Settings()
    assert settings.rex_enabled
    assert settings.rex_secret_key is not None
    assert settings.rex_secret_key.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(settings)
    assert (settings.rex_shard_count, settings.rex_shard_index) == (3, 2)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"SURVEYROUTER_REX_ACCESS_KEY": "key"}, "REX_ACCESS_KEY"),
        ({"SURVEYROUTER_REX_REDIRECT_SECRET_KEY": "s"}, "REX_REDIRECT_ACCESS_KEY"),
        ({"SURVEYROUTER_REX_SHARD_INDEX": "2"}, "SHARD_INDEX"),
        ({"SURVEYROUTER_REX_SHARD_COUNT": "9"}, "rex_shard_count"),
    ],
)
def test_incomplete_rex_settings_are_refused_with_the_variable(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_a_postgresql_engine_pools_as_the_settings_say() -> None:
    settings = Settings(
        database_url="postgresql://nobody@127.0.0.1:1/none",
        database_pool_size=7,
        database_pool_overflow=3,
        database_pool_timeout_seconds=2.5,
    )
    engine = create_store_engine(settings)  # connects to nothing until asked
    try:
        assert isinstance(engine.pool, QueuePool)
        assert (engine.pool.size(), engine.pool.timeout()) == (7, 2.5)
        assert engine.pool._max_overflow == 3  # SQLAlchemy shows it nowhere public
    finally:
        engine.dispose()
