"""The one settings object: every knob is an environment variable prefixed ``SURVEYROUTER_``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class UnsupportedDatabaseUrl(ValueError):
    """The database URL names a backend surveyrouter does not run on."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SURVEYROUTER_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/surveyrouter.db",
        description="sqlite:///path or postgresql://user@host:port/db (postgres:// works too).",
    )
    host: str = Field(default="127.0.0.1", description="Address `serve` listens on.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port `serve` listens on.")
    log_level: LogLevel = Field(default="INFO", description="Threshold of the JSON logs.")
    sandbox_enabled: bool = Field(
        default=True, description="Register the bundled REX-compatible sandbox exchange."
    )


def sqlalchemy_url(settings: Settings) -> URL:
    """The SQLAlchemy URL for ``settings.database_url``, with the driver surveyrouter uses.

    Operators write plain ``sqlite:///…`` or ``postgresql://…`` (Heroku-style ``postgres://``
    too); the driver is an implementation detail, so it is chosen here: psycopg 3 for
    PostgreSQL, the standard library's sqlite3 for SQLite. An explicit driver is replaced, so
    a ``postgresql+psycopg2://`` URL cannot make us load a driver we do not install.
    """
    raw = settings.database_url.strip()
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw.removeprefix("postgres://")
    url = make_url(raw)
    backend = url.get_backend_name()
    if backend == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return url.set(drivername="sqlite+pysqlite")
    raise UnsupportedDatabaseUrl(
        f"unsupported database URL scheme {url.drivername!r}: use sqlite:/// or postgresql://"
    )


def sqlite_path(url: URL) -> Path | None:
    """The file a SQLite URL points at, or None for in-memory SQLite and other backends."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)
