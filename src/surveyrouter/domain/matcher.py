"""The fast matcher: every live opportunity's verdict for one profile in about a millisecond.

It must agree with the reference evaluator (``domain/targeting.py``) verdict for verdict; the
property tests in ``tests/unit/domain/test_matcher.py`` hold it to that.

How it works
------------
Each distinct cell (same attribute, kind, payload, negation and context) is one *atom*, evaluated
once per profile however many opportunities use it. Filter and quota objects become AND nodes over
atoms, groups become OR nodes over objects, and an opportunity is an AND over its groups. Nodes are
hash-consed, so the interlocked gender × age objects most surveys share are evaluated once.

A node's value is one integer *key* that carries both its tri-state truth and a missing
attribute: ``truth << 16 | low``. Truth is FALSE 0, UNKNOWN 1, TRUE 2, so tri-state AND is ``min``
and OR is ``max``. Two passes run side by side: in the ``lo`` pass ``low`` is the smallest missing
attribute code, in the ``hi`` pass ``LOW - `` the largest. Ordering keys lexicographically then
does exactly what the reference does with sets of missing attributes: an AND node that is UNKNOWN
takes the extremes over its UNKNOWN children only (FALSE and TRUE children carry "none"), an OR
node likewise. OR nodes flip ``low`` (``key ^ LOW``) so that ``max`` picks the smallest ``lo``.
An opportunity has exactly one missing attribute when ``lo == hi``, which is all the per-attribute
unlock values need. An opportunity's ``hi`` key differs from its ``lo`` key only when it is
UNKNOWN for want of an answer, so at that level the ``hi`` pass runs for those rows alone (for
nodes, most of which are waiting on some answer, picking rows out costs more than it saves).
Full missing sets and reasons are built only when asked for.

Each level is stored column-major in buckets of equal (padded) arity, so a level costs one numpy
gather and one ``minimum``/``maximum`` per column.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from surveyrouter.domain.idset import Column, IdSet
from surveyrouter.domain.opportunity import (
    DISCARDED_ATTRIBUTE_ID,
    Cell,
    CellKind,
    Device,
    ListOperator,
    Opportunity,
    QuotaObject,
)
from surveyrouter.domain.profile import Profile, targeting_answers
from surveyrouter.domain.targeting import Collections, Result, Verdict, evaluate, numeric_answer

SHIFT = 16
LOW = (1 << SHIFT) - 1
FALSE_V, UNKNOWN_V, TRUE_V = 0, 1, 2
TRUE_KEY = (TRUE_V << SHIFT) | LOW
FALSE_KEY = (FALSE_V << SHIFT) | LOW
UNKNOWN_KEY = (UNKNOWN_V << SHIFT) | LOW  # unknown, but not for want of an answer
MAX_ATTRIBUTES = LOW - 1

TRUE_SLOT, FALSE_SLOT, SINK_SLOT = 0, 1, 2
SINK_OPPORTUNITY = 0

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INT32_MAX = 2**31 - 1

# Atom modes.
_ANY, _ALL, _RANGE, _COLLECTION, _ANSWERED, _INVITE_ANY, _INVITE_ALL = range(7)
_INVITES = (_INVITE_ANY, _INVITE_ALL)


class AtomKey(NamedTuple):
    """What makes two cells evaluate alike: equal keys share one atom."""

    mode: int
    attribute_id: int  # 0 for invite cells, which read memberships, not answers
    negate: bool
    quota: bool  # negative answers read differently in quotas (REX §4)
    values: tuple[str, ...] = ()  # sorted answer ids, or invite collection ids
    bounds: tuple[int | None, int | None] = (None, None)
    collection: str = ""


NodeKey = tuple[str, tuple[int, ...]]

_DEVICE_BITS = {Device.MOBILE: 1, Device.DESKTOP: 2, Device.TABLET: 4}

Key = npt.NDArray[np.int32]
Expr = int | tuple[str, tuple["Expr", ...]]


def _clamp(number: int) -> int:
    return max(_INT64_MIN, min(_INT64_MAX, number))


class _Bucket:
    """Rows of equal arity: ``children[j, row]`` are slots, ``targets[row]`` where results go."""

    __slots__ = ("children", "free", "number", "rows", "targets", "width")

    def __init__(self, width: int, number: int) -> None:
        self.width = width
        self.number = number
        self.children: npt.NDArray[np.int32] = np.zeros((width, 16), dtype=np.int32)
        self.targets: npt.NDArray[np.int32] = np.zeros(16, dtype=np.int32)
        self.rows = 0
        self.free: list[int] = []

    def add(self, children: tuple[int, ...], pad: int, target: int) -> int:
        if self.free:
            row = self.free.pop()
        else:
            if self.rows == self.targets.shape[0]:
                capacity = 2 * self.rows
                grown = np.zeros((self.width, capacity), dtype=np.int32)
                grown[:, : self.rows] = self.children[:, : self.rows]
                self.children = grown
                targets = np.zeros(capacity, dtype=np.int32)
                targets[: self.rows] = self.targets[: self.rows]
                self.targets = targets
            row = self.rows
            self.rows += 1
        self.children[:, row] = pad
        self.children[: len(children), row] = children
        self.targets[row] = target
        return row

    def clear(self, row: int, pad: int, sink: int) -> None:
        self.children[:, row] = pad
        self.targets[row] = sink
        self.free.append(row)

    def reduce(
        self, values: Key, combine: np.ufunc, flip: bool, rows: npt.NDArray[np.intp] | None = None
    ) -> Key:
        """Combine each row's children (``flip`` reads them in OR orientation); ``rows`` picks
        some rows only."""
        children = self.children[:, : self.rows] if rows is None else self.children[:, rows]
        # One gather of the whole (width, rows) block and one reduction over it: a quarter
        # faster than a gather and a combine per column.
        gathered: Key = np.take(values, children)
        if flip:
            gathered ^= LOW
        out: Key = combine.reduce(gathered, axis=0)
        if flip:
            out ^= LOW
        return out


def _width(arity: int) -> int:
    for width in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32):
        if arity <= width:
            return width
    return 32 * math.ceil(arity / 32)


class _Collections:
    """Downloaded collections, indexed from value to the collections that contain it."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.known = Column(np.bool_, False)
        self.codes: dict[str, int] = {}
        self._offsets: npt.NDArray[np.int64] = np.zeros(1, dtype=np.int64)
        self._members: npt.NDArray[np.int32] = np.zeros(0, dtype=np.int32)
        self._pending: dict[int, list[int]] = {}
        self._pending_size = 0

    def slot(self, collection_id: str) -> int:
        index = self.index.get(collection_id)
        if index is None:
            index = len(self.index)
            self.index[collection_id] = index
            self.known.ensure(index + 1)
        return index

    def put(self, collection_id: str, values: Iterable[str]) -> int | None:
        """Record a collection's values; returns its index, or None if it was already known."""
        index = self.slot(collection_id)
        if self.known.data[index]:
            return None  # REX collections are immutable once downloaded (INFERRED, §4)
        self.known.data[index] = True
        for value in set(values):
            code = self.codes.setdefault(value, len(self.codes))
            self._pending.setdefault(code, []).append(index)
            self._pending_size += 1
        # Merging costs the whole index; pending values are looked up directly until they
        # outgrow a quarter of it, so one download at a time stays cheap.
        if self._pending_size > max(65536, len(self._members) // 4):
            self.merge()
        return index

    def merge(self) -> None:
        if not self._pending_size:
            return
        counts = np.diff(self._offsets)
        codes = [np.repeat(np.arange(len(counts), dtype=np.int64), counts)]
        members = [self._members]
        for code, indices in self._pending.items():
            codes.append(np.full(len(indices), code, dtype=np.int64))
            members.append(np.asarray(indices, dtype=np.int32))
        all_codes = np.concatenate(codes)
        all_members = np.concatenate(members)
        order = np.argsort(all_codes, kind="stable")
        self._members = all_members[order]
        self._offsets = np.zeros(len(self.codes) + 1, dtype=np.int64)
        np.cumsum(np.bincount(all_codes, minlength=len(self.codes)), out=self._offsets[1:])
        self._pending.clear()
        self._pending_size = 0

    def containing(self, value: str) -> list[npt.NDArray[np.int32]]:
        code = self.codes.get(value)
        if code is None:
            return []
        found = []
        if code + 1 < len(self._offsets):
            found.append(self._members[self._offsets[code] : self._offsets[code + 1]])
        pending = self._pending.get(code)
        if pending:
            found.append(np.asarray(pending, dtype=np.int32))
        return found


@dataclass(frozen=True, slots=True)
class MatchResult:
    """One profile's verdicts over the whole index, indexed by the matcher's opportunity slot.

    ``eligible`` and ``unknown`` are boolean masks (ineligible is neither); ``exact`` marks
    eligible opportunities without opaque cells; ``prescreened`` marks unknown opportunities
    that wait for no answer at all (only cells the exchange itself prescreens are undecided);
    ``single_missing`` holds the attribute id an unknown opportunity waits for when it waits for
    exactly one, else -1; ``unlock`` is the sum of CPI over those opportunities per attribute id.
    """

    eligible: npt.NDArray[np.bool_]
    unknown: npt.NDArray[np.bool_]
    exact: npt.NDArray[np.bool_]
    prescreened: npt.NDArray[np.bool_]
    single_missing: npt.NDArray[np.int64]
    unlock: Mapping[int, Decimal]
    node_lo: Key

    def result_at(self, slot: int) -> Result:
        if self.eligible[slot]:
            return Result.ELIGIBLE
        return Result.UNKNOWN if self.unknown[slot] else Result.INELIGIBLE


@dataclass(frozen=True, slots=True)
class Listing:
    """Ranking's columns for some opportunity slots: ``network`` indexes ``Matcher.networks``,
    ``cpi_micros`` is the exchange CPI in millionths of a dollar (truncated), LOI in minutes,
    the incidence rate a whole percent clamped to 0–100."""

    slots: npt.NDArray[np.intp]
    network: npt.NDArray[np.int64]
    id: npt.NDArray[np.int64]
    cpi_micros: npt.NDArray[np.int64]
    loi_minutes: npt.NDArray[np.float64]
    incidence_rate: npt.NDArray[np.float64]


class Matcher:
    """An in-memory index over live opportunities, updated incrementally."""

    def __init__(self) -> None:
        # Node slots: atoms, AND nodes and OR nodes share one slot space.
        self._slots = 3
        self._free_slots: list[int] = []
        self._absent_lo = Column(np.int32, TRUE_KEY)
        self._absent_hi = Column(np.int32, TRUE_KEY)
        self._absent_lo.data[FALSE_SLOT] = FALSE_KEY
        self._absent_hi.data[FALSE_SLOT] = FALSE_KEY
        self._negative = Column(np.int32, FALSE_KEY)
        self._no_hit = Column(np.int32, FALSE_KEY)
        self._negate = Column(np.bool_, False)
        self._need = Column(np.int32, 1)
        self._range_from = Column(np.int64, _INT64_MIN)
        self._range_to = Column(np.int64, _INT64_MAX)
        self._collection = Column(np.int32, 0)
        self._refs = Column(np.int32, 0)
        self._node_capacity = 0  # slots every node column has room for
        self._refs.data[:3] = 1 << 30  # constants live forever
        self._definition: list[AtomKey | NodeKey | None] = [None, None, None]
        self._atoms: dict[AtomKey, int] = {}
        self._nodes: dict[NodeKey, int] = {}
        # Where each node's row lives, by slot; per-slot numpy columns rather than dicts of
        # tuples, because Python objects per node would double the index at 200k opportunities.
        self._buckets: list[_Bucket] = []
        self._bucket_of = Column(np.int32, -1)
        self._row_of = Column(np.int32, -1)
        self._and_buckets: dict[int, _Bucket] = {}
        self._or_buckets: dict[int, _Bucket] = {}

        self._attribute_codes: dict[int, int] = {}
        self._attribute_ids: list[int] = [0]
        self._atoms_by_attribute: dict[int, IdSet] = {}
        self._ranges_by_attribute: dict[int, IdSet] = {}
        self._collections_by_attribute: dict[int, IdSet] = {}
        self._value_postings: dict[tuple[int, str], IdSet] = {}
        self._invite_postings: dict[str, IdSet] = {}
        self._atoms_by_collection: dict[int, IdSet] = {}
        self._collections = _Collections()

        # Opportunity slots; slot 0 is the sink that tombstoned rows write to.
        self._slots_of: dict[str, dict[int, int]] = {}  # network -> opportunity id -> slot
        self._networks: list[str] = []
        self._opportunity_count = 1
        self._free_opportunities: list[int] = []
        self._network_of = Column(np.int16, -1)
        self._id_of = Column(np.int64, 0)
        self._project = Column(np.int64, _INT64_MIN)
        self._devices = Column(np.uint8, 0)
        self._cpi_micros = Column(np.int64, 0)
        self._loi_minutes = Column(np.int32, 0)
        self._incidence = Column(np.int16, 0)
        self._transparent = Column(np.bool_, False)
        self._opportunity_bucket_of = Column(np.int32, -1)
        self._opportunity_row_of = Column(np.int32, -1)
        # Opportunities are partitioned by locale: a profile only evaluates its own (REX 2.3/2.4
        # would fail the others first anyway), which skips a third or more of the work.
        self._opportunity_buckets: dict[tuple[str, str, int], _Bucket] = {}
        self._excluding_project: dict[int, set[int]] = {}
        self._excluding_category: dict[int, set[int]] = {}
        self._exclusions: dict[int, tuple[frozenset[int], frozenset[int]]] = {}
        # Per opportunity slot, what ``fitted_quotas`` reads: worked out on first use.
        self._quota_plans: dict[int, _QuotaPlan] = {}

    # ---------------------------------------------------------------- maintenance

    def __len__(self) -> int:
        return sum(len(slots) for slots in self._slots_of.values())

    def key_of(self, slot: int) -> tuple[str, int]:
        """The (network, opportunity id) indexed at ``slot``."""
        network = int(self._network_of.data[slot]) if slot < self._opportunity_count else -1
        if network < 0:
            raise KeyError(slot)
        return self._networks[network], int(self._id_of.data[slot])

    def slot_of(self, network: str, opportunity_id: int) -> int | None:
        return self._slots_of.get(network, {}).get(opportunity_id)

    def listing(self, slots: npt.NDArray[np.intp]) -> Listing:
        """What ranking reads about the opportunities at ``slots``, as columns."""
        return Listing(
            slots=slots,
            network=self._network_of.data[slots].astype(np.int64),
            id=self._id_of.data[slots],
            cpi_micros=self._cpi_micros.data[slots],
            loi_minutes=self._loi_minutes.data[slots].astype(np.float64),
            incidence_rate=self._incidence.data[slots].astype(np.float64),
        )

    @property
    def networks(self) -> tuple[str, ...]:
        """Network ids in the order ``Listing.network`` numbers them."""
        return tuple(self._networks)

    def add(self, opportunities: Iterable[Opportunity]) -> None:
        """Add opportunities, or replace the ones already indexed under the same key."""
        for opportunity in opportunities:
            self._add(opportunity)

    def remove(self, keys: Iterable[tuple[str, int]]) -> None:
        for network, opportunity_id in keys:
            slot = self._slots_of.get(network, {}).pop(opportunity_id, None)
            if slot is not None:
                self._release_opportunity(slot)
                self._network_of.data[slot] = -1
                self._free_opportunities.append(slot)

    def add_collections(self, collections: Mapping[str, Iterable[str]]) -> None:
        """Make downloaded collections known; cells naming them stop being UNKNOWN."""
        for collection_id, values in collections.items():
            index = self._collections.put(collection_id, values)
            if index is None:
                continue
            for atom in self._atoms_by_collection.get(index, _NO_ATOMS).array:
                self._set_static(int(atom), self._atoms_key(int(atom)))

    def _add(self, opportunity: Opportunity) -> None:
        # What can fail is worked out before any state changes, so a bad opportunity leaves
        # the index as it was.
        cpi_micros = int(opportunity.cpi * 1_000_000)
        if not 0 <= cpi_micros <= _INT64_MAX:
            raise ValueError(f"opportunity {opportunity.id}: CPI {opportunity.cpi} out of range")
        devices = sum(_DEVICE_BITS[d] for d in opportunity.devices)
        slots = self._slots_of.setdefault(opportunity.network, {})
        slot = slots.get(opportunity.id)
        fresh: list[int] = []
        terms = self._compile(opportunity, fresh)
        for term in terms:
            self._refs.data[term] += 1
        if slot is None:
            if self._free_opportunities:
                slot = self._free_opportunities.pop()
            else:
                slot = self._opportunity_count
                self._opportunity_count += 1
                for column in self._opportunity_columns():
                    column.ensure(slot + 1)
            slots[opportunity.id] = slot
            if opportunity.network not in self._networks:
                self._networks.append(opportunity.network)
            self._network_of.data[slot] = self._networks.index(opportunity.network)
            self._id_of.data[slot] = opportunity.id
        else:
            self._release_opportunity(slot)
        for atom in fresh:
            if self._refs.data[atom] == 0:
                self._free_atom(atom, self._atoms_key(atom))
        bucket = self._opportunity_bucket(opportunity.country, opportunity.language, len(terms))
        self._opportunity_bucket_of.data[slot] = bucket.number
        self._opportunity_row_of.data[slot] = bucket.add(terms, TRUE_SLOT, slot)
        self._devices.data[slot] = devices
        self._cpi_micros.data[slot] = cpi_micros
        self._loi_minutes.data[slot] = min(max(opportunity.loi_minutes, 0), _INT32_MAX)
        self._incidence.data[slot] = min(max(opportunity.incidence_rate, 0), 100)
        self._transparent.data[slot] = not opportunity.has_opaque_cells
        project = opportunity.project_id
        self._project.data[slot] = _INT64_MIN if project is None else _clamp(project)
        if opportunity.project_exclusions or opportunity.category_exclusions:
            exclusions = (opportunity.project_exclusions, opportunity.category_exclusions)
            self._exclusions[slot] = exclusions
            for excluded in opportunity.project_exclusions:
                self._excluding_project.setdefault(excluded, set()).add(slot)
            for category in opportunity.category_exclusions:
                self._excluding_category.setdefault(category, set()).add(slot)

    def _atoms_key(self, slot: int) -> AtomKey:
        key = self._definition[slot]
        assert isinstance(key, AtomKey)
        return key

    def _opportunity_columns(self) -> list[Column]:
        return [
            self._network_of, self._id_of, self._project, self._devices, self._cpi_micros,
            self._loi_minutes, self._incidence, self._transparent, self._opportunity_bucket_of,
            self._opportunity_row_of,
        ]  # fmt: skip

    def _terms(self, slot: int) -> list[int]:
        """The opportunity's AND terms, read back from its row (TRUE padding left out)."""
        bucket = self._buckets[int(self._opportunity_bucket_of.data[slot])]
        row = int(self._opportunity_row_of.data[slot])
        return [int(child) for child in bucket.children[:, row] if child != TRUE_SLOT]

    def _release_opportunity(self, slot: int) -> None:
        # A TRUE term is padding-like; constants are never freed, so skipping it is harmless.
        for term in self._terms(slot):
            self._release(term)
        bucket = self._buckets[int(self._opportunity_bucket_of.data[slot])]
        bucket.clear(int(self._opportunity_row_of.data[slot]), TRUE_SLOT, SINK_OPPORTUNITY)
        self._project.data[slot] = _INT64_MIN
        self._quota_plans.pop(slot, None)
        projects, categories = self._exclusions.pop(slot, (frozenset(), frozenset()))
        for project in projects:
            self._excluding_project[project].discard(slot)
        for category in categories:
            self._excluding_category[category].discard(slot)

    def _opportunity_bucket(self, country: str, language: str, arity: int) -> _Bucket:
        key = (country, language, _width(arity))
        bucket = self._opportunity_buckets.get(key)
        if bucket is None:
            bucket = self._opportunity_buckets[key] = self._new_bucket(key[2])
        return bucket

    def _new_bucket(self, width: int) -> _Bucket:
        bucket = _Bucket(width, number=len(self._buckets))
        self._buckets.append(bucket)
        return bucket

    # ---------------------------------------------------------------- compiling

    def _compile(self, opportunity: Opportunity, fresh: list[int]) -> tuple[int, ...]:
        """The opportunity as a canonical AND of slots (REX §5.2 structure)."""
        if not opportunity.is_open:
            return (FALSE_SLOT,)
        cells = opportunity.cells
        groups: list[Expr] = []
        for quota, object_groups in ((False, opportunity.filters), (True, opportunity.quotas)):
            # A cell is usually named by several objects: its atom is looked up once per side.
            atoms: dict[str, int | None] = {}
            for group in object_groups:
                if not group:
                    continue  # a group with no objects is ignored
                objects: list[Expr] = []
                for o in group:
                    if isinstance(o, QuotaObject) and not o.is_open:
                        objects.append(FALSE_SLOT)
                        continue
                    conjuncts: list[Expr] = []
                    for tag in o.cell_tags:
                        if tag in atoms:
                            slot = atoms[tag]
                        else:
                            slot = atoms[tag] = self._tag_atom(cells.get(tag), quota, fresh)
                        if slot is not None:
                            conjuncts.append(slot)
                    objects.append(_conj(conjuncts))
                groups.append(_disj(objects))
        whole = _conj(groups)
        if isinstance(whole, int):
            return (whole,)
        kind, children = whole
        if kind == "or":
            return (self._intern(whole),)
        return tuple(sorted({self._intern(child) for child in children}))

    def _tag_atom(self, cell: Cell | None, quota: bool, fresh: list[int]) -> int | None:
        """The slot a tag evaluates as, as ``Opportunity.resolve`` reads it: a tag naming no
        cell is opaque (TRUE), a discarded cell (attribute -1) drops out (``None``)."""
        if cell is None:
            return TRUE_SLOT
        if cell.attribute_id == DISCARDED_ATTRIBUTE_ID:
            return None
        return self._atom(cell, quota, fresh)

    def _intern(self, expr: Expr) -> int:
        if isinstance(expr, int):
            return expr
        kind, children = expr
        slots = tuple(sorted({self._intern(child) for child in children}))
        if len(slots) == 1:
            return slots[0]
        key = (kind, slots)
        slot = self._nodes.get(key)
        if slot is not None:
            return slot
        slot = self._new_slot()
        self._nodes[key] = slot
        self._definition[slot] = key
        for child in slots:
            self._refs.data[child] += 1
        buckets = self._and_buckets if kind == "and" else self._or_buckets
        width = _width(len(slots))
        bucket = buckets.get(width)
        if bucket is None:
            bucket = buckets[width] = self._new_bucket(width)
        pad = TRUE_SLOT if kind == "and" else FALSE_SLOT
        self._bucket_of.data[slot] = bucket.number
        self._row_of.data[slot] = bucket.add(slots, pad, slot)
        return slot

    def _release(self, slot: int) -> None:
        refs = self._refs.data
        refs[slot] -= 1
        if refs[slot] > 0:
            return
        definition = self._definition[slot]
        if isinstance(definition, AtomKey):
            self._free_atom(slot, definition)
        elif definition is not None:
            kind, children = definition
            del self._nodes[definition]
            bucket = self._buckets[int(self._bucket_of.data[slot])]
            row = int(self._row_of.data[slot])
            bucket.clear(row, TRUE_SLOT if kind == "and" else FALSE_SLOT, SINK_SLOT)
            self._definition[slot] = None
            self._free_slots.append(slot)
            for child in children:
                self._release(child)

    def _new_slot(self) -> int:
        if self._free_slots:
            return self._free_slots.pop()
        slot = self._slots
        self._slots += 1
        if slot >= self._node_capacity:
            columns = self._node_columns()
            for column in columns:
                column.ensure(slot + 1)
            self._node_capacity = min(len(column.data) for column in columns)
        self._definition.append(None)
        return slot

    def _node_columns(self) -> list[Column]:
        return [
            self._absent_lo, self._absent_hi, self._negative, self._no_hit, self._negate,
            self._need, self._range_from, self._range_to, self._collection, self._refs,
            self._bucket_of, self._row_of,
        ]  # fmt: skip

    def _attribute_code(self, attribute_id: int) -> int:
        code = self._attribute_codes.get(attribute_id)
        if code is None:
            code = len(self._attribute_ids)
            if code > MAX_ATTRIBUTES:
                raise OverflowError(f"the matcher indexes at most {MAX_ATTRIBUTES} attributes")
            self._attribute_codes[attribute_id] = code
            self._attribute_ids.append(attribute_id)
        return code

    def _atom(self, cell: Cell, quota: bool, fresh: list[int]) -> int:
        """The slot of the atom a cell evaluates as; opaque cells are simply TRUE."""
        if cell.kind in _OPAQUE_KINDS:  # Cell.is_opaque, without a property call per cell
            return TRUE_SLOT
        key = _atom_key(cell, quota)
        slot = self._atoms.get(key)
        if slot is None:
            slot = self._new_atom(key)
            fresh.append(slot)
        return slot

    def _new_atom(self, key: AtomKey) -> int:
        slot = self._new_slot()
        self._atoms[key] = slot
        self._definition[slot] = key
        self._negate.data[slot] = key.negate
        self._need.data[slot] = len(key.values) if key.mode in (_ALL, _INVITE_ALL) else 1
        if key.mode in _INVITES:
            for collection in key.values:
                _posting(self._invite_postings, collection).add(slot)
        else:
            code = self._attribute_code(key.attribute_id)
            _posting(self._atoms_by_attribute, code).add(slot)
            if key.mode in (_ANY, _ALL):
                for value in key.values:
                    _posting(self._value_postings, (key.attribute_id, value)).add(slot)
            elif key.mode == _RANGE:
                low, high = key.bounds
                self._range_from.data[slot] = _INT64_MIN if low is None else _clamp(low)
                self._range_to.data[slot] = _INT64_MAX if high is None else _clamp(high)
                _posting(self._ranges_by_attribute, code).add(slot)
            elif key.mode == _COLLECTION:
                index = self._collections.slot(key.collection)
                self._collection.data[slot] = index
                _posting(self._collections_by_attribute, code).add(slot)
                _posting(self._atoms_by_collection, index).add(slot)
        self._set_static(slot, key)
        return slot

    def _set_static(self, slot: int, key: AtomKey) -> None:
        """The atom's keys that do not depend on the profile's answers."""

        def truth(raw: bool) -> int:
            return TRUE_KEY if raw != key.negate else FALSE_KEY

        if key.mode in _INVITES:
            no_membership = truth(key.mode == _INVITE_ALL and not key.values)  # AND over nothing
            self._absent_lo.data[slot] = self._absent_hi.data[slot] = no_membership
            return
        code = self._attribute_codes[key.attribute_id]
        if key.mode == _ANSWERED and key.negate:
            self._absent_lo.data[slot] = self._absent_hi.data[slot] = TRUE_KEY
        else:
            self._absent_lo.data[slot] = (UNKNOWN_V << SHIFT) | code
            self._absent_hi.data[slot] = (UNKNOWN_V << SHIFT) | (LOW - code)
        if key.quota:
            self._negative.data[slot] = FALSE_KEY
        else:
            answered_or_negated = key.mode == _ANSWERED or key.negate
            self._negative.data[slot] = TRUE_KEY if answered_or_negated else FALSE_KEY
        if key.mode == _COLLECTION:
            known = self._collections.known.data[self._collection.data[slot]]
            self._no_hit.data[slot] = truth(False) if known else UNKNOWN_KEY
        else:
            empty_all = key.mode == _ALL and not key.values
            self._no_hit.data[slot] = truth(key.mode == _ANSWERED or empty_all)

    def _free_atom(self, slot: int, key: AtomKey) -> None:
        del self._atoms[key]
        if key.mode in _INVITES:
            for collection in key.values:
                self._invite_postings[collection].discard(slot)
        else:
            code = self._attribute_codes[key.attribute_id]
            self._atoms_by_attribute[code].discard(slot)
            if key.mode in (_ANY, _ALL):
                for value in key.values:
                    self._value_postings[(key.attribute_id, value)].discard(slot)
            elif key.mode == _RANGE:
                self._ranges_by_attribute[code].discard(slot)
            elif key.mode == _COLLECTION:
                self._collections_by_attribute[code].discard(slot)
                self._atoms_by_collection[int(self._collection.data[slot])].discard(slot)
        self._definition[slot] = None
        self._refs.data[slot] = 0
        self._free_slots.append(slot)

    # ---------------------------------------------------------------- matching

    def match(self, profile: Profile, at: datetime) -> MatchResult:
        """Every indexed opportunity's verdict for ``profile`` at time ``at``."""
        lo, hi = self._evaluate_atoms(profile, at)
        for buckets, combine, flip in (
            (self._and_buckets, np.minimum, False),
            (self._or_buckets, np.maximum, True),
        ):
            for bucket in buckets.values():
                if bucket.rows:
                    targets = bucket.targets[: bucket.rows]
                    lo[targets] = bucket.reduce(lo, combine, flip)
                    hi[targets] = bucket.reduce(hi, combine, flip)
        size = self._opportunity_count
        # Slots that no row writes to (other locales, removed opportunities) stay FALSE.
        total_lo = np.full(size, FALSE_KEY, dtype=np.int32)
        total_hi = np.full(size, FALSE_KEY, dtype=np.int32)
        for (country, language, _), bucket in self._opportunity_buckets.items():
            if not bucket.rows:
                continue
            if (profile.country or country, profile.language or language) != (country, language):
                continue
            targets = bucket.targets[: bucket.rows]
            lo_rows = bucket.reduce(lo, np.minimum, False)
            if profile.country is None or profile.language is None:
                np.minimum(lo_rows, UNKNOWN_KEY, out=lo_rows)
            total_lo[targets] = lo_rows
            # The hi pass matters only where lo found UNKNOWN with a missing attribute; checks
            # applied later can only lower a row, never make a new such row.
            waiting = _waiting(lo_rows)
            if len(waiting):
                total_hi[targets[waiting]] = bucket.reduce(hi, np.minimum, False, waiting)
        self._apply_checks(profile, total_lo)
        # Tombstoned rows (removed or replaced opportunities) write into the sink slot.
        total_lo[SINK_OPPORTUNITY] = FALSE_KEY
        truth = total_lo >> SHIFT
        eligible = truth == TRUE_V
        unknown = truth == UNKNOWN_V
        candidates = np.flatnonzero(unknown)
        low = total_lo[candidates] & LOW
        high = LOW - (total_hi[candidates] & LOW)
        single = (low == high) & (low != LOW)
        ids = np.asarray(self._attribute_ids, dtype=np.int64)
        single_missing = np.full(size, -1, dtype=np.int64)
        single_missing[candidates[single]] = ids[low[single]]
        # Float64 sums of integer micro-dollars are exact while totals stay below 2**53
        # (about $9 billion per attribute), so no cent is lost on the way back to Decimal.
        sums = np.bincount(
            low[single],
            weights=self._cpi_micros.data[candidates[single]],
            minlength=len(ids),
        )
        unlock = {
            int(ids[code]): Decimal(round(sums[code])) / 1_000_000 for code in np.flatnonzero(sums)
        }
        return MatchResult(
            eligible=eligible,
            unknown=unknown,
            exact=eligible & self._transparent.data[:size],
            prescreened=unknown & ((total_lo & LOW) == LOW),
            single_missing=single_missing,
            unlock=unlock,
            node_lo=lo,
        )

    def _evaluate_atoms(self, profile: Profile, at: datetime) -> tuple[Key, Key]:
        n = self._slots
        lo: Key = self._absent_lo.data[:n].copy()
        hi: Key = self._absent_hi.data[:n].copy()
        hits: list[npt.NDArray[np.int32]] = []
        settled: list[npt.NDArray[np.int32]] = []
        for attribute_id, given in targeting_answers(profile, at).items():
            code = self._attribute_codes.get(attribute_id)
            atoms = self._atoms_by_attribute.get(code) if code is not None else None
            if atoms is None or not len(atoms):
                continue
            ids = atoms.array
            static = self._negative.data if given.negative else self._no_hit.data
            lo[ids] = hi[ids] = static[ids]
            if given.negative:
                continue
            values = set(given.values)
            for value in values:
                posting = self._value_postings.get((attribute_id, value))
                if posting is not None and len(posting):
                    hits.append(posting.array)
            ranges = self._ranges_by_attribute.get(code)  # type: ignore[arg-type]
            if ranges is not None and len(ranges):
                settled.append(self._range_hits(ranges.array, values))
            collections = self._collections_by_attribute.get(code)  # type: ignore[arg-type]
            if collections is not None and len(collections):
                settled.append(self._collection_hits(collections.array, values))
        for invite in profile.invites:
            posting = self._invite_postings.get(invite)
            if posting is not None and len(posting):
                hits.append(posting.array)
        if hits:
            candidates, counts = np.unique(np.concatenate(hits), return_counts=True)
            settled.append(candidates[counts >= self._need.data[candidates]])
        if settled:
            matched = np.concatenate(settled)
            keys = np.where(self._negate.data[matched], FALSE_KEY, TRUE_KEY).astype(np.int32)
            lo[matched] = hi[matched] = keys
        return lo, hi

    def _range_hits(self, ids: npt.NDArray[np.int32], values: set[str]) -> npt.NDArray[np.int32]:
        low, high = self._range_from.data[ids], self._range_to.data[ids]
        hit = np.zeros(len(ids), dtype=np.bool_)
        for value in values:
            number = numeric_answer(value)
            if number is not None:
                # Bounds are integers: number >= low iff floor(number) >= low, and
                # number <= high iff ceil(number) <= high; exact without floats.
                floor, ceiling = _clamp(math.floor(number)), _clamp(math.ceil(number))
                hit |= (low <= floor) & (high >= ceiling)
        return ids[hit]

    def _collection_hits(
        self, ids: npt.NDArray[np.int32], values: set[str]
    ) -> npt.NDArray[np.int32]:
        containing = np.zeros(len(self._collections.index), dtype=np.bool_)
        for value in values:
            for indices in self._collections.containing(value):
                containing[indices] = True
        found: npt.NDArray[np.int32] = ids[containing[self._collection.data[ids]]]
        return found

    def _apply_checks(self, profile: Profile, total_lo: Key) -> None:
        """Device, duplicate and exclusion checks (REX 2.5, 4.1, 4.2) on top of targeting.

        They only ever lower a verdict, to FALSE or to UNKNOWN without a missing attribute, so
        the ``hi`` keys need no update."""
        size = len(total_lo)
        if profile.device is None:
            np.minimum(total_lo, UNKNOWN_KEY, out=total_lo)
        else:
            bit = _DEVICE_BITS[profile.device]
            by_mask = np.array(
                [TRUE_KEY if mask & bit else FALSE_KEY for mask in range(8)], dtype=np.int32
            )
            np.minimum(total_lo, by_mask[self._devices.data[:size]], out=total_lo)
        history = profile.participation
        if history.entered_projects:
            entered = np.fromiter(history.entered_projects, dtype=np.int64)
            total_lo[np.isin(self._project.data[:size], entered)] = FALSE_KEY
        for projects, index in (
            (history.excluding_projects, self._excluding_project),
            (history.excluding_categories, self._excluding_category),
        ):
            for project in projects:
                excluded = index.get(project)
                if excluded:
                    total_lo[list(excluded)] = FALSE_KEY

    # ---------------------------------------------------------------- explaining

    def verdict(
        self,
        result: MatchResult,
        opportunity: Opportunity,
        profile: Profile,
        at: datetime,
        collections: Collections,
    ) -> Verdict:
        """The full verdict for one opportunity of ``result``, reasons and quotas included.

        Only the few opportunities a caller shows need this, so the reasons and fitted quota
        objects come from the reference evaluator; result, exact match and missing attributes
        are the matcher's own.
        """
        slot = self._slots_of[opportunity.network][opportunity.id]
        reference = evaluate(opportunity, profile, at, collections)
        outcome = result.result_at(slot)
        return Verdict(
            result=outcome,
            exact_match=bool(result.exact[slot]),
            matched_quotas=reference.matched_quotas,
            missing_attributes=self.missing_attributes(result, slot),
            reason=reference.reason if outcome is Result.INELIGIBLE else None,
        )

    def fitted_quotas(
        self, result: MatchResult, opportunity: Opportunity
    ) -> tuple[str, ...] | None:
        """The open quota objects of an open, indexed opportunity that the profile of
        ``result`` is known to fit: the reference evaluator's ``matched_quotas``, read off
        this result's atom values instead of evaluating the cells again.

        None when the index holds no atom for some cell: a group that compiled to TRUE (an
        object without cells) keeps none for its other objects. The reference must answer.
        """
        slot = self.slot_of(opportunity.network, opportunity.id)
        plan = None if slot is None else self._quota_plans.get(slot)
        if plan is None or not self._plan_holds(plan):
            plan = self._quota_plan(opportunity)
            if plan is None:
                return None
            if slot is not None:
                self._quota_plans[slot] = plan
        node_lo = result.node_lo
        fitted: list[str] = []
        for quota_id, atoms in plan:
            if quota_id not in fitted and all(
                int(node_lo[atom]) >> SHIFT == TRUE_V for atom, _key in atoms
            ):
                fitted.append(quota_id)
        return tuple(fitted)

    def _quota_plan(self, opportunity: Opportunity) -> _QuotaPlan | None:
        """Each open quota object's atoms, with the key each atom stands for; None when the
        index holds no atom for some cell. Opaque cells are left out: as in the reference,
        the exchange prescreens them, they do not fail."""
        plan: list[tuple[str, tuple[tuple[int, AtomKey], ...]]] = []
        for group in opportunity.quotas:
            for quota in group:
                if not quota.is_open:
                    continue
                atoms = []
                for cell in opportunity.resolve(quota.cell_tags):
                    if cell.is_opaque:
                        continue
                    atom = self._atoms.get(_atom_key(cell, True))
                    if atom is None:
                        return None
                    atoms.append((atom, self._atoms_key(atom)))
                plan.append((quota.id, tuple(atoms)))
        return tuple(plan)

    def _plan_holds(self, plan: _QuotaPlan) -> bool:
        """Whether every atom a kept plan names is still the atom of its key: one the
        opportunity does not reference itself can be freed, and its slot reused, by others."""
        definition = self._definition
        return all(definition[atom] is key for _id, atoms in plan for atom, key in atoms)

    def missing_attributes(self, result: MatchResult, slot: int) -> frozenset[int]:
        """The full set of missing attributes of one opportunity in ``result``."""
        if not result.unknown[slot]:
            return frozenset()
        found: set[int] = set()
        stack = self._terms(slot)
        while stack:
            node = stack.pop()
            if int(result.node_lo[node]) >> SHIFT != UNKNOWN_V:
                continue
            definition = self._definition[node]
            if definition is not None and not isinstance(definition, AtomKey):
                stack.extend(definition[1])
            elif int(result.node_lo[node]) & LOW != LOW:
                found.add(self._attribute_ids[int(result.node_lo[node]) & LOW])
        return frozenset(found)


_QuotaPlan = tuple[tuple[str, tuple[tuple[int, "AtomKey"], ...]], ...]
"""(quota object id, its (atom slot, atom key) pairs) per open quota object."""


_NO_ATOMS = IdSet()
_OPAQUE_KINDS = frozenset(kind for kind in CellKind if Cell("", 0, kind).is_opaque)
_INVITE_KINDS = frozenset(kind for kind in CellKind if Cell("", 0, kind).is_invite)
K = TypeVar("K")


def _posting(postings: dict[K, IdSet], key: K) -> IdSet:
    """The posting list under ``key``, made when first needed (``setdefault`` would build an
    empty one, numpy buffer and all, on every call)."""
    posting = postings.get(key)
    if posting is None:
        posting = postings[key] = IdSet()
    return posting


def _atom_key(cell: Cell, quota: bool) -> AtomKey:
    kind = cell.kind
    if kind is CellKind.LIST:
        mode = _ALL if cell.operator is ListOperator.AND else _ANY
        return AtomKey(mode, cell.attribute_id, cell.negate, quota, _sorted_set(cell.values))
    if kind is CellKind.RANGE:
        bounds = (cell.range_from, cell.range_to)
        return AtomKey(_RANGE, cell.attribute_id, cell.negate, quota, bounds=bounds)
    if kind is CellKind.VALUE:
        return AtomKey(_ANY, cell.attribute_id, cell.negate, quota, cell.values[:1])
    if kind is CellKind.COLLECTION:
        collection = cell.collection_id or ""
        return AtomKey(_COLLECTION, cell.attribute_id, cell.negate, quota, collection=collection)
    if kind in _INVITE_KINDS:
        mode = _INVITE_ALL if cell.operator is ListOperator.AND else _INVITE_ANY
        return AtomKey(mode, 0, cell.negate, False, values=_sorted_set(cell.values))
    return AtomKey(_ANSWERED, cell.attribute_id, cell.negate, quota)


def _waiting(keys: Key) -> npt.NDArray[np.intp]:
    """Rows UNKNOWN for want of an answer: the only ones whose ``hi`` key differs from ``lo``."""
    return np.flatnonzero(((keys >> SHIFT) == UNKNOWN_V) & ((keys & LOW) != LOW))


def _sorted_set(values: tuple[str, ...]) -> tuple[str, ...]:
    # Tuples, not frozensets: a quarter of the memory, and the key stays order-independent.
    return tuple(sorted(set(values)))


def _conj(items: Iterable[Expr]) -> Expr:
    """Canonical tri-state AND: flattened, TRUE dropped, FALSE absorbing."""
    children: list[Expr] = []
    for item in items:
        if item == FALSE_SLOT:
            return FALSE_SLOT
        if item == TRUE_SLOT:
            continue
        if isinstance(item, tuple) and item[0] == "and":
            children.extend(item[1])
        else:
            children.append(item)
    if not children:
        return TRUE_SLOT
    return children[0] if len(children) == 1 else ("and", tuple(children))


def _disj(items: Iterable[Expr]) -> Expr:
    """Canonical tri-state OR: flattened, FALSE dropped, TRUE absorbing."""
    children: list[Expr] = []
    for item in items:
        if item == TRUE_SLOT:
            return TRUE_SLOT
        if item == FALSE_SLOT:
            continue
        if isinstance(item, tuple) and item[0] == "or":
            children.extend(item[1])
        else:
            children.append(item)
    if not children:
        return FALSE_SLOT
    return children[0] if len(children) == 1 else ("or", tuple(children))
