"""VCG-type payments: Clarke pivots and the dual-currency VCG (DVCG) round of paper 002.

Pure numpy functions over leading batch axes (``[..., N]`` bids, ``[..., N, K]`` allocations); the
welfare programs they need are solved in ``auction_envs.oracles.slicing``.
"""

from __future__ import annotations

import numpy as np

#: How ``Delta`` of paper (16) is scaled (see :func:`dvcg_delta`).
PERTURBATION_SCALES = ("literal", "relative")


def clarke_payments(welfare_without: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Clarke pivot ``p_i = W*_{-i} - sum_{j != i} v_j`` (along the last axis).

    Args:
        welfare_without: ``W*_{-i}``, the best welfare of the others without ``i``, ``(..., N)``.
        values: every bidder's (reported) value at the chosen allocation, ``(..., N)``.
    """
    values = np.asarray(values, dtype=np.float64)
    return np.asarray(welfare_without, dtype=np.float64) - (
        values.sum(axis=-1, keepdims=True) - values)


def dvcg_delta(bids: np.ndarray, sw_star: np.ndarray, scale: str = "literal") -> np.ndarray:
    """The perturbation scale ``Delta`` of paper (16), one per market (shape ``bids.shape[:-1]``).

    * ``"literal"``: ``Delta = max(sum_i x_i - SW*, 0) / N``, in utility units, as printed; it is
      added to shares in ``[0, 1]`` (a 1% welfare gap at N = 10 gives a standard deviation of
      about 1.4 shares).
    * ``"relative"``: ``Delta = max(sum_i x_i - SW*, 0) / (N sum_i x_i)``: the excess of the bids
      as a fraction of their total, spread over the N VSPs, a share (at most ``1/N``, the uniform
      share). Both are 0 exactly when ``sum_i x_i <= SW*`` (truthful DVCG is left unperturbed).
    """
    bids = np.asarray(bids, dtype=np.float64)
    n = bids.shape[-1]
    total = bids.sum(axis=-1)
    excess = np.maximum(total - np.asarray(sw_star, dtype=np.float64), 0.0)
    if scale == "literal":
        return excess / n
    if scale == "relative":
        return np.where(excess > 0, excess / (n * np.where(total > 0, total, 1.0)), 0.0)
    raise ValueError(f"perturbation scale must be one of {PERTURBATION_SCALES}; got {scale!r}")


def perturbation_norm(s: np.ndarray) -> np.ndarray:
    """``norm`` of paper (15) [decision]: negative shares are clipped to 0, then every resource
    whose total exceeds 1 is divided by its total (shares ``[..., N, K]``, resources summed over N).
    """
    s = np.maximum(s, 0.0)
    total = s.sum(axis=-2, keepdims=True)
    return s / np.maximum(total, 1.0)


def dvcg_perturbation(s_star: np.ndarray, delta: np.ndarray, noise: np.ndarray | None
                      ) -> np.ndarray:
    """Paper (15): ``s~ = norm(s* + Delta * eps)`` with standard normal ``noise`` ``eps`` shaped
    like ``s_star``; markets with ``Delta = 0`` (or ``noise=None``) keep ``s*`` exactly."""
    if noise is None:
        return s_star
    delta = np.asarray(delta, dtype=np.float64)[..., None, None]
    return np.where(delta > 0, perturbation_norm(s_star + delta * noise), s_star)


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
