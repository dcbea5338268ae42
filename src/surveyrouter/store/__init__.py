"""The database adapter: SQLAlchemy tables, Alembic migrations and the repository functions.

Repository functions take a ``Session`` and never commit: the caller owns the transaction.
"""
