"""The exchanges this router pulls from, one row each."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from surveyrouter.store.db import upsert
from surveyrouter.store.schema import NetworkRow


@dataclass(frozen=True, slots=True)
class Network:
    """``kind`` names the adapter that speaks to it (e.g. "rex", "sandbox"); ``id`` is ours.
    ``api_id`` is the number the client API names it by (``network_id`` in surveys and survey
    links; 0 is the question library, never a network)."""

    id: str
    kind: str
    name: str
    enabled: bool
    api_id: int


def upsert_networks(
    session: Session, networks: Iterable[Network], at: datetime | None = None
) -> None:
    """Create or update each network; ``created_at`` keeps the first write's time."""
    created_at = at or datetime.now(UTC)
    rows = [
        {
            "id": network.id,
            "kind": network.kind,
            "name": network.name,
            "enabled": network.enabled,
            "api_id": network.api_id,
            "created_at": created_at,
        }
        for network in networks
    ]
    upsert(session, NetworkRow, rows, keys=("id",), keep=("created_at",))


def list_networks(session: Session) -> list[Network]:
    rows = session.scalars(select(NetworkRow).order_by(NetworkRow.id))
    return [
        Network(id=r.id, kind=r.kind, name=r.name, enabled=r.enabled, api_id=r.api_id) for r in rows
    ]
