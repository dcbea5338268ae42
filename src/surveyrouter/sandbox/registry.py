"""The sandbox Opportunity Registry's state (REX §2), without HTTP: what the exchange holds and
the per-partner queues it delivers from.

It holds opportunities by id (REX wire JSON, §3, each with a version), COLLECTION cell values
(§2.5), invite collections and their invites (§2.6), and one notification queue and one invite
queue per access key.

Queue semantics (§2.1, §2.6; the parts marked INFERRED in the spec are decisions made here):

- A key's queue is created on its first use and starts with everything the registry holds: a new
  partner receives the whole market.
- A delivered item stays queued until acked. For ``visibility_timeout`` seconds after a delivery
  it is hidden from every receive of that key; then it comes back. A timeout of 0 (the default)
  hides nothing.
- An ack removes an item only if the delivery it acknowledges was of the item's current version:
  an opportunity changed between delivery and ack stays queued, so the change is not lost.
  Acking an id that is not queued, or not yet delivered, changes nothing.
- A change bumps the version, stamps a new ``notified`` and queues the item again, visible at
  once, for every key; items come oldest-notified first.
- Shards partition opportunities by id: consumer ``current`` of ``count`` (both 1-based) receives
  the ids with ``id % count == current - 1``, so the shards of one count are disjoint and cover
  the queue. Invites have no shards (§2.6).
- ``total`` counts every unacknowledged item of the key's queue, whatever the shard and whether
  hidden or not (§2.1: "total unacknowledged in the queue").

Time comes from the injected clock; nothing here reads the system clock. Every operation holds
one lock, so the HTTP app's threads and a test changing the market may interleave freely.
"""

from __future__ import annotations

import copy
import itertools
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from surveyrouter import json_codec
from surveyrouter.networks.rex.registry import MAX_LIMIT, MAX_VISIBILITY_TIMEOUT, Shard
from surveyrouter.networks.rex.signing import format_expiration
from surveyrouter.sandbox.journal import Journal, Kind, Snapshot, StoredPending, StoredRecord
from surveyrouter.sandbox.market import Market

__all__ = [
    "DEFAULT_LIMIT",
    "CollectionNotFound",
    "InviteCollectionNotFound",
    "InviteNotFound",
    "OpportunityNotFound",
    "RegistryState",
    "Shard",
]

Clock = Callable[[], datetime]
Document = dict[str, Any]

# §2.1: the docs' example asks for 25 and the SDK always sends 10; a receive without a limit
# gets 10.
DEFAULT_LIMIT = 10


class OpportunityNotFound(LookupError):
    pass


class CollectionNotFound(LookupError):
    pass


class InviteCollectionNotFound(LookupError):
    pass


class InviteNotFound(LookupError):
    pass


def _timestamp(at: datetime) -> str:
    """RFC 3339, UTC, milliseconds, ``Z``: the form of REX's own timestamps (§3.4) and of the
    SDK's expirations, hence the shared formatter."""
    return format_expiration(at)


@dataclass(slots=True)
class _Record:
    """One opportunity or invite: its current document, version and place in the queue order."""

    document: Document
    version: int
    sequence: int  # when it was last (re)notified; queues deliver the lowest first
    notified: str  # an opportunity's ``notified``; an invite message's outer ``created`` (§2.6)
    encoded: bytes | None = None  # the document as JSON, made once per version when delivered

    def json(self) -> bytes:
        if self.encoded is None:
            self.encoded = json_codec.dump_bytes(self.document)
        return self.encoded


@dataclass(slots=True)
class _Pending:
    """A queued item of one key's queue."""

    delivered: int | None = None  # the version last delivered to this key, if any
    hidden_until: datetime | None = None


@dataclass(slots=True)
class _Queue:
    """One key's queue. ``pending`` is kept in delivery order (the records' ``sequence``), so a
    receive reads from the front instead of sorting the whole queue."""

    pending: dict[int, _Pending] = field(default_factory=dict)

    def requeue(self, identifier: int) -> None:
        """Queue an item that has just taken the newest sequence: it moves to the back."""
        entry = self.pending.pop(identifier, None) or _Pending()
        entry.hidden_until = None
        self.pending[identifier] = entry

    @classmethod
    def ordered(cls, records: dict[int, _Record], entries: dict[int, _Pending]) -> _Queue:
        """A queue of ``entries`` in their records' sequence order."""
        ids = sorted(entries, key=lambda identifier: records[identifier].sequence)
        return cls({identifier: entries[identifier] for identifier in ids})

    def take(
        self,
        records: dict[int, _Record],
        limit: int,
        now: datetime,
        visibility: timedelta,
        accept: Callable[[int], bool],
    ) -> list[_Record]:
        chosen: list[int] = []
        for identifier, entry in self.pending.items():
            if len(chosen) == limit:
                break
            if accept(identifier) and (entry.hidden_until is None or now >= entry.hidden_until):
                chosen.append(identifier)
        taken = []
        for identifier in chosen:
            record = records[identifier]
            entry = self.pending[identifier]
            entry.delivered = record.version
            entry.hidden_until = now + visibility if visibility else None
            taken.append(record)
        return taken

    def ack(self, records: dict[int, _Record], identifiers: Iterable[int]) -> list[int]:
        """Remove the acknowledged items; returns the ids that left the queue."""
        removed = []
        for identifier in identifiers:
            entry = self.pending.get(identifier)
            record = records.get(identifier)
            if entry is not None and record is not None and entry.delivered == record.version:
                del self.pending[identifier]
                removed.append(identifier)
        return removed


def _check_receive(limit: int, visibility_timeout: int) -> timedelta:
    if isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer 1..{MAX_LIMIT}, not {limit!r}")
    timeout = visibility_timeout
    if isinstance(timeout, bool) or not 0 <= timeout <= MAX_VISIBILITY_TIMEOUT:
        raise ValueError(
            f"visibility_timeout must be an integer 0..{MAX_VISIBILITY_TIMEOUT}, "
            f"not {visibility_timeout!r}"
        )
    return timedelta(seconds=visibility_timeout)


class RegistryState:
    """The exchange side of REX §2 for any number of partners (access keys)."""

    def __init__(self, clock: Clock, journal: Journal | None = None) -> None:
        """``journal``, when given, receives every change before the call making it returns,
        and what it already holds is loaded: the registry resumes where it stopped."""
        self._clock = clock
        self._lock = threading.Lock()
        self._sequence = itertools.count(1)
        self._opportunities: dict[int, _Record] = {}
        self._collections: dict[str, tuple[str, ...]] = {}
        self._invites: dict[int, _Record] = {}
        self._invite_collections: dict[str, list[int]] = {}
        self._notifications: dict[str, _Queue] = {}
        self._invite_queues: dict[str, _Queue] = {}
        self._journal = journal
        if journal is not None:
            self._restore(journal.load())

    @property
    def journal(self) -> Journal | None:
        """The state file the registry writes through to, if any (the gateway keeps its
        respondents there too)."""
        return self._journal

    def close(self) -> None:
        """Let go of the state file (another process may then open it); memory stays usable
        but changes are no longer kept."""
        with self._lock:
            if self._journal is not None:
                self._journal.close()
                self._journal = None

    @property
    def empty(self) -> bool:
        """Whether the registry holds nothing yet (a new exchange, or a new state file)."""
        with self._lock:
            return not self._opportunities and not self._collections and not self._invites

    def meta(self, name: str) -> str | None:
        """A value kept with the state (e.g. the market's seed); None in memory or when unset."""
        if self._journal is None:
            return None
        with self._lock:
            return self._journal.load_meta(name)

    def set_meta(self, name: str, value: str) -> None:
        if self._journal is None:
            return
        with self._lock, self._journal.operation():
            self._journal.set_meta(name, value)

    # --- loading and changing the market -------------------------------------------------------

    def seed(self, market: Market) -> None:
        """Add ``market``'s opportunities, collections and invite collections.

        Opportunities keep the ``notified`` the market gave them and queue in that order; each
        invite collection member becomes one invite, created now.
        """
        with self._lock, self._operation():
            ordered = sorted(
                market.opportunities, key=lambda o: (str(o.get("notified", "")), o["id"])
            )
            for document in ordered:
                identifier = int(document["id"])
                previous = self._opportunities.get(identifier)
                self._opportunities[identifier] = _Record(
                    document=copy.deepcopy(document),
                    version=previous.version + 1 if previous else 1,
                    sequence=next(self._sequence),
                    notified=str(document.get("notified", "")),
                )
            ids = [int(document["id"]) for document in ordered]
            self._save_records("opportunity", ids)
            self._requeue("opportunity", ids)
            collections = {str(key): tuple(values) for key, values in market.collections.items()}
            self._collections.update(collections)
            if self._journal is not None:
                self._journal.save_collections(collections)
            created = _timestamp(self._clock())
            next_invite = max(self._invites, default=0) + 1
            for collection_id, members in sorted(market.invite_collections.items()):
                invite_ids = self._invite_collections.setdefault(str(collection_id), [])
                for respondent_id in members:
                    self._add_invite(next_invite, str(collection_id), respondent_id, None, created)
                    invite_ids.append(next_invite)
                    next_invite += 1
            if self._journal is not None:
                self._journal.save_invite_collections(map(str, market.invite_collections))

    def change(self, opportunity_id: int, mutate: Callable[[Document], None]) -> Document:
        """Apply ``mutate`` to an opportunity's document, give it a new version and ``notified``
        and queue it again for every key (§2.1: "a related opportunity notification will
        reappear"). Returns a copy of the new document."""
        with self._lock, self._operation():
            record = self._opportunity(opportunity_id)
            return self._revise(record, opportunity_id, mutate, "notified", "opportunity")

    def version(self, opportunity_id: int) -> int:
        with self._lock:
            return self._opportunity(opportunity_id).version

    def add_invite(
        self, collection_id: str, respondent_id: str, expiration: datetime | None = None
    ) -> int:
        """Create an invite in an invite collection (created if new) and queue it for every key
        (§2.6: "When an update or create event occurs, new messages will be added")."""
        with self._lock, self._operation():
            identifier = max(self._invites, default=0) + 1
            created = _timestamp(self._clock())
            expires = _timestamp(expiration) if expiration is not None else None
            self._add_invite(identifier, collection_id, respondent_id, expires, created)
            self._invite_collections.setdefault(collection_id, []).append(identifier)
            if self._journal is not None:
                self._journal.save_invite_collections([collection_id])
            return identifier

    def change_invite(self, invite_id: int, mutate: Callable[[Document], None]) -> Document:
        """Apply ``mutate`` to an invite, stamp ``modified`` and queue it again for every key."""
        with self._lock, self._operation():
            record = self._invites.get(invite_id)
            if record is None:
                raise InviteNotFound(f"invite {invite_id} was not found")
            return self._revise(record, invite_id, mutate, "modified", "invite")

    # --- the notification queue (§2.1, §2.2) ---------------------------------------------------

    def receive(
        self,
        access_key: str,
        limit: int = DEFAULT_LIMIT,
        shard: Shard | None = None,
        visibility_timeout: int = 0,
    ) -> tuple[list[Document], int, int]:
        """Up to ``limit`` queued opportunities for ``access_key``, oldest-notified first, as
        ``(items, count, total)``: count is ``len(items)``, total the unacknowledged in the
        key's whole queue."""
        taken, total = self._receive(access_key, limit, shard, visibility_timeout)
        return [json.loads(record) for record in taken], len(taken), total

    def receive_json(
        self,
        access_key: str,
        limit: int = DEFAULT_LIMIT,
        shard: Shard | None = None,
        visibility_timeout: int = 0,
    ) -> tuple[bytes, int, int]:
        """``receive``, with the items as the JSON array the HTTP answer sends: each version
        of a document is encoded once, however often it is delivered."""
        taken, total = self._receive(access_key, limit, shard, visibility_timeout)
        return b"[" + b",".join(taken) + b"]", len(taken), total

    def _receive(
        self, access_key: str, limit: int, shard: Shard | None, visibility_timeout: int
    ) -> tuple[list[bytes], int]:
        visibility = _check_receive(limit, visibility_timeout)
        with self._lock, self._operation():
            queue = self._queue("opportunity", access_key)
            accept = _shard_filter(shard)
            taken = queue.take(self._opportunities, limit, self._clock(), visibility, accept)
            self._save_pending("opportunity", access_key, queue, taken)
            return [record.json() for record in taken], len(queue.pending)

    def ack(self, access_key: str, opportunity_ids: Iterable[int]) -> int:
        """Acknowledge deliveries to ``access_key``; returns how many items left the queue."""
        with self._lock, self._operation():
            queue = self._queue("opportunity", access_key)
            removed = queue.ack(self._opportunities, opportunity_ids)
            if self._journal is not None:
                self._journal.delete_pending("opportunity", access_key, removed)
            return len(removed)

    def requeue_all(self, access_key: str) -> None:
        """Queue every opportunity again for ``access_key``, as for a new partner."""
        with self._lock, self._operation():
            queue = self._queue("opportunity", access_key)
            entries = {i: queue.pending.get(i) or _Pending() for i in self._opportunities}
            for entry in entries.values():
                entry.hidden_until = None
            queue.pending = _Queue.ordered(self._opportunities, entries).pending
            self._save_pending("opportunity", access_key, queue, self._opportunities)

    def pending(self, access_key: str) -> int:
        """How many unacknowledged notifications ``access_key`` has."""
        with self._lock, self._operation():
            return len(self._queue("opportunity", access_key).pending)

    # --- lookups (§2.3 – §2.5) -----------------------------------------------------------------

    def get(self, opportunity_id: int) -> Document:
        with self._lock:
            return copy.deepcopy(self._opportunity(opportunity_id).document)

    def group(self, group_id: int, country: str, language: str) -> Document:
        """The opportunity of quota group ``group_id`` in a locale (§2.3's second form); the
        codes compare case-insensitively."""
        with self._lock:
            for record in self._opportunities.values():
                document = record.document
                locale = document.get("locale") or {}
                if (
                    document.get("group_id") == group_id
                    and str(locale.get("country", "")).upper() == country.upper()
                    and str(locale.get("language", "")).lower() == language.lower()
                ):
                    return copy.deepcopy(document)
        raise OpportunityNotFound(
            f"no opportunity for group {group_id} in {country.upper()}/{language.lower()}"
        )

    def project(self, project_id: int) -> list[int]:
        """The ids of a project's opportunities (§2.4), ascending; none for an unknown project."""
        with self._lock:
            return sorted(
                identifier
                for identifier, record in self._opportunities.items()
                if record.document.get("project_id") == project_id
            )

    def collection(self, collection_id: str) -> tuple[str, ...]:
        with self._lock:
            values = self._collections.get(collection_id)
        if values is None:
            raise CollectionNotFound(collection_id)
        return values

    # --- what the gateway and the market simulation read -------------------------------------

    def opportunity_for_context(self, ctx: str, language: str | None) -> Document | None:
        """The opportunity a ``links.live`` context leads to: an OPEN one of the context's group
        in ``language`` if there is one, else any of them (the gateway then refuses it as not
        open), else None. Dynata's samples share one context between the locales of a group."""
        marker = f"ctx={ctx}"
        with self._lock:
            matches = [
                record.document
                for record in self._opportunities.values()
                if _has_context(record.document, marker)
                and (language is None or _language(record.document) == language.lower())
            ]
            if not matches:
                return None
            chosen = next((d for d in matches if d.get("status") == "OPEN"), matches[0])
            return copy.deepcopy(chosen)

    def collection_values(self, collection_id: str) -> frozenset[str] | None:
        with self._lock:
            values = self._collections.get(collection_id)
        return None if values is None else frozenset(values)

    def opportunity_ids(self) -> list[int]:
        """Every opportunity id the registry holds, ascending."""
        with self._lock:
            return sorted(self._opportunities)

    def documents(self) -> list[Document]:
        """A copy of every opportunity document, in id order."""
        with self._lock:
            return [
                copy.deepcopy(self._opportunities[i].document) for i in sorted(self._opportunities)
            ]

    # --- invites (§2.6) ------------------------------------------------------------------------

    def receive_invites(
        self, access_key: str, limit: int = DEFAULT_LIMIT, visibility_timeout: int = 0
    ) -> tuple[list[Document], int, int]:
        """Up to ``limit`` queued invite messages, ``{"invite": {…}, "created": …}``, oldest
        first, as ``(messages, count, total)``."""
        visibility = _check_receive(limit, visibility_timeout)
        with self._lock, self._operation():
            queue = self._queue("invite", access_key)
            taken = queue.take(self._invites, limit, self._clock(), visibility, _everything)
            self._save_pending("invite", access_key, queue, taken)
            messages = [
                {"invite": copy.deepcopy(record.document), "created": record.notified}
                for record in taken
            ]
            return messages, len(messages), len(queue.pending)

    def ack_invites(self, access_key: str, invite_ids: Iterable[int]) -> int:
        with self._lock, self._operation():
            queue = self._queue("invite", access_key)
            removed = queue.ack(self._invites, invite_ids)
            if self._journal is not None:
                self._journal.delete_pending("invite", access_key, removed)
            return len(removed)

    def invite_collection(self, collection_id: str) -> list[Document]:
        """An invite collection's invites (§2.6's CSV rows), in id order."""
        with self._lock:
            ids = self._invite_collections.get(collection_id)
            if ids is None:
                raise InviteCollectionNotFound(collection_id)
            return [copy.deepcopy(self._invites[identifier].document) for identifier in ids]

    # --- internals (callers hold the lock) ------------------------------------------------------

    def _opportunity(self, opportunity_id: int) -> _Record:
        record = self._opportunities.get(opportunity_id)
        if record is None:
            raise OpportunityNotFound(f"opportunity {opportunity_id} was not found")
        return record

    def _add_invite(
        self,
        identifier: int,
        collection_id: str,
        respondent_id: str,
        expiration: str | None,
        created: str,
    ) -> None:
        self._invites[identifier] = _Record(
            document={
                "id": identifier,
                "collection_id": collection_id,
                "respondent_id": respondent_id,
                "expiration": expiration,
                "created": created,
                "modified": created,
            },
            version=1,
            sequence=next(self._sequence),
            notified=created,
        )
        self._save_records("invite", [identifier])
        self._requeue("invite", [identifier])

    def _revise(
        self,
        record: _Record,
        identifier: int,
        mutate: Callable[[Document], None],
        stamp: str,
        kind: Kind,
    ) -> Document:
        """Apply ``mutate``, stamp the time into ``stamp``, bump the version and queue the item
        again for every key; returns a copy of the new document."""
        # A copy, swapped in only once ``mutate`` returns: a mutation that raises leaves the
        # item as it was.
        document = copy.deepcopy(record.document)
        mutate(document)
        document["id"] = identifier  # the id names the queue item; it stays
        record.document = document
        record.encoded = None
        record.notified = _timestamp(self._clock())
        record.document[stamp] = record.notified
        record.version += 1
        record.sequence = next(self._sequence)
        self._save_records(kind, [identifier])
        self._requeue(kind, [identifier])
        return copy.deepcopy(record.document)

    def _queues(self, kind: Kind) -> dict[str, _Queue]:
        return self._notifications if kind == "opportunity" else self._invite_queues

    def _records(self, kind: Kind) -> dict[int, _Record]:
        return self._opportunities if kind == "opportunity" else self._invites

    def _requeue(self, kind: Kind, identifiers: Iterable[int]) -> None:
        identifiers = list(identifiers)
        for access_key, queue in self._queues(kind).items():
            for identifier in identifiers:
                queue.requeue(identifier)
            self._save_pending(kind, access_key, queue, identifiers)

    def _queue(self, kind: Kind, access_key: str) -> _Queue:
        queues = self._queues(kind)
        queue = queues.get(access_key)
        if queue is None:
            # A new partner starts with everything the registry holds.
            records = self._records(kind)
            queue = _Queue.ordered(records, {identifier: _Pending() for identifier in records})
            queues[access_key] = queue
            if self._journal is not None:
                self._journal.save_queue(kind, access_key)
                self._save_pending(kind, access_key, queue, records)
        return queue

    # --- the journal (callers hold the lock) ---------------------------------------------------

    def _operation(self) -> AbstractContextManager[None]:
        return self._journaled() if self._journal is not None else nullcontext()

    @contextmanager
    def _journaled(self) -> Iterator[None]:
        """One operation, on disk whole or not at all. Memory changes as the operation goes;
        if its journal commit fails (disk full, say), memory is read back from the file, so
        the two never disagree and the failed change is not notified from memory alone."""
        assert self._journal is not None
        try:
            with self._journal.operation():
                yield
        except (sqlite3.Error, OSError):
            # The file failed us; an operation's own refusals (unknown id, a mutation that
            # raises) leave memory as it was and need no reload.
            self._reload()
            raise

    def _reload(self) -> None:
        assert self._journal is not None
        for records in (self._opportunities, self._invites):
            records.clear()
        for collections in (self._collections, self._invite_collections):
            collections.clear()
        self._notifications.clear()
        self._invite_queues.clear()
        self._restore(self._journal.load())

    def _save_records(self, kind: Kind, identifiers: Iterable[int]) -> None:
        if self._journal is None:
            return
        records = self._records(kind)
        self._journal.save_records(
            kind,
            (
                StoredRecord(i, records[i].version, records[i].sequence, records[i].notified,
                             records[i].document)
                for i in identifiers
            ),
        )  # fmt: skip

    def _save_pending(
        self, kind: Kind, access_key: str, queue: _Queue, items: Iterable[int | _Record]
    ) -> None:
        if self._journal is None:
            return
        ids = [item if isinstance(item, int) else int(item.document["id"]) for item in items]
        self._journal.save_pending(
            kind,
            access_key,
            (
                StoredPending(i, queue.pending[i].delivered, queue.pending[i].hidden_until)
                for i in ids
                if i in queue.pending
            ),
        )

    def _restore(self, snapshot: Snapshot) -> None:
        for kind, stored in (("opportunity", snapshot.opportunities), ("invite", snapshot.invites)):
            records = self._records(kind)  # type: ignore[arg-type]
            for item in stored:
                records[item.id] = _Record(
                    item.document, item.version, item.sequence, item.notified
                )
        self._collections.update(snapshot.collections)
        for collection_id in snapshot.invite_collections:
            self._invite_collections[collection_id] = []
        for identifier in sorted(self._invites):
            collection_id = str(self._invites[identifier].document.get("collection_id"))
            self._invite_collections.setdefault(collection_id, []).append(identifier)
        for (kind, access_key), entries in snapshot.queues.items():
            records = self._records(kind)
            self._queues(kind)[access_key] = _Queue.ordered(
                records,
                {e.id: _Pending(e.delivered, e.hidden_until) for e in entries if e.id in records},
            )
        last = max(
            (r.sequence for r in (*self._opportunities.values(), *self._invites.values())),
            default=0,
        )
        self._sequence = itertools.count(last + 1)


def _has_context(document: Document, marker: str) -> bool:
    live = str((document.get("links") or {}).get("live", ""))
    query = live.partition("?")[2]
    return marker in query.split("&")


def _language(document: Document) -> str:
    return str((document.get("locale") or {}).get("language", "")).lower()


def _everything(identifier: int) -> bool:
    return True


def _shard_filter(shard: Shard | None) -> Callable[[int], bool]:
    if shard is None:
        return _everything
    count, index = shard.count, shard.current - 1
    return lambda identifier: identifier % count == index
