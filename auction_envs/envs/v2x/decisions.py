"""The vehicles' per-request decision rules: the backoff threshold draw and the batch prices."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

THRESHOLD_REJECTION_ROUNDS = 50  # then the inverse CDF (a far-off mean would loop forever)


def backoff_thresholds(mean: float, std: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """Backoff thresholds ``r ~ N(mean, std)`` truncated to ``[0, 1]``.

    Drawn by rejection (the v0 stream); after ``THRESHOLD_REJECTION_ROUNDS`` rounds the draws still
    outside ``[0, 1]`` come from the truncated normal's inverse CDF, so a mean far outside the
    interval (``(1.5, 0.1)``: acceptance ~3e-7) ends. ``std = 0``: the mean clipped to ``[0, 1]``.
    """
    if std == 0:
        return np.full(size, min(max(mean, 0.0), 1.0))
    out = rng.normal(mean, std, size)
    bad = np.flatnonzero((out < 0) | (out > 1))
    for _ in range(THRESHOLD_REJECTION_ROUNDS):
        if not bad.size:
            return out
        redrawn = rng.normal(mean, std, bad.size)
        out[bad] = redrawn
        bad = bad[(redrawn < 0) | (redrawn > 1)]  # only the redrawn entries can still be out
    if bad.size:
        low, high = ndtr((0.0 - mean) / std), ndtr((1.0 - mean) / std)
        u = low + (high - low) * rng.random(bad.size)
        out[bad] = np.clip(mean + std * ndtri(u), 0.0, 1.0)
    return out


def batch_prices(vehicle: np.ndarray, fraction: np.ndarray, budget: np.ndarray,
                 budget_mode: str) -> np.ndarray:
    """``b * B`` per submitted request (``vehicle`` of each), capped by the budget: by what remains
    after the vehicle's earlier bids of the step (``"per_step"``) or by ``B`` (``"per_request"``)."""
    raw = fraction[vehicle] * budget[vehicle]
    if budget_mode == "per_request" or raw.size == 0:
        return np.minimum(raw, budget[vehicle])
    # A step has a few dozen submissions: one pass in plain Python over the bids grouped by
    # vehicle (stable), with the arithmetic of a running sum over all of them (``np.cumsum``)
    # less its value at the group's start, so the caps are the same floats as the array version.
    vehicles = vehicle.tolist()
    bids = raw.tolist()
    budgets = budget.tolist()
    room = [0.0] * len(bids)
    total = 0.0
    group, group_start = -1, 0.0
    for rank, i in enumerate(sorted(range(len(bids)), key=vehicles.__getitem__)):
        total = bids[i] if rank == 0 else total + bids[i]
        spent_before = total - bids[i]
        if vehicles[i] != group:
            group, group_start = vehicles[i], spent_before
        room[i] = budgets[group] - (spent_before - group_start)
    return np.maximum(np.minimum(raw, room), 0)  # what np.clip(., 0, None) calls
