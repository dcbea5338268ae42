"""Opportunities this process has just parsed and written, for its own index feed.

When the sync worker and the index feed share a process (``serve``), the feed would parse again
every payload the worker parsed a moment before. The worker leaves each opportunity it wrote
here under its change number; the feed takes it back instead of parsing the stored JSON. A
change it does not find (written by another process, or evicted) is parsed as usual, so the
cache changes only the cost, never the result: one change number is one stored payload.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from surveyrouter.domain.opportunity import Opportunity

DEFAULT_CAPACITY = 20_000

Key = tuple[str, int, int]  # network, external id, change_seq


class RecentlyParsed:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self._items: OrderedDict[Key, Opportunity] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def put(self, network_id: str, written: Iterable[tuple[Opportunity, int]]) -> None:
        """Keep what ``network_id``'s worker is writing (opportunity, change number), before
        its commit (the feed may read the changes the moment they land); the worker takes them
        back if the transaction fails."""
        with self._lock:
            for opportunity, change_seq in written:
                self._items[(network_id, opportunity.id, change_seq)] = opportunity
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def take(self, network_id: str, external_id: int, change_seq: int) -> Opportunity | None:
        """The opportunity written as that change, if this process wrote it; forgotten then."""
        with self._lock:
            return self._items.pop((network_id, external_id, change_seq), None)
