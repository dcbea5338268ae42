"""What ``serve`` prints on start-up: URLs an operator can open as printed."""

from __future__ import annotations

import socket

import pytest

from surveyrouter.cli.serve import print_urls
from surveyrouter.domain.apps import App

TOKEN = "c84b4ad9-8239-4412-bf97-1082c948751b"


def test_every_url_is_printed_whole_even_where_the_terminal_is_narrow(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")  # rich reads the width of a console that is no tty
    app = App(id=1, name="Demo app", api_token=TOKEN, secret="s" * 20, s2s_token="t" * 20)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        print_urls(listener, sandbox=True, first_app=app)
    printed = capsys.readouterr().out
    wall = f"http://127.0.0.1:{port}/offerwall?token={TOKEN}&uid=demo-user"
    assert wall in printed
    assert f"http://127.0.0.1:{port}/sandbox/rex" in printed
    assert "…" not in printed
