"""The sandbox exchange's state on disk: one SQLite file, written through on every change.

The sandbox must never contradict what a router already synced from it, so every change the
registry makes (an opportunity revised, a queue entry delivered or acked, an invite added) is
in this file before the call that made it returns. The registry keeps working from memory; the
file is read once, at start.

Its own file, beside the router's data, with the standard library's ``sqlite3``: the sandbox
stands in for a remote exchange and shares nothing with the router's store.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

Kind = Literal["opportunity", "invite"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, id INTEGER NOT NULL, version INTEGER NOT NULL,
    sequence INTEGER NOT NULL, notified TEXT NOT NULL, document TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS collections (id TEXT PRIMARY KEY, vals TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS invite_collections (id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS pending (
    kind TEXT NOT NULL, access_key TEXT NOT NULL, id INTEGER NOT NULL,
    delivered INTEGER, hidden_until TEXT,
    PRIMARY KEY (kind, access_key, id)
);
CREATE TABLE IF NOT EXISTS queues (kind TEXT NOT NULL, access_key TEXT NOT NULL,
    PRIMARY KEY (kind, access_key));
CREATE TABLE IF NOT EXISTS respondents (id TEXT PRIMARY KEY, document TEXT NOT NULL);
"""


class JournalError(RuntimeError):
    """The state file cannot be used (not a sandbox state file, or from a newer version)."""


@dataclass(frozen=True, slots=True)
class StoredRecord:
    id: int
    version: int
    sequence: int
    notified: str
    document: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredPending:
    id: int
    delivered: int | None
    hidden_until: datetime | None


@dataclass(slots=True)
class Snapshot:
    """Everything a registry needs to resume where it stopped."""

    meta: dict[str, str] = field(default_factory=dict)
    opportunities: list[StoredRecord] = field(default_factory=list)
    invites: list[StoredRecord] = field(default_factory=list)
    collections: dict[str, tuple[str, ...]] = field(default_factory=dict)
    invite_collections: list[str] = field(default_factory=list)
    # (kind, access key) -> that queue's entries; a queue with no entries is still listed.
    queues: dict[tuple[Kind, str], list[StoredPending]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.opportunities and not self.invites and not self.collections


class Journal:
    """Write-through storage for one registry. Not thread-safe: the registry's lock guards it.

    Writes are staged by the ``save_*``/``delete_*`` calls and made durable by ``commit``; the
    registry commits once per operation, so an operation is on disk whole or not at all.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One sandbox per state file: a second would hand out the same market twice and
        # overwrite the first one's queues.
        self._lock_file = open(path.with_name(path.name + ".lock"), "w")  # noqa: SIM115
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            self._lock_file.close()
            raise JournalError(f"{path} is in use by another sandbox exchange") from error
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level="DEFERRED")
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as error:
            self.close()
            raise JournalError(f"{path} is not a sandbox state file: {error}") from error
        # The gateway writes respondents under its own lock, on a connection of its own, so
        # its commits never cut into a registry operation staged on the main one.
        self._respondents = sqlite3.connect(path, check_same_thread=False)
        self._respondents_lock = threading.Lock()
        version = self.load_meta("schema_version")
        if version is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
            self.commit()
        elif int(version) > SCHEMA_VERSION:
            self.close()
            raise JournalError(
                f"{path} was written by a newer surveyrouter (state version {version})"
            )

    def close(self) -> None:
        if hasattr(self, "_respondents"):
            self._respondents.close()
        self._db.close()
        self._lock_file.close()  # releases the lock

    def commit(self) -> None:
        self._db.commit()

    def rollback(self) -> None:
        self._db.rollback()

    @contextmanager
    def operation(self) -> Iterator[None]:
        """Commit what the block staged, or nothing if it raised."""
        try:
            yield
            self.commit()
        except BaseException:
            self.rollback()
            raise

    # --- staging writes ------------------------------------------------------------------------

    def set_meta(self, name: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def save_records(self, kind: Kind, records: Iterable[StoredRecord]) -> None:
        self._db.executemany(
            "INSERT INTO records (kind, id, version, sequence, notified, document) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET "
            "version = excluded.version, sequence = excluded.sequence, "
            "notified = excluded.notified, document = excluded.document",
            (
                (kind, r.id, r.version, r.sequence, r.notified, json.dumps(r.document))
                for r in records
            ),
        )

    def save_collections(self, collections: Mapping[str, Iterable[str]]) -> None:
        self._db.executemany(
            "INSERT INTO collections (id, vals) VALUES (?, ?) "
            "ON CONFLICT (id) DO UPDATE SET vals = excluded.vals",
            ((key, json.dumps(list(values))) for key, values in collections.items()),
        )

    def save_invite_collections(self, collection_ids: Iterable[str]) -> None:
        self._db.executemany(
            "INSERT INTO invite_collections (id) VALUES (?) ON CONFLICT (id) DO NOTHING",
            ((key,) for key in collection_ids),
        )

    def save_queue(self, kind: Kind, access_key: str) -> None:
        self._db.execute(
            "INSERT INTO queues (kind, access_key) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (kind, access_key),
        )

    def save_pending(self, kind: Kind, access_key: str, entries: Iterable[StoredPending]) -> None:
        self._db.executemany(
            "INSERT INTO pending (kind, access_key, id, delivered, hidden_until) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, access_key, id) DO UPDATE SET "
            "delivered = excluded.delivered, hidden_until = excluded.hidden_until",
            (
                (
                    kind,
                    access_key,
                    entry.id,
                    entry.delivered,
                    None if entry.hidden_until is None else entry.hidden_until.isoformat(),
                )
                for entry in entries
            ),
        )

    def delete_pending(self, kind: Kind, access_key: str, ids: Iterable[int]) -> None:
        self._db.executemany(
            "DELETE FROM pending WHERE kind = ? AND access_key = ? AND id = ?",
            ((kind, access_key, identifier) for identifier in ids),
        )

    # --- reading -------------------------------------------------------------------------------

    def load(self) -> Snapshot:
        snapshot = Snapshot()
        snapshot.meta = dict(self._db.execute("SELECT name, value FROM meta").fetchall())
        rows = self._db.execute(
            "SELECT kind, id, version, sequence, notified, document FROM records ORDER BY id"
        )
        for kind, identifier, version, sequence, notified, document in rows:
            record = StoredRecord(identifier, version, sequence, notified, json.loads(document))
            (snapshot.opportunities if kind == "opportunity" else snapshot.invites).append(record)
        for key, values in self._db.execute("SELECT id, vals FROM collections"):
            snapshot.collections[key] = tuple(json.loads(values))
        snapshot.invite_collections = [
            key for (key,) in self._db.execute("SELECT id FROM invite_collections ORDER BY id")
        ]
        for kind, access_key in self._db.execute("SELECT kind, access_key FROM queues"):
            snapshot.queues[(kind, access_key)] = []
        pending = self._db.execute(
            "SELECT kind, access_key, id, delivered, hidden_until FROM pending ORDER BY id"
        )
        for kind, access_key, identifier, delivered, hidden_until in pending:
            snapshot.queues.setdefault((kind, access_key), []).append(
                StoredPending(
                    identifier,
                    delivered,
                    None if hidden_until is None else datetime.fromisoformat(hidden_until),
                )
            )
        return snapshot

    def save_respondent(self, document: Mapping[str, Any]) -> None:
        """Keep one gateway respondent (``Respondent.to_document``), committed at once."""
        with self._respondents_lock, self._respondents:
            self._respondents.execute(
                "INSERT INTO respondents (id, document) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET document = excluded.document",
                (document["respondent_id"], json.dumps(document)),
            )

    def load_respondents(self) -> list[dict[str, Any]]:
        with self._respondents_lock:
            rows = self._respondents.execute("SELECT document FROM respondents ORDER BY id")
            return [json.loads(document) for (document,) in rows]

    def load_meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])
