"""The trading post (Shapley–Shubik) and proportional response dynamics (PRD), batchable.

In a trading post every agent splits her budget over the goods; the price of a good is the total
spending on it, and each good is shared in proportion to spending. Proportional response is the
dynamic in which every agent re-splits her next budget in proportion to the utility contribution of
each good she just received. :func:`proportional_response_dynamics` is the one implementation of
that loop in the package (the CE oracle and the learners call it); every function works over
leading batch axes ``(..., n_agents, n_goods)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


def budgets_at(endowments: np.ndarray, prices: np.ndarray) -> np.ndarray:
    """``B_i = p . e_i``, shape ``(..., n)`` (an exchange economy: budgets move with prices)."""
    if endowments.ndim == 2 and prices.ndim == 1:
        return endowments @ prices
    return np.matmul(endowments, prices[..., None])[..., 0]


@dataclass
class PRDResult:
    """Proportional response dynamics output: final spending, allocation, prices, the iterations
    run, and the residual history (max relative change of prices, one entry per iteration, per
    batch element: shape ``(iterations, *batch)``)."""

    spending: np.ndarray
    allocation: np.ndarray
    prices: np.ndarray
    iterations: int
    residuals: np.ndarray


def proportional_response_dynamics(spending: np.ndarray, endowments: np.ndarray,
                                   contribution: Callable[[np.ndarray], np.ndarray], *,
                                   max_iter: int, tol: float) -> PRDResult:
    """Iterate the trading post under proportional response from ``spending``.

    Each iteration: budgets ``B = e p`` at the current prices, contributions
    ``c = contribution(x)`` at the current allocation, ``b = B c / sum_k c`` (uniform split for an
    agent with no contribution), ``p = sum_i b``, ``x = b / p``. Stops after ``max_iter``
    iterations or once every batch element's prices changed by less than ``tol`` (relative).

    Args:
        spending: the start, ``(..., n, m)``, non-negative.
        endowments: ``(..., n, m)`` (broadcast against ``spending``).
        contribution: ``x -> c`` of the allocation's shape (the family's ``x phi'(x)`` rule).
        max_iter: iteration bound (>= 0); tol: the stopping threshold (0: run ``max_iter``).
    """
    b = np.array(spending, dtype=np.float64)
    e = np.asarray(endowments, dtype=np.float64)
    m = b.shape[-1]
    x, p = trading_post(b)
    residuals = []
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        budgets = budgets_at(e, p)
        c = contribution(x)
        totals = c.sum(axis=-1, keepdims=True)
        safe = np.where(totals > 0, totals, 1.0)
        b = np.where(totals > 0, c / safe, 1.0 / m) * budgets[..., None]
        p_new = b.sum(axis=-2)
        x = b / np.where(p_new > 0, p_new, 1.0)[..., None, :]
        change = np.max(np.abs(p_new - p) / np.maximum(p_new, 1e-300), axis=-1)
        residuals.append(change)
        p = p_new
        if np.all(change < tol):
            break
    history = np.asarray(residuals, dtype=np.float64).reshape((iterations, *p.shape[:-1]))
    return PRDResult(b, x, p, iterations, history)
