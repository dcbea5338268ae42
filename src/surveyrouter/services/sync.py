"""Keeping one network's opportunities in the store current from its REX notification queue.

One ``SyncWorker.step()`` is REX §2.1's loop body: receive a batch, store it (the exchange's raw
JSON kept), store the collections it references that the store lacks, commit, and only then ack.
A crash between commit and ack re-delivers the batch, and re-delivery is harmless: the store's
upsert is idempotent by (network, id) and never lets an older ``notified`` overwrite a newer one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.clock import Clock
from surveyrouter.domain.opportunity import CellKind, Opportunity
from surveyrouter.networks.rex.registry import (
    NotificationBatch,
    ReceivedOpportunity,
    RegistryError,
    RegistryNotFound,
    RegistryUnavailable,
    Shard,
)
from surveyrouter.services.recently_parsed import RecentlyParsed
from surveyrouter.store.collections import put_collections, stored_collection_ids
from surveyrouter.store.db import transaction
from surveyrouter.store.opportunities import (
    close_opportunities,
    stale_open_ids,
    write_opportunities,
)
from surveyrouter.store.sync_state import record_sync_error, record_sync_success

logger = logging.getLogger(__name__)


class Registry(Protocol):
    """The REX Opportunity Registry operations the worker uses (``RegistryClient`` has them)."""

    def receive_notifications(
        self,
        limit: int = ...,
        *,
        shard: Shard | None = ...,
        visibility_timeout: int | None = ...,
    ) -> NotificationBatch: ...

    def ack_notifications(self, opportunity_ids: Iterable[int]) -> None: ...

    def get_opportunity(self, opportunity_id: int) -> ReceivedOpportunity: ...

    def download_collection(self, collection_id: str | int) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class SyncSettings:
    batch_limit: int = 50  # §2.1: at most 50 per receive
    # Receives gathered into one step while each comes back full: the write transaction, the
    # ack call and the bookkeeping are then paid once per step rather than once per receive.
    receives_per_step: int = 1
    shard: Shard | None = None
    # §2.1: while a batch is being stored, other consumers do not get it; generous enough for
    # a slow collection download (PROCESSING is retried for about 1.5 minutes).
    visibility_timeout: int | None = 300
    # A live opportunity not written for this long is re-read with get-opportunity, in case a
    # notification was lost (or acked together with a newer one we never saw).
    refresh_interval: timedelta = timedelta(minutes=15)
    refresh_batch: int = 50
    # How often ``run`` looks for stale opportunities.
    refresh_check_interval: timedelta = timedelta(minutes=1)
    idle_sleep: float = 5.0  # §2.1, §9.5: "If empty, sleep 5 s"
    backoff_initial: float = 1.0
    backoff_max: float = 300.0
    download_concurrency: int = 8  # collection downloads in flight at once
    # The live/paused/closed counts of the sync state are recounted at most this often (a
    # count scans the network's opportunities; every batch of a busy queue need not).
    recount_interval: timedelta = timedelta(seconds=10)

    def __post_init__(self) -> None:
        if self.receives_per_step < 1:
            raise ValueError(f"receives_per_step must be at least 1, not {self.receives_per_step}")


@dataclass(frozen=True, slots=True)
class Fetched:
    """A batch received, with the collections it needs that were downloaded for it."""

    batch: NotificationBatch  # every receive of the step, joined
    downloads: dict[str, tuple[str, ...]]
    receipt: int = 0  # which receive was the last (see SyncWorker._delivered_by)
    drained: bool = True  # the last receive came back short: the queue was empty then


@dataclass(frozen=True, slots=True)
class StepResult:
    received: int  # items in the batch, parsed or not
    stored: int  # opportunities written (older re-deliveries are skipped)
    rejected: int  # items that did not parse: logged, acked and dropped
    collections_downloaded: int
    acked: int

    @property
    def idle(self) -> bool:
        return self.received == 0


@dataclass(frozen=True, slots=True)
class RefreshResult:
    checked: int
    refreshed: int
    closed: int  # the registry no longer knows them
    failed: int  # came back unparseable; left as they were
    collections_downloaded: int


class SyncWorker:
    """Syncs network ``network_id`` from ``registry`` into the store behind ``sessions``."""

    def __init__(
        self,
        registry: Registry,
        sessions: sessionmaker[Session],
        network_id: str,
        clock: Clock,
        settings: SyncSettings | None = None,
        parsed: RecentlyParsed | None = None,
    ) -> None:
        """``parsed``, when this process's index feed shares it, receives every opportunity
        written, so the feed need not parse it again."""
        self.registry = registry
        self.sessions = sessions
        self.network_id = network_id
        self.clock = clock
        self.settings = settings or SyncSettings()
        self._last_recount: datetime | None = None
        self.parsed = parsed
        # Which receive last delivered each id not yet acked. A batch fetched ahead may carry
        # a newer version of an opportunity the batch being stored holds; REX acks by id, and
        # acks the version delivered last, so the older batch must leave that id to the newer
        # one (or a failure of the newer one would lose the change for good).
        self._deliveries = threading.Lock()
        self._receipts = 0
        self._delivered_by: dict[int, int] = {}
        # Collection ids known to be in the store (it only ever gains them).
        self._stored_collections: set[str] = set()

    def step(self) -> StepResult:
        """Receive one batch, store it, commit, then ack it; record the sync state.

        Raises what the registry or the store raised; then nothing was acked (though what was
        committed stays committed, and comes again harmlessly).
        """
        return self.store(self.fetch())

    def fetch(self) -> Fetched:
        """The exchange half of a step: receive one batch (up to ``receives_per_step`` while
        they come back full) and download the collections it needs that the store lacks.
        Writes nothing."""
        settings = self.settings
        # Without a visibility timeout a second receive would be handed the first one's items.
        receives = settings.receives_per_step if settings.visibility_timeout else 1
        batches: list[NotificationBatch] = []
        with self._deliveries:
            while True:
                received = self.registry.receive_notifications(
                    settings.batch_limit,
                    shard=settings.shard,
                    visibility_timeout=settings.visibility_timeout,
                )
                self._receipts += 1
                for opportunity_id in received.ids:
                    self._delivered_by[opportunity_id] = self._receipts
                batches.append(received)
                drained = len(received) < settings.batch_limit
                if drained or len(batches) >= receives:
                    break
            receipt = self._receipts
        batch = _joined(batches)
        for rejected in batch.rejected:
            # §8: the SDK dropped these silently. Left unacked they would come back forever and
            # hold up the queue, so they are acked too, but loudly and counted.
            logger.warning(
                "sync %s: dropping unparseable opportunity %s: %s",
                self.network_id,
                rejected.id if rejected.id is not None else "without an id",
                rejected.error,
            )
        # Downloads happen before the write transaction opens: a PROCESSING collection can take
        # a minute and a half, and SQLite's write lock must not be held that long.
        downloads = self._download_missing(r.opportunity for r in batch.received)
        return Fetched(batch, downloads, receipt, drained)

    def store(self, fetched: Fetched) -> StepResult:
        """The store half of a step: write a fetched batch, commit, then ack it."""
        settings = self.settings
        batch, downloads = fetched.batch, fetched.downloads
        now = self.clock()
        # A full batch means more is queued: its counts are recounted now and then, and always
        # once the queue runs short, so they are right whenever the queue is quiet.
        recount = (
            fetched.drained
            or self._last_recount is None
            or now - self._last_recount >= settings.recount_interval
        )
        with self._writing() as (session, written):
            written += write_opportunities(
                session,
                self.network_id,
                [(item.opportunity, item.document) for item in batch.received],
                at=now,
            )
            put_collections(session, self.network_id, downloads, fetched_at=now)
            record_sync_success(
                session,
                self.network_id,
                at=now,
                newest_notified=_newest_notified(batch.received),
                rejected=len(batch.rejected),
                recount=recount,
            )
        if recount:
            self._last_recount = now
        self._stored_collections |= downloads.keys()
        # Only now: acking before the commit could lose a batch that then failed to commit.
        ids = self._ack(fetched)
        return StepResult(
            received=len(batch),
            stored=len(written),
            rejected=len(batch.rejected),
            collections_downloaded=len(downloads),
            acked=len(ids),
        )

    def refresh_stale(self) -> RefreshResult:
        """Re-read, with get-opportunity, live opportunities not written for the refresh interval.

        One the registry answers 404 for is closed. A registry failure part-way still stores
        what was read before it, then raises.
        """
        settings = self.settings
        if settings.shard is not None and settings.shard.current != 1:
            # The stale list spans every shard; one consumer refreshing it is enough.
            return RefreshResult(0, 0, 0, 0, 0)
        started = self.clock()
        with self.sessions() as session:
            ids = stale_open_ids(
                session,
                self.network_id,
                written_before=started - settings.refresh_interval,
                limit=settings.refresh_batch,
            )
        if not ids:
            return RefreshResult(0, 0, 0, 0, 0)
        fetched: list[ReceivedOpportunity] = []
        gone: list[int] = []
        failed = 0
        failure: RegistryError | None = None
        for opportunity_id in ids:
            try:
                fetched.append(self.registry.get_opportunity(opportunity_id))
            except RegistryNotFound:
                gone.append(opportunity_id)
            except RegistryError as error:
                failure = error
                break
            except ValueError as error:  # InvalidOpportunity: the payload no longer parses
                failed += 1
                logger.warning(
                    "sync %s: refreshing opportunity %s: %s", self.network_id, opportunity_id, error
                )
        downloads = self._download_missing(item.opportunity for item in fetched)
        now = self.clock()
        with self._writing() as (session, written):
            written += write_opportunities(
                session,
                self.network_id,
                [(item.opportunity, item.document) for item in fetched],
                at=now,
                # A notification stored while we were asking is newer than what we got.
                unless_written_since=started,
            )
            put_collections(session, self.network_id, downloads, fetched_at=now)
            closed = close_opportunities(session, self.network_id, gone, at=now)
        if failure is not None:
            raise failure
        return RefreshResult(
            checked=len(ids),
            refreshed=len(written),
            closed=len(closed),
            failed=failed,
            collections_downloaded=len(downloads),
        )

    def steps(self) -> Generator[StepResult, None, None]:
        """Step after step, the next batch fetched while this one is stored.

        Receiving the next batch before this one is acked is safe while the visibility timeout
        hides this one from it (REX §2.1); without a timeout the steps run one after another.
        A failing step raises; the batch fetched ahead is then left unacked, to come again
        after the visibility timeout. Closing the steps stores the batch fetched ahead.
        """
        timeout = self.settings.visibility_timeout
        if not timeout:
            while True:
                yield self.step()
        with ThreadPoolExecutor(1, thread_name_prefix=f"sync-{self.network_id}-fetch") as ahead:
            following: Future[Fetched] | None = None
            try:
                while True:
                    fetched = following.result() if following is not None else self.fetch()
                    following = ahead.submit(self.fetch) if len(fetched.batch) else None
                    yield self.store(fetched)
            except GeneratorExit:
                # Stopping: what was fetched ahead is stored rather than left hidden at the
                # exchange for the visibility timeout.
                if following is not None:
                    self._store_on_stop(following)
                    following = None
                raise
            finally:
                if following is not None:
                    following.cancel()

    def run(self, stop: threading.Event) -> None:
        """Step until ``stop`` is set: at once while the queue has items, every ``idle_sleep``
        seconds when it is empty, backing off exponentially while steps fail."""
        settings = self.settings
        backoff = settings.backoff_initial
        last_refresh: datetime | None = None
        steps = self.steps()
        while not stop.is_set():
            try:
                result = next(steps)
                now = self.clock()
                if last_refresh is None or now - last_refresh >= settings.refresh_check_interval:
                    last_refresh = now
                    self.refresh_stale()
            except Exception as error:
                # A worker that died on a network or database blip would stop syncing for good;
                # it records the error and tries again later instead.
                delay = _retry_delay(error, backoff)
                logger.warning(
                    "sync %s failed (%s); retrying in %.1f s",
                    self.network_id,
                    error,
                    delay,
                    exc_info=not isinstance(error, RegistryError),
                )
                self._record_error(error)
                backoff = min(settings.backoff_max, backoff * 2)
                steps.close()
                steps = self.steps()
                stop.wait(delay)
                continue
            backoff = settings.backoff_initial
            if result.idle:
                stop.wait(settings.idle_sleep)
        steps.close()

    def _download_missing(self, opportunities: Iterable[Opportunity]) -> dict[str, tuple[str, ...]]:
        """Download the collections ``opportunities`` reference that the store lacks.

        A collection that cannot be had now (still PROCESSING, not found, the registry down) is
        skipped: its cells stay UNKNOWN to the matcher, and the next notification or refresh
        of an opportunity that names it tries again. Holding up the batch would block the queue.
        """
        # Collections are cached by id: one this worker knows is stored is not looked up
        # again, and most batches name only those.
        referenced = _collection_ids(opportunities) - self._stored_collections
        downloads: dict[str, tuple[str, ...]] = {}
        if not referenced:
            return downloads
        with self.sessions() as session:
            stored = stored_collection_ids(session, self.network_id, referenced)
        self._stored_collections |= stored
        missing = sorted(referenced - stored)
        if not missing:
            return downloads
        # A batch of new opportunities can name dozens of collections: one round trip each,
        # waited on together rather than one after another.
        workers = min(self.settings.download_concurrency, len(missing))
        with ThreadPoolExecutor(workers, thread_name_prefix="collections") as pool:
            fetches = {c: pool.submit(self.registry.download_collection, c) for c in missing}
        for collection_id, fetch in fetches.items():
            try:
                downloads[collection_id] = fetch.result()
            except RegistryError as error:
                logger.warning(
                    "sync %s: collection %s not downloaded: %s",
                    self.network_id,
                    collection_id,
                    error,
                )
        return downloads

    def _ack(self, fetched: Fetched) -> list[int]:
        """Ack the ids of ``fetched`` that no later receive has delivered again. Held under
        the receive lock: a receive in flight has either recorded its ids or not begun."""
        with self._deliveries:
            ids = [
                opportunity_id
                for opportunity_id in dict.fromkeys(fetched.batch.ids)
                if self._delivered_by.get(opportunity_id, 0) <= fetched.receipt
            ]
            if ids:
                self.registry.ack_notifications(ids)
            for opportunity_id in ids:
                self._delivered_by.pop(opportunity_id, None)
        return ids

    def _store_on_stop(self, following: Future[Fetched]) -> None:
        try:
            self.store(following.result())
        except Exception as error:
            logger.warning(
                "sync %s: the batch fetched ahead was not stored on stop (%s); it comes again "
                "after the visibility timeout",
                self.network_id,
                error,
            )

    @contextmanager
    def _writing(self) -> Iterator[tuple[Session, list[tuple[Opportunity, int]]]]:
        """One write transaction, and the list of (opportunity, change number) the block
        fills with what it wrote.

        When the block succeeds, what it wrote is left for this process's index feed while
        still inside the transaction, so before the commit: the feed may read the changes the
        moment they are committed. If the commit then fails it is taken back, since SQLite
        hands those change numbers out again. (Between that rollback and this, a writer in
        another process could reuse one for the same opportunity; commits fail rarely, and the
        next change of that opportunity corrects the matcher.)
        """
        written: list[tuple[Opportunity, int]] = []
        offered = False
        try:
            with transaction(self.sessions) as session:
                yield session, written
                if self.parsed is not None:
                    self.parsed.put(self.network_id, written)
                    offered = True
        except BaseException:
            if offered and self.parsed is not None:
                for opportunity, change_seq in written:
                    self.parsed.take(self.network_id, opportunity.id, change_seq)
            raise

    def _record_error(self, error: Exception) -> None:
        try:
            with transaction(self.sessions) as session:
                record_sync_error(session, self.network_id, self.clock(), _describe(error))
        except Exception:
            logger.exception("sync %s: could not record the error", self.network_id)


def _joined(batches: Sequence[NotificationBatch]) -> NotificationBatch:
    """One batch holding every item of ``batches``, in the order they were received."""
    if len(batches) == 1:
        return batches[0]
    counts = [batch.notification_count for batch in batches]
    return NotificationBatch(
        documents=tuple(item for batch in batches for item in batch.documents),
        received=tuple(item for batch in batches for item in batch.received),
        rejected=tuple(item for batch in batches for item in batch.rejected),
        notification_count=None if None in counts else sum(c for c in counts if c is not None),
        notification_total=batches[-1].notification_total,
    )


def _collection_ids(opportunities: Iterable[Opportunity]) -> set[str]:
    return {
        cell.collection_id
        for opportunity in opportunities
        for cell in opportunity.cells.values()
        if cell.kind is CellKind.COLLECTION and cell.collection_id is not None
    }


def _newest_notified(received: Sequence[ReceivedOpportunity]) -> datetime | None:
    stamps = [r.opportunity.notified for r in received if r.opportunity.notified is not None]
    return max(stamps, default=None)


def _retry_delay(error: Exception, backoff: float) -> float:
    if isinstance(error, RegistryUnavailable) and error.retry_after is not None:
        return max(backoff, error.retry_after)
    return backoff


def _describe(error: Exception) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
