"""The live-request table of the V2X simulator: a struct of numpy arrays, compacted every step.

Only requests whose outcome is still open are kept (pending a decision, held, in transit, queued
or running), a few hundred at most, so every per-step operation is a handful of vectorized numpy
calls over short arrays.
"""

from __future__ import annotations

import numpy as np

# Request states.
DECIDE = 0  # waiting for its vehicle's (alpha, b) decision in the coming step
HELD = 1  # backed off until ``decide_at``
TRANSIT = 2  # admitted, on its way to the site until ``ready_at``
QUEUED = 3  # at the site, waiting for resources (first in, first out)
RUNNING = 4  # executing until ``finish_at``

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


class RequestTable:
    """Columns of the live requests; ``append`` and ``keep`` rebuild every column at once."""

    def __init__(self) -> None:
        for name, dtype in FIELDS.items():
            setattr(self, name, np.zeros(0, dtype=dtype))

    def __len__(self) -> int:
        return len(self.uid)

    def append(self, columns: dict[str, np.ndarray]) -> None:
        count = len(columns["uid"])
        if count == 0:
            return
        for name, dtype in FIELDS.items():
            new = columns.get(name)
            if new is None:
                new = np.zeros(count, dtype=dtype)
            setattr(self, name, np.concatenate([getattr(self, name), np.asarray(new, dtype=dtype)]))

    def keep(self, mask: np.ndarray) -> None:
        if mask.all():
            return
        for name in FIELDS:
            setattr(self, name, getattr(self, name)[mask])
