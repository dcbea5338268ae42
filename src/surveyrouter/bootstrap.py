"""The composition root: settings in, a ready database and the things built on it out."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.domain.questions import Question, QuestionLibrary
from surveyrouter.settings import Settings
from surveyrouter.store import migrate
from surveyrouter.store.db import create_store_engine, make_session_factory, transaction
from surveyrouter.store.networks import Network, upsert_networks
from surveyrouter.store.question_library import load_question_library
from surveyrouter.store.questions import (
    QuestionMapping,
    upsert_question_mappings,
    upsert_questions,
)

log = logging.getLogger(__name__)

SANDBOX = Network(id="sandbox", kind="sandbox", name="Sandbox exchange (bundled)", enabled=True)


@dataclass(frozen=True, slots=True)
class Runtime:
    """What one process shares: its settings, its database engine and session factory."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]

    def close(self) -> None:
        self.engine.dispose()


def build_runtime(settings: Settings) -> Runtime:
    """Connect to the database named in ``settings``; nothing is read or written yet."""
    engine = create_store_engine(settings)
    return Runtime(settings=settings, engine=engine, sessions=make_session_factory(engine))


def prepare_database(runtime: Runtime, library: QuestionLibrary | None = None) -> None:
    """Migrate the schema to head, then seed networks and the question library.

    Safe to run on every start: migrations already applied are skipped and seeding upserts.
    """
    migrate.upgrade(runtime.engine)
    seed(runtime, library or load_question_library())


def seed(runtime: Runtime, library: QuestionLibrary, at: datetime | None = None) -> None:
    networks = configured_networks(runtime.settings)
    seeded_at = at or datetime.now(UTC)
    with transaction(runtime.sessions) as session:
        upsert_networks(session, networks, at=seeded_at)
        upsert_questions(session, library, at=seeded_at)
        for network in networks:
            upsert_question_mappings(session, network.id, question_mappings(network, library))
    log.info(
        "database seeded",
        extra={
            "fields": {
                "networks": [n.id for n in networks if n.enabled],
                "questions": len(library),
            }
        },
    )


def configured_networks(settings: Settings) -> list[Network]:
    """Every network the settings know of, enabled or not.

    A disabled network keeps its row (its opportunities and clicks refer to it) and is
    marked disabled rather than deleted.
    """
    return [dataclasses.replace(SANDBOX, enabled=settings.sandbox_enabled)]


def question_mappings(network: Network, questions: Iterable[Question]) -> list[QuestionMapping]:
    """How ``network`` names the library's questions, as start-up seeds it.

    The sandbox publishes our question ids and answer ids as its attributes and answers.
    A real Dynata REX network starts with gender (1), age (80) and postal code (8) only: no
    public list of Dynata's other ids exists (REX §7), so an operator maps them
    (``surveyrouter rex attributes``) and until then users are asked the attribute's own
    question (``services.attributes``). Seeding never overwrites an operator's mapping.
    """
    if network.kind == "sandbox":
        return [
            QuestionMapping(
                attribute_id=question.id,
                question_id=question.id,
                answers={option.id: option.id for option in question.answers},
            )
            for question in questions
        ]
    if network.kind == "rex":
        # REX §7: the only ids known publicly (domain.profile's *_ATTRIBUTE_ID).
        standard = frozenset({1, 80, 8})
        return [
            QuestionMapping(
                attribute_id=question.rex_attribute_id,
                question_id=question.id,
                answers=dict(question.rex_answers),
            )
            for question in questions
            if question.rex_attribute_id is not None and question.rex_attribute_id in standard
        ]
    return []
