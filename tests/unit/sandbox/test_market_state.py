"""Opening the sandbox registry: a new state file gets a market, an existing one is resumed."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.clock import Clock

from surveyrouter.domain.questions import QuestionLibrary
from surveyrouter.networks.rex.gateway import Disposition, entry_link
from surveyrouter.networks.rex.signing import KeyPair
from surveyrouter.sandbox.exchange import SandboxOptions, build_sandbox
from surveyrouter.sandbox.journal import Journal, JournalError
from surveyrouter.sandbox.market_state import open_registry
from surveyrouter.sandbox.registry import RegistryState
from surveyrouter.store.question_library import load_question_library

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
BASE = "http://127.0.0.1:8000/sandbox/rex"


@pytest.fixture(scope="module")
def library() -> QuestionLibrary:
    return load_question_library()


def open_at(
    path: Path | None, library: QuestionLibrary, *, seed: int = 3, size: int = 40, base: str = BASE
) -> RegistryState:
    return open_registry(
        seed=seed,
        opportunities=size,
        base_url=base,
        library=library,
        clock=Clock(START),
        state_path=path,
    )


def drain(registry: RegistryState, key: str) -> list[int]:
    received: list[int] = []
    for _ in range(100):
        items, _count, _total = registry.receive(key, limit=50)
        if not items:
            return received
        received += [item["id"] for item in items]
        registry.ack(key, [item["id"] for item in items])
    raise AssertionError("the queue never emptied")


def test_a_new_state_file_is_seeded_with_the_requested_market(
    tmp_path: Path, library: QuestionLibrary
) -> None:
    registry = open_at(tmp_path / "sandbox.db", library)

    documents = registry.documents()
    assert len(documents) == 40
    assert all(d["links"]["live"].startswith(f"{BASE}/start?") for d in documents)
    assert registry.meta("seed") == "3"


def test_a_state_file_with_a_market_is_resumed_whatever_the_options_ask_now(
    tmp_path: Path, library: QuestionLibrary
) -> None:
    path = tmp_path / "sandbox.db"
    first = open_at(path, library)
    first.change(first.opportunity_ids()[0], lambda d: d.update(status="PAUSED"))
    before = first.documents()
    first.close()

    resumed = open_at(path, library, seed=99, size=10)

    assert resumed.documents() == before


def test_a_new_address_rewrites_every_entry_link_and_renotifies_it(
    tmp_path: Path, library: QuestionLibrary
) -> None:
    path = tmp_path / "sandbox.db"
    first = open_at(path, library)
    assert len(drain(first, "router")) == 40
    first.close()

    moved = open_at(path, library, base="http://127.0.0.1:9000/sandbox/rex")

    assert all(
        d["links"]["live"].startswith("http://127.0.0.1:9000/sandbox/rex/start?ctx=")
        for d in moved.documents()
    )
    assert sorted(drain(moved, "router")) == moved.opportunity_ids()
    moved.close()
    assert open_at(path, library, base="http://127.0.0.1:9000/sandbox/rex").pending("router") == 0


def test_without_a_state_file_the_market_lives_in_memory(library: QuestionLibrary) -> None:
    registry = open_at(None, library)

    assert len(registry.opportunity_ids()) == 40
    assert registry.meta("seed") is None


def test_a_state_file_in_use_by_another_sandbox_is_refused(
    tmp_path: Path, library: QuestionLibrary
) -> None:
    path = tmp_path / "sandbox.db"
    journal = Journal(path)
    try:
        with pytest.raises(JournalError, match="in use by another sandbox"):
            open_at(path, library)
    finally:
        journal.close()
    assert len(open_at(path, library).opportunity_ids()) == 40  # free again once closed


def test_a_file_that_is_not_a_state_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not the droids")

    with pytest.raises(JournalError, match="not a sandbox state file"):
        Journal(path)


def test_respondents_and_their_projects_survive_a_restart(
    tmp_path: Path, library: QuestionLibrary
) -> None:
    keys = KeyPair("partner", "partner-secret")
    options = SandboxOptions(
        api_keys={keys.access_key: keys.secret_key},
        redirect_keys=KeyPair("redirect", "redirect-secret"),
        base_url=BASE,
        partner_return_url="https://partner.invalid/return",
        opportunities=40,
        seed=3,
        state_path=tmp_path / "sandbox.db",
        frozen=True,
        forced_outcome=Disposition(1, 0),
    )
    first = build_sandbox(options, library, Clock(START))
    live = next(d for d in first.registry.documents() if d["status"] == "OPEN")
    link = entry_link(live["links"]["live"], keys, START + timedelta(minutes=5), "r-42")
    first.gateway.start(link)
    before = first.gateway.respondents["r-42"]
    first.close()

    again = build_sandbox(options, library, Clock(START))

    assert again.gateway.respondents["r-42"] == before
    assert again.gateway.respondents["r-42"].entered_projects  # a second entry is a duplicate
    again.close()


def test_a_change_the_state_file_cannot_take_is_undone_in_memory_too(
    tmp_path: Path, library: QuestionLibrary
) -> None:
    registry = open_at(tmp_path / "sandbox.db", library)
    target = registry.opportunity_ids()[0]
    before = registry.get(target)
    journal = registry.journal
    assert journal is not None

    def full_disk() -> None:
        raise sqlite3.OperationalError("database or disk is full")

    journal.commit = full_disk  # type: ignore[method-assign]
    with pytest.raises(sqlite3.OperationalError):
        registry.change(target, lambda document: document.update(status="CLOSED"))

    assert registry.get(target) == before
    assert registry.version(target) == 1
    registry.close()
