"""Closed forms and the exact Nash equilibrium of the Kelly (proportional allocation) game.

Player i bids ``z_i`` in ``[eps, c_i]``, receives ``x_i = z_i / (sum_j z_j + delta)`` and earns
``phi_i = V_i(x_i) - z_i`` with the alpha-fair valuation ``V_i(x) = a_i x^(1-alpha) / (1-alpha)``
(``a_i log x`` for ``alpha = 1``). ``s_i = sum_{j != i} z_j + delta`` is what player i bids against.
All functions broadcast over leading axes (the player axis is last).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from auction_envs._numba import compiled_on_first_use
from auction_envs.mechanisms import proportional_allocation

_BISECTION_STEPS = 200  # halves a bracket of width <= 1 down to below 1e-60: past float64 precision


def kelly_valuations(n: int, a: float = 100.0, gamma: float = 0.0, a_min: float = 1.0
                     ) -> np.ndarray:
    """The paper's heterogeneous valuation scales ``a_i = max(a - (i - 1) gamma, a_min)``, ``i = 1..n``."""
    return np.maximum(np.full(int(n), float(a)) - np.arange(int(n)) * float(gamma), float(a_min))


def bid_grid(low: np.ndarray, high: np.ndarray, arms: int) -> np.ndarray:
    """``arms`` evenly spaced bids ``low + (high - low) k / (arms - 1)`` per player, shape ``(n, arms)``.

    The one definition of the bid grid: the env's counterfactual feedback and the grid learners
    (Hedge, EXP3) both use it, so a grid bid played is a grid bid the env evaluated.
    """
    low = np.atleast_1d(np.asarray(low, dtype=np.float64))
    high = np.atleast_1d(np.asarray(high, dtype=np.float64))
    return low[:, None] + (high - low)[:, None] * np.linspace(0.0, 1.0, int(arms))


def alpha_fair_value(x: np.ndarray, a: np.ndarray, alpha: float) -> np.ndarray:
    """``a log x`` for ``alpha = 1``, else ``a x^(1 - alpha) / (1 - alpha)``."""
    x = np.asarray(x, dtype=np.float64)
    if alpha == 1.0:
        return a * np.log(x)
    return a * x ** (1.0 - alpha) / (1.0 - alpha)


def others_bid(bids: np.ndarray, delta: float) -> np.ndarray:
    """``s_i = sum_{j != i} z_j + delta`` for every player."""
    bids = np.asarray(bids, dtype=np.float64)
    return bids.sum(axis=-1, keepdims=True) - bids + delta


def kelly_payoff(bids: np.ndarray, others: np.ndarray, a: np.ndarray, alpha: float = 1.0
                 ) -> np.ndarray:
    """``phi_i = V_i(z_i / (z_i + s_i)) - z_i`` for bids ``z`` against aggregates ``s``."""
    bids = np.asarray(bids, dtype=np.float64)
    return alpha_fair_value(bids / (bids + others), a, alpha) - bids


def kelly_gradient(bids: np.ndarray, others: np.ndarray, a: np.ndarray, alpha: float = 1.0
                   ) -> np.ndarray:
    """``d phi_i / d z_i = a_i x_i^(-alpha) s_i / (z_i + s_i)^2 - 1`` (``a s/(z(z+s)) - 1`` at alpha=1)."""
    bids = np.asarray(bids, dtype=np.float64)
    total = bids + others
    if alpha == 1.0:
        return a * others / (bids * total) - 1.0
    return a * (bids / total) ** (-alpha) * others / total**2 - 1.0


def kelly_best_response(others: np.ndarray, a: np.ndarray, eps: float | np.ndarray,
                        c: float | np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """The payoff-maximizing bid in ``[eps, c]`` against the aggregate ``s`` of the others.

    The payoff is strictly concave in the own bid, so the answer is the clipped root of the
    gradient: ``(-s + sqrt(s^2 + 4 a s)) / 2`` for alpha = 1 (computed in the cancellation-free
    form ``2 a s / (s + sqrt(s^2 + 4 a s))``), ``sqrt(a s) - s`` for alpha = 0, ``sqrt(a s)`` for
    alpha = 2, and a bisection on the gradient otherwise.
    """
    others = np.asarray(others, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    if alpha == 1.0:
        interior = 2.0 * a * others / (others + np.sqrt(others * others + 4.0 * a * others))
    elif alpha == 0.0:
        interior = np.sqrt(a * others) - others
    elif alpha == 2.0:
        interior = np.sqrt(a * others)
    else:
        a = np.broadcast_to(a, others.shape)
        low = np.broadcast_to(np.asarray(eps, dtype=np.float64), others.shape).copy()
        high = np.broadcast_to(np.asarray(c, dtype=np.float64), others.shape).copy()
        for _ in range(_BISECTION_STEPS):
            middle = 0.5 * (low + high)
            rising = kelly_gradient(middle, others, a, alpha) > 0
            low = np.where(rising, middle, low)
            high = np.where(rising, high, middle)
        interior = 0.5 * (low + high)
    return np.minimum(np.maximum(interior, eps), c)  # clip, without np.clip's overhead


def kelly_round(bids: np.ndarray, a: np.ndarray, eps: float, c: np.ndarray, delta: float,
                alpha: float = 1.0, grid: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """One round of the Kelly game for bids of shape ``(..., n)`` (leading axes are batch axes).

    Returns arrays of the bids' shape: ``bid``, ``others_bid`` (``s_i``), ``allocation``,
    ``payoff``, ``gradient`` (``d phi_i / d z_i``), ``best_response`` (against ``s_i``); with a
    ``grid`` of shape ``(n, K)`` also ``counterfactual_payoffs`` of shape ``(..., n, K)``: what each
    grid bid would have earned against ``s_i``. This is the round the env plays.
    """
    bids = np.asarray(bids, dtype=np.float64)
    others = others_bid(bids, delta)
    allocation = proportional_allocation(bids, delta)
    feedback = {
        "bid": bids,
        "others_bid": others,
        "allocation": allocation,
        "payoff": alpha_fair_value(allocation, a, alpha) - bids,
        "gradient": kelly_gradient(bids, others, a, alpha),
        "best_response": kelly_best_response(others, a, eps, c, alpha),
    }
    if grid is not None:
        feedback["counterfactual_payoffs"] = kelly_payoff(grid, others[..., None],
                                                          np.asarray(a)[..., None], alpha)
    return feedback


def kelly_payoff_range(a: np.ndarray, c: np.ndarray, eps: float, delta: float, alpha: float = 1.0
                       ) -> tuple[float, float]:
    """``(phi_min, phi_max)``: the bounds of every payoff, used to normalize payoffs to [0, 1].

    The authors' normalization (MARKETS.md §1): the payoff falls in the aggregate ``s`` of the
    others and is concave in the own bid, so ``phi_min`` is the worse of bidding ``eps`` or the
    budget against the largest aggregate ``s_max = (n - 1) max(c) + delta``, and ``phi_max`` the
    best response's payoff against the smallest, ``s_min = (n - 1) eps + delta`` (min and max over
    players). Equal when every budget is ``eps`` (one possible payoff): see
    :func:`normalized_payoff`.
    """
    a = np.asarray(a, dtype=np.float64)
    n = a.size
    c = np.broadcast_to(np.asarray(c, dtype=np.float64), (n,))
    s_max = (n - 1) * c.max() + delta
    s_min = (n - 1) * eps + delta
    low = np.minimum(kelly_payoff(np.full(n, eps), s_max, a, alpha),
                     kelly_payoff(c, s_max, a, alpha)).min()
    best = kelly_best_response(np.full(n, s_min), a, eps, c, alpha)
    high = kelly_payoff(best, s_min, a, alpha).max()
    return float(low), float(max(high, low))


def normalized_payoff(payoff: np.ndarray, low: float, high: float) -> np.ndarray:
    """``(phi - phi_min) / (phi_max - phi_min)``; 1 where the range is a single point (every
    payoff is then both the worst and the best possible)."""
    payoff = np.asarray(payoff, dtype=np.float64)
    if high > low:
        return (payoff - low) / (high - low)
    return np.ones_like(payoff)


def _equilibrium_share(total: float, a: np.ndarray, alpha: float) -> np.ndarray:
    """The unconstrained equilibrium bid share ``u = z_i / S`` given the total ``S``.

    From the first-order condition with ``z_i + s_i = S``: ``a_i (1 - u) / S = u^alpha``.
    """
    if alpha == 1.0:
        return a / (total + a)
    if alpha == 0.0:
        return 1.0 - total / a
    low = np.zeros_like(a)
    high = np.ones_like(a)
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (low + high)
        rising = a * (1.0 - middle) / total > middle**alpha
        low = np.where(rising, middle, low)
        high = np.where(rising, high, middle)
    return 0.5 * (low + high)


def kelly_nash_equilibrium(a: np.ndarray, c: float | np.ndarray, eps: float, delta: float,
                           alpha: float = 1.0) -> np.ndarray:
    """The Nash equilibrium bids of the Kelly game, solved exactly (not by running dynamics).

    At the equilibrium, with ``S = sum_j z_j + delta``, every bid is
    ``z_i(S) = clip(u_i(S) S, eps, c_i)`` where ``u_i(S)`` solves ``a_i (1 - u) / S = u^alpha``
    (``a_i S / (S + a_i)`` for alpha = 1). ``z_i(S) / S`` is strictly decreasing in S, so
    ``sum_i z_i(S) + delta = S`` has exactly one root in ``[n eps + delta, sum_i c_i + delta]``,
    found by Brent's method to machine precision: O(n) work per iteration. For alpha in {0, 1}
    with numba installed (the ``fast`` extra) a compiled, bracket-safeguarded Newton solves the
    same equation to the same precision (about 100x faster than the numpy path; agreement
    tested).

    Args:
        a: valuation scales ``a_i > 0``, shape ``(n,)``.
        c: budgets (per-round maximum bids), scalar or shape ``(n,)``, each ``>= eps``.
        eps: the minimum bid, ``> 0``.
        delta: the reservation bid, ``> 0``.
        alpha: the alpha-fair exponent, ``>= 0`` (1 is the paper's log utility).

    Returns:
        The equilibrium bids, shape ``(n,)``.

    Raises:
        ValueError: on an argument outside its domain.
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        a = a.reshape(1)
    if (alpha == 1.0 or alpha == 0.0) and a.ndim == 1:
        kernel = _compiled_nash_kernel()
        budgets = np.asarray(c, dtype=np.float64)
        if kernel is not None and (budgets.ndim == 0 or budgets.shape == a.shape):
            # a scalar budget goes in as one entry, not broadcast (2 us); the answer goes into
            # an array made here (a numba-made array costs more to hand back)
            out = np.empty(a.size)
            try:
                solved = kernel(a, budgets.reshape(-1), float(eps), float(delta), float(alpha), out)
            except ArithmeticError:  # numba raises on a zero division: Brent decides
                solved = False
            if solved:
                return out
            # else an argument is outside its domain: the checks below say which
    c = np.broadcast_to(np.asarray(c, dtype=np.float64), a.shape)
    _check_nash_arguments(a, c, eps, delta, alpha)

    def bids_at(total: float) -> np.ndarray:
        return np.clip(_equilibrium_share(total, a, alpha) * total, eps, c)

    low = a.size * eps + delta
    high = float(c.sum()) + delta
    if high - low <= 0:  # every budget equals eps: nothing to choose
        return c.copy()
    total = brentq(lambda s: bids_at(s).sum() + delta - s, low, high,
                   xtol=np.finfo(float).tiny, rtol=4 * np.finfo(float).eps, maxiter=1000)
    return bids_at(total)


def _check_nash_arguments(a: np.ndarray, c: np.ndarray, eps: float, delta: float,
                          alpha: float) -> None:
    """:func:`kelly_nash_equilibrium`'s domain: ValueError naming the first argument outside it."""
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"a must be a non-empty 1-D array of positive numbers; got {a!r}")
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be > 0; got {eps!r}")
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(f"delta must be > 0; got {delta!r}")
    if not np.all(np.isfinite(c)) or np.any(c < eps):
        raise ValueError(f"budgets c must be finite and >= eps={eps}; got {c!r}")
    if not (np.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be >= 0; got {alpha!r}")


def _nash_kernel(a: np.ndarray, c: np.ndarray, eps: float, delta: float, alpha: float,
                 out: np.ndarray) -> bool:
    """The equilibrium for alpha in {0, 1} into ``out``: True, or False when an argument is
    outside the domain (the caller's checks name it). ``c`` holds ``n`` budgets or one shared
    by all.

    The same scalar equation as the Brent solve, ``g(S) = sum_i z_i(S) + delta - S = 0`` with
    ``z_i(S) = clip(u_i(S) S, eps, c_i)``, solved by Newton on ``S`` safeguarded by the bracket
    ``[n eps + delta, sum c + delta]`` (``g`` > 0 left of the root, < 0 right of it): a
    proposal outside the current bracket, or past 60 iterations, is a bisection. ``g`` is
    piecewise smooth and strictly decreasing through its root, so Newton ends in a few
    quadratic steps; it stops when a step or the bracket falls to 4 ulp of ``S``.
    """
    n = a.size
    shared = c.size == 1
    if n == 0 or not (0.0 < eps < np.inf) or not (0.0 < delta < np.inf):
        return False
    budget = 0.0
    for i in range(n):
        c_i = c[0] if shared else c[i]
        if not (0.0 < a[i] < np.inf) or not (eps <= c_i < np.inf):
            return False
        budget += c_i
    low = n * eps + delta
    high = budget + delta
    if high - low <= 0.0:
        for i in range(n):
            out[i] = c[0] if shared else c[i]
        return True
    tolerance = 4.0 * 2.220446049250313e-16
    # start: the root for n equal interior bidders of the mean a, S = (n - 1) mean(a) + delta
    # for alpha = 1 (n a / (S + a) = 1 - delta / S, delta small), clamped into the bracket
    mean = 0.0
    for i in range(n):
        mean += a[i] / n
    total = (n - 1) * mean + delta if alpha == 1.0 else 0.5 * (low + high)
    if not (low < total < high):
        total = 0.5 * (low + high)
    for iteration in range(400):
        value, slope = delta - total, -1.0
        for i in range(n):
            if alpha == 1.0:
                share = a[i] / (total + a[i])
                derivative = share * share  # d/dS (a S / (S + a)) = (a / (S + a))^2
            else:
                share = 1.0 - total / a[i]
                derivative = 1.0 - 2.0 * total / a[i]
            bid = share * total
            c_i = c[0] if shared else c[i]
            if bid <= eps:
                bid, derivative = eps, 0.0
            elif bid >= c_i:
                bid, derivative = c_i, 0.0
            value += bid
            slope += derivative
        if value == 0.0:
            break
        if value > 0.0:
            low = total
        else:
            high = total
        proposal = total - value / slope if slope < 0.0 else 0.5 * (low + high)
        if iteration >= 60 or not (low < proposal < high):
            proposal = 0.5 * (low + high)
        step = abs(proposal - total)
        total = proposal
        if step <= tolerance * total or high - low <= tolerance * high:
            break
    for i in range(n):
        share = a[i] / (total + a[i]) if alpha == 1.0 else 1.0 - total / a[i]
        out[i] = min(max(share * total, eps), c[0] if shared else c[i])
    return True


# without numba (the ``fast`` extra) the Brent solve in numpy is the path
_compiled_nash_kernel = compiled_on_first_use(_nash_kernel)


def kelly_residual(bids: np.ndarray, a: np.ndarray, eps: float, c: float | np.ndarray,
                   delta: float, alpha: float = 1.0) -> np.ndarray:
    """The fixed-point residual ``||BR(z) - z||_2`` (over the last axis)."""
    bids = np.asarray(bids, dtype=np.float64)
    best = kelly_best_response(others_bid(bids, delta), a, eps, c, alpha)
    return np.linalg.norm(best - bids, axis=-1)


def kelly_nash_conv(bids: np.ndarray, a: np.ndarray, eps: float, c: float | np.ndarray,
                    delta: float, alpha: float = 1.0) -> np.ndarray:
    """NashConv ``sum_i [phi_i(BR_i(s_i), s_i) - phi_i(z_i, s_i)]`` (>= 0; 0 exactly at the NE)."""
    bids = np.asarray(bids, dtype=np.float64)
    others = others_bid(bids, delta)
    best = kelly_best_response(others, a, eps, c, alpha)
    gains = kelly_payoff(best, others, a, alpha) - kelly_payoff(bids, others, a, alpha)
    return np.maximum(gains, 0.0).sum(axis=-1)


def kelly_welfare_optimum(a: np.ndarray, alpha: float = 1.0) -> tuple[np.ndarray, float]:
    """The allocation maximizing ``sum_i V_i(x_i)`` s.t. ``sum_i x_i <= 1`` and its welfare.

    KKT: ``a_i x_i^(-alpha) = mu`` so ``x_i ∝ a_i^(1/alpha)`` (``∝ a_i`` for the paper's alpha=1);
    for alpha = 0 (linear values) the whole resource goes to the largest ``a_i``.
    """
    a = np.asarray(a, dtype=np.float64)
    if alpha == 0.0:
        allocation = np.zeros_like(a)
        allocation[np.argmax(a)] = 1.0
    else:  # relative to the largest a_i: a^(1/alpha) overflows for small alpha (100^1000)
        weights = a if alpha == 1.0 else (a / a.max()) ** (1.0 / alpha)
        allocation = weights / weights.sum()
    return allocation, float(alpha_fair_value(allocation, a, alpha).sum())
