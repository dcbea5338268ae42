"""`surveyrouter sandbox --access-key K --secret-key S [...]` checks its options before it binds,
and serves an exchange whose links name the port it bound."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from surveyrouter.cli import app
from surveyrouter.networks.rex.gateway import Disposition
from surveyrouter.networks.rex.signing import KeyPair
from surveyrouter.sandbox.exchange import SandboxExchange

KEYS = ["--access-key", "api-key", "--secret-key", "api-secret"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--force-outcome", "complete"], "--force-outcome: an ending is DISPOSITION.STATUS"),
        (["--force-outcome", "1.0", "--interactive"], "exclude each other"),
        (["--redirect-access-key", "only-one"], "give both --redirect-access-key"),
        (["--partner-return-url", "ftp://partner/return"], "--partner-return-url must be"),
        (["--access-key", " "], "must not be empty"),
    ],
)
def test_bad_options_exit_2_with_a_message(arguments: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["sandbox", *KEYS, "--port", "0", *arguments])

    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_it_serves_an_exchange_at_the_bound_port_with_the_defaults_filled_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served: dict[str, Any] = {}

    def run(server: uvicorn.Server, sockets: list[socket.socket]) -> None:
        served["exchange"] = server.config.app.state.exchange
        served["port"] = sockets[0].getsockname()[1]
        sockets[0].close()

    monkeypatch.setattr(uvicorn.Server, "run", run)
    # The command routes all logging through its JSON handler; not this test process's.
    monkeypatch.setattr("surveyrouter.cli.sandbox.configure_logging", lambda level: None)

    result = CliRunner().invoke(
        app,
        ["sandbox", *KEYS, "--port", "0", "--opportunities", "5", "--seed", "3",
         "--force-outcome", "3.2", "--frozen"],
        env={"COLUMNS": "160"},
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    exchange: SandboxExchange = served["exchange"]
    options = exchange.options
    base_url = f"http://127.0.0.1:{served['port']}"
    assert options.base_url == base_url
    assert options.partner_return_url == f"{base_url}/end"
    assert options.redirect_keys == KeyPair("api-key", "api-secret")
    assert options.forced_outcome == Disposition(3, 2)
    assert (options.frozen, options.interactive, options.opportunities) == (True, False, 5)
    assert len(exchange.registry.opportunity_ids()) == 5
    assert all(
        d["links"]["live"].startswith(f"{base_url}/start?ctx=")
        for d in exchange.registry.documents()
    )
    assert base_url in result.output
    assert "api-key" in result.output
    assert "api-secret" not in result.output
