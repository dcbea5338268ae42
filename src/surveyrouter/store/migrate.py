"""Alembic, driven from code: ``serve`` upgrades at start-up, tests go up and down.

The migration scripts live inside the package (``surveyrouter.store:migrations``) so an installed
wheel can migrate its database without a checkout; ``alembic.ini`` at the repository root points
the ``alembic`` command at the same place for developers writing new revisions.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

SCRIPT_LOCATION = "surveyrouter.store:migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    # env.py runs on this engine instead of building one from a URL in the config.
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    command.downgrade(alembic_config(engine), revision)
