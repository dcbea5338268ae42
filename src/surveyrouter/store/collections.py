"""Exchange collections (e.g. REX postal-code lists), cached by id once downloaded."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from surveyrouter.store.db import in_chunks, upsert
from surveyrouter.store.schema import CollectionRow


@dataclass(frozen=True, slots=True)
class StoredCollection:
    network_id: str
    collection_id: str
    values: tuple[str, ...]
    fetched_at: datetime


def put_collection(
    session: Session,
    network_id: str,
    collection_id: str,
    values: Iterable[str],
    fetched_at: datetime,
) -> None:
    """Store a collection's values in the order the exchange sent them, replacing any before."""
    put_collections(session, network_id, {collection_id: values}, fetched_at)


def put_collections(
    session: Session,
    network_id: str,
    collections: Mapping[str, Iterable[str]],
    fetched_at: datetime,
) -> None:
    """``put_collection`` for each (id, values), in one statement."""
    rows = [
        {
            "network_id": network_id,
            "collection_id": collection_id,
            "values": list(values),
            "fetched_at": fetched_at,
        }
        for collection_id, values in collections.items()
    ]
    upsert(session, CollectionRow, rows, keys=("network_id", "collection_id"))


def get_collection(
    session: Session, network_id: str, collection_id: str
) -> StoredCollection | None:
    # Upserts bypass the identity map, so a row loaded earlier in this session may be stale.
    row = session.get(CollectionRow, (network_id, collection_id), populate_existing=True)
    if row is None:
        return None
    return StoredCollection(
        network_id=row.network_id,
        collection_id=row.collection_id,
        values=tuple(row.values),
        fetched_at=row.fetched_at,
    )


def get_collections(
    session: Session, network_id: str, collection_ids: Collection[str]
) -> dict[str, tuple[str, ...]]:
    """The values of those of ``collection_ids`` that are stored, by id; absent ones are left
    out."""
    wanted = sorted(set(collection_ids))
    found: dict[str, tuple[str, ...]] = {}
    for chunk in in_chunks(wanted):
        rows = session.scalars(
            select(CollectionRow)
            .where(CollectionRow.network_id == network_id, CollectionRow.collection_id.in_(chunk))
            .execution_options(populate_existing=True)
        )
        for row in rows:
            found[row.collection_id] = tuple(row.values)
    return found


def stored_collection_ids(
    session: Session, network_id: str, collection_ids: Collection[str]
) -> set[str]:
    """Which of ``collection_ids`` are stored, without reading their values."""
    wanted = sorted(set(collection_ids))
    found: set[str] = set()
    for chunk in in_chunks(wanted):
        found.update(
            session.scalars(
                select(CollectionRow.collection_id).where(
                    CollectionRow.network_id == network_id, CollectionRow.collection_id.in_(chunk)
                )
            )
        )
    return found
