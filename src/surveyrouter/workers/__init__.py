"""Background loops: what runs beside the HTTP server, or alone in ``surveyrouter sync``."""
