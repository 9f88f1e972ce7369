"""Episode counters of the V2X market, fed by the simulator's events; ``summary`` is ``metrics()``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from auction_envs.envs.v2x.events import DEADLINE_MISS, HOLD_DROP, REJECTED, StepEvents
from auction_envs.envs.v2x.population import BUDGETS


@dataclass(frozen=True)
class StepCounts:
    """One step's per-vehicle counts (the step's infos): bids admitted and rejected, the sum
    paid, requests backed off, requests failed."""

    admitted: np.ndarray
    rejected: np.ndarray
    payment: np.ndarray
    backed_off: np.ndarray
    failed: np.ndarray


class V2XCounters:
    """Per-vehicle counts and sums over an episode (one ``add`` per step's events)."""

    def __init__(self, n_vehicles: int, n_sites: int) -> None:
        n = n_vehicles
        self.n_vehicles = n
        self.n_sites = n_sites
        self.created = np.zeros(n, dtype=np.int64)
        self.outcomes = np.zeros((n, 4), dtype=np.int64)  # SUCCESS, REJECTED, HOLD_DROP, MISS
        self.rebids = np.zeros(n, dtype=np.int64)
        self.submissions = np.zeros(n, dtype=np.int64)
        self.backoff_sum = np.zeros(n)
        self.decisions = np.zeros(n, dtype=np.int64)
        self.price_sum = np.zeros(n)
        self.payment_sum = np.zeros(n)
        self.admitted_count = np.zeros(n, dtype=np.int64)
        self.left_coverage = 0
        self._no_counts = np.zeros(n, dtype=np.int64)
        self._no_payment = np.zeros(n)
        self.utilization_history: list[np.ndarray] = []
        self.view_history: list[np.ndarray] = []

    def add(self, events: StepEvents, record_sites: bool = True) -> StepCounts:
        """Count one step's events; return the step's own per-vehicle counts (the infos)."""
        n = self.n_vehicles
        if events.created.size:
            self.created += np.bincount(events.created, minlength=n)
        if events.decided.size:
            self.decisions += np.bincount(events.decided, minlength=n)
        held = events.held
        if held.vehicle.size:
            self.backoff_sum += np.bincount(held.vehicle, weights=held.hold, minlength=n)
            backed_off = np.bincount(held.vehicle, minlength=n)
        else:
            backed_off = self._no_counts
        bids = events.bids
        if bids.vehicle.size:
            in_submission_order = np.argsort(bids.submission_index)
            self.price_sum += np.bincount(bids.vehicle[in_submission_order],
                                          weights=bids.price[in_submission_order], minlength=n)
            self.rebids += np.bincount(bids.vehicle[bids.rebid], minlength=n)
            submitted = np.bincount(bids.vehicle, minlength=n)
            self.submissions += submitted
            payment = np.bincount(bids.vehicle, weights=bids.paid, minlength=n)
            self.payment_sum += payment
            admitted = np.bincount(bids.vehicle[bids.won], minlength=n)
            self.admitted_count += admitted
        else:
            submitted = admitted = self._no_counts
            payment = self._no_payment
        closed = events.closed
        if closed.vehicle.size:
            outcomes = np.bincount(closed.vehicle * 4 + closed.outcome, minlength=4 * n
                                   ).reshape(n, 4)
            self.outcomes += outcomes
            failed = outcomes[:, 1:].sum(axis=1)
        else:
            failed = self._no_counts
        self.left_coverage += events.left_coverage
        if record_sites:
            self.utilization_history.append(events.utilization)
            self.view_history.append(events.view_utilization)
        return StepCounts(admitted=admitted, rejected=submitted - admitted, payment=payment,
                          backed_off=backed_off, failed=failed)

    def summary(self, steps: int, budget: np.ndarray, site_names: list[str],
                last_price: dict[str, float]) -> dict[str, Any]:
        """``metrics()`` of the env (see ``V2XOffloadingEnv``'s docstring, Metrics)."""
        ended = self.outcomes.sum(axis=1)
        total = max(int(ended.sum()), 1)
        failures = self.outcomes[:, 1:].sum(axis=1)
        util = np.array(self.utilization_history) if self.utilization_history \
            else np.zeros((1, self.n_sites))
        high = budget == BUDGETS[0]
        groups = {"high": high, "low": ~high}

        def ratio(num: np.ndarray, den: np.ndarray) -> float:
            d = float(den.sum())
            return float(num.sum()) / d if d > 0 else 0.0

        return {
            "steps": int(steps),
            "requests": int(self.created.sum()),
            "finished": int(ended.sum()),
            "ofr": float(failures.sum()) / total,
            "ofr_rejected": float(self.outcomes[:, REJECTED].sum()) / total,
            "ofr_dropped_on_hold": float(self.outcomes[:, HOLD_DROP].sum()) / total,
            "ofr_deadline_miss": float(self.outcomes[:, DEADLINE_MISS].sum()) / total,
            "utilization": {name: float(util[:, j].mean()) for j, name in enumerate(site_names)},
            "utilization_std": {name: float(util[:, j].std()) for j, name in enumerate(site_names)},
            "rebidding_overhead": float(np.mean(self.rebids / np.maximum(ended, 1))),
            "rebids_per_vehicle": self.rebids.copy(),
            "vehicle_ofr": np.where(ended > 0, failures / np.maximum(ended, 1), np.nan),
            "backoff_by_budget": {g: ratio(self.backoff_sum[m], self.decisions[m])
                                  for g, m in groups.items()},
            "price_by_budget": {g: ratio(self.price_sum[m], self.submissions[m])
                                for g, m in groups.items()},
            "payment_by_budget": {g: ratio(self.payment_sum[m], self.admitted_count[m])
                                  for g, m in groups.items()},
            "last_price": last_price,
        }


__all__ = ["StepCounts", "V2XCounters"]
