"""Exchange economies with utilities ``u_i(x) = f(theta_i^T phi(x))`` (paper 003): exact demand, the
competitive equilibrium (CE) with an independent verification, and the paper's losses.

Conventions (MARKETS.md §4): ``n`` agents, ``m`` divisible goods with supply 1 each; endowments
``e`` of shape ``(n, m)`` with columns summing to 1; prices ``p >= 0`` with ``sum(p) = 1``; agent
``i``'s budget is ``p . e_i`` (an *exchange* economy: budgets move with prices).

Families (``family`` argument, with their parameters):

* ``"ces"`` (``rho`` in (0, 1]): ``u(x) = (sum_j theta_j x_j^rho)^(1/rho)``; ``phi(x) = x^rho``,
  ``f(z) = z^(1/rho)``. ``rho = 1`` is linear.
* ``"linear"``: CES with ``rho = 1``.
* ``"amdahl"`` (``F`` in (0, 1): a scalar, per good ``(m,)`` or per agent and good ``(n, m)``):
  ``u(x) = sum_j theta_j s_j(x_j)`` with the speed-up ``s(x) = x / ((1 - F) x + F)``;
  ``phi = s``, ``f`` the identity.

Demand is solved exactly: closed forms for CES and linear, KKT water-filling (exact piecewise-linear
root, no iteration) for Amdahl. ``demand(..., cap=1.0)`` bounds every good by the supply 1, which is
what the losses use [decision]: with prices allowed to be 0 the unbounded demand would be infinite;
the CE definition itself uses ``cap=None`` (at a CE the cap never binds).

The CE is computed by proportional response dynamics (PRD), then *polished* to machine precision
(Newton on the excess demand for CES ``rho < 1`` and Amdahl; for linear utilities, where PRD
converges slowly, an exact LP on the equilibrium's support read off PRD), and every answer is checked
by :func:`verify_competitive_equilibrium` with the demand solver (which shares nothing with PRD).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize

from auction_envs._numba import compiled_on_first_use
from auction_envs.mechanisms.trading_post import PRDResult
from auction_envs.mechanisms.trading_post import proportional_response_dynamics as run_prd
from auction_envs.oracles._linear_solve import compiled_gauss_solve, gauss_solve

FAMILIES = ("ces", "linear", "amdahl")
#: ``_all(mask)`` is ``mask.all()`` (the reduction it calls, without its Python wrapper: the
#: CE loss runs every round)
_all = functools.partial(np.logical_and.reduce, axis=None)
_TINY = 1e-300  # the scale of an agent whose budget or best utility is exactly 0


class EquilibriumNotFoundError(RuntimeError):
    """The CE solver could not produce an answer that passes the verification."""


# ---------------------------------------------------------------------------- families
@dataclass(frozen=True)
class UtilityFamily:
    """One family of utilities ``u(x) = f(theta^T phi(x))`` with its known ``phi`` and ``f``.

    ``F`` is stored as an ``(n, m)`` array (or a scalar broadcast on use) for Amdahl; ``rho`` for
    CES (1 for linear). Build one with :func:`make_family`.
    """

    name: str
    rho: float = 1.0
    F: Any = 0.5

    @property
    def is_linear(self) -> bool:
        return self.name == "ces" and self.rho == 1.0

    def F_for(self, agent: int | None, shape: tuple[int, ...]) -> np.ndarray:
        F = np.asarray(self.F, dtype=np.float64)
        if F.ndim == 2 and agent is not None:
            F = F[agent]
        return np.broadcast_to(F, shape)

    def phi(self, x: np.ndarray, agent: int | None = None) -> np.ndarray:
        """Features ``phi(x)`` per good (``x`` of shape ``(m,)`` with ``agent``, or ``(n, m)``)."""
        x = np.maximum(np.asarray(x, dtype=np.float64), 0.0)
        if self.name == "ces":
            return x if self.rho == 1.0 else x ** self.rho
        F = self.F_for(agent, x.shape)
        return x / ((1.0 - F) * x + F)

    def phi_elasticity(self, x: np.ndarray, agent: int | None = None) -> np.ndarray:
        """``x * phi'(x)``: the PRD contribution of a good per unit of ``theta``."""
        x = np.maximum(np.asarray(x, dtype=np.float64), 0.0)
        if self.name == "ces":
            return self.rho * self.phi(x)
        F = self.F_for(agent, x.shape)
        return F * x / ((1.0 - F) * x + F) ** 2

    def prd_contribution(self, theta: np.ndarray) -> Any:
        """The proportional-response rule ``x -> c`` for agents with parameters ``theta``
        (``(..., n, m)``): ``c_ij ∝ theta_ij x_ij phi'(x_ij)`` per agent (CES: ``theta x^rho``, the
        factor ``rho`` dropped; Amdahl: ``theta F x / ((1 - F) x + F)^2``). The next split is
        ``c`` normalized per agent; the traders' learner and the CE oracle both use this."""
        theta = np.asarray(theta, dtype=np.float64)
        if self.name == "ces":
            rho = self.rho

            def contribution(x: np.ndarray) -> np.ndarray:
                return theta * (x if rho == 1.0 else np.power(x, rho))
            return contribution
        F = np.asarray(self.F, dtype=np.float64)
        one_minus = 1.0 - F
        theta_F = theta * F

        def amdahl_contribution(x: np.ndarray) -> np.ndarray:
            d = one_minus * x + F
            return theta_F * x / (d * d)
        return amdahl_contribution

    def link(self, z: np.ndarray) -> np.ndarray:
        """``f(z)``, extended oddly to ``z < 0`` (only the GLM estimator evaluates it there)."""
        z = np.asarray(z, dtype=np.float64)
        if self.name == "ces" and self.rho != 1.0:
            return np.sign(z) * np.abs(z) ** (1.0 / self.rho)
        return z

    def link_derivative(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if self.name == "ces" and self.rho != 1.0:
            return np.abs(z) ** (1.0 / self.rho - 1.0) / self.rho
        return np.ones_like(z)

    def link_antiderivative(self, z: np.ndarray) -> np.ndarray:
        """``int_0^z f``: convex, the GLM quasi-likelihood's log-partition term."""
        z = np.asarray(z, dtype=np.float64)
        if self.name == "ces" and self.rho != 1.0:
            a = 1.0 / self.rho + 1.0
            return np.abs(z) ** a / a
        return 0.5 * z * z

    def utility(self, x: np.ndarray, theta: np.ndarray, agent: int | None = None) -> np.ndarray:
        """``u(x)``; ``x`` and ``theta`` of shape ``(..., m)`` (per agent rows when ``(n, m)``)."""
        z = np.add.reduce(np.asarray(theta, dtype=np.float64) * self.phi(x, agent), axis=-1)
        return self.link(np.maximum(z, 0.0))


def make_family(family: str | UtilityFamily, *, rho: float | None = None,
                F: float | np.ndarray | None = None, n_agents: int | None = None,
                n_goods: int | None = None) -> UtilityFamily:
    """Validate ``family`` and its parameters and return a :class:`UtilityFamily`."""
    if isinstance(family, UtilityFamily):
        return family
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}; got {family!r}")
    if family == "linear":
        return UtilityFamily("ces", rho=1.0)
    if family == "ces":
        rho = 0.5 if rho is None else float(rho)
        if not (np.isfinite(rho) and 0.0 < rho <= 1.0):
            raise ValueError(f"rho must be in (0, 1]; got {rho!r}")
        return UtilityFamily("ces", rho=rho)
    F_arr = np.asarray(0.5 if F is None else F, dtype=np.float64)
    if not (np.all(np.isfinite(F_arr)) and np.all(F_arr > 0) and np.all(F_arr < 1)):
        raise ValueError(f"F must lie in (0, 1) (F = 1 is the linear family); got {F!r}")
    if F_arr.ndim == 0:
        return UtilityFamily("amdahl", F=float(F_arr))
    if n_agents is not None and n_goods is not None:
        F_arr = np.broadcast_to(F_arr, (n_agents, n_goods)).copy()
    if F_arr.ndim not in (1, 2):
        raise ValueError(f"F must be a scalar, a per-good (m,) or an (n_agents, n_goods) array; "
                         f"got shape {F_arr.shape}")
    F_arr.setflags(write=False)
    return UtilityFamily("amdahl", F=F_arr)


def utilities(allocation: np.ndarray, theta: np.ndarray, family: str | UtilityFamily,
              **params: Any) -> np.ndarray:
    """Every agent's utility of her row of ``allocation``, shape ``(n,)``."""
    fam = make_family(family, **params)
    return fam.utility(allocation, theta)


# ---------------------------------------------------------------------------- demand
def demand(prices: np.ndarray, budget: float, theta: np.ndarray, family: str | UtilityFamily,
           *, cap: float | None = 1.0, agent: int | None = None, **params: Any) -> np.ndarray:
    """The exact utility-maximizing bundle ``argmax {u(x) : p . x <= budget, 0 <= x <= cap}``.

    Args:
        prices: ``(m,)`` non-negative prices.
        budget: the agent's budget (``p . e_i`` in the exchange economy), ``>= 0``.
        theta: ``(m,)`` positive parameters of the agent.
        family: ``"ces"``, ``"linear"``, ``"amdahl"`` or a :class:`UtilityFamily`.
        cap: upper bound on every good (1 = the whole supply) or ``None`` for the textbook demand
            (then every price must be positive).
        agent: the agent's row in an ``(n, m)`` Amdahl ``F``.
        **params: ``rho`` / ``F`` when ``family`` is a string.

    Returns:
        The bundle, shape ``(m,)``. For linear utilities with ties the demand is a set; one element
        of it is returned (its utility is the maximum).
    """
    fam = make_family(family, **params)
    p = np.asarray(prices, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    budget = max(float(budget), 0.0)
    if np.any(p < 0) or not np.all(np.isfinite(p)):
        raise ValueError(f"prices must be finite and non-negative; got {p!r}")
    c = np.inf if cap is None else float(cap)
    free = p <= 0
    if np.any(free) and not np.isfinite(c):
        raise ValueError("the uncapped demand needs positive prices")
    if cap is None:  # the textbook demand: one closed form for every agent (market_demand)
        own = fam
        if fam.name == "amdahl" and np.ndim(fam.F) == 2:
            own = UtilityFamily("amdahl", F=np.array(fam.F_for(agent, p.shape)))
        return market_demand(p, np.array([budget]), theta[None], own)[0]
    x = np.zeros_like(p)
    x[free] = c
    paid = ~free
    if not np.any(paid):
        return x
    F = fam.F_for(agent, p.shape)[paid] if fam.name == "amdahl" else None
    x[paid] = _demand_at_positive_prices(fam, p[paid], budget, theta[paid], c, F)
    return x


def _demand_at_positive_prices(fam: UtilityFamily, p: np.ndarray, budget: float,
                               theta: np.ndarray, c: float, F: np.ndarray | None) -> np.ndarray:
    """:func:`demand` over goods of positive prices ``p`` with the cap ``c`` (finite) and a
    budget ``>= 0``: checked arguments (``F``: the agent's Amdahl row, ``None`` for CES)."""
    if np.isfinite(c) and p.sum() * c <= budget:
        return np.full_like(p, c)
    if fam.name == "ces" and fam.rho == 1.0:
        return _linear_demand(p, budget, theta, c)
    if fam.name == "ces":
        return _ces_demand(p, budget, theta, c, fam.rho)
    return _amdahl_demand(p, budget, theta, c, F)


def _linear_demand(p: np.ndarray, budget: float, theta: np.ndarray, c: float) -> np.ndarray:
    """Fractional knapsack by bang per buck ``theta_j / p_j``."""
    x = np.zeros_like(p)
    order = np.argsort(-theta / p, kind="stable")
    if not np.isfinite(c):
        x[order[0]] = budget / p[order[0]]
        return x
    left = budget
    for j in order:
        take = min(c, left / p[j])
        x[j] = take
        left -= take * p[j]
        if left <= 0:
            break
    return x


def _ces_demand(p: np.ndarray, budget: float, theta: np.ndarray, c: float, rho: float) -> np.ndarray:
    """CES demand with caps: ``x_j = min(c, (theta_j / (lam p_j))^sigma)``, ``sigma = 1/(1-rho)``,
    with the capped set found exactly from the sorted thresholds (log space, no overflow)."""
    return _ces_demand_rows(p, np.array([budget], dtype=np.float64), theta[None], c, rho)[0]


def _ces_demand_rows(p: np.ndarray, budgets: np.ndarray, theta: np.ndarray, c: float,
                     rho: float) -> np.ndarray:
    """:func:`_ces_demand` of several agents at the same prices ``p (m,)``: ``budgets (r,)``,
    ``theta (r, m)``, bundles ``(r, m)``: bit for bit the one-agent rule, every reduction over
    the same numbers in the same order. Few goods: :func:`_ces_demand_few_goods`; else the
    elementwise work (logs, thresholds, their order, the bundles) is done for all rows at once
    and the search for each row's capped set loops over that row."""
    if p.shape[-1] < SEQUENTIAL_SUM_BELOW:
        return _ces_demand_few_goods(p, budgets, theta, c, rho)
    sigma = 1.0 / (1.0 - rho)
    log_p = np.log(p)
    log_tp = np.log(theta) - log_p  # x_j = exp(sigma (log_tp_j - log lam))
    positive = budgets > 0  # a zero budget buys nothing
    if not positive.all():
        bundles = np.zeros_like(log_tp)
        rows = np.flatnonzero(positive)
        if rows.size:
            bundles[rows] = _ces_demand_rows(p, budgets[rows], theta[rows], c, rho)
        return bundles
    # x_j >= c  <=>  log lam <= log_tp_j - log(c) / sigma (the cap 1: log_tp itself, as
    # log_tp - 0.0 is log_tp bit for bit)
    if c == 1.0:
        threshold = log_tp
    else:
        threshold = log_tp - np.log(c) / sigma if math.isfinite(c) else np.full_like(log_tp,
                                                                                   -np.inf)
    order = np.argsort(-threshold, axis=-1, kind="stable")
    # the goods in threshold order, so that "the first k goods capped" is a slice
    row_index = np.arange(budgets.size)[:, None]
    p_sorted = p[order]
    log_tp_sorted = log_tp[row_index, order]
    threshold_sorted = log_tp_sorted if threshold is log_tp else threshold[row_index, order]
    terms_sorted = log_p[order] + sigma * log_tp_sorted
    m = p.shape[-1]
    # a row that can afford the whole supply, or that no k < m settles, buys c of everything
    # (with all m goods capped the budget is exhausted at every k, or money is left over)
    affords_supply = float(p.sum()) * c <= budgets  # c of everything
    capped_counts, log_lams = _capped_sets_row_by_row(p_sorted, terms_sorted, threshold_sorted,
                                                      budgets, c, sigma)
    capped_counts[affords_supply] = m
    capped = np.arange(m) < capped_counts[:, None]
    free = np.exp(np.where(capped, 0.0, sigma * (log_tp_sorted - log_lams[:, None])))
    if math.isfinite(c):
        free = np.minimum(free, c)
    bundles = np.empty_like(free)
    bundles[row_index, order] = np.where(capped, c, free)
    return bundles


#: numpy adds fewer than this many numbers one after the other, left to right (from 8 on it
#: sums pairwise): below it a left-to-right sum in Python is numpy's sum, bit for bit
SEQUENTIAL_SUM_BELOW = 8


def _capped_sets_row_by_row(p_sorted: np.ndarray, terms_sorted: np.ndarray,
                            threshold_sorted: np.ndarray, budgets: np.ndarray, c: float,
                            sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Each row's capped set in :func:`_ces_demand_rows`: ``(k, log lam)`` per row, ``k`` the
    number of goods capped (in threshold order; ``m``: all, ``log lam`` then unused). Tries
    ``k = 0, 1, ...`` until the free goods' demand spends what is left and stays within caps."""
    rows, m = terms_sorted.shape
    capped_counts = np.full(rows, m)
    log_lams = np.zeros(rows)
    # the ufunc reductions that .sum() and .max() call, without their Python wrappers (hot loop)
    total, largest = np.add.reduce, np.maximum.reduce
    for r, budget in enumerate(budgets.tolist()):
        p_r, terms_r, threshold_r = p_sorted[r], terms_sorted[r], threshold_sorted[r].tolist()
        for k in range(m):
            rem = budget - (float(total(p_r[:k])) * c if k else 0.0)
            if rem <= 0:
                continue
            # sum_{free} p_j exp(sigma (log_tp_j - L)) = rem
            terms = terms_r[k:]
            top = largest(terms)
            log_lam = (float(top) + float(np.log(total(np.exp(terms - top))))
                       - float(np.log(rem))) / sigma
            if log_lam < threshold_r[k] - 1e-14 * max(1.0, abs(log_lam)):
                continue  # the next good would exceed its cap too
            capped_counts[r], log_lams[r] = k, log_lam
            break
    return capped_counts, log_lams


def _ces_demand_few_goods(p: np.ndarray, budgets: np.ndarray, theta: np.ndarray, c: float,
                          rho: float) -> np.ndarray:
    """:func:`_ces_demand_rows` for fewer than ``SEQUENTIAL_SUM_BELOW`` goods, in Python floats:
    on a few numbers numpy's per-call cost is most of the work. The arithmetic is the one-agent
    rule's step for step (IEEE operations are the same in Python; the small sums run left to
    right, as numpy runs them), and every exp and log is numpy's, evaluated in three batches
    over all agents and all numbers k of capped goods."""
    sigma = 1.0 / (1.0 - rho)
    log_p_array = np.log(p)
    log_tp_array = np.log(theta) - log_p_array  # x_j = exp(sigma (log_tp_j - log lam))
    supply_cost = float(np.add.reduce(p)) * c  # whoever can afford it buys c of everything
    shift = None if c == 1.0 else float(np.log(c)) / sigma if math.isfinite(c) else math.inf
    passes = _compiled_ces_passes()
    if passes is not None:  # the Python loops below as compiled passes between the same batches
        setup, candidate_sums, settle, build = passes
        searching, order, threshold_sorted, n_candidates, candidate_k, candidate_top, \
            candidate_rem, exp_arguments = setup(log_tp_array, log_p_array, p, budgets, c, sigma,
                                                 0.0 if shift is None else shift,
                                                 shift is not None, supply_cost)
        logs = np.log(candidate_sums(searching, n_candidates, candidate_k, candidate_rem,
                                     np.exp(exp_arguments), p.shape[-1]))
        settled_k, free_arguments = settle(searching, order, threshold_sorted, n_candidates,
                                           candidate_k, candidate_top, logs, log_tp_array, sigma)
        return build(searching, order, settled_k, budgets, np.exp(free_arguments), c)
    log_tp_rows = log_tp_array.tolist()
    log_p, prices, m = log_p_array.tolist(), p.tolist(), p.shape[-1]
    # 1. per agent: the goods in threshold order and, for every affordable k (the first k goods
    # capped), the free goods' terms less their largest (the arguments of the first exps)
    searches = []  # per agent: None (answer known) or (order, log_tp, threshold, [(k, top, rem)])
    exp_arguments: list[float] = []
    for budget, log_tp in zip(budgets.tolist(), log_tp_rows):
        if budget <= 0 or supply_cost <= budget:
            searches.append(None)
            continue
        # x_j >= c  <=>  log lam <= log_tp_j - log(c) / sigma (the cap 1: log_tp itself)
        threshold = log_tp if shift is None else [value - shift for value in log_tp]
        order = sorted(range(m), key=lambda j: -threshold[j])  # np.argsort(-threshold), stable
        terms = [log_p[j] + sigma * log_tp[j] for j in order]
        candidates, spent = [], 0.0
        for k in range(m):
            if k:
                spent += prices[order[k - 1]]  # the capped goods' prices, left to right
            rem = budget - (spent * c if k else 0.0)
            if rem > 0:
                top = max(terms[k:])
                exp_arguments += [term - top for term in terms[k:]]
                candidates.append((k, top, rem))
        searches.append((order, log_tp, [threshold[j] for j in order], candidates))
    exps = np.exp(np.array(exp_arguments)).tolist()
    # 2. sum_{free} p_j exp(sigma (log_tp_j - L)) = rem: the sums, then their logs and rem's
    log_arguments: list[float] = []
    position = 0
    for search in searches:
        for k, _, rem in search[3] if search else ():
            total = 0.0
            for value in exps[position:position + m - k]:
                total += value
            position += m - k
            log_arguments.extend((total, rem))
    logs = np.log(np.array(log_arguments)).tolist()
    # 3. each agent's first k that settles, and her free goods' exp arguments
    bundles, free_arguments, position = [], [], 0
    for row, search in enumerate(searches):
        if search is None:
            continue
        order, log_tp, threshold_sorted, candidates = search
        settled = None
        for k, top, _ in candidates:
            log_lam = (top + logs[position] - logs[position + 1]) / sigma
            position += 2
            if settled is None and not (
                    log_lam < threshold_sorted[k] - 1e-14 * max(1.0, abs(log_lam))):
                settled = k, log_lam  # else the next good would exceed its cap too
        if settled is not None:
            k, log_lam = settled
            free_arguments += [sigma * (log_tp[j] - log_lam) for j in order[k:]]
        searches[row] = (order, settled)
    # 4. the bundles: c of each capped good, the free goods' demand (at most c)
    free = np.exp(np.array(free_arguments)).tolist()
    position = 0
    for budget, search in zip(budgets.tolist(), searches):
        if search is None or search[1] is None:  # nothing, or c of everything
            bundles.append([0.0] * m if budget <= 0 else [c] * m)
            continue
        (order, (k, _)), row = search, [c] * m
        for j in order[k:]:
            row[j] = min(free[position], c)
            position += 1
        bundles.append(row)
    return np.array(bundles, dtype=np.float64).reshape(theta.shape)


@functools.cache
def _compiled_ces_passes() -> tuple[Any, Any, Any, Any] | None:
    """The compiled passes of :func:`_ces_demand_few_goods` (``_ces_kernels``), or None without
    numba."""
    from auction_envs.oracles import _ces_kernels

    passes = (_ces_kernels.compiled_search_setup(), _ces_kernels.compiled_candidate_sums(),
              _ces_kernels.compiled_settle(), _ces_kernels.compiled_bundles())
    return None if any(kernel is None for kernel in passes) else passes


def _amdahl_demand(p: np.ndarray, budget: float, theta: np.ndarray, c: float,
                   F: np.ndarray) -> np.ndarray:
    """KKT water-filling for ``sum_j theta_j s_j(x_j)``: with ``mu = 1/sqrt(lam)`` the optimal
    ``x_j(mu) = clip(a_j (mu - l_j) / (1 - F_j), 0, c)``, ``a_j = sqrt(theta_j F_j / p_j)``,
    ``l_j = F_j / a_j``; spending is piecewise linear in ``mu``, so the budget equation is solved
    exactly on its segment. Everything is written in ``d = mu - min_j l_j`` and breakpoint
    differences, so that a tiny budget (``d`` near 0) loses no precision to cancellation."""
    a = np.sqrt(theta * F / p)
    low = F / a
    gaps = low - low.min()                          # x_j > 0 for d > gaps_j
    tops = gaps + c * (1.0 - F) / a if np.isfinite(c) else np.full_like(p, np.inf)

    def bundle(d: float) -> np.ndarray:
        return np.clip(a * (d - gaps) / (1.0 - F), 0.0, c)

    def spend(d: float) -> float:
        return float(np.sum(p * bundle(d)))

    if budget <= 0:
        return np.zeros_like(p)
    points = np.unique(np.concatenate([gaps, tops[np.isfinite(tops)]]))
    values = np.array([spend(d) for d in points])
    k = int(np.searchsorted(values, budget, side="left"))
    if k == len(points):  # beyond the last breakpoint: only uncapped goods active, linear in d
        d0 = points[-1]
        active = bundle(d0) < c
        slope = float(np.sum(p[active] * a[active] / (1.0 - F[active])))
        d = d0 + (budget - values[-1]) / slope
    elif values[k] == budget:
        d = points[k]
    else:
        d_a, d_b = points[k - 1], points[k]
        v_a, v_b = values[k - 1], values[k]
        d = d_a + (budget - v_a) * (d_b - d_a) / (v_b - v_a)
    return bundle(d)


def market_demand(prices: np.ndarray, budgets: np.ndarray, theta: np.ndarray,
                  family: str | UtilityFamily, **params: Any) -> np.ndarray:
    """Every agent's textbook (uncapped) demand at once, ``(..., n, m)``, in closed form.

    The same optimum as :func:`demand` with ``cap=None``, vectorized over agents and leading batch
    axes (the CE solver's excess demand calls it; the verification keeps the per-agent solver).

    * CES ``rho < 1``: ``x_ij = B_i exp(sigma (log theta_ij - log p_j) - L_i)``, ``sigma = 1/(1-rho)``,
      ``L_i = logsumexp_k(log p_k + sigma (log theta_ik - log p_k)) - log B_i`` (log space);
    * linear: the whole budget on the first good of best bang per buck ``theta_ij / p_j``;
    * Amdahl: with ``a_j = sqrt(theta_j F_j / p_j)``, ``x_j(mu) = max(0, a_j (mu - l_j) / (1 - F_j))``
      (``l_j = F_j / a_j``); spending is ``max(0, max_k sum_{l<=k} w_l (mu - l_l))`` over the goods
      sorted by ``l`` (``w = p a / (1 - F)``), so the budget's ``mu - l_1`` is
      ``min_k (B + sum_{l<=k} w_l (l_l - l_1)) / sum_{l<=k} w_l``, computed from breakpoint
      differences (exact for tiny budgets); the bundle is then scaled to spend ``B`` exactly.

    Args:
        prices: ``(..., m)`` positive; budgets: ``(..., n)`` non-negative; theta: ``(..., n, m)``.
    """
    fam = make_family(family, **params)
    p = np.asarray(prices, dtype=np.float64)
    if not np.all(p > 0):
        raise ValueError("the uncapped demand needs positive prices")
    return _market_demand(fam, p, np.asarray(budgets, dtype=np.float64),
                          np.asarray(theta, dtype=np.float64))


def _market_demand(fam: UtilityFamily, prices: np.ndarray, budgets: np.ndarray,
                   theta: np.ndarray) -> np.ndarray:
    """:func:`market_demand` on checked float64 arrays (positive prices)."""
    p = prices[..., None, :]
    budgets = np.maximum(budgets, 0.0)[..., None]
    if fam.name == "ces" and fam.rho == 1.0:
        best = np.argmax(theta / p, axis=-1)[..., None]
        x = np.zeros(np.broadcast_shapes(theta.shape, p.shape))
        np.put_along_axis(x, best, budgets / np.take_along_axis(
            np.broadcast_to(p, x.shape), best, axis=-1), axis=-1)
        return x
    if fam.name == "ces":
        sigma = 1.0 / (1.0 - fam.rho)
        log_p = np.log(p)
        log_tp = np.log(theta) - log_p
        terms = log_p + sigma * log_tp
        # (the ufunc reductions of .max() / .sum(), without their wrappers: called every round)
        top = np.maximum.reduce(terms, axis=-1, keepdims=True)
        log_norm = top + np.log(np.add.reduce(np.exp(terms - top), axis=-1, keepdims=True))
        if _all(budgets > 0):  # (np.errstate costs as much as the arithmetic here)
            return np.exp(sigma * log_tp - log_norm + np.log(budgets))
        with np.errstate(divide="ignore"):
            return np.exp(sigma * log_tp - log_norm + np.log(budgets))
    F = np.asarray(fam.F, dtype=np.float64)
    a = np.sqrt(theta * F / p)
    low = F / a                                   # good j is bought once mu > low_j
    gaps = low - low.min(axis=-1, keepdims=True)  # breakpoints relative to the first one
    weight = p * a / (1.0 - F)                    # d spending / d mu of an active good
    # prefix k = the goods with low_j <= low_k (no sort: a mask over pairs, m is small)
    prefix = gaps[..., None, :] <= gaps[..., :, None]                 # (..., n, k, j)
    slope = np.sum(np.where(prefix, weight[..., None, :], 0.0), axis=-1)
    offset = np.sum(np.where(prefix, (weight * gaps)[..., None, :], 0.0), axis=-1)
    excess = np.min((budgets + offset) / slope, axis=-1, keepdims=True)  # mu - low_first
    x = a * np.maximum(excess - gaps, 0.0) / (1.0 - F)
    spent = np.sum(p * x, axis=-1, keepdims=True)
    # the budget binds: remove the rounding left in the active set's spending
    return np.where(budgets > 0, x * (budgets / np.where(spent > 0, spent, 1.0)), 0.0)


def indirect_utilities(prices: np.ndarray, endowments: np.ndarray, theta: np.ndarray,
                       family: str | UtilityFamily, *, cap: float | None = 1.0,
                       **params: Any) -> np.ndarray:
    """``v_i(p) = max {u_i(x) : p . x <= p . e_i, 0 <= x <= cap}`` for every agent, shape ``(n,)``."""
    fam = make_family(family, **params)
    prices = np.asarray(prices, dtype=np.float64)
    budgets = np.asarray(endowments, dtype=np.float64) @ prices
    return _indirect_utilities(fam, prices, budgets, np.asarray(theta, dtype=np.float64), cap)


def _indirect_utilities(fam: UtilityFamily, prices: np.ndarray, budgets: np.ndarray,
                        theta: np.ndarray, cap: float | None) -> np.ndarray:
    """:func:`indirect_utilities` on checked float64 arrays: finite non-negative ``prices``
    ``(m,)``, ``budgets = endowments @ prices``, ``theta (n, m)``."""
    return fam.utility(_best_bundles(fam, prices, budgets, theta, cap), theta)


def _best_bundles(fam: UtilityFamily, prices: np.ndarray, budgets: np.ndarray,
                  theta: np.ndarray, cap: float | None) -> np.ndarray:
    """Every agent's demand ``(n, m)`` behind :func:`_indirect_utilities` (same arguments)."""
    if _all(prices > 0):
        bundles = _market_demand(fam, prices, budgets, theta)
        if cap is None:
            return bundles
        # an uncapped optimum within the caps is the capped optimum (a subset of the choices)
        c = float(cap)
        over = np.flatnonzero(np.logical_or.reduce(bundles > cap, axis=-1))
        if over.size and fam.name == "ces" and fam.rho != 1.0:
            # demand(prices, budgets[i], theta[i], fam, cap=cap) of every such agent i at once
            rows_budgets = np.maximum(budgets[over], 0.0)
            bundles[over] = _ces_demand_rows(prices, rows_budgets, theta[over], c, fam.rho)
            over = over[:0]
        for i in over:
            # demand(prices, budgets[i], theta[i], fam, cap=cap, agent=i) without its checks
            F = fam.F_for(i, prices.shape) if fam.name == "amdahl" else None
            bundles[i] = _demand_at_positive_prices(fam, prices, max(float(budgets[i]), 0.0),
                                                    theta[i], c, F)
        return bundles
    bundles = np.zeros_like(theta)
    for i in range(len(theta)):
        bundles[i] = demand(prices, budgets[i], theta[i], fam, cap=cap, agent=i)
    return bundles


# ---------------------------------------------------------------------------- losses
def ce_loss(allocation: np.ndarray, prices: np.ndarray, theta: np.ndarray, endowments: np.ndarray,
            family: str | UtilityFamily, *, per_agent: bool = False, clip: bool = True,
            **params: Any) -> float | np.ndarray:
    """The CE loss ``sum_i [max_{p.x <= p.e_i, x <= 1} u_i(x) - u_i(x_i)]`` (paper eq. (2)).

    The max is solved exactly (the paper approximated it with <= 50 random affordable bundles).
    ``clip=True`` [decision] takes each agent's term as ``max(0, .)``: an unaffordable bundle can
    otherwise earn a negative term, and the clipped loss is 0 exactly at a CE (an agent who gets at
    least her demand utility spends at least her budget, and budgets sum to the value of the supply).
    """
    fam = make_family(family, **params)
    allocation = np.asarray(allocation, dtype=np.float64)
    terms = indirect_utilities(prices, endowments, theta, fam) - fam.utility(allocation, theta)
    return _summed_terms(terms, clip, per_agent)


def _summed_terms(terms: np.ndarray, clip: bool, per_agent: bool) -> float | np.ndarray:
    """A loss from its per-agent terms: each clipped at 0 (``clip``), then summed."""
    if clip:
        terms = np.maximum(terms, 0.0)
    return terms if per_agent else float(terms.sum())


def sharing_incentive_loss(allocation: np.ndarray, theta: np.ndarray, endowments: np.ndarray,
                           family: str | UtilityFamily, *, per_agent: bool = False,
                           **params: Any) -> float | np.ndarray:
    """``sum_i max(0, u_i(e_i) - u_i(x_i))``: how much worse off than with their endowments."""
    fam = make_family(family, **params)
    terms = np.maximum(fam.utility(endowments, theta) - fam.utility(allocation, theta), 0.0)
    return terms if per_agent else float(terms.sum())


@dataclass(frozen=True)
class ParetoLossResult:
    """``value``: the largest total Pareto improvement (an upper bound on the paper's PE loss, NaN
    if the solver failed); ``improved_allocation`` / ``improved_utilities``: the dominating
    allocation found and its utilities."""

    value: float
    improved_allocation: np.ndarray
    improved_utilities: np.ndarray


def pareto_loss(allocation: np.ndarray, theta: np.ndarray, family: str | UtilityFamily,
                *, return_details: bool = False, **params: Any) -> float | ParetoLossResult:
    """An upper bound on the Pareto-efficiency loss, from a convex program.

    The paper's PE loss is ``inf_{X' Pareto-efficient} sum_i (u_i(X'_i) - u_i(X_i))^+`` (not convex).
    We solve instead

        max_{X' feasible} sum_i (u_i(X'_i) - u_i(X_i))  s.t.  u_i(X'_i) >= u_i(X_i) for all i,

    which is convex (concave objective, convex superlevel sets of concave utilities). Its maximizer
    is itself Pareto-efficient and dominates ``X``, so the value bounds the paper's loss from above;
    it is 0 exactly when ``X`` is Pareto-efficient (and only then, for strictly increasing utilities).
    Solved by SLSQP with analytic gradients (``sqrt``-reparametrized allocations keep CES gradients
    finite at 0); accuracy about 1e-7.
    """
    fam = make_family(family, **params)
    allocation = np.clip(np.asarray(allocation, dtype=np.float64), 0.0, None)
    theta = np.asarray(theta, dtype=np.float64)
    n, m = theta.shape
    base = fam.utility(allocation, theta)
    scale = max(float(base.max()), 1e-12)

    def unpack(v: np.ndarray) -> np.ndarray:
        return v.reshape(n, m)

    def utils(v: np.ndarray) -> np.ndarray:
        return fam.utility(unpack(v), theta) / scale

    def objective(v: np.ndarray) -> float:
        return -float(utils(v).sum())

    def grad_utils(v: np.ndarray) -> np.ndarray:
        x = np.maximum(unpack(v), 1e-12)
        z = np.sum(theta * fam.phi(x), axis=1)
        dphi = fam.phi_elasticity(x) / x
        g = (fam.link_derivative(z)[:, None] * theta * dphi) / scale  # (n, m)
        jac = np.zeros((n, n * m))
        for i in range(n):
            jac[i, i * m:(i + 1) * m] = g[i]
        return jac

    constraints = [
        {"type": "ineq", "fun": lambda v: utils(v) - base / scale, "jac": grad_utils},
        {"type": "ineq", "fun": lambda v: 1.0 - unpack(v).sum(axis=0),
         "jac": lambda v: -np.tile(np.eye(m), (1, n))},
    ]
    start = allocation / np.maximum(allocation.sum(axis=0, keepdims=True), 1.0)
    value, improved, new = float("nan"), start, base
    # SLSQP can stall where CES gradients blow up at 0: retry from slightly interior starts and
    # keep the best answer that dominates X (NaN if none does: no certified bound).
    for mix in (0.0, 1e-3, 1e-2, 1e-1):
        x0 = (1.0 - mix) * start + mix / n
        result = optimize.minimize(objective, x0.ravel(), jac=lambda v: -grad_utils(v).sum(axis=0),
                                   bounds=[(0.0, 1.0)] * (n * m), constraints=constraints,
                                   method="SLSQP", options={"maxiter": 500, "ftol": 1e-12})
        candidate = np.clip(unpack(result.x), 0.0, 1.0)
        candidate = candidate / np.maximum(candidate.sum(axis=0, keepdims=True), 1.0)
        utilities_here = fam.utility(candidate, theta)
        if np.all(utilities_here >= base - 1e-6 * max(1.0, scale)):
            gain = float(np.maximum(utilities_here - base, 0.0).sum())
            if not np.isfinite(value) or gain > value:
                value, improved, new = gain, candidate, utilities_here
            if result.success:
                break
    if return_details:
        return ParetoLossResult(value, improved, new)
    return value


def fair_division_loss(allocation: np.ndarray, theta: np.ndarray, endowments: np.ndarray,
                       family: str | UtilityFamily, **params: Any) -> float:
    """``max(SI loss, PE loss)`` (paper eq. (3)), with the PE loss's convex upper bound."""
    fam = make_family(family, **params)
    return max(sharing_incentive_loss(allocation, theta, endowments, fam),
               pareto_loss(allocation, theta, fam))


# ---------------------------------------------------------------------------- verification
@dataclass(frozen=True)
class CEVerification:
    """The result of :func:`verify_competitive_equilibrium` (all errors absolute, utilities
    relative to ``max(1, v_i)``)."""

    ok: bool
    clearing_error: float
    budget_error: float
    optimality_gap: float
    price_error: float
    tol: float
    details: dict[str, Any] = field(default_factory=dict)


def verify_competitive_equilibrium(allocation: np.ndarray, prices: np.ndarray, theta: np.ndarray,
                                   endowments: np.ndarray, family: str | UtilityFamily,
                                   tol: float = 1e-6, **params: Any) -> CEVerification:
    """Check a CE candidate against the definition, independently of how it was computed.

    * prices: non-negative, summing to 1 (``price_error``);
    * clearing: ``|sum_i x_ij - 1| <= tol`` for every good, ``x >= -tol`` (``clearing_error``);
    * budgets: ``p . x_i <= (1 + tol) p . e_i`` (``budget_error``: the largest overspending
      relative to the agent's own budget);
    * optimality: ``v_i(p) - u_i(x_i) <= tol v_i`` with ``v_i`` from the exact demand solver
      *without* the supply cap (the textbook CE; ``optimality_gap``: the largest shortfall relative
      to the agent's own best utility).

    Both are relative to each agent's own scale [decision, Version History of the exchange envs]:
    a tolerance relative to ``max(1, v_i)`` let a poor agent (budget 1e-5) miss her best utility
    by a third and pass.
    """
    fam = make_family(family, **params)
    x = np.asarray(allocation, dtype=np.float64)
    p = np.asarray(prices, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    e = np.asarray(endowments, dtype=np.float64)
    price_error = float(max(abs(p.sum() - 1.0), max(0.0, -p.min())))
    clearing = float(max(np.abs(x.sum(axis=0) - 1.0).max(), max(0.0, -x.min())))
    budgets = e @ p
    budget = float(np.max((x @ p - budgets) / np.maximum(budgets, _TINY)))
    if np.any(p <= 0):
        gap = float("inf")
        values = np.full(len(theta), np.inf)
    else:
        values = indirect_utilities(p, e, theta, fam, cap=None)
        achieved = fam.utility(x, theta)
        gap = float(np.max((values - achieved) / np.maximum(values, _TINY)))
    ok = price_error <= tol and clearing <= tol and budget <= tol and gap <= tol
    return CEVerification(ok, clearing, max(budget, 0.0), max(gap, 0.0), price_error, tol,
                          {"indirect_utilities": values})


# ---------------------------------------------------------------------------- the CE
def proportional_response_dynamics(theta: np.ndarray, endowments: np.ndarray,
                                   family: str | UtilityFamily, *, max_iter: int = 10_000,
                                   tol: float = 1e-10, spending: np.ndarray | None = None,
                                   **params: Any) -> PRDResult:
    """PRD for the exchange economy [paper §2, Zhang 2011; Zahedi et al. 2018].

    ``p_j = sum_i b_ij``, ``x_ij = b_ij / p_j``, then ``b_ij <- (p . e_i) c_ij / sum_k c_ik`` with the
    contribution ``c_ij = theta_ij x_ij phi'(x_ij)`` up to a per-agent factor
    (:meth:`UtilityFamily.prd_contribution`; CES: ``theta_ij x_ij^rho``, the classical rule;
    Amdahl: ``theta_ij F x / ((1-F) x + F)^2``). [decision] MARKETS.md writes the Amdahl rule
    as ``theta_ij s(x_ij)``; its fixed points satisfy ``p_j x_j ∝ theta_j s(x_j)``, not the KKT
    condition ``p_j ∝ theta_j s'(x_j)``, so they are not CEs; ``x phi'(x)`` is the rule whose fixed
    points are. Stops when the relative change of prices is below ``tol``.

    ``theta``, ``endowments`` and ``spending`` may carry leading batch axes ``(..., n, m)`` (one
    economy per batch element; the loop is
    :func:`auction_envs.mechanisms.trading_post.proportional_response_dynamics`).
    """
    theta = np.asarray(theta, dtype=np.float64)
    e = np.asarray(endowments, dtype=np.float64)
    n, m = theta.shape[-2:]
    fam = make_family(family, n_agents=n, n_goods=m, **params)
    if spending is None:
        spending = e / m + 1.0 / (n * m)  # interior start: p uniform-ish, every bid positive
        spending = spending / spending.sum(axis=(-2, -1), keepdims=True)
    return run_prd(np.broadcast_to(np.asarray(spending, dtype=np.float64), theta.shape), e,
                   fam.prd_contribution(theta), max_iter=max_iter, tol=tol)


def competitive_equilibrium(theta: np.ndarray, endowments: np.ndarray,
                            family: str | UtilityFamily = "ces", *, tol: float = 1e-9,
                            verify_tol: float = 1e-6, prd_iterations: int = 2000,
                            polish: bool = True, verify: bool = True,
                            spending: np.ndarray | None = None,
                            return_spending: bool = False, **params: Any):
    """The competitive equilibrium ``(allocation (n, m), prices (m,))`` of the exchange economy.

    PRD (``prd_iterations`` at most) gives the starting point; with ``polish`` the answer is then
    made exact: Newton (``scipy.optimize.root``) on the excess demand in log-prices for CES
    ``rho < 1`` and Amdahl, the allocation being each agent's exact demand; for linear utilities an
    LP on the support of PRD's spending (bang-per-buck-optimal edges only, budgets spent, markets
    cleared) returns exact prices and spending. With ``verify`` the answer must pass
    :func:`verify_competitive_equilibrium` at ``verify_tol`` or
    :class:`EquilibriumNotFoundError` is raised.

    ``polish=False, verify=False`` gives plain (warm-startable: ``spending=``) PRD, the fast
    subroutine of the learners; ``return_spending=True`` appends the final spending.

    Args:
        theta: ``(n, m)`` positive parameters; endowments: ``(n, m)`` with columns summing to 1.
        family: ``"ces"`` (``rho=``), ``"linear"`` or ``"amdahl"`` (``F=``).
    """
    theta = np.asarray(theta, dtype=np.float64)
    e = np.asarray(endowments, dtype=np.float64)
    if (polish and spending is None and theta.ndim == 2 and theta.shape == e.shape
            and (family == "ces" or (isinstance(family, UtilityFamily) and family.name == "ces"))):
        solved = _compiled_ces_equilibrium(theta, e, family, verify_tol if verify else None,
                                           params)
        if solved is not None:
            x, p = solved
            return (x, p, x * p) if return_spending else (x, p)
        # else not solved there (or an argument is invalid): the general path decides
    if theta.ndim != 2 or theta.shape != e.shape:
        raise ValueError(f"theta and endowments must both be (n, m); got {theta.shape}, {e.shape}")
    if not np.all(theta > 0) or not np.all(np.isfinite(theta)):
        raise ValueError("theta must be finite and positive")
    if np.any(e < 0) or not np.allclose(e.sum(axis=0), 1.0, atol=1e-9):
        raise ValueError("endowments must be non-negative with every column summing to 1")
    n, m = theta.shape
    fam = make_family(family, n_agents=n, n_goods=m, **params)
    result = proportional_response_dynamics(theta, e, fam, max_iter=prd_iterations, tol=tol,
                                            spending=spending)
    x, p, b = result.allocation, result.prices, result.spending
    if polish:
        if fam.is_linear:
            # PRD is slow for linear utilities: if the support read off it does not give a
            # verified CE yet, run PRD longer (doubling) and try again.
            budget = prd_iterations
            for _ in range(9):
                x, p, b = _linear_polish(theta, e, result)
                if verify_competitive_equilibrium(x, p, theta, e, fam, tol=verify_tol).ok:
                    break
                result = proportional_response_dynamics(theta, e, fam, max_iter=budget, tol=0.0,
                                                        spending=result.spending)
                budget *= 2
        else:
            x, p = _newton_polish(theta, e, fam, p)
            b = x * p
    if verify:
        check = verify_competitive_equilibrium(x, p, theta, e, fam, tol=verify_tol)
        if not check.ok:
            raise EquilibriumNotFoundError(f"CE verification failed: {check}")
    return (x, p, b) if return_spending else (x, p)


def _compiled_ces_equilibrium(theta: np.ndarray, e: np.ndarray, family: str | UtilityFamily,
                              verify_tol: float | None, params: dict[str, Any]
                              ) -> tuple[np.ndarray, np.ndarray] | None:
    """The CES (``rho < 1``) equilibrium by the compiled Newton :func:`_ces_newton_kernel`, or
    None where it does not apply (no numba, linear, invalid arguments) or does not converge:
    the caller's PRD + polish path then answers (and raises on invalid arguments).

    The verification is the kernel's: prices positive and summing to 1, every good cleared
    to ``verify_tol``, every budget spent exactly. Each bundle is the closed-form textbook demand
    at the prices, so :func:`verify_competitive_equilibrium`'s optimality gap is 0 by
    construction (its per-agent solve is the part this path saves).
    """
    kernel = _compiled_ces_kernel()
    if kernel is None:
        return None
    if isinstance(family, UtilityFamily):
        rho = family.rho
    else:
        rho = params.get("rho", 0.5)
        if set(params) - {"rho"} or rho is None:
            return None
        rho = float(rho)
    if not (0.0 < rho < 1.0):
        return None
    tolerance = np.inf if verify_tol is None else float(verify_tol)
    x = np.empty(theta.shape)  # made here: numba-made arrays cost more to hand back
    p = np.empty(theta.shape[1])
    try:
        status = kernel(theta, e, rho, tolerance, x, p)
    except ArithmeticError:  # numba raises on a zero division (rho near 1): PRD + polish decides
        return None
    return (x, p) if status == 0 else None


def _ces_newton_kernel(theta: np.ndarray, e: np.ndarray, rho: float, verify_tol: float,
                       x: np.ndarray, p: np.ndarray) -> int:
    """The CES exchange equilibrium into ``x (n, m)`` and ``p (m,)``: 0, else 1 (invalid
    arguments: the caller's checks name them), 2 (not converged) or 3 (not verified).

    Newton on the excess demand ``z_j(q) = sum_i x_ij - 1`` of the first ``m - 1`` goods in
    log-prices ``q`` (``q_m = 0``, Walras' law), with the analytic Jacobian: spending shares
    ``s_ij`` proportional to ``theta_ij^sigma p_j^(1 - sigma)`` give ``x_ij = B_i s_ij / p_j``
    (``B_i = e_i . p``, ``sigma = 1 / (1 - rho)``) and
    ``dz_j / dq_k = sum_i [s_ij e_ik p_k / p_j - sigma x_ij [j = k] - (1 - sigma) x_ij s_ik]``.
    From uniform prices, each step is halved until ``max |z|`` falls (gross substitutes:
    the equilibrium is unique); once ``max |z| <= 1e-10`` one more full step (quadratic
    convergence) brings it to rounding level and ends the solve (else after 100 steps, a step
    that no halving improves, or ``max |z| <= 1e-16``).
    """
    n, m = theta.shape
    if n == 0 or m == 0 or not (0.0 < rho < 1.0):
        return 1
    for j in range(m):
        column = 0.0
        for i in range(n):
            if not (0.0 < theta[i, j] < np.inf) or not (e[i, j] >= 0.0):
                return 1
            column += e[i, j]
        if not (abs(column - 1.0) <= 1e-9 + 1e-5):  # np.allclose(sum, 1, atol=1e-9)
            return 1
    sigma = 1.0 / (1.0 - rho)
    # s_ij is proportional to theta_ij^sigma p_j^(1 - sigma): both factors scaled into (0, 1]
    # (per agent, per evaluation) so that neither overflows; an underflow shows up as a NaN
    # residual and hands the instance to the general path
    weight = np.empty((n, m))
    for i in range(n):
        top = -np.inf
        for j in range(m):
            top = max(top, np.log(theta[i, j]))
        for j in range(m):
            weight[i, j] = np.exp(sigma * (np.log(theta[i, j]) - top))
    k = m - 1
    q = np.zeros(m)
    trial = np.zeros(m)
    z = np.empty(m)
    trial_z = np.empty(m)
    shares = np.empty((n, m))
    jacobian = np.empty((k, k))
    direction = np.empty(k)
    price_factor = np.empty(m)

    def evaluate(q: np.ndarray, z: np.ndarray, shares: np.ndarray) -> float:
        """Prices from ``q`` into ``p`` (sum 1), shares, bundles into ``x``, excess into ``z``;
        returns ``max |z|``."""
        top = q.max()
        total = 0.0
        for j in range(m):
            p[j] = np.exp(q[j] - top)
            total += p[j]
        lowest = np.inf
        for j in range(m):
            p[j] /= total
            z[j] = -1.0
            price_factor[j] = np.log(p[j])
            lowest = min(lowest, price_factor[j])
        for j in range(m):
            price_factor[j] = np.exp((1.0 - sigma) * (price_factor[j] - lowest))
        for i in range(n):
            budget = 0.0
            norm = 0.0
            for j in range(m):
                budget += e[i, j] * p[j]
                shares[i, j] = weight[i, j] * price_factor[j]
                norm += shares[i, j]
            for j in range(m):
                shares[i, j] /= norm
                x[i, j] = budget * shares[i, j] / p[j]
                z[j] += x[i, j]
        worst = 0.0
        for j in range(k):
            worst = max(worst, abs(z[j]))
        return worst

    residual = evaluate(q, z, shares)
    current = True
    for _ in range(100):
        if not residual > 1e-16:
            break
        for a in range(k):
            for b in range(k):
                entry = 0.0
                for i in range(n):
                    entry += (shares[i, a] * e[i, b] * p[b] / p[a]
                              - (1.0 - sigma) * x[i, a] * shares[i, b])
                    if a == b:
                        entry -= sigma * x[i, a]
                jacobian[a, b] = entry
            direction[a] = -z[a]
        if not _gauss_solve(jacobian, direction):  # the Newton step, into direction
            return 2
        step = 1.0
        improved = False
        near = residual <= 1e-10  # quadratic convergence: this step reaches rounding level
        for _ in range(1 if near else 40):  # far from the root a step may need many halvings
            for j in range(k):
                trial[j] = q[j] + step * direction[j]
            trial_residual = evaluate(trial, trial_z, shares)
            if trial_residual < residual:
                improved = True
                break
            step *= 0.5
        current = improved  # p, x and shares are the last trial's: q's if it was taken
        if improved:
            q[:] = trial
            z[:] = trial_z
            residual = trial_residual
        if near or not improved:
            break
    if not current:
        residual = evaluate(q, z, shares)
    if not residual <= 1e-12:
        return 2
    clearing = 0.0
    for j in range(m):
        if not p[j] > 0.0:
            return 3
        clearing = max(clearing, abs(z[j]))
    for i in range(n):
        budget = 0.0
        spent = 0.0
        for j in range(m):
            budget += e[i, j] * p[j]
            spent += p[j] * x[i, j]
        if (spent - budget) > verify_tol * max(budget, 1e-300):
            return 3
    if not clearing <= verify_tol:
        return 3
    return 0


_gauss_solve = gauss_solve  # the kernel's linear solve; compiled with it (below)


@functools.cache
def _compiled_ces_kernel() -> Any:
    """The Newton kernel compiled by numba (its linear solve compiled first, so the kernel calls
    machine code), or None: without numba (the ``fast`` extra) proportional response and the
    polish step are the path."""
    global _gauss_solve
    solve = compiled_gauss_solve()
    if solve is None:
        return None
    _gauss_solve = solve
    return compiled_on_first_use(_ces_newton_kernel)()


def _excess_demand(p: np.ndarray, theta: np.ndarray, e: np.ndarray, fam: UtilityFamily
                   ) -> tuple[np.ndarray, np.ndarray]:
    x = market_demand(p, e @ p, theta, fam)
    return x.sum(axis=0) - 1.0, x


def _newton_polish(theta: np.ndarray, e: np.ndarray, fam: UtilityFamily, p0: np.ndarray,
                   max_newton: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``z(p) = 0`` in ``q = log p`` (``q_m = 0``; Walras' law removes one equation).

    Newton with a forward-difference Jacobian, the ``m`` evaluations of an iteration (and the
    ``4`` step sizes of its backtracking) in one batched :func:`market_demand` call; stops once
    ``max |z| <= 1e-13``. If it has not got below ``1e-12`` after ``max_newton`` iterations,
    ``scipy.optimize.root`` (``hybr``, then ``lm``) continues from the best point.
    """
    m = len(p0)
    p0 = np.maximum(p0, 1e-300)

    def prices(q: np.ndarray) -> np.ndarray:
        full = np.concatenate([q, np.zeros((*q.shape[:-1], 1))], axis=-1)
        w = np.exp(full - full.max(axis=-1, keepdims=True))
        return w / w.sum(axis=-1, keepdims=True)

    def residuals(q: np.ndarray) -> np.ndarray:
        """``z(p(q))`` without its last good, for a batch of points ``(k, m - 1)``."""
        p = prices(q)
        return market_demand(p, p @ e.T, theta, fam).sum(axis=-2)[..., :-1] - 1.0

    def residual(q: np.ndarray) -> np.ndarray:
        return residuals(q[None])[0]

    best_q = np.log(p0[:-1]) - np.log(p0[-1])
    z = residual(best_q) if m > 1 else np.zeros(0)
    best_r = np.abs(z).max() if m > 1 else 0.0
    if m > 1 and best_r > 1e-13:
        q = best_q
        h = 1e-7
        shifts = h * np.eye(m - 1)
        steps = np.array([1.0, 0.5, 0.25, 0.0625])
        # [the Jacobian's m - 1 points and the 4 trial steps are kept in separate calls: a
        # market_demand row's last bit depends on the batch it is evaluated in, and the CES
        # learner's trajectory amplifies such bits]
        for _ in range(max_newton):
            jacobian = (residuals(q + shifts) - z).T / h
            try:
                direction = np.linalg.solve(jacobian, -z)
            except np.linalg.LinAlgError:
                break
            trials = q + steps[:, None] * direction
            trial_z = residuals(trials)
            norms = np.abs(trial_z).max(axis=-1)
            k = int(np.argmin(norms))
            if not norms[k] < np.abs(z).max():
                break
            q, z = trials[k], trial_z[k]
            if norms[k] < best_r:
                best_q, best_r = q, norms[k]
            if best_r <= 1e-13:
                break
        if best_r > 1e-12:
            for method in ("hybr", "lm"):
                sol = optimize.root(residual, best_q, method=method, tol=1e-14)
                r = np.abs(residual(sol.x)).max()
                if r < best_r:
                    best_q, best_r = sol.x, r
                if best_r < 1e-12:
                    break
    p = prices(best_q)
    _, x = _excess_demand(p, theta, e, fam)
    return x, p


def _linear_polish(theta: np.ndarray, e: np.ndarray, prd: PRDResult
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact CE for linear utilities on a support guessed from PRD, by an LP feasibility problem.

    For a candidate edge set ``E`` (agent ``i`` may spend on good ``j``): find ``p >= 0``,
    ``b_ij >= 0`` on ``E`` with ``sum p = 1``, ``sum_j b_ij = p . e_i``, ``sum_i b_ij = p_j`` and
    ``theta_ik p_j <= theta_ij p_k`` for every ``(i, j) in E`` and every ``k`` (only maximum
    bang-per-buck goods are bought). Any solution is a CE. ``E`` = edges whose PRD bang per buck is
    within a factor ``1 - delta`` of the agent's best, for decreasing ``delta``; the first LP whose
    answer verifies wins. Falls back to PRD's answer (which then fails verification loudly).
    """
    p_prd = np.maximum(prd.prices, 1e-300)
    ratio = theta / p_prd
    ratio = ratio / ratio.max(axis=1, keepdims=True)
    for delta in (1e-2, 3e-3, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-9, 1e-11, 0.0):
        edges = np.argwhere(ratio >= 1.0 - delta)
        x, p, b = _linear_lp(theta, e, edges)
        if x is not None and verify_competitive_equilibrium(x, p, theta, e, "linear",
                                                            tol=1e-9).ok:
            return x, p, b
    return prd.allocation, prd.prices, prd.spending


def _linear_lp(theta: np.ndarray, e: np.ndarray, edges: np.ndarray):
    n, m = theta.shape
    k = len(edges)
    nv = m + k + 1  # prices, spending on edges, and t = min price (maximized, keeps p > 0)
    a_eq, b_eq, a_ub, b_ub = [], [], [], []
    row = np.zeros(nv)
    row[:m] = 1.0
    a_eq.append(row)
    b_eq.append(1.0)
    for i in range(n):  # budgets spent
        row = np.zeros(nv)
        row[:m] = -e[i]
        for idx, (a, _) in enumerate(edges):
            if a == i:
                row[m + idx] = 1.0
        a_eq.append(row)
        b_eq.append(0.0)
    for j in range(m):  # markets clear
        row = np.zeros(nv)
        row[j] = -1.0
        for idx, (_, g) in enumerate(edges):
            if g == j:
                row[m + idx] = 1.0
        a_eq.append(row)
        b_eq.append(0.0)
    for i, j in {(int(a), int(g)) for a, g in edges}:  # MBB: theta_ik p_j - theta_ij p_k <= 0
        for kk in range(m):
            if kk == j:
                continue
            row = np.zeros(nv)
            row[j] += theta[i, kk]
            row[kk] -= theta[i, j]
            a_ub.append(row)
            b_ub.append(0.0)
    for j in range(m):  # t <= p_j
        row = np.zeros(nv)
        row[-1] = 1.0
        row[j] = -1.0
        a_ub.append(row)
        b_ub.append(0.0)
    cost = np.zeros(nv)
    cost[-1] = -1.0
    res = optimize.linprog(cost, A_ub=np.array(a_ub) if a_ub else None,
                           b_ub=np.array(b_ub) if b_ub else None, A_eq=np.array(a_eq),
                           b_eq=np.array(b_eq), bounds=[(0, None)] * nv, method="highs",
                           options={"primal_feasibility_tolerance": 1e-10,
                                    "dual_feasibility_tolerance": 1e-10})
    if res.status != 0 or res.x[-1] <= 0:
        return None, None, None
    p = res.x[:m]
    b = np.zeros((n, m))
    for idx, (a, j) in enumerate(edges):
        b[a, j] = max(res.x[m + idx], 0.0)
    x = b / p
    return x, p, b


def prd_convergence(theta: np.ndarray, endowments: np.ndarray, family: str | UtilityFamily,
                    *, iterations: int = 1000, stop_below: float = 0.0,
                    **params: Any) -> dict[str, Any]:
    """Measure PRD's convergence: the verified optimality gap of its answer at every iteration.

    PRD's allocation always clears the market and spends budgets exactly, so the CE error of its
    iterate is the optimality gap ``max_i (v_i(p) - u_i(x_i)) / v_i`` (uncapped demand).

    Returns a dict: ``gaps`` (per iteration), ``rate`` (geometric factor per iteration, from a
    least-squares fit of ``log gap`` on the iteration over the second half of the gaps above 1e-13),
    ``power`` (slope of ``log gap`` on ``log iteration``, the sublinear-rate exponent), and
    ``iterations_to_1e-6`` (``None`` if never reached). Stops early once the gap is below
    ``stop_below`` (the history is then shorter than ``iterations``).
    """
    fam = make_family(family, n_agents=np.shape(theta)[0], n_goods=np.shape(theta)[1], **params)
    theta = np.asarray(theta, dtype=np.float64)
    e = np.asarray(endowments, dtype=np.float64)
    spending = None
    gaps = np.empty(iterations)
    for t in range(iterations):
        result = proportional_response_dynamics(theta, e, fam, max_iter=1, tol=0.0,
                                                spending=spending)
        spending = result.spending
        x, p = result.allocation, result.prices
        if np.any(p <= 0):
            gaps[t] = np.inf
            continue
        values = indirect_utilities(p, e, theta, fam, cap=None)
        gaps[t] = max(float(np.max((values - fam.utility(x, theta)) / np.maximum(values, _TINY))),
                      0.0)
        if gaps[t] < stop_below:
            gaps = gaps[:t + 1]
            break
    steps = np.arange(1, len(gaps) + 1)
    usable = np.isfinite(gaps) & (gaps > 1e-13)
    idx = steps[usable]
    rate = power = float("nan")
    if idx.size >= 4:
        half = idx[idx.size // 2:]
        slope = np.polyfit(half, np.log(gaps[half - 1]), 1)[0]
        rate = float(np.exp(slope))
        power = float(np.polyfit(np.log(half), np.log(gaps[half - 1]), 1)[0])
    reached = np.nonzero(gaps <= 1e-6)[0]
    return {"gaps": gaps, "rate": rate, "power": power,
            "iterations_to_1e-6": int(reached[0]) + 1 if reached.size else None}
