"""`surveyrouter rex attributes [--network] [--map ID --question KEY [--answer THEIRS=OURS]...]
[--unmap ID]` lists a network's attributes and maps them, against a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from surveyrouter.bootstrap import Runtime, build_runtime, prepare_database
from surveyrouter.cli import app
from surveyrouter.networks.rex.opportunities import parse_opportunity
from surveyrouter.sandbox.attributes import AttributeCatalogue, market_attributes
from surveyrouter.sandbox.market import generate_market
from surveyrouter.services.attributes import read_attribute_info
from surveyrouter.settings import Settings
from surveyrouter.store.db import transaction
from surveyrouter.store.opportunities import upsert_opportunities
from surveyrouter.store.question_library import load_question_library
from surveyrouter.store.questions import (
    MappingSource,
    QuestionMapping,
    get_question_mapping,
    put_network_attribute,
)

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
LIBRARY = load_question_library()
SMART_SPEAKER = 910002  # the sandbox's own: Yes 91000201, No 91000202


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'surveyrouter.db'}"


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    """The database as the sync worker and discovery leave it: live opportunities on the
    sandbox's own attributes, and their network questions."""
    runtime = build_runtime(Settings(database_url=database_url, sandbox_enabled=True))
    prepare_database(runtime)
    market = generate_market(100, seed=7, attributes=market_attributes(LIBRARY))
    catalogue = AttributeCatalogue(LIBRARY)
    with transaction(runtime.sessions) as session:
        upsert_opportunities(
            session,
            "sandbox",
            [(parse_opportunity(raw, "sandbox"), raw) for raw in market.opportunities],
            at=T0,
        )
        for attribute_id in (910001, SMART_SPEAKER):
            info = catalogue.attribute_info(attribute_id)
            assert info is not None
            put_network_attribute(session, read_attribute_info(info, "sandbox", attribute_id, T0))
    try:
        yield runtime
    finally:
        runtime.close()


def rex_attributes(database_url: str, *args: str, **env: str | None) -> tuple[int, str, str]:
    variables: dict[str, str | None] = {
        "SURVEYROUTER_DATABASE_URL": database_url,
        "SURVEYROUTER_SANDBOX_ENABLED": "true",
        "SURVEYROUTER_REX_ACCESS_KEY": None,
        "SURVEYROUTER_REX_SECRET_KEY": None,
        "COLUMNS": "200",
    }
    variables.update(env)
    result = CliRunner().invoke(app, ["rex", "attributes", *args], env=variables)
    return result.exit_code, result.stdout, result.stderr


def mapping_of(runtime: Runtime, attribute_id: int) -> QuestionMapping | None:
    with runtime.sessions() as session:
        return get_question_mapping(session, "sandbox", attribute_id)


def row_of(output: str, attribute_id: int) -> str:
    return next(line for line in output.splitlines() if f" {attribute_id} " in line)


def cells_of(output: str, attribute_id: int) -> list[str]:
    return [cell.strip() for cell in row_of(output, attribute_id).strip("│ ").split("│")]


def test_the_list_shows_mapped_questions_and_unmapped_network_questions(
    runtime: Runtime, database_url: str
) -> None:
    code, out, err = rex_attributes(database_url)

    assert (code, err) == (0, "")
    assert "sandbox attributes" in out
    employment = row_of(out, 2001)
    assert "mapped" in employment
    assert "employment_status" in employment
    assert "library" in employment
    speaker = row_of(out, SMART_SPEAKER)
    assert "unmapped" in speaker
    assert "network question: Do you own a smart speaker?" in speaker
    # Used by live opportunities but not looked up yet.
    assert "(not looked up yet)" in row_of(out, 910003)
    assert "unmapped (2 asked as network questions)" in out
    statuses = [line.split("│")[2].strip() for line in out.splitlines() if line.count("│") > 2]
    # What an operator has to look at comes first.
    assert statuses == sorted(statuses, key=lambda status: status != "unmapped")
    assert statuses.count("unmapped") == 3


def test_the_list_counts_the_live_opportunities_using_each_attribute(
    runtime: Runtime, database_url: str
) -> None:
    market = generate_market(100, seed=7, attributes=market_attributes(LIBRARY))
    live = sum(
        1
        for raw in market.opportunities
        if raw["status"] == "OPEN" and any(c["attribute_id"] == SMART_SPEAKER for c in raw["cells"])
    )

    ages = sum(
        1
        for raw in market.opportunities
        if raw["status"] == "OPEN" and any(c["attribute_id"] == 80 for c in raw["cells"])
    )

    _, out, _ = rex_attributes(database_url)

    assert cells_of(out, SMART_SPEAKER)[-1] == str(live)
    assert cells_of(out, 80)[-1] == str(ages)


def test_mapping_an_attribute_survives_a_restart(runtime: Runtime, database_url: str) -> None:
    code, out, err = rex_attributes(
        database_url,
        "--map",
        str(SMART_SPEAKER),
        "--question",
        "smoking",
        "--answer",
        "91000201=201701",
        "--answer",
        "91000202=201704",
    )

    assert (code, err) == (0, "")
    assert "attribute 910002 is mapped to 'smoking' (2 answers mapped)" in out
    prepare_database(runtime)  # what the next start does
    assert mapping_of(runtime, SMART_SPEAKER) == QuestionMapping(
        SMART_SPEAKER, 2017, {"201701": "91000201", "201704": "91000202"}, MappingSource.OPERATOR
    )
    _, listed, _ = rex_attributes(database_url)
    assert "smoking" in row_of(listed, SMART_SPEAKER)
    assert "operator" in row_of(listed, SMART_SPEAKER)


def test_unmapping_a_library_attribute_survives_a_restart(
    runtime: Runtime, database_url: str
) -> None:
    code, out, _ = rex_attributes(database_url, "--unmap", "2001")
    again_code, again, _ = rex_attributes(database_url, "--unmap", "2001")

    assert (code, again_code) == (0, 0)
    assert "attribute 2001 is now unmapped" in out
    assert "attribute 2001 was not mapped" in again
    prepare_database(runtime)
    assert mapping_of(runtime, 2001) == QuestionMapping(2001, None, {}, MappingSource.OPERATOR)


def test_mapping_without_answers_warns_that_answers_will_not_reach_the_network(
    runtime: Runtime, database_url: str
) -> None:
    code, _, err = rex_attributes(database_url, "--map", "910003", "--question", "smoking")

    assert code == 0
    assert "no --answer given" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--map", "910002", "--question", "no_such_key"], "no question 'no_such_key'"),
        (["--map", "910002", "--question", "smoking", "--answer", "91000201=999"],
         "question 'smoking' has no answer '999'"),
        (["--map", "910002", "--question", "smoking", "--answer", "12345=201701"],
         "attribute 910002 has no answer '12345'"),
        (["--map", "910002", "--question", "smoking", "--answer", "yes=201701"],
         "their answer id 'yes' is not a positive integer"),
        (["--map", "910002", "--question", "smoking", "--answer", "91000201=201701",
          "--answer", "91000202=201701"], "our answer '201701' is mapped twice"),
        (["--map", "910002", "--question", "birth_date", "--answer", "1=2"],
         "it has no answer ids to map"),
        (["--map", "910002", "--question", "smoking", "--answer", "91000201"],
         "--answer '91000201' is not THEIRS=OURS"),
        (["--map", "910002"], "--map needs --question KEY"),
        (["--question", "smoking"], "--question and --answer go with --map"),
        (["--map", "910002", "--question", "smoking", "--unmap", "2001"], "not both"),
        (["--map", "28", "--question", "smoking"], "attribute 28 holds exclusions"),
        (["--map", "0", "--question", "smoking"], "attribute id 0 is not a positive integer"),
        (["--network", "nowhere"], "no network 'nowhere' (known: rex, sandbox)"),
    ],
)  # fmt: skip
def test_a_bad_mapping_is_refused_with_exit_code_2_and_writes_nothing(
    runtime: Runtime, database_url: str, args: list[str], message: str
) -> None:
    before = mapping_of(runtime, SMART_SPEAKER)

    code, out, err = rex_attributes(database_url, *args)

    assert code == 2
    assert out == ""
    assert err.startswith("surveyrouter rex attributes: ")
    assert message in err
    assert len(err.splitlines()) == 1
    assert mapping_of(runtime, SMART_SPEAKER) == before


def test_the_network_defaults_to_rex_when_rex_is_configured(
    runtime: Runtime, database_url: str
) -> None:
    code, out, err = rex_attributes(
        database_url, SURVEYROUTER_REX_ACCESS_KEY="key", SURVEYROUTER_REX_SECRET_KEY="secret"
    )

    # Whether the rex network is seeded is bootstrap's business; either way it is the one used.
    assert ("rex attributes" in out) if code == 0 else ("no network 'rex'" in err)
    assert "sandbox attributes" not in out
