"""The HTTP API: the app factory and the routes every deployment has."""

from surveyrouter.api.app import create_app

__all__ = ["create_app"]
