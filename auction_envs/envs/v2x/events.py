"""What happened to requests in one step of the V2X simulator: the events the reward function and
the metrics read (and nothing else does).

The core simulator (``core.py``) emits one :class:`StepEvents` per step. Every array is ordered as
the simulator produced the events (decisions in table order, bids auction by auction, closures in
the order requests closed), so sums over them are reproducible bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auction_envs.envs.v2x.requests import CLOSED

# Outcome codes of closed requests.
SUCCESS, REJECTED, HOLD_DROP, DEADLINE_MISS = 0, 1, 2, 3
OUTCOME_NAMES = ("success", "rejected", "dropped_on_hold", "deadline_miss")

_INT = np.zeros(0, dtype=np.int64)
_FLOAT = np.zeros(0)
_BOOL = np.zeros(0, dtype=bool)


@dataclass
class HeldEvents:
    """Requests backed off this step (one entry per request)."""

    vehicle: np.ndarray = field(default_factory=lambda: _INT)
    hold: np.ndarray = field(default_factory=lambda: _INT)  # steps held, ceil((1 - alpha) * 10)
    alpha: np.ndarray = field(default_factory=lambda: _FLOAT)  # the vehicle's backoff decision
    batch: np.ndarray = field(default_factory=lambda: _INT)  # requests the vehicle decided this step
    relative_deadline: np.ndarray = field(default_factory=lambda: _INT)  # Q
    age: np.ndarray = field(default_factory=lambda: _INT)  # t + 1 - created
    budget: np.ndarray = field(default_factory=lambda: _FLOAT)  # the vehicle's budget


@dataclass
class BidEvents:
    """Requests submitted to the ACA this step, auction by auction (one entry per bid)."""

    vehicle: np.ndarray = field(default_factory=lambda: _INT)
    price: np.ndarray = field(default_factory=lambda: _FLOAT)
    value: np.ndarray = field(default_factory=lambda: _FLOAT)
    won: np.ndarray = field(default_factory=lambda: _BOOL)
    paid: np.ndarray = field(default_factory=lambda: _FLOAT)
    rebid: np.ndarray = field(default_factory=lambda: _BOOL)  # submitted before
    budget: np.ndarray = field(default_factory=lambda: _FLOAT)  # the vehicle's budget
    # position of each bid among the step's submissions in table order (bids are listed auction
    # by auction): sums in submission order read ``price[argsort(submission_index)]``
    submission_index: np.ndarray = field(default_factory=lambda: _INT)
    beta: float = 0.0  # system utilization as the ACA saw it when the auctions started


@dataclass
class ClosedEvents:
    """Requests whose outcome was settled this step (one entry per request)."""

    vehicle: np.ndarray = field(default_factory=lambda: _INT)
    outcome: np.ndarray = field(default_factory=lambda: _INT)  # SUCCESS ... DEADLINE_MISS
    value: np.ndarray = field(default_factory=lambda: _FLOAT)
    admitted: np.ndarray = field(default_factory=lambda: _BOOL)  # won an auction before closing


@dataclass
class StepEvents:
    """Everything one step did to requests, plus the site loads it left."""

    created: np.ndarray = field(default_factory=lambda: _INT)  # vehicle of each new request
    held: HeldEvents = field(default_factory=HeldEvents)
    decided: np.ndarray = field(default_factory=lambda: _INT)  # vehicle of each decided request
    bids: BidEvents = field(default_factory=BidEvents)
    closed: ClosedEvents = field(default_factory=ClosedEvents)
    utilization: np.ndarray = field(default_factory=lambda: _FLOAT)  # running / capacity per site
    view_utilization: np.ndarray = field(default_factory=lambda: _FLOAT)  # the ACA's view per site
    left_coverage: int = 0  # pending requests dropped because their vehicle left (junction)


class ClosedLog:
    """Settles requests during one step (several calls) and lists them as events once.

    ``close`` marks the rows closed at once (later masks of the step must not see them) and keeps
    only their row indices; ``events`` gathers vehicles and values for all of them at the end of
    the step (rows do not move within a step).
    """

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, int | np.ndarray, bool]] = []

    def close(self, table: Any, rows: np.ndarray, outcome: int | np.ndarray, admitted: bool
              ) -> None:
        """Close ``rows`` (table order) with ``outcome`` (a code, or one per row); ``admitted``:
        whether they had won an auction (each call closes requests of one state)."""
        if rows.size:
            table.state[rows] = CLOSED
            self.parts.append((rows, outcome, admitted))

    def events(self, table: Any) -> ClosedEvents:
        if not self.parts:
            return ClosedEvents()
        rows = self.parts[0][0] if len(self.parts) == 1 \
            else np.concatenate([part[0] for part in self.parts])
        outcomes = np.empty(rows.size, dtype=np.int64)
        flags = np.empty(rows.size, dtype=bool)
        start = 0
        for part_rows, outcome, admitted in self.parts:  # (np.full is a slow Python wrapper)
            stop = start + part_rows.size
            outcomes[start:stop] = outcome
            flags[start:stop] = admitted
            start = stop
        return ClosedEvents(vehicle=table.vehicle[rows], outcome=outcomes, value=table.value[rows],
                            admitted=flags)


__all__ = [
    "DEADLINE_MISS",
    "HOLD_DROP",
    "OUTCOME_NAMES",
    "REJECTED",
    "SUCCESS",
    "BidEvents",
    "ClosedEvents",
    "ClosedLog",
    "HeldEvents",
    "StepEvents",
]
