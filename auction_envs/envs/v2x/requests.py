"""The request table of the V2X simulator: a struct of numpy arrays over a preallocated capacity.

The open requests (pending a decision, held, in transit, queued or running) are a few hundred at
most, so every per-step operation is a handful of vectorized numpy calls over short arrays. A
request that closes keeps its row, marked ``CLOSED``, until the table fills up and compacts: a
step then writes only the rows it changes instead of rebuilding every column (the order of the
open rows, creation order, never changes).
"""

from __future__ import annotations

import numpy as np

# Request states.
DECIDE = 0  # waiting for its vehicle's (alpha, b) decision in the coming step
HELD = 1  # backed off until ``decide_at``
TRANSIT = 2  # admitted, on its way to the site until ``ready_at``
QUEUED = 3  # at the site, waiting for resources (first in, first out)
RUNNING = 4  # executing until ``finish_at``
CLOSED = -1  # settled (or a spare row): ignored until the table compacts

FIELDS: dict[str, type] = {
    "uid": np.int64,  # creation order (first in, first out)
    "vehicle": np.int64,
    "stype": np.int64,  # service type index
    "created": np.int64,
    "deadline": np.int64,  # absolute step by which the result must be back
    "relative_deadline": np.int64,  # Q
    "value": np.float64,
    "state": np.int64,
    "decide_at": np.int64,
    "held": np.int64,  # steps held so far (cumulative over backoffs)
    "attempts": np.int64,  # submissions to the ACA so far
    "site": np.int64,
    "amount": np.float64,  # resource units held at the site
    "nominal": np.float64,  # nominal duration at the site (steps)
    "ready_at": np.int64,
    "finish_at": np.int64,
    "return_latency": np.int64,
    "data_up": np.float64,  # Mbit (intersection variant)
    "data_down": np.float64,
}


INITIAL_CAPACITY = 512


class RequestTable:
    """Columns of the requests in creation order, each a preallocated array of ``capacity`` rows.

    Rows ``[0, size)`` hold the requests appended since the last compaction, rows beyond are spare;
    closed and spare rows have ``state == CLOSED`` and every other column at its default (0), so a
    mask over a column must include a condition on ``state`` (every mask of the simulator does).
    ``append`` writes the new rows (compacting or growing first when the capacity is reached);
    ``compact`` moves the open rows to the front, in order. ``open_view()`` gives the open rows
    as columns of their own (views: writes reach the table) for tests and analysis.
    """

    def __init__(self, capacity: int = INITIAL_CAPACITY) -> None:
        self.size = 0
        self.capacity = capacity
        for name, dtype in FIELDS.items():
            setattr(self, name, np.zeros(capacity, dtype=dtype))
        self.state[:] = CLOSED

    def append(self, columns: dict[str, np.ndarray | int | float], count: int) -> None:
        """Write ``count`` new requests (columns left out keep their default, 0)."""
        if count == 0:
            return
        start = self.reserve(count)
        rows = slice(start, start + count)
        for name, values in columns.items():
            getattr(self, name)[rows] = values

    def reserve(self, count: int) -> int:
        """Make room for ``count`` new rows at the end (compacting or growing first when the
        capacity is reached) and count them in; returns the first. The caller writes them."""
        if self.size + count > self.capacity:
            self.compact()
            if self.size + count > self.capacity:
                self._grow(max(2 * self.capacity, self.size + count))
        start = self.size
        self.size += count
        return start

    def compact(self) -> None:
        """Move the open rows to the front (same order); reset the rows freed to the defaults."""
        open_rows = np.flatnonzero(self.state[: self.size] >= 0)
        count = open_rows.size
        if count == self.size:
            return
        for name in FIELDS:
            column = getattr(self, name)
            column[:count] = column[open_rows]
            column[count: self.size] = CLOSED if name == "state" else 0
        self.size = count

    def _grow(self, capacity: int) -> None:
        for name, dtype in FIELDS.items():
            column = np.zeros(capacity, dtype=dtype)
            column[: self.size] = getattr(self, name)[: self.size]
            if name == "state":
                column[self.size:] = CLOSED
            setattr(self, name, column)
        self.capacity = capacity

    def open_view(self) -> OpenRequests:
        """The open requests in creation order (compacts first): one view per column."""
        self.compact()
        return OpenRequests(self)


class OpenRequests:
    """The open rows of a :class:`RequestTable` after compaction, one attribute per column (views
    of the table's columns: writes reach the table; valid until the simulator steps again)."""

    def __init__(self, table: RequestTable) -> None:
        self._size = table.size
        for name in FIELDS:
            setattr(self, name, getattr(table, name)[: table.size])

    def __len__(self) -> int:
        return self._size
