"""``surveyrouter explain``: why a respondent can or cannot take one opportunity."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from surveyrouter.cli.root import app
from surveyrouter.domain.targeting import evaluate
from surveyrouter.networks.rex.opportunities import InvalidOpportunity, parse_opportunity
from surveyrouter.profile_document import ProfileDocument


@app.command()
def explain(
    opportunity_file: Annotated[
        Path, typer.Argument(metavar="OPPORTUNITY.json", help="A REX opportunity as sent.")
    ],
    profile_file: Annotated[
        Path, typer.Argument(metavar="PROFILE.json", help="The respondent's profile document.")
    ],
    now: Annotated[
        str | None, typer.Option(help="Evaluation time, ISO 8601 (default: now; naive is UTC).")
    ] = None,
) -> None:
    """Print why a respondent can or cannot take an opportunity, as JSON."""
    try:
        at = _instant(now) if now else datetime.now(UTC)
        opportunity = parse_opportunity(_json_file(opportunity_file, "opportunity"))
        document = ProfileDocument.model_validate(_json_file(profile_file, "profile"))
    except (ValueError, OSError) as error:
        typer.echo(f"surveyrouter explain: {_one_line(error)}", err=True)
        raise typer.Exit(2) from error
    verdict = evaluate(opportunity, document.to_profile(), at, document.known_collections())
    typer.echo(json.dumps(verdict.as_json()))


def _json_file(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_bytes())
    except json.JSONDecodeError as error:
        message = f"{path}: the {what} is not JSON ({error.msg}, line {error.lineno})"
        raise ValueError(message) from error


def _instant(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError as error:
        raise ValueError(f"--now {text!r} is not an ISO 8601 time") from error
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _one_line(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "document"
        return f"profile: {where}: {first['msg']}"
    if isinstance(error, InvalidOpportunity):
        return str(error)
    return str(error).splitlines()[0] if str(error) else type(error).__name__
