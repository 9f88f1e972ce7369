"""Optional compiled loops of the IoV round (numba, ``auction_envs._numba``): the same arithmetic as
the numpy functions they stand in for, fused into one call per round because at the market's
sizes (``N = 10``) numpy's per-call overhead, not the arithmetic, is what a round costs.

Bit for bit the numpy results: every entry goes through the same IEEE operations in the same
order (``np.maximum`` keeps a NaN, a resource total adds the VSPs one after the other from 0 as
numpy's reduction over that axis does). What numpy computes in an order that depends on the CPU
(the sum of a contiguous axis is pairwise, ``einsum`` vectorized, ``expm1`` a SIMD routine) stays
in numpy and is passed in or done around the call. Without numba every caller runs the numpy path.
"""

from __future__ import annotations

import numpy as np

from auction_envs._numba import compiled_on_first_use


def dvcg_allocation_loop(bids: np.ndarray, bid_total: np.ndarray, pool: np.ndarray,
                         s_star: np.ndarray, reference: np.ndarray, noise: np.ndarray,
                         relative: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loans, ``Delta`` and the perturbed allocation of a DVCG round, for ``B`` markets:
    ``Bank.loans(pool, bids)``, ``dvcg_delta(bids, reference, scale)`` and
    ``dvcg_perturbation(s_star, delta, noise)`` in one pass (shapes as there; ``bid_total`` is
    ``bids.sum(axis=-1)``, computed by numpy; ``relative``: ``scale == "relative"``)."""
    batch, n, k = s_star.shape
    loan = np.zeros((batch, n))
    delta = np.zeros(batch)
    s_tilde = np.empty((batch, n, k))
    column_total = np.empty(k)
    for b in range(batch):
        total = bid_total[b]
        if total > 0:  # paper (13); nobody bids: no loans
            for i in range(n):
                loan[b, i] = (pool[b] * bids[b, i]) / total
        gap = total - reference[b]
        excess = gap if (gap >= 0.0 or gap != gap) else 0.0  # np.maximum(gap, 0.0)
        if not relative:
            delta[b] = excess / n
        elif excess > 0:
            delta[b] = excess / (n * (total if total > 0 else 1.0))
        if delta[b] > 0:  # paper (15): norm(s* + Delta eps)
            for r in range(k):
                column_total[r] = 0.0
            for i in range(n):
                for r in range(k):
                    shifted = s_star[b, i, r] + delta[b] * noise[b, i, r]
                    clipped = shifted if (shifted >= 0.0 or shifted != shifted) else 0.0
                    s_tilde[b, i, r] = clipped
                    column_total[r] += clipped
            for r in range(k):
                if column_total[r] < 1.0:  # np.maximum(total, 1.0), NaN kept
                    column_total[r] = 1.0
            for i in range(n):
                for r in range(k):
                    s_tilde[b, i, r] = s_tilde[b, i, r] / column_total[r]
        else:
            for i in range(n):
                for r in range(k):
                    s_tilde[b, i, r] = s_star[b, i, r]
    return loan, delta, s_tilde


#: :func:`dvcg_allocation_loop` compiled, or ``None`` without numba
compiled_dvcg_allocation = compiled_on_first_use(dvcg_allocation_loop)


def bill_update_loop(utility: np.ndarray, gross: np.ndarray, ratio_sum: np.ndarray,
                     ratio_count: np.ndarray, alpha_hat: np.ndarray,
                     utility_sum: np.ndarray) -> None:
    """``Bank.record``'s estimate updates of one bill, in place (arrays ``[B, N]``): the running
    sums of ``G_i / U_i`` (bills with ``U_i > 1e-9``), their means ``alpha_hat`` and the
    utilities' sum."""
    batch, n = utility.shape
    for b in range(batch):
        for i in range(n):
            if utility[b, i] > 1e-9:
                ratio_sum[b, i] = ratio_sum[b, i] + gross[b, i] / utility[b, i]
                ratio_count[b, i] = ratio_count[b, i] + 1.0
                alpha_hat[b, i] = ratio_sum[b, i] / ratio_count[b, i]
            utility_sum[b, i] = utility_sum[b, i] + utility[b, i]


#: :func:`bill_update_loop` compiled, or ``None`` without numba
compiled_bill_update = compiled_on_first_use(bill_update_loop)


def settle_loop(alpha: np.ndarray, utility: np.ndarray, tax: np.ndarray, loan: np.ndarray,
                standard_normal: np.ndarray, noise_mean: float, noise_std: float,
                profit_total: np.ndarray, tax_total: np.ndarray, loan_total: np.ndarray,
                utility_total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``IoVCore.step``'s money of a round (arrays ``[B, N]``): the noise
    ``w = noise_mean + noise_std * standard_normal``, the gross profit ``alpha u + w`` and the
    profit ``gross - tax`` (returned), and the running totals of profit, tax, loan and utility
    (in place)."""
    batch, n = utility.shape
    gross = np.empty((batch, n))
    profit = np.empty((batch, n))
    for b in range(batch):
        for i in range(n):
            w = noise_mean + noise_std * standard_normal[b, i]
            gross[b, i] = alpha[b, i] * utility[b, i] + w
            profit[b, i] = gross[b, i] - tax[b, i]
            profit_total[b, i] = profit_total[b, i] + profit[b, i]
            tax_total[b, i] = tax_total[b, i] + tax[b, i]
            loan_total[b, i] = loan_total[b, i] + loan[b, i]
            utility_total[b, i] = utility_total[b, i] + utility[b, i]
    return gross, profit


#: :func:`settle_loop` compiled, or ``None`` without numba
compiled_settle = compiled_on_first_use(settle_loop)


def dvcg_tax_loop(sw_without: np.ndarray, u_hat: np.ndarray, u_hat_total: np.ndarray,
                  alpha_hat: np.ndarray, loan: np.ndarray, u_star: np.ndarray,
                  with_interest: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The externality ``I_i = SW*_{-i} - (sum_j u_j - u_i)`` (17) and
    ``dvcg_tax(alpha_hat, I, loan, u_star, interest=with_interest)`` (18) of ``B`` markets;
    ``u_hat_total`` is ``u_hat.sum(axis=-1)``, computed by numpy. Returns
    ``(externality, tax, interest)``."""
    batch, n = u_hat.shape
    externality = np.empty((batch, n))
    tax = np.empty((batch, n))
    interest = np.zeros((batch, n))
    for b in range(batch):
        for i in range(n):
            externality[b, i] = sw_without[b, i] - (u_hat_total[b] - u_hat[b, i])
            if with_interest:
                interest[b, i] = abs(loan[b, i] - u_star[b, i])
            tax[b, i] = alpha_hat[b, i] * (externality[b, i] + interest[b, i])
    return externality, tax, interest


#: :func:`dvcg_tax_loop` compiled, or ``None`` without numba
compiled_dvcg_tax = compiled_on_first_use(dvcg_tax_loop)
