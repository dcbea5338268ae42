"""The operator dashboard at ``/admin``: server-rendered pages (Jinja2) behind a sign-in."""
