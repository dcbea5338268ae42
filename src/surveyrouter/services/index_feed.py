"""Keeping an in-memory ``Matcher`` current from the store's change feed (ARCHITECTURE:
"each process polls for rows past the last one it applied, about once a second").

Open opportunities are (re-)added; paused, closed and unknown-status ones leave matching at
once. The feed has no gaps (``store.opportunities`` serialises writes so that change order is
commit order), so a cursor that only moves forward misses nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.domain.matcher import Matcher
from surveyrouter.domain.opportunity import CellKind, Opportunity, OpportunityStatus
from surveyrouter.networks.rex.opportunities import parse_document
from surveyrouter.services.recently_parsed import RecentlyParsed
from surveyrouter.store.collections import get_collections
from surveyrouter.store.opportunities import Change, change_feed, raw_documents

logger = logging.getLogger(__name__)

Parse = Callable[[str, str], Opportunity]
"""An exchange's JSON text, as stored, and our network id to a domain opportunity."""

DEFAULT_BATCH_SIZE = 1000


class IndexFeed:
    """Applies the store's changes past ``last_seq`` to ``matcher``.

    The matcher is not thread-safe: the feed changes it only while holding ``lock``, and
    whoever reads it from another thread (the API) holds the same lock while matching.

    ``opportunities`` holds every indexed opportunity by (network, id), and ``collections``
    every loaded collection by the matcher's collection id: what the API shows about a
    survey, and what the reference evaluator needs to explain one, without a database read.
    """

    def __init__(
        self,
        matcher: Matcher,
        sessions: sessionmaker[Session],
        *,
        parse: Parse = parse_document,
        batch_size: int = DEFAULT_BATCH_SIZE,
        last_seq: int = 0,
        parsed: RecentlyParsed | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.matcher = matcher
        self.sessions = sessions
        self.parse = parse
        self.batch_size = batch_size
        self.last_seq = last_seq
        self.parsed = parsed
        self.lock = threading.RLock()
        self.opportunities: dict[tuple[str, int], Opportunity] = {}
        self.collections: dict[str, frozenset[str]] = {}
        self._loaded_collections: set[str] = set()
        # Referenced by an indexed opportunity but not in the store yet: the sync worker
        # stores them on a later notification or refresh, and every catch-up looks again.
        self._awaited_collections: set[tuple[str, str]] = set()

    def catch_up(self) -> int:
        """Apply every change committed past ``last_seq``, batch by batch, in change order.

        Returns how many changes were applied.
        """
        applied = 0
        self._load_awaited_collections()
        while True:
            with self.sessions() as session:
                rows = change_feed(session, self.last_seq, limit=self.batch_size)
            if not rows:
                return applied
            with self.lock:
                self._apply(rows)
            self.last_seq = rows[-1].change_seq
            applied += len(rows)
            if len(rows) < self.batch_size:
                return applied

    @property
    def indexed(self) -> int:
        """How many opportunities the matcher holds."""
        with self.lock:
            return len(self.matcher)

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        """Catch up about every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.catch_up()
            except Exception:
                # The index serves stale data rather than none; the next poll tries again.
                logger.exception("index feed: catching up failed at change %d", self.last_seq)
            stop.wait(interval)

    def _apply(self, rows: list[Change]) -> None:
        # Each (network, id) appears at most once in a batch (a row carries one change_seq),
        # so adding and removing in two passes cannot reorder two changes of one opportunity.
        live: list[Opportunity] = []
        gone: list[tuple[str, int]] = []
        # The row's normalized status decides, not the raw JSON: an opportunity the exchange
        # stopped knowing is closed there while its last payload is kept as sent.
        open_rows = [row for row in rows if row.status is OpportunityStatus.OPEN]
        gone += [
            (r.network_id, r.external_id) for r in rows if r.status is not OpportunityStatus.OPEN
        ]
        known = self._known(rows)  # every row's entry is taken, the closed ones' too
        missing = [row.change_seq for row in open_rows if row.change_seq not in known]
        documents: dict[int, str] = {}
        if missing:
            with self.sessions() as session:
                documents = raw_documents(session, missing)
        for row in open_rows:
            key = (row.network_id, row.external_id)
            try:
                opportunity = known.get(row.change_seq)
                if opportunity is None:
                    document = documents.get(row.change_seq)
                    if document is None:
                        continue  # overwritten since: its newer change comes later in the feed
                    opportunity = self.parse(document, row.network_id)
            except ValueError as error:
                logger.warning("index feed: opportunity %s/%s skipped: %s", *key, error)
                gone.append(key)
                continue
            if opportunity.status is not OpportunityStatus.OPEN:
                gone.append(key)
            else:
                live.append(network_collections(opportunity))
        self.matcher.remove(gone)
        for key in gone:
            self.opportunities.pop(key, None)
        self._load_collections(live)
        self._add(live)

    def _known(self, rows: list[Change]) -> dict[int, Opportunity]:
        """The opportunities this process's sync worker parsed before writing these very
        changes, by change number; the others are parsed from the stored JSON."""
        known: dict[int, Opportunity] = {}
        if self.parsed is None:
            return known
        for row in rows:
            cached = self.parsed.take(row.network_id, row.external_id, row.change_seq)
            if cached is not None and cached.network == row.network_id:
                known[row.change_seq] = cached
        return known

    def _add(self, opportunities: list[Opportunity]) -> None:
        for opportunity in opportunities:
            self.opportunities[(opportunity.network, opportunity.id)] = opportunity
        try:
            self.matcher.add(opportunities)
        except ValueError:
            # The matcher refuses one bad opportunity before changing anything for it, but the
            # ones before it in the batch are in: add the rest one by one to find it.
            for opportunity in opportunities:
                try:
                    self.matcher.add([opportunity])
                except ValueError as error:
                    logger.warning(
                        "index feed: opportunity %s/%s not indexed: %s",
                        opportunity.network,
                        opportunity.id,
                        error,
                    )
                    self.matcher.remove([(opportunity.network, opportunity.id)])
                    self.opportunities.pop((opportunity.network, opportunity.id), None)

    def _load_collections(self, opportunities: Iterable[Opportunity]) -> None:
        # The opportunities' collection ids are already the matcher's (network-qualified).
        wanted = {
            split_collection_key(cell.collection_id)
            for opportunity in opportunities
            for cell in opportunity.cells.values()
            if cell.kind is CellKind.COLLECTION
            and cell.collection_id is not None
            and cell.collection_id not in self._loaded_collections
        }
        self._awaited_collections |= wanted
        self._load_awaited_collections()

    def _load_awaited_collections(self) -> None:
        if not self._awaited_collections:
            return
        by_network: dict[str, set[str]] = {}
        for network_id, collection_id in self._awaited_collections:
            by_network.setdefault(network_id, set()).add(collection_id)
        found: dict[str, tuple[str, ...]] = {}
        with self.sessions() as session:
            for network_id, collection_ids in by_network.items():
                stored = get_collections(session, network_id, collection_ids)
                found.update(
                    {collection_key(network_id, c): values for c, values in stored.items()}
                )
                self._awaited_collections -= {(network_id, c) for c in stored}
        if found:
            with self.lock:
                self.matcher.add_collections(found)
                self.collections.update({key: frozenset(v) for key, v in found.items()})
            self._loaded_collections |= found.keys()


# The matcher knows collections by id alone, and two exchanges may both have a collection
# "2169971": the feed hands it network-qualified ids, in the cells and in the collections alike.
_SEPARATOR = "\x1f"


def collection_key(network_id: str, collection_id: str) -> str:
    """The matcher's id for one network's collection."""
    return f"{network_id}{_SEPARATOR}{collection_id}"


def split_collection_key(key: str) -> tuple[str, str]:
    network_id, _, collection_id = key.partition(_SEPARATOR)
    return network_id, collection_id


def network_collections(opportunity: Opportunity) -> Opportunity:
    """``opportunity`` with its COLLECTION cells naming network-qualified collections."""
    if not any(cell.collection_id for cell in opportunity.cells.values()):
        return opportunity
    cells = {
        tag: (
            dataclasses.replace(
                cell, collection_id=collection_key(opportunity.network, cell.collection_id)
            )
            if cell.collection_id
            else cell
        )
        for tag, cell in opportunity.cells.items()
    }
    return dataclasses.replace(opportunity, cells=cells)
