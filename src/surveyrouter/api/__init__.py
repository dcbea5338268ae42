"""The HTTP API: the app factory (``api.app.create_app``) and the routes every deployment has.

Nothing is imported here: a module that needs one part of the API (the dashboard its error
pages, a test one route's models) must not load the whole app with it, which would import the
dashboard back while it is still loading.
"""
