"""The proportional-allocation (Kelly) mechanism."""

from __future__ import annotations

import numpy as np


def proportional_allocation(bids: np.ndarray, reserve: float) -> np.ndarray:
    """Shares of a divisible resource in proportion to bids, with a reservation bid.

    ``x_i = z_i / (sum_j z_j + reserve)`` along the last axis; leading axes are batch axes.

    Args:
        bids: non-negative bids, shape ``(..., n)``.
        reserve: the seller's reservation bid ``delta > 0`` (keeps the allocation defined at 0).

    Returns:
        Allocations of the same shape, summing to less than 1 along the last axis.
    """
    bids = np.asarray(bids, dtype=np.float64)
    if reserve <= 0:
        raise ValueError(f"reserve must be > 0; got {reserve!r}")
    return bids / (bids.sum(axis=-1, keepdims=True) + reserve)
