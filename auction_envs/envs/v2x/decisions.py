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
    bad = (out < 0) | (out > 1)
    for _ in range(THRESHOLD_REJECTION_ROUNDS):
        if not bad.any():
            return out
        out[bad] = rng.normal(mean, std, int(bad.sum()))
        bad = (out < 0) | (out > 1)
    if bad.any():
        low, high = ndtr((0.0 - mean) / std), ndtr((1.0 - mean) / std)
        u = low + (high - low) * rng.random(int(bad.sum()))
        out[bad] = np.clip(mean + std * ndtri(u), 0.0, 1.0)
    return out


def batch_prices(vehicle: np.ndarray, fraction: np.ndarray, budget: np.ndarray,
                 budget_mode: str) -> np.ndarray:
    """``b * B`` per submitted request (``vehicle`` of each), capped by the budget: by what remains
    after the vehicle's earlier bids of the step (``"per_step"``) or by ``B`` (``"per_request"``)."""
    raw = fraction[vehicle] * budget[vehicle]
    if budget_mode == "per_request" or raw.size == 0:
        return np.minimum(raw, budget[vehicle])
    order = np.argsort(vehicle, kind="stable")
    sorted_vehicle = vehicle[order]
    sorted_raw = raw[order]
    spent_before = np.cumsum(sorted_raw) - sorted_raw
    start = np.flatnonzero(np.concatenate(([True], sorted_vehicle[1:] != sorted_vehicle[:-1])))
    group_offset = np.repeat(spent_before[start], np.diff(np.append(start, len(order))))
    spent_in_batch = spent_before - group_offset
    capped = np.clip(np.minimum(sorted_raw, budget[sorted_vehicle] - spent_in_batch), 0, None)
    prices = np.empty_like(capped)
    prices[order] = capped
    return prices
