"""The V2X vehicles' reward: paper 000's utility, eqs. (1)-(3), computed from a step's events.

This is the only place the reward is computed. Per vehicle and step it sums, over the vehicle's
requests (``W = utility_weight x B``, ``beta`` the system utilization the ACA saw at the auction):

* admitted with payment ``p > 0``: ``v - p + W (1 - beta)``; admitted with ``p = 0``: ``W (1 - beta)``;
* rejected (every bid that lost): ``-c + W (1 - beta)``, ``c = lost_bid_penalty x v``;
* backed off: ``-q``, ``q = (B / n_batch) / Q x delay / 10`` (see :meth:`V2XReward.backoff_costs`);
* closed as a failure after admission or while held: ``-failure_penalty x v``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auction_envs.envs.v2x.events import REJECTED, SUCCESS, BidEvents, ClosedEvents, HeldEvents, StepEvents

BACKOFF_COSTS = ("hold",)


@dataclass(frozen=True)
class V2XReward:
    """Paper 000's utility with its constants as parameters (see the module docstring)."""

    lost_bid_penalty: float = 1.0
    utility_weight: float = 0.1
    failure_penalty: float = 0.0
    backoff_cost: str = "hold"

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
        if self.failure_penalty > 0 and events.closed.vehicle.size:
            closed = events.closed
            reward -= self.failure_penalty * np.bincount(
                closed.vehicle, weights=self.failure_values(closed), minlength=n_vehicles)
        return reward

    def backoff_costs(self, held: HeldEvents) -> np.ndarray:
        """``q = (B / n_batch) / Q x hold / 10`` per held request."""
        return (held.budget / held.batch) / held.relative_deadline * held.hold / 10.0

    def bid_utilities(self, bids: BidEvents) -> np.ndarray:
        """Eqs. (1)-(2): the utility of every bid (won or lost)."""
        bonus = self.utility_weight * bids.budget * (1.0 - bids.beta)
        return np.where(bids.won, np.where(bids.paid > 0, bids.value - bids.paid, 0.0) + bonus,
                        -self.lost_bid_penalty * bids.value + bonus)

    def failure_values(self, closed: ClosedEvents) -> np.ndarray:
        """The value ``v`` of each closed request that the failure penalty charges, else 0."""
        charged = (closed.outcome != SUCCESS) & (closed.outcome != REJECTED)
        return np.where(charged, closed.value, 0.0)


__all__ = ["BACKOFF_COSTS", "V2XReward"]
