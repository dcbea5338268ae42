"""``surveyrouter reconcile TX --reason ...``: reverse a complete the exchange took back."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from surveyrouter.bootstrap import prepared_runtime
from surveyrouter.cli.root import app
from surveyrouter.clock import utc_now
from surveyrouter.domain.money import NotReconcilable, format_amount
from surveyrouter.services.rewards import TransactionNotFound, reverse_complete
from surveyrouter.settings import Settings


@app.command()
def reconcile(
    transaction_id: Annotated[str, typer.Argument(metavar="TX", help="The complete's TX.")],
    reason: Annotated[str, typer.Option(help="Why it is reversed (kept in the ledger).")],
) -> None:
    """Reverse a complete: negative ledger entries and a RECONCILIATION callback with its own
    TX and REF = the original. Running it again changes nothing."""
    with prepared_runtime(Settings()) as runtime:
        try:
            result = reverse_complete(runtime.sessions, transaction_id, reason, utc_now)
        except (TransactionNotFound, NotReconcilable, ValueError) as error:
            typer.echo(f"surveyrouter reconcile: {error}", err=True)
            raise typer.Exit(2) from error
    typer.echo(
        json.dumps(
            {
                "transaction_id": result.transaction_id,
                "reference": transaction_id,
                "type": result.reward.kind.value,
                "usd": format_amount(result.reward.usd),
                "value": format_amount(result.reward.value),
                "recorded_now": result.recorded,
                "callback_queued": result.callback_queued,
            },
            indent=2,
        )
    )
