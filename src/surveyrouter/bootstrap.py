"""The composition root: settings in, a ready database and the things built on it out."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.clock import utc_now
from surveyrouter.domain.questions import Question, QuestionLibrary
from surveyrouter.networks.rex.gateway import EntryLinks as RexEntryLinks
from surveyrouter.networks.rex.registry import Shard
from surveyrouter.networks.rex.signing import KeyPair, Secrets
from surveyrouter.sandbox.exchange import SandboxOptions
from surveyrouter.sandbox.outcomes import parse_ending
from surveyrouter.services.actions import SurveyOffers
from surveyrouter.services.impression_counter import ImpressionCounter
from surveyrouter.services.index_feed import IndexFeed
from surveyrouter.services.survey_entry import EntryLinks
from surveyrouter.services.sync import SyncSettings
from surveyrouter.settings import SANDBOX_MOUNT, Settings
from surveyrouter.store import migrate
from surveyrouter.store.category_library import load_category_catalog
from surveyrouter.store.db import (
    create_store_engine,
    make_session_factory,
    read_sessions,
    transaction,
)
from surveyrouter.store.networks import Network, upsert_networks
from surveyrouter.store.question_library import load_question_library
from surveyrouter.store.questions import (
    QuestionMapping,
    upsert_question_mappings,
    upsert_questions,
)
from surveyrouter.store.server_secrets import CLICK_LINK_SECRET, server_secret

log = logging.getLogger(__name__)

# Where the exchanges send respondents back (the outcome routes of the client API).
SANDBOX_RETURN_PATH = "/v1/exchanges/sandbox/return"
SANDBOX_CALLBACK_PATH = "/v1/exchanges/sandbox/callback"

# The client API's network ids are fixed here, once: publishers' apps keep survey links and
# network ids, so renumbering would break them.
SANDBOX = Network(
    id="sandbox", kind="sandbox", name="Sandbox exchange (bundled)", enabled=True, api_id=1
)
REX = Network(id="rex", kind="rex", name="Dynata REX", enabled=True, api_id=2)

# The embedded sandbox is on this machine: poll it often, so a change shows within seconds.
SANDBOX_POLL_INTERVAL_SECONDS = 1.0
# Receives of 50 gathered into one write and one ack while the queue keeps them coming: a busy
# queue is stored 200 at a time (bench/sync.py), a quiet one as soon as a receive comes short.
RECEIVES_PER_STEP = 4


@dataclass(frozen=True, slots=True)
class Runtime:
    """What one process shares: its settings, its database engine and session factory."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    # For the hot single-statement reads (a client call's app and user): see ``read_sessions``.
    reads: sessionmaker[Session]

    def close(self) -> None:
        self.engine.dispose()


def build_runtime(settings: Settings) -> Runtime:
    """Connect to the database named in ``settings``; nothing is read or written yet."""
    engine = create_store_engine(settings)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        reads=read_sessions(engine),
    )


def prepare_database(runtime: Runtime, library: QuestionLibrary | None = None) -> None:
    """Migrate the schema to head, then seed networks and the question library.

    Safe to run on every start: migrations already applied are skipped and seeding upserts.
    """
    migrate.upgrade(runtime.engine)
    seed(runtime, library or load_question_library())


@contextmanager
def prepared_runtime(settings: Settings) -> Iterator[Runtime]:
    """A runtime on a migrated and seeded database, for one command; closed after it."""
    runtime = build_runtime(settings)
    try:
        prepare_database(runtime)
        yield runtime
    finally:
        runtime.close()


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
    return [
        dataclasses.replace(SANDBOX, enabled=settings.sandbox_enabled),
        dataclasses.replace(REX, enabled=settings.rex_enabled),
    ]


@dataclass(frozen=True, slots=True)
class SyncTarget:
    """One enabled network as its sync worker reaches it."""

    network_id: str
    registry_url: str
    gateway_url: str
    keys: KeyPair
    sync: SyncSettings


def sync_targets(settings: Settings, port: int | None = None) -> list[SyncTarget]:
    """Every enabled network's endpoints and keys; ``port`` is the one ``serve`` bound, which
    the embedded sandbox is reached through."""
    targets = []
    if settings.sandbox_enabled:
        sandbox_url = settings.sandbox_base_url(port)
        targets.append(
            SyncTarget(
                network_id=SANDBOX.id,
                registry_url=sandbox_url,
                gateway_url=sandbox_url,
                keys=sandbox_keys(settings),
                sync=SyncSettings(
                    receives_per_step=RECEIVES_PER_STEP,
                    idle_sleep=SANDBOX_POLL_INTERVAL_SECONDS,
                    refresh_interval=timedelta(minutes=settings.rex_refresh_interval_minutes),
                ),
            )
        )
    if settings.rex_access_key is not None and settings.rex_secret_key is not None:
        shard = None
        if settings.rex_shard_count > 1:
            shard = Shard(settings.rex_shard_count, settings.rex_shard_index)
        targets.append(
            SyncTarget(
                network_id=REX.id,
                registry_url=settings.rex_registry_url,
                gateway_url=settings.rex_gateway_url,
                keys=KeyPair(settings.rex_access_key, settings.rex_secret_key.get_secret_value()),
                sync=SyncSettings(
                    receives_per_step=RECEIVES_PER_STEP,
                    shard=shard,
                    idle_sleep=settings.rex_poll_interval_seconds,
                    refresh_interval=timedelta(minutes=settings.rex_refresh_interval_minutes),
                ),
            )
        )
    return targets


def sandbox_keys(settings: Settings) -> KeyPair:
    """The key pair partners sign sandbox API calls and entry links with."""
    return KeyPair(settings.sandbox_access_key, settings.sandbox_secret_key.get_secret_value())


def sandbox_options(settings: Settings, port: int | None = None) -> SandboxOptions:
    """The embedded sandbox: mounted in this server, its state in its own file."""
    keys = sandbox_keys(settings)
    base_url = settings.base_url(port)
    forced = settings.sandbox_forced_outcome
    return SandboxOptions(
        api_keys={keys.access_key: keys.secret_key},
        redirect_keys=KeyPair(
            settings.sandbox_redirect_access_key,
            settings.sandbox_redirect_secret_key.get_secret_value(),
        ),
        base_url=f"{base_url}{SANDBOX_MOUNT}",
        partner_return_url=f"{base_url}{SANDBOX_RETURN_PATH}",
        partner_callback_url=f"{base_url}{SANDBOX_CALLBACK_PATH}",
        seed=settings.sandbox_seed,
        opportunities=settings.sandbox_opportunities,
        state_path=settings.sandbox_state_path,
        frozen=settings.sandbox_frozen,
        interactive=settings.sandbox_interactive,
        forced_outcome=None if forced is None else parse_ending(forced),
    )


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


def survey_offers(runtime: Runtime, feed: IndexFeed) -> SurveyOffers:
    """Get Actions over this process's index, for every network the settings know."""

    def link_secret() -> bytes:
        with transaction(runtime.sessions) as session:
            return server_secret(session, CLICK_LINK_SECRET, utc_now())

    return SurveyOffers(
        runtime.sessions,
        feed,
        load_question_library(),
        load_category_catalog(),
        configured_networks(runtime.settings),
        link_secret,
        utc_now,
        max_surveys=runtime.settings.actions_max_surveys,
        impressions=ImpressionCounter(runtime.sessions, runtime.settings.impressions_flush_seconds),
    )


def entry_links(settings: Settings) -> dict[str, EntryLinks]:
    """How each enabled network signs the links that send users in (its API key pair)."""
    links: dict[str, EntryLinks] = {}
    if settings.sandbox_enabled:
        links[SANDBOX.id] = RexEntryLinks(sandbox_keys(settings))
    if settings.rex_access_key is not None and settings.rex_secret_key is not None:
        keys = KeyPair(settings.rex_access_key, settings.rex_secret_key.get_secret_value())
        links[REX.id] = RexEntryLinks(keys)
    return links


def redirect_secrets(settings: Settings) -> dict[str, Secrets]:
    """Per network, the key pair it signs returns and callbacks with (REX §1.5); a network
    without one configured is not in it, and its returns are refused."""
    secrets: dict[str, Secrets] = {
        SANDBOX.id: {
            settings.sandbox_redirect_access_key: (
                settings.sandbox_redirect_secret_key.get_secret_value()
            )
        }
    }
    if settings.rex_redirect_access_key and settings.rex_redirect_secret_key:
        secrets[REX.id] = {
            settings.rex_redirect_access_key: settings.rex_redirect_secret_key.get_secret_value()
        }
    return secrets
