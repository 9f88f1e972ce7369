"""The trading post (Shapley–Shubik) and one step of proportional response dynamics (PRD).

In a trading post every agent splits her budget over the goods; the price of a good is the total
spending on it, and each good is shared in proportion to spending. Proportional response is the
dynamic in which every agent re-splits her next budget in proportion to the utility contribution of
each good she just received.
"""

from __future__ import annotations

import numpy as np


def trading_post(spending: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prices and allocation of a trading post.

    Args:
        spending: non-negative spending ``b``, shape ``(..., n_agents, n_goods)``; leading axes are
            batch axes.

    Returns:
        ``(allocation, prices)``: ``prices[..., j] = sum_i b[..., i, j]`` and
        ``allocation[..., i, j] = b[..., i, j] / prices[..., j]``. A good nobody spends on has price
        0 and is allocated to nobody (its column is 0).
    """
    spending = np.asarray(spending, dtype=np.float64)
    if np.any(spending < 0):
        raise ValueError("spending must be non-negative")
    prices = spending.sum(axis=-2)
    safe = np.where(prices > 0, prices, 1.0)
    allocation = np.where(prices[..., None, :] > 0, spending / safe[..., None, :], 0.0)
    return allocation, prices


def proportional_response_step(spending: np.ndarray, contributions: np.ndarray,
                               budgets: np.ndarray) -> np.ndarray:
    """One proportional-response update: ``b'_ij = B_i c_ij / sum_k c_ik``.

    Args:
        spending: current spending, shape ``(..., n, m)`` (unused except for its shape; kept so the
            signature reads like the dynamic).
        contributions: ``c_ij >= 0``, what good ``j`` contributes to agent ``i`` at the current
            allocation (for CES ``theta_ij x_ij^rho``; in general ``x_ij d u_i / d x_ij``).
        budgets: ``B_i``, shape ``(..., n)``.

    Returns:
        The new spending; an agent whose contributions are all 0 splits her budget uniformly.
    """
    contributions = np.asarray(contributions, dtype=np.float64)
    totals = contributions.sum(axis=-1, keepdims=True)
    m = contributions.shape[-1]
    shares = np.where(totals > 0, contributions / np.where(totals > 0, totals, 1.0), 1.0 / m)
    return np.asarray(budgets, dtype=np.float64)[..., None] * shares
