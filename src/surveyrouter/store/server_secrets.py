"""Secrets the server makes for itself once and then keeps in the database."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from surveyrouter.store.db import insert_unless_present
from surveyrouter.store.schema import ServerSecretRow

RESPONDENT_ID_SECRET = "respondent_id"
CLICK_LINK_SECRET = "click_link"


def server_secret(session: Session, name: str, at: datetime) -> bytes:
    """The secret called ``name``, generated on first use and the same ever after.

    Several processes may ask at once on a fresh database: each offers a new value, the
    database keeps the first (insert-or-nothing), and all read back that one.
    """
    row = session.get(ServerSecretRow, name)
    if row is None:
        offered = {"name": name, "value": secrets.token_hex(32), "created_at": at}
        insert_unless_present(session, ServerSecretRow, offered, keys=("name",))
        row = session.scalars(
            select(ServerSecretRow)
            .where(ServerSecretRow.name == name)
            .execution_options(populate_existing=True)
        ).one()
    return bytes.fromhex(row.value)
