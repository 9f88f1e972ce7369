"""The V2X vehicles' reward: paper 000's utility, eqs. (1)-(3), computed from a step's events.

This is the only place the reward is computed. Per vehicle and step it sums, over the vehicle's
requests (``W = utility_weight x B``, ``beta`` the system utilization the ACA saw at the auction):

* admitted with payment ``p > 0``: ``v - p + W (1 - beta)``; admitted with ``p = 0``: ``W (1 - beta)``;
* rejected (every bid that lost): ``-c + W (1 - beta)``, ``c = lost_bid_penalty x v``;
* backed off: ``-q``, ``q = (B / n_batch) / Q x delay / 10`` (see :meth:`V2XReward.backoff_costs`);
* admitted, then failed (its deadline passed at the site or its result came back late):
  ``-failure_penalty x v``;
* dropped while held or waiting for a decision (hold limit, deadline, vehicle leaving):
  ``-hold_drop_penalty x v``.

Why the two failure terms [decision, v1]: the paper's utility charges a failure only when the bid
loses (``-v``); a request admitted and then late keeps its admission utility ``v - p + W (1 - beta)``
and a request held until dropped costs only its backoff cost, so "admitted then late" and "never
offload" out-earn rejection although all three are failures of the OFR. With
``failure_penalty = 2`` a late admitted request nets ``-v - p + W (1 - beta)``, no better than a
rejection; with ``hold_drop_penalty = 1`` a dropped request pays the lost-bid penalty ``c = v``, like
a rejection. Both 0 give the paper's utility (v0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auction_envs.envs.v2x.events import REJECTED, SUCCESS, BidEvents, ClosedEvents, HeldEvents, StepEvents

BACKOFF_COSTS = ("age_plus_hold", "hold")


@dataclass(frozen=True)
class V2XReward:
    """Paper 000's utility with its constants as parameters (see the module docstring)."""

    lost_bid_penalty: float = 1.0
    utility_weight: float = 0.1
    failure_penalty: float = 2.0
    hold_drop_penalty: float = 1.0
    backoff_cost: str = "age_plus_hold"
    max_backoff: int = 10

    def __call__(self, events: StepEvents, n_vehicles: int) -> np.ndarray:
        """Per-vehicle reward of one step."""
        reward = np.zeros(n_vehicles)
        held = events.held
        if held.vehicle.size:
            reward -= np.bincount(held.vehicle, weights=self.backoff_costs(held), minlength=n_vehicles)
        bids = events.bids
        if bids.vehicle.size:
            reward += np.bincount(bids.vehicle, weights=self.bid_utilities(bids),
                                  minlength=n_vehicles)
        if (self.failure_penalty > 0 or self.hold_drop_penalty > 0) and events.closed.vehicle.size:
            closed = events.closed
            reward -= np.bincount(closed.vehicle, weights=self.failure_costs(closed),
                                  minlength=n_vehicles)
        return reward

    def backoff_costs(self, held: HeldEvents) -> np.ndarray:
        """``q = (B / n_batch) / Q x delay / 10`` per held request.

        ``backoff_cost="age_plus_hold"`` (default, the authors' code, MARKETS §2): delay = the
        request's age plus the hold, ``t + 1 - created + (1 - alpha) x max_backoff``, so holding an
        old request costs more; ``"hold"`` (v0): delay = the hold ``ceil((1 - alpha) x 10)`` alone.
        """
        if self.backoff_cost == "hold":
            delay = held.hold
        else:
            delay = held.age + (1.0 - held.alpha) * self.max_backoff
        return (held.budget / held.batch) / held.relative_deadline * delay / 10.0

    def bid_utilities(self, bids: BidEvents) -> np.ndarray:
        """Eqs. (1)-(2): the utility of every bid (won or lost)."""
        bonus = self.utility_weight * bids.budget * (1.0 - bids.beta)
        return np.where(bids.won, np.where(bids.paid > 0, bids.value - bids.paid, 0.0) + bonus,
                        -self.lost_bid_penalty * bids.value + bonus)

    def failure_costs(self, closed: ClosedEvents) -> np.ndarray:
        """What each closed request costs: ``failure_penalty x v`` for a failure after admission,
        ``hold_drop_penalty x v`` for a drop while held or pending, else 0 (a rejection has paid
        its lost-bid penalty in the auction)."""
        failed = (closed.outcome != SUCCESS) & (closed.outcome != REJECTED)
        factor = np.where(closed.admitted, self.failure_penalty, self.hold_drop_penalty)
        return np.where(failed, factor * closed.value, 0.0)


__all__ = ["BACKOFF_COSTS", "V2XReward"]
