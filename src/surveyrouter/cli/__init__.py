"""The ``surveyrouter`` command: one module per command, all registered on ``root.app``."""

from surveyrouter.cli import apps, explain, operators, reconcile, sandbox, serve, sync
from surveyrouter.cli import rex as rex
from surveyrouter.cli.root import app
from surveyrouter.cli.serve import bind

__all__ = [
    "app",
    "apps",
    "bind",
    "explain",
    "operators",
    "reconcile",
    "sandbox",
    "serve",
    "sync",
]
