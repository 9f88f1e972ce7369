"""Compiled kernel of :func:`~auction_envs.oracles.slicing.slicing_welfare_optimum`.

The same primal-dual active-set method as the numpy implementation in
:mod:`auction_envs.oracles.slicing` (water-filling sweeps for the first support, the linear KKT
system of a forest support, supports corrected until the KKT conditions hold), written as scalar
loops so that numba compiles it to machine code. At N <= 50 the numpy version spends its time in
the per-call overhead of numpy on arrays of a few dozen entries; compiled, the same steps take
microseconds.

Only :func:`compiled_kernel` is public to the package; it returns ``None`` when numba is not
installed (numba is an optional dependency: ``pip install "auction-envs[fast]"``), and the oracle
then uses its numpy implementation. The tests check the two implementations against each other
and against the KKT conditions.

Kernel status codes: ``>= 0`` solved (the number of restarts it took), ``-1`` the active set did not
settle (the caller falls back to the numpy implementation's last resort), ``-2`` an entry of
``beta`` or ``xi`` is out of its domain (the caller raises the usual error).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from auction_envs.oracles._linear_solve import gauss_solve as _gauss_solve

SOLVED_NOT = -1
INVALID_INPUT = -2
_UNUSABLE = -1e300  # stands in for log(beta * 0): sorts last, never sets a water level


def _waterfill_sweeps(s, z, c, xi, inv, usable, order, g, count):
    """``count`` sweeps of exact block water-filling, one resource per block, in place.

    ``order[k]`` keeps each column's ranking between calls: the values move little from one
    sweep to the next, so an insertion sort restores it in about linear time.
    """
    n, k_count = xi.shape
    for _ in range(count):
        for k in range(k_count):
            m = 0
            for i in range(n):
                if usable[i, k]:
                    g[i] = c[i, k] - (z[i] - xi[i, k] * s[i, k])
                    m += 1
                else:
                    g[i] = _UNUSABLE
            if m == 0:
                continue
            rank = order[k]
            for j in range(1, n):  # insertion sort, descending g
                item = rank[j]
                key = g[item]
                p = j - 1
                while p >= 0 and g[rank[p]] < key:
                    rank[p + 1] = rank[p]
                    p -= 1
                rank[p + 1] = item
            numerator = -1.0
            denominator = 0.0
            level = 0.0
            for j in range(m):
                i = rank[j]
                numerator += g[i] * inv[i, k]
                denominator += inv[i, k]
                level = numerator / denominator
                if j + 1 < m and level >= g[rank[j + 1]]:
                    break
            for i in range(n):
                if usable[i, k]:
                    share = (g[i] - level) * inv[i, k]
                    if share < 0.0:
                        share = 0.0
                    z[i] += xi[i, k] * (share - s[i, k])
                    s[i, k] = share


def _root(label, k):
    while label[k] != k:
        k = label[k]
    return k


def _prune_to_forest(mask, weight, out):
    """Like the numpy ``_prune_to_forest``: every VSP keeps its heaviest pair, further pairs join
    heaviest first when they link two resource components not yet linked."""
    n, k_count = mask.shape
    primary = np.full(n, -1)
    extra = 0
    for i in range(n):
        best = -np.inf
        for k in range(k_count):
            out[i, k] = False
            if mask[i, k]:
                extra += 1
                if primary[i] < 0 or weight[i, k] > best:
                    best = weight[i, k]
                    primary[i] = k
        if primary[i] >= 0:
            out[i, primary[i]] = True
            extra -= 1
    if extra == 0:
        return
    flat = np.empty(extra, dtype=np.int64)
    key = np.empty(extra)
    j = 0
    for i in range(n):
        for k in range(k_count):
            if mask[i, k] and k != primary[i]:
                flat[j] = i * k_count + k
                key[j] = -weight[i, k]
                j += 1
    label = np.arange(k_count)
    for j in np.argsort(key, kind="mergesort"):
        i = flat[j] // k_count
        k = flat[j] - i * k_count
        a = _root(label, primary[i])
        b = _root(label, k)
        if a != b:
            label[max(a, b)] = min(a, b)
            out[i, k] = True


def _solve_support(support, c, xi, inv, used, s, u):
    """The linear KKT system of a forest support (numpy ``_solve_support``); fills ``s``, ``u``."""
    n, k_count = xi.shape
    degree = np.zeros(n, dtype=np.int64)
    for i in range(n):
        for k in range(k_count):
            if support[i, k]:
                degree[i] += 1
    b_k = np.zeros(k_count)
    a_k = np.zeros(k_count)
    edges = 0
    for i in range(n):
        if degree[i] == 1:
            for k in range(k_count):
                if support[i, k]:
                    b_k[k] += inv[i, k]
                    a_k[k] += inv[i, k] * c[i, k]
        elif degree[i] > 1:
            edges += degree[i]
    row_of = np.full(k_count, -1)
    resources = 0
    for k in range(k_count):
        if used[k]:
            row_of[k] = resources
            resources += 1
    size = resources + edges
    a = np.zeros((size, size))
    b = np.zeros(size)
    edge_vsp = np.empty(edges, dtype=np.int64)
    edge_res = np.empty(edges, dtype=np.int64)
    for k in range(k_count):  # column sums: A_k - B_k u_k + sum_{split i} s_ik = 1
        if used[k]:
            a[row_of[k], row_of[k]] = -b_k[k]
            b[row_of[k]] = 1.0 - a_k[k]
    j = 0
    for i in range(n):
        if degree[i] > 1:  # split edges: sum_{k' in T_i} xi_ik' s_ik' + u_k = c_ik
            first = j
            for k in range(k_count):
                if support[i, k]:
                    if row_of[k] < 0:
                        return False
                    edge_vsp[j] = i
                    edge_res[j] = k
                    j += 1
            for p in range(first, j):
                row = resources + p
                a[row_of[edge_res[p]], row] = 1.0
                a[row, row_of[edge_res[p]]] = 1.0
                b[row] = c[i, edge_res[p]]
                for q in range(first, j):
                    a[row, resources + q] = xi[i, edge_res[q]]
    if not _gauss_solve(a, b):
        return False
    for k in range(k_count):
        u[k] = b[row_of[k]] if used[k] else np.inf
    for i in range(n):
        for k in range(k_count):
            s[i, k] = (c[i, k] - u[k]) * inv[i, k] if degree[i] == 1 and support[i, k] else 0.0
    for p in range(edges):
        s[edge_vsp[p], edge_res[p]] = b[resources + p]
    return True


def _support_key(support):
    """An order-free 64-bit hash of the support (splitmix64 of each pair, summed)."""
    n, k_count = support.shape
    key = np.uint64(0)
    for i in range(n):
        for k in range(k_count):
            if support[i, k]:
                x = np.uint64(i * k_count + k + 1) * np.uint64(0x9E3779B97F4A7C15)
                x = (x ^ (x >> np.uint64(31))) * np.uint64(0xBF58476D1CE4E5B9)
                key += x ^ (x >> np.uint64(29))
    return key


def _jitter(i, k, attempt, step):
    """Deterministic pseudo-random factor in [0.2, 1): retries explore other forests."""
    h = (i * 7919 + k * 104729 + attempt * 1299709 + step * 15485863) % 1000003
    return 0.2 + 0.8 * h / 1000003.0


def _active_set(support, c, xi, inv, usable, used, tol, max_iter, attempt, s, u, z, mask, weight,
                seen):
    """Active-set iterations from ``support``; True when the KKT conditions hold (``s``, ``u``)."""
    n, k_count = xi.shape
    for step in range(max_iter):
        for k in range(k_count):  # a used resource needs a pair: its best bidder
            if not used[k]:
                continue
            best = -1
            for i in range(n):
                if support[i, k]:
                    best = -2
                    break
                if usable[i, k] and (best < 0 or c[i, k] > c[best, k]):
                    best = i
            if best >= 0:
                support[best, k] = True
        key = _support_key(support)
        for j in range(step):
            if seen[j] == key:
                return False  # cycled
        seen[step] = key
        if not _solve_support(support, c, xi, inv, used, s, u):
            return False
        for i in range(n):
            total = 0.0
            for k in range(k_count):
                total += xi[i, k] * s[i, k]
            z[i] = total
        violated = False
        for i in range(n):
            for k in range(k_count):
                if support[i, k]:
                    negative = s[i, k] < -tol
                    mask[i, k] = not negative
                    weight[i, k] = abs(s[i, k]) + 1.0
                    violated = violated or negative
                elif usable[i, k]:
                    slack = c[i, k] - z[i] - u[k]
                    entering = slack > tol * (1.0 + abs(c[i, k]))
                    mask[i, k] = entering
                    weight[i, k] = slack
                    violated = violated or entering
                else:
                    mask[i, k] = False
                    weight[i, k] = 0.0
        if not violated:
            for i in range(n):
                for k in range(k_count):
                    if s[i, k] < 0.0:
                        s[i, k] = 0.0
            return True
        if attempt:
            for i in range(n):
                for k in range(k_count):
                    weight[i, k] = weight[i, k] * _jitter(i, k, attempt, step) + (
                        0.0 if support[i, k] else float(attempt % 2))
        _prune_to_forest(mask, weight, support)
    return False


def optimum_kernel(beta, xi, guess, use_guess, tol, max_iter, s, u):
    """Solve the welfare program into ``s`` (allocation) and ``u`` (log-prices, ``inf`` where a
    resource is unusable); returns ``(status, welfare)`` (module docstring for ``status``)."""
    n, k_count = xi.shape
    for i in range(n):
        if not (math.isfinite(beta[i]) and beta[i] > 0.0):
            return INVALID_INPUT, 0.0
        for k in range(k_count):
            if not (math.isfinite(xi[i, k]) and xi[i, k] >= 0.0):
                return INVALID_INPUT, 0.0
    usable = np.empty((n, k_count), dtype=np.bool_)
    used = np.zeros(k_count, dtype=np.bool_)
    c = np.empty((n, k_count))
    inv = np.zeros((n, k_count))
    for i in range(n):
        log_beta = math.log(beta[i])
        for k in range(k_count):
            usable[i, k] = xi[i, k] > 0.0
            if usable[i, k]:
                used[k] = True
                c[i, k] = log_beta + math.log(xi[i, k])
                inv[i, k] = 1.0 / xi[i, k]
            else:
                c[i, k] = _UNUSABLE
    support = np.empty((n, k_count), dtype=np.bool_)
    mask = np.empty((n, k_count), dtype=np.bool_)
    weight = np.empty((n, k_count))
    z = np.empty(n)
    seen = np.zeros(max_iter, dtype=np.uint64)
    order = np.empty((k_count, n), dtype=np.int64)
    for k in range(k_count):
        order[k] = np.arange(n)
    g = np.empty(n)
    # first support: the warm start, or a few water-filling sweeps from the uniform split
    bcd = np.zeros((n, k_count))
    bcd_z = np.zeros(n)
    for i in range(n):
        for k in range(k_count):
            if usable[i, k]:
                bcd[i, k] = 1.0 / n
                bcd_z[i] += xi[i, k] / n
    if not use_guess:
        _waterfill_sweeps(bcd, bcd_z, c, xi, inv, usable, order, g, 3)
    for attempt in range(40):
        source = guess if use_guess and attempt == 0 else bcd
        for i in range(n):
            for k in range(k_count):
                if use_guess and attempt == 0:
                    mask[i, k] = usable[i, k] and source[i, k] > 0.0
                    weight[i, k] = source[i, k]
                else:
                    mask[i, k] = usable[i, k] and source[i, k] > 1e-9
                    weight[i, k] = source[i, k] * (_jitter(i, k, attempt, 0) if attempt else 1.0)
        _prune_to_forest(mask, weight, support)
        if _active_set(support, c, xi, inv, usable, used, tol, max_iter, attempt, s, u, z, mask,
                       weight, seen):
            welfare = 0.0
            for i in range(n):
                total = 0.0
                for k in range(k_count):
                    total += xi[i, k] * s[i, k]
                welfare += beta[i] * -math.expm1(-total)
            return attempt, welfare
        # cycled or singular: refine the guess with water-filling and try again
        _waterfill_sweeps(bcd, bcd_z, c, xi, inv, usable, order, g, 5 if attempt < 8 else 1)
    return SOLVED_NOT, 0.0


def optimum_batch_kernel(beta, xi, tol, max_iter, s, welfare, without, status):
    """:func:`optimum_kernel` and the Clarke pivots for every market of a batch in one call.

    ``beta [B, N]``, ``xi [B, N, K]``; fills ``s [B, N, K]``, ``welfare [B]`` and ``without
    [B, N]`` (``SW*_{-i}``, each warm-started from the optimum without VSP ``i``, as
    ``slicing_welfare_without`` does) and ``status [B]``: ``>= 0`` solved, or the first negative
    status of the row's solves (the caller redoes those rows one by one).
    """
    batch, n, k_count = xi.shape
    log_prices = np.empty(k_count)
    sub_beta = np.empty(max(n - 1, 1))
    sub_xi = np.empty((max(n - 1, 1), k_count))
    guess = np.empty((max(n - 1, 1), k_count))
    sub_s = np.empty((max(n - 1, 1), k_count))
    for b in range(batch):
        code, total = optimum_kernel(beta[b], xi[b], xi[b], False, tol, max_iter, s[b],
                                     log_prices)
        status[b] = code
        welfare[b] = total
        for i in range(n):
            without[b, i] = 0.0
        if code < 0 or n == 1:
            continue
        for i in range(n):
            row = 0
            for j in range(n):
                if j != i:
                    sub_beta[row] = beta[b, j]
                    for k in range(k_count):
                        sub_xi[row, k] = xi[b, j, k]
                        guess[row, k] = s[b, j, k]
                    row += 1
            code, total = optimum_kernel(sub_beta, sub_xi, guess, True, tol, max_iter, sub_s,
                                         log_prices)
            if code < 0:
                status[b] = code
                break
            without[b, i] = total


_FUNCTIONS = ("_waterfill_sweeps", "_root", "_prune_to_forest", "_gauss_solve", "_solve_support",
              "_support_key", "_jitter", "_active_set", "optimum_kernel", "optimum_batch_kernel")
_compiled: list[Callable | None] = []


def compiled_kernel() -> Callable | None:
    """:func:`optimum_kernel` compiled by numba (cached on disk), or ``None`` without numba.

    Compiled on first use (a few seconds, once per install: numba caches the machine code).
    """
    if not _compiled:
        try:
            import numba
        except Exception:  # not installed, or a numba that does not support this numpy
            _compiled.append(None)
        else:
            namespace = globals()
            for name in _FUNCTIONS:  # callees first: each compiled one is seen by its callers
                namespace[name] = numba.njit(cache=True, nogil=True)(namespace[name])
            _compiled.append(namespace["optimum_kernel"])
    return _compiled[0]


def compiled_batch_kernel() -> Callable | None:
    """:func:`optimum_batch_kernel` compiled by numba (with :func:`compiled_kernel`), or ``None``
    without numba."""
    if compiled_kernel() is None:
        return None
    return globals()["optimum_batch_kernel"]


# ----------------------------------------------------------------------------- QVCG dynamic program
def maxplus_stage_3d(best: np.ndarray, table: np.ndarray, m: int, new: np.ndarray,
                     arg: np.ndarray) -> None:
    """One stage of QVCG's DP on the ``(M+1)^3`` cube, the loops of ``slicing._maxplus_stage``:
    ``new[c] = max_{g <= c} best[c - g] + table[g]`` and its first maximizing ``g`` (flat, C
    order), both flat arrays. Grid points are visited in the same order and compared with the
    same strict ``>``, so values and ties come out bit for bit as in the numpy version."""
    side = m + 1
    for c in range(new.size):
        new[c] = -np.inf
        arg[c] = 0
    for g0 in range(side):
        for g1 in range(side):
            for g2 in range(side):
                g = (g0 * side + g1) * side + g2
                value = table[g]
                for c0 in range(g0, side):
                    for c1 in range(g1, side):
                        dst = (c0 * side + c1) * side
                        src = ((c0 - g0) * side + (c1 - g1)) * side - g2
                        for c2 in range(g2, side):
                            candidate = best[src + c2] + value
                            if candidate > new[dst + c2]:
                                new[dst + c2] = candidate
                                arg[dst + c2] = g


_compiled_stage: list[Callable | None] = []


def compiled_maxplus_stage() -> Callable | None:
    """:func:`maxplus_stage_3d` compiled by numba (cached on disk), or ``None`` without numba."""
    if not _compiled_stage:
        try:
            import numba
        except Exception:  # not installed, or a numba that does not support this numpy
            _compiled_stage.append(None)
        else:
            _compiled_stage.append(numba.njit(cache=True, nogil=True)(maxplus_stage_3d))
    return _compiled_stage[0]
