"""VCG-type payments: Clarke pivots and the dual-currency VCG (DVCG) tax of paper 002.

Pure numpy functions; the welfare programs they need are solved in
``auction_envs.oracles.slicing``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def clarke_payments(welfare_without: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Clarke pivot ``p_i = W*_{-i} - sum_{j != i} v_j`` (along the last axis).

    Args:
        welfare_without: ``W*_{-i}``, the best welfare of the others without ``i``, ``(..., N)``.
        values: every bidder's (reported) value at the chosen allocation, ``(..., N)``.
    """
    values = np.asarray(values, dtype=np.float64)
    return np.asarray(welfare_without, dtype=np.float64) - (
        values.sum(axis=-1, keepdims=True) - values)


def dvcg_perturbation(s_star: np.ndarray, bids: np.ndarray, sw_star: float,
                      rng: np.random.Generator,
                      norm: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, float]:
    """Paper (15)-(16): ``s~ = norm(s* + N(0, Delta^2 I))``, ``Delta = max(sum x - SW*, 0) / N``.

    No noise is drawn when ``Delta = 0`` (the generator is left untouched).
    """
    n = s_star.shape[0]
    delta = max(float(np.sum(bids)) - float(sw_star), 0.0) / n
    if delta == 0.0:
        return s_star, 0.0
    return norm(s_star + delta * rng.standard_normal(s_star.shape)), delta


def dvcg_tax(alpha_hat: np.ndarray, externality: np.ndarray, loans: np.ndarray,
             u_star: np.ndarray, interest: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Paper (18): ``Z_i = alpha-hat_i (I_i + |K_i - U*_i|)``; ``interest=False`` is NVI-DVCG.

    Returns ``(tax, interest_term)``.
    """
    vc_interest = np.abs(np.asarray(loans) - np.asarray(u_star)) if interest else \
        np.zeros_like(np.asarray(u_star, dtype=np.float64))
    return np.asarray(alpha_hat) * (np.asarray(externality) + vc_interest), vc_interest


def information_per_round(mechanism: str, n: int, m: int, rounds: int) -> float:
    """Floats exchanged between VSPs and the NSP per round, averaged over ``rounds`` rounds.

    DVCG and plain VCG's bid: one float per VSP and round. QVCG: each VSP reports its ``M^3``
    table once (paper Table II counts ``N M^3``), spread over the rounds played.
    """
    if mechanism == "qvcg":
        return float(n * m**3) / max(rounds, 1)
    return float(n)
