"""Respondent Gateway contexts (REX §6.2): key/value items stored server to server, named by an
id the partner then sends as the entry link's ``ctx``.

"Contexts are recursive structures": an item ``ctx`` names the parent context, and "a parent
context's values will always override the values of a child context, given the same key".
The chain ends at a ``ctx`` this store does not hold, which the gateway reads as an
opportunity's own context (the ``ctx`` of its ``links.live``).

Decisions where §6.2 says nothing (INFERRED): a context created without an expiration expires
after ``DEFAULT_TTL``; a context stays readable after it expires, but an entry through it (or
through a chain holding an expired one) is refused; an id chosen by the caller must be new.
Time is passed in; nothing here reads a clock.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from surveyrouter.networks.rex.signing import format_expiration

DEFAULT_TTL = timedelta(days=1)
# Deeper chains than this are refused as if they looped; a partner nests one or two.
MAX_DEPTH = 32
PARENT = "ctx"


class ContextNotFound(LookupError):
    pass


class ContextExists(ValueError):
    pass


class ContextExpired(LookupError):
    def __init__(self, context_id: str, expired_at: datetime) -> None:
        super().__init__(f"context {context_id!r} expired at {format_expiration(expired_at)}")
        self.context_id = context_id


class ContextLoop(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Context:
    id: str
    items: Mapping[str, str]
    expiration: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expiration

    def document(self) -> dict[str, Any]:
        """The ``/get-context`` shape (§6.1)."""
        return {
            "id": self.id,
            "expiration": format_expiration(self.expiration),
            "items": dict(self.items),
        }


@dataclass(frozen=True, slots=True)
class ResolvedContext:
    """A context with its ancestors folded in."""

    items: dict[str, str]  # every ancestor's items, the parent's value winning; no ``ctx``
    chain: tuple[str, ...]  # the context ids walked, from the one entered with to the root
    outside: str | None  # the ``ctx`` the root names that this store does not hold, if any


class ContextStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contexts: dict[str, Context] = {}

    def __contains__(self, context_id: object) -> bool:
        with self._lock:
            return context_id in self._contexts

    def create(
        self,
        items: Mapping[str, str],
        now: datetime,
        *,
        context_id: str | None = None,
        expiration: datetime | None = None,
    ) -> Context:
        with self._lock:
            if context_id is not None and context_id in self._contexts:
                raise ContextExists(f"context {context_id!r} already exists")
            identifier = context_id if context_id is not None else str(uuid.uuid4())
            context = Context(identifier, dict(items), expiration or now + DEFAULT_TTL)
            self._contexts[identifier] = context
            return context

    def get(self, context_id: str) -> Context:
        with self._lock:
            return self._get(context_id)

    def expire(self, context_id: str, now: datetime) -> Context:
        """Expire a context now (one already expired keeps its expiration)."""
        with self._lock:
            context = self._get(context_id)
            if not context.expired(now):
                context = Context(context.id, context.items, now)
                self._contexts[context_id] = context
            return context

    def resolve(self, context_id: str, now: datetime) -> ResolvedContext:
        """Fold a context and its ancestors together, refusing an expired one on the way."""
        with self._lock:
            items: dict[str, str] = {}
            chain: list[str] = []
            current: str | None = context_id
            while current is not None and current in self._contexts:
                if current in chain:
                    raise ContextLoop(f"context {context_id!r}: its parents loop at {current!r}")
                if len(chain) == MAX_DEPTH:
                    raise ContextLoop(f"context {context_id!r} has over {MAX_DEPTH} ancestors")
                context = self._contexts[current]
                if context.expired(now):
                    raise ContextExpired(current, context.expiration)
                chain.append(current)
                items.update(context.items)  # walking up: each parent overrides its child
                current = context.items.get(PARENT)
            if not chain:
                raise ContextNotFound(f"context {context_id!r} was not found")
            items.pop(PARENT, None)
            return ResolvedContext(items, tuple(chain), current)

    def _get(self, context_id: str) -> Context:
        context = self._contexts.get(context_id)
        if context is None:
            raise ContextNotFound(f"context {context_id!r} was not found")
        return context
