"""The ``surveyrouter`` Typer app; each command module registers itself on it."""

from __future__ import annotations

import typer

app = typer.Typer(help="A self-hosted survey router.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """A self-hosted survey router: exchange surveys matched to publishers' users."""
