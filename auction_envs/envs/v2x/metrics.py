"""Episode counters of the V2X market, fed by the simulator's events; ``summary`` is ``metrics()``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from auction_envs._numba import compiled_on_first_use
from auction_envs.envs.v2x.events import DEADLINE_MISS, HOLD_DROP, REJECTED, SUCCESS, StepEvents
from auction_envs.envs.v2x.population import BUDGETS
from auction_envs.envs.v2x.rewards import V2XReward


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

    def tally(self, events: StepEvents, rule: V2XReward) -> tuple[np.ndarray, StepCounts] | None:
        """``rule(events, n_vehicles)`` and ``add(events)`` in one compiled pass (the same floats:
        ``tests/v2x/test_fast_paths.py``); ``None`` without numba or for a rule that is not
        exactly a :class:`V2XReward` (a subclass may compute its own reward)."""
        kernel = _compiled_tally()
        if kernel is None or type(rule) is not V2XReward:
            return None
        held, bids, closed = events.held, events.bids, events.closed
        reward, counts, payment = kernel(
            self.n_vehicles, events.created, events.decided,
            held.vehicle, held.hold, held.alpha, held.batch, held.relative_deadline, held.age,
            held.budget, bids.vehicle, bids.price, bids.value, bids.won, bids.paid, bids.rebid,
            bids.budget, bids.submission_index, float(bids.beta), closed.vehicle, closed.outcome,
            closed.value, closed.admitted, rule.lost_bid_penalty, rule.utility_weight,
            rule.failure_penalty, rule.hold_drop_penalty, rule.backoff_cost == "hold",
            rule.max_backoff, self.created, self.decisions, self.backoff_sum, self.price_sum,
            self.rebids, self.submissions, self.payment_sum, self.admitted_count, self.outcomes)
        self.left_coverage += events.left_coverage
        self.utilization_history.append(events.utilization)
        self.view_history.append(events.view_utilization)
        return reward, StepCounts(admitted=counts[:, 0], rejected=counts[:, 1], payment=payment,
                                  backed_off=counts[:, 2], failed=counts[:, 3])

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


def _tally_kernel(n, created, decided, h_vehicle, h_hold, h_alpha, h_batch, h_deadline, h_age,
                  h_budget, b_vehicle, b_price, b_value, b_won, b_paid, b_rebid, b_budget,
                  b_index, beta, c_vehicle, c_outcome, c_value, c_admitted, lost_bid_penalty,
                  utility_weight, failure_penalty, hold_drop_penalty, hold_only, max_backoff,
                  created_count, decisions, backoff_sum, price_sum, rebids, submissions,
                  payment_sum, admitted_count, outcomes):  # pragma: no cover (numba)
    """``V2XReward.__call__`` and ``V2XCounters.add`` as loops (numba), the same floats: each
    ``np.bincount`` with weights is a sum in input order from 0.0, added (or subtracted) as a
    whole, as numpy does. Updates the counters in place; returns the reward, the step's counts
    ``[n, 4]`` (admitted, rejected, backed off, failed) and the step's payments."""
    reward = np.zeros(n)
    counts = np.zeros((n, 4), dtype=np.int64)
    payment = np.zeros(n)
    for v in created:
        created_count[v] += 1
    for v in decided:
        decisions[v] += 1
    if h_vehicle.size:
        cost = np.zeros(n)
        hold_sum = np.zeros(n)
        for i in range(h_vehicle.size):
            v = h_vehicle[i]
            if hold_only:
                delay = float(h_hold[i])
            else:
                delay = h_age[i] + (1.0 - h_alpha[i]) * max_backoff
            cost[v] += (h_budget[i] / h_batch[i]) / h_deadline[i] * delay / 10.0
            hold_sum[v] += h_hold[i]
            counts[v, 2] += 1
        for v in range(n):
            reward[v] -= cost[v]
            backoff_sum[v] += hold_sum[v]
    if b_vehicle.size:
        utility = np.zeros(n)
        price = np.zeros(n)
        order = np.empty(b_vehicle.size, dtype=np.int64)
        for i in range(b_vehicle.size):
            order[b_index[i]] = i
            v = b_vehicle[i]
            bonus = utility_weight * b_budget[i] * (1.0 - beta)
            if b_won[i]:
                utility[v] += (b_value[i] - b_paid[i] if b_paid[i] > 0 else 0.0) + bonus
                counts[v, 0] += 1
            else:
                utility[v] += -lost_bid_penalty * b_value[i] + bonus
                counts[v, 1] += 1
            payment[v] += b_paid[i]
            if b_rebid[i]:
                rebids[v] += 1
        for i in order:  # the prices in submission order
            price[b_vehicle[i]] += b_price[i]
        for v in range(n):
            reward[v] += utility[v]
            price_sum[v] += price[v]
            submissions[v] += counts[v, 0] + counts[v, 1]
            payment_sum[v] += payment[v]
            admitted_count[v] += counts[v, 0]
    if c_vehicle.size:
        failure = np.zeros(n)
        for i in range(c_vehicle.size):
            v = c_vehicle[i]
            outcome = c_outcome[i]
            outcomes[v, outcome] += 1
            if outcome != SUCCESS:
                counts[v, 3] += 1
            if outcome != SUCCESS and outcome != REJECTED:  # a failure that is not a rejection
                failure[v] += (failure_penalty if c_admitted[i] else hold_drop_penalty) * c_value[i]
            else:
                failure[v] += 0.0
        if failure_penalty > 0 or hold_drop_penalty > 0:
            for v in range(n):
                reward[v] -= failure[v]
    return reward, counts, payment


# without numba ``V2XReward.__call__`` and ``V2XCounters.add`` run (``V2XCounters.tally``)
_compiled_tally = compiled_on_first_use(_tally_kernel)


__all__ = ["StepCounts", "V2XCounters"]
