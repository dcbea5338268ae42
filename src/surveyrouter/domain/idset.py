"""Growable numpy-backed containers for the matcher's incremental index."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


class IdSet:
    """A set of small non-negative ints with O(1) add and remove and a contiguous array view.

    Removal swaps the last element into the hole, so order is not kept; the matcher only needs
    membership and a dense array to gather with.
    """

    __slots__ = ("_buffer", "_position", "_size")

    def __init__(self) -> None:
        self._buffer: npt.NDArray[np.int32] = np.empty(4, dtype=np.int32)
        self._position: dict[int, int] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, item: int) -> bool:
        return item in self._position

    def add(self, item: int) -> None:
        if item in self._position:
            return
        if self._size == len(self._buffer):
            grown = np.empty(2 * len(self._buffer), dtype=np.int32)
            grown[: self._size] = self._buffer[: self._size]
            self._buffer = grown
        self._buffer[self._size] = item
        self._position[item] = self._size
        self._size += 1

    def discard(self, item: int) -> None:
        position = self._position.pop(item, None)
        if position is None:
            return
        self._size -= 1
        if position != self._size:
            last = int(self._buffer[self._size])
            self._buffer[position] = last
            self._position[last] = position

    @property
    def array(self) -> npt.NDArray[np.int32]:
        """The members as a read-only view; valid until the next change."""
        view = self._buffer[: self._size]
        view.flags.writeable = False
        return view


class Column:
    """A growable 1-d numpy array indexed by slot, with a fill value for new slots."""

    __slots__ = ("_fill", "data")

    def __init__(self, dtype: npt.DTypeLike, fill: int | float | bool = 0, capacity: int = 64):
        self._fill = fill
        self.data: npt.NDArray[Any] = np.full(capacity, fill, dtype=dtype)

    def ensure(self, size: int) -> None:
        if size <= len(self.data):
            return
        capacity = max(size, 2 * len(self.data))
        grown = np.full(capacity, self._fill, dtype=self.data.dtype)
        grown[: len(self.data)] = self.data
        self.data = grown
