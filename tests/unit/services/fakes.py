"""In-memory stand-ins for Dynata's Opportunity Registry and the clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from surveyrouter import json_codec
from surveyrouter.networks.rex.opportunities import parse_opportunity
from surveyrouter.networks.rex.registry import (
    NotificationBatch,
    ReceivedOpportunity,
    RegistryNotFound,
    Rejected,
    Shard,
)


class FakeRegistry:
    """Dynata's Opportunity Registry as REX §2.1–§2.5 describe it: a queue of notifications,
    one per opportunity id (a newer one replaces the older), that stay until acked. A receive
    with a visibility timeout hides what it delivered until it is acked, changed, or the
    timeout passes (``let_visibility_lapse``): no clock, the test says when."""

    def __init__(
        self, collections: dict[str, tuple[str, ...]] | None = None, network: str = "rex"
    ) -> None:
        self.network = network
        self.current: dict[int, dict[str, Any]] = {}
        self.queue: dict[int, Any] = {}
        self.collections = collections or {}
        self.downloads: list[str] = []
        self.acks: list[list[int]] = []
        self.receives = 0
        self.on_ack: Callable[[list[int]], None] | None = None
        self.receive_errors: list[Exception] = []
        self.on_get: Callable[[int], None] | None = None
        self.hidden: set[int] = set()

    def let_visibility_lapse(self) -> None:
        self.hidden.clear()

    def notify(self, raw: dict[str, Any]) -> None:
        self.current[raw["id"]] = raw
        self.queue.pop(raw["id"], None)
        self.queue[raw["id"]] = raw
        self.hidden.discard(raw["id"])

    def receive_notifications(
        self,
        limit: int = 50,
        *,
        shard: Shard | None = None,
        visibility_timeout: int | None = None,
    ) -> NotificationBatch:
        self.receives += 1
        if self.receive_errors:
            raise self.receive_errors.pop(0)
        items = [raw for key, raw in self.queue.items() if key not in self.hidden][:limit]
        if visibility_timeout:
            self.hidden.update(raw["id"] for raw in items)
        received, rejected = [], []
        for raw in items:
            try:
                received.append(
                    ReceivedOpportunity(
                        json_codec.dump_bytes(raw), parse_opportunity(raw, self.network)
                    )
                )
            except ValueError as error:
                rejected.append(Rejected(raw.get("id"), raw, str(error)))
        return NotificationBatch(
            documents=tuple(json_codec.dump_bytes(raw) for raw in items),
            received=tuple(received),
            rejected=tuple(rejected),
            notification_count=len(items),
            notification_total=len(self.queue),
        )

    def ack_notifications(self, opportunity_ids: Iterable[int]) -> None:
        ids = list(opportunity_ids)
        if self.on_ack is not None:
            self.on_ack(ids)
        self.acks.append(ids)
        for opportunity_id in ids:
            self.queue.pop(opportunity_id, None)
            self.hidden.discard(opportunity_id)

    def get_opportunity(self, opportunity_id: int) -> ReceivedOpportunity:
        raw = self.current.get(opportunity_id)
        if self.on_get is not None:
            self.on_get(opportunity_id)
        if raw is None:
            raise RegistryNotFound(404, "not found", operation="/get-opportunity")
        # §2.3 answers with the opportunity itself, without a notification's ``notified``.
        raw = {key: value for key, value in raw.items() if key != "notified"}
        return ReceivedOpportunity(json_codec.dump_bytes(raw), parse_opportunity(raw, self.network))

    def download_collection(self, collection_id: str | int) -> tuple[str, ...]:
        self.downloads.append(str(collection_id))
        values = self.collections.get(str(collection_id))
        if values is None:
            raise RegistryNotFound(404, f"collection with id {collection_id} was not found")
        return values
