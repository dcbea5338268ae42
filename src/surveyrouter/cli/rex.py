"""``surveyrouter rex``: a REX network's attributes, and the operator's mappings of them."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from surveyrouter.bootstrap import Runtime, prepared_runtime
from surveyrouter.cli.root import app
from surveyrouter.services.attributes import (
    AttributeStatus,
    MappingInvalid,
    attribute_statuses,
    map_attribute,
    unmap_attribute,
)
from surveyrouter.settings import Settings
from surveyrouter.store.db import transaction
from surveyrouter.store.networks import list_networks
from surveyrouter.store.question_library import load_question_library

rex = typer.Typer(
    help="Dynata REX networks (and the sandbox, which speaks REX).", no_args_is_help=True
)
app.add_typer(rex, name="rex")

_COMMAND = "surveyrouter rex attributes"


@rex.command()
def attributes(
    network: Annotated[
        str | None,
        typer.Option(help="Network id (default: rex when configured, else sandbox)."),
    ] = None,
    map_: Annotated[
        int | None,
        typer.Option("--map", metavar="ATTRIBUTE_ID", help="Map this attribute to --question."),
    ] = None,
    question: Annotated[
        str | None, typer.Option(metavar="KEY", help="The library question --map maps to.")
    ] = None,
    answer: Annotated[
        list[str] | None,
        typer.Option(
            metavar="THEIRS=OURS",
            help="With --map: their answer id and ours, once per answer.",
        ),
    ] = None,
    unmap: Annotated[
        int | None, typer.Option(metavar="ATTRIBUTE_ID", help="Unmap this attribute.")
    ] = None,
) -> None:
    """List a network's mapped and unmapped attributes, or map or unmap one.

    Operators' mappings survive restarts: start-up seeding never overwrites them.
    """
    settings = Settings()
    try:
        answers = _answer_pairs(answer or [])
        _check_options(map_, question, answers, unmap)
    except ValueError as error:
        _fail(str(error))
    network_id = network or ("rex" if settings.rex_enabled else "sandbox")
    with prepared_runtime(settings) as runtime:
        _check_network(runtime, network_id)
        if map_ is not None and question is not None:
            _map(runtime, network_id, map_, question, answers)
        elif unmap is not None:
            _unmap(runtime, network_id, unmap)
        else:
            _list(runtime, network_id)


def _answer_pairs(values: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        theirs, separator, ours = value.partition("=")
        if not separator or not theirs.strip() or not ours.strip():
            raise ValueError(f"--answer {value!r} is not THEIRS=OURS")
        pairs.append((theirs.strip(), ours.strip()))
    return pairs


def _check_options(
    map_: int | None, question: str | None, answers: list[tuple[str, str]], unmap: int | None
) -> None:
    if map_ is not None and unmap is not None:
        raise ValueError("give --map or --unmap, not both")
    if map_ is not None and question is None:
        raise ValueError("--map needs --question KEY")
    if map_ is None and (question is not None or answers):
        raise ValueError("--question and --answer go with --map")


def _check_network(runtime: Runtime, network_id: str) -> None:
    with runtime.sessions() as session:
        known = [n.id for n in list_networks(session)]
    if network_id not in known:
        _fail(f"no network {network_id!r} (known: {', '.join(known) or 'none'})")


def _map(
    runtime: Runtime,
    network_id: str,
    attribute_id: int,
    question_key: str,
    answers: list[tuple[str, str]],
) -> None:
    library = load_question_library()
    try:
        with transaction(runtime.sessions) as session:
            mapping = map_attribute(
                session, network_id, attribute_id, question_key, answers, library
            )
    except MappingInvalid as error:
        _fail(str(error))
    typer.echo(
        f"{network_id}: attribute {attribute_id} is mapped to {question_key!r} "
        f"({len(mapping.answers)} answers mapped)"
    )
    question = library.by_key(question_key)
    if question.type.has_options and not mapping.answers:
        typer.echo(
            f"warning: no --answer given; answers to {question_key!r} will not reach "
            f"attribute {attribute_id}",
            err=True,
        )


def _unmap(runtime: Runtime, network_id: str, attribute_id: int) -> None:
    try:
        with transaction(runtime.sessions) as session:
            changed = unmap_attribute(session, network_id, attribute_id)
    except MappingInvalid as error:
        _fail(str(error))
    state = "is now unmapped" if changed else "was not mapped"
    typer.echo(f"{network_id}: attribute {attribute_id} {state}")


def _list(runtime: Runtime, network_id: str) -> None:
    with runtime.sessions() as session:
        statuses = attribute_statuses(session, network_id, load_question_library())
    table = Table(title=f"{network_id} attributes", title_justify="left")
    table.add_column("attribute", justify="right")
    table.add_column("status")
    table.add_column("question", overflow="fold")
    table.add_column("answers", justify="right")
    table.add_column("set by")
    table.add_column("live opportunities", justify="right")
    for status in statuses:
        table.add_row(
            str(status.attribute_id),
            "mapped" if status.mapped else "unmapped",
            _question_cell(status),
            _answers_cell(status),
            status.mapping.source.value if status.mapping else "",
            f"{status.live_opportunities:,}",
        )
    console = Console()
    console.print(table)
    mapped = sum(1 for s in statuses if s.mapped)
    askable = sum(1 for s in statuses if not s.mapped and s.described and s.described.question)
    console.print(
        f"{mapped} mapped, {len(statuses) - mapped} unmapped ({askable} asked as network questions)"
    )


def _question_cell(status: AttributeStatus) -> str:
    mapping = status.mapping
    if mapping is not None and mapping.question_id is not None:
        if status.question is not None:
            return status.question.key
        return f"question {mapping.question_id} (not in the library)"
    described = status.described
    if described is None:
        return "(not looked up yet)"
    if described.question is not None:
        return f"network question: {described.question.text_in('en')}"
    return f"(not asked: {described.unaskable})"


def _answers_cell(status: AttributeStatus) -> str:
    if status.mapping is not None and status.mapping.question_id is not None:
        if status.question is not None and not status.question.type.has_options:
            return ""
        return str(len(status.mapping.answers))
    if status.described is not None and status.described.question is not None:
        return str(len(status.described.question.answers))
    return ""


def _fail(message: str) -> NoReturn:
    typer.echo(f"{_COMMAND}: {message}", err=True)
    raise typer.Exit(2)
