"""Compiled passes of :func:`~auction_envs.oracles.exchange._ces_demand_few_goods` (numba, optional).

The capped CES demand of a few goods is a search over the number ``k`` of capped goods whose
arithmetic is a few dozen additions and comparisons per agent around three batches of ``exp`` /
``log``. The batches stay numpy's (numpy's SIMD ``exp`` and ``log`` differ from the C library's
in the last bit on some machines, and the demand is held bit for bit to the numpy path); the
scalar work between them runs in the four passes below, each the Python loop of the numpy path
it replaces, operation for operation (IEEE arithmetic is the same in Python and compiled code,
and nothing here is reassociated). ``tests/exchange`` compares both paths bit for bit.

Layout shared by the passes, for ``r`` agents and ``m`` goods: ``order (r, m)`` the goods in
threshold order, ``threshold_sorted (r, m)``, and per agent up to ``m`` candidates ``k`` (the
first ``k`` goods capped) with ``top`` (the largest free term) and ``rem`` (the money left for the
free goods); ``searching[i]`` is False when the agent's answer needs no search (no budget, or
the whole supply is affordable).
"""

from __future__ import annotations

import numpy as np

from auction_envs._numba import compiled_on_first_use


def _search_setup(log_tp, log_p, prices, budgets, c, sigma, shift, has_shift,
                  supply_cost):  # pragma: no cover (numba)
    """Step 1: per agent, the goods in threshold order (stable), and for every affordable
    ``k`` the free goods' terms less their largest (the first exp batch's arguments)."""
    r, m = log_tp.shape
    searching = np.zeros(r, dtype=np.bool_)
    order = np.empty((r, m), dtype=np.int64)
    threshold_sorted = np.empty((r, m))
    n_candidates = np.zeros(r, dtype=np.int64)
    candidate_k = np.empty((r, m), dtype=np.int64)
    candidate_top = np.empty((r, m))
    candidate_rem = np.empty((r, m))
    exp_arguments = np.empty(r * m * m)
    n_arguments = 0
    threshold = np.empty(m)
    terms = np.empty(m)
    for i in range(r):
        budget = budgets[i]
        if budget <= 0 or supply_cost <= budget:
            continue
        searching[i] = True
        for j in range(m):
            threshold[j] = log_tp[i, j] - shift if has_shift else log_tp[i, j]
        ranked = np.argsort(-threshold, kind="mergesort")  # sorted(key=-threshold): stable
        for q in range(m):
            j = ranked[q]
            order[i, q] = j
            threshold_sorted[i, q] = threshold[j]
            terms[q] = log_p[j] + sigma * log_tp[i, j]
        spent = 0.0
        for k in range(m):
            if k:
                spent += prices[order[i, k - 1]]
            rem = budget - (spent * c if k else 0.0)
            if rem > 0:
                top = terms[k]
                for q in range(k + 1, m):  # max(): the first of equal values
                    if terms[q] > top:
                        top = terms[q]
                for q in range(k, m):
                    exp_arguments[n_arguments] = terms[q] - top
                    n_arguments += 1
                s = n_candidates[i]
                candidate_k[i, s] = k
                candidate_top[i, s] = top
                candidate_rem[i, s] = rem
                n_candidates[i] = s + 1
    return (searching, order, threshold_sorted, n_candidates, candidate_k, candidate_top,
            candidate_rem, exp_arguments[:n_arguments])


def _candidate_sums(searching, n_candidates, candidate_k, candidate_rem, exps,
                    m):  # pragma: no cover (numba)
    """Step 2: each candidate's sum of its free goods' exps (left to right), then its ``rem``:
    the second batch's (log) arguments, two per candidate."""
    log_arguments = np.empty(2 * n_candidates.sum())
    position = 0
    n = 0
    for i in range(searching.size):
        if not searching[i]:
            continue
        for s in range(n_candidates[i]):
            count = m - candidate_k[i, s]
            total = 0.0
            for q in range(position, position + count):
                total += exps[q]
            position += count
            log_arguments[n] = total
            log_arguments[n + 1] = candidate_rem[i, s]
            n += 2
    return log_arguments


def _settle(searching, order, threshold_sorted, n_candidates, candidate_k, candidate_top, logs,
            log_tp, sigma):  # pragma: no cover (numba)
    """Step 3: each agent's first candidate whose free goods stay within their caps (-1: none),
    and its free goods' exp arguments (the third batch's)."""
    r, m = order.shape
    settled_k = np.full(r, -1, dtype=np.int64)
    free_arguments = np.empty(r * m)
    n_free = 0
    position = 0
    for i in range(r):
        if not searching[i]:
            continue
        for s in range(n_candidates[i]):
            k = candidate_k[i, s]
            log_lam = (candidate_top[i, s] + logs[position] - logs[position + 1]) / sigma
            position += 2
            if settled_k[i] < 0 and not (
                    log_lam < threshold_sorted[i, k] - 1e-14 * max(1.0, abs(log_lam))):
                settled_k[i] = k
                for q in range(k, m):
                    free_arguments[n_free] = sigma * (log_tp[i, order[i, q]] - log_lam)
                    n_free += 1
    return settled_k, free_arguments[:n_free]


def _bundles(searching, order, settled_k, budgets, free, c):  # pragma: no cover (numba)
    """Step 4: ``c`` of each capped good and the free goods' demand (at most ``c``); an agent
    without a search buys nothing (no budget) or ``c`` of everything."""
    r, m = order.shape
    bundles = np.empty((r, m))
    position = 0
    for i in range(r):
        for j in range(m):
            bundles[i, j] = 0.0 if (not searching[i] and budgets[i] <= 0) else c
        if not searching[i] or settled_k[i] < 0:
            continue
        for q in range(settled_k[i], m):
            value = free[position]
            bundles[i, order[i, q]] = c if c < value else value  # min(value, c)
            position += 1
    return bundles


compiled_search_setup = compiled_on_first_use(_search_setup)
compiled_candidate_sums = compiled_on_first_use(_candidate_sums)
compiled_settle = compiled_on_first_use(_settle)
compiled_bundles = compiled_on_first_use(_bundles)
