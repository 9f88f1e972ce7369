"""Exact reference solutions of the IoV slicing market (paper 002, MARKETS §3).

The welfare program of the market is

    max_s  sum_i beta_i (1 - exp(-xi_i . s_i))   s.t.  sum_i s_ik <= 1 (each resource k),  s >= 0,

with ``beta_i > 0`` and ``xi_ik >= 0``. It is concave but not separable: the exponent couples the
resources of one VSP. :func:`slicing_welfare_optimum` solves it exactly with our own
**primal-dual active-set method** on the KKT system:

* With log-prices ``u_k = log(lambda_k)`` the KKT conditions read, for every pair (i, k),
  ``z_i + u_k >= log(beta_i xi_ik)`` with equality where ``s_ik > 0`` (``z_i = xi_i . s_i``), and
  ``sum_i s_ik = 1`` (every resource with a positive ``xi`` is fully used: its marginal value
  ``beta_i xi_ik exp(-z_i)`` never vanishes).
* For a *fixed support* (the set of pairs with ``s_ik > 0``) these conditions are a **linear**
  system in ``(s on the support, u)``. It is solved exactly (one dense solve of size
  ``|support| + K``, about ``N + 2K``); the support is then corrected (pairs whose ``s`` came out
  negative leave, pairs whose dual condition is violated enter) until it no longer changes. At that
  point the KKT conditions hold to rounding error, and the concave program's optimum is found.
* The first support is guessed by a few sweeps of exact block-coordinate water-filling (one
  resource at a time, closed form), or taken from a warm start (e.g. the optimum with one more
  VSP, for the Clarke pivots). If the active-set iteration ever cycles, more water-filling sweeps
  refine the guess; water-filling alone converges (smooth concave objective, product constraint
  set, unique block maximizers), so the method always terminates.

:func:`slicing_kkt_residual` verifies any allocation independently of the solver.

The method has two implementations: numpy (below) and the same steps as scalar loops in
:mod:`auction_envs.oracles._slicing_kernel`, which numba compiles when it is installed (the
``fast`` extra). ``backend="auto"`` takes the compiled one when it can; it is about 30x faster at
N <= 50, where numpy's per-call overhead dominates (``python -m benchmarks.iov_solver``).

QVCG (Ge & Berry, INFOCOM 2018): resources are quantized into units of ``1/M``; each VSP reports its
utility on the ``(M+1)^3`` grid; the NSP picks one grid point per VSP under the capacity constraints
and charges Clarke pivots. :func:`qvcg_allocation_milp` states it as the integer program (scipy's
HiGHS ``milp``, one binary per VSP and grid point); :func:`qvcg_allocation_dp` solves the same
integer program exactly by dynamic programming over VSPs (3-D max-plus convolutions) and gives the
Clarke pivots from prefix/suffix tables. How far they scale (measured on this machine, 1 core):
``milp`` N=10: M=4 in ~0.6 s, M=10 in ~35 s, M=20 out of reach; DP: M=20 ~0.1-0.2 s per VSP and
pivot set (N=10: ~2 s, N=50: ~10 s), M=100 out of reach for both (10^6 grid points per VSP,
~10^11 pairs per DP stage).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from scipy.linalg.lapack import dgesv as _dgesv

from auction_envs.core.errors import InvalidArgumentError
from auction_envs.oracles._slicing_kernel import (
    INVALID_INPUT,
    SOLVED_NOT,
    compiled_batch_kernel,
    compiled_kernel,
    compiled_maxplus_stage,
)

__all__ = [
    "qvcg_allocation_dp",
    "qvcg_allocation_milp",
    "qvcg_grid",
    "qvcg_tables",
    "slicing_kkt_residual",
    "slicing_optimum_batch",
    "slicing_utility",
    "slicing_welfare_optimum",
    "slicing_welfare_without",
    "truthful_bids",
    "vcg_payments",
]


_BACKENDS = ("auto", "numba", "numpy")


# ----------------------------------------------------------------------------- utility
def slicing_utility(s: np.ndarray, beta: np.ndarray, xi: np.ndarray) -> np.ndarray:
    """``u_i(s_i) = beta_i (1 - exp(-xi_i . s_i))`` per VSP (paper (39)); shapes ``(N, K)``."""
    z = np.einsum("...ik,...ik->...i", np.asarray(xi, dtype=np.float64),
                  np.asarray(s, dtype=np.float64))
    return np.asarray(beta, dtype=np.float64) * -np.expm1(-z)


def _check_instance(beta: Any, xi: Any) -> tuple[np.ndarray, np.ndarray]:
    beta = np.asarray(beta, dtype=np.float64)
    xi = np.asarray(xi, dtype=np.float64)
    if beta.ndim != 1 or beta.size == 0:
        raise InvalidArgumentError("beta", beta, "a non-empty 1-D array")
    if xi.ndim != 2 or xi.shape[0] != beta.size:
        raise InvalidArgumentError("xi", xi, f"a 2-D array with {beta.size} rows")
    if not np.all(np.isfinite(beta)) or np.any(beta <= 0):
        raise InvalidArgumentError("beta", beta, "finite and > 0")
    if not np.all(np.isfinite(xi)) or np.any(xi < 0):
        raise InvalidArgumentError("xi", xi, "finite and >= 0")
    return beta, xi


# ----------------------------------------------------------------------------- water-filling
def _waterfill(g: np.ndarray, inv: np.ndarray) -> np.ndarray:
    """argmax sum_i b_i (1 - exp(-a_i x_i)) s.t. sum x <= 1, x >= 0, with ``g_i = log(b_i a_i)``.

    ``inv_i = 1 / a_i``. Closed form: ``x_i = max(0, (g_i - L) inv_i)`` with the water level
    ``L`` making the sum 1. Entries with ``a_i = 0`` must come with ``inv_i = 0`` and a hugely
    negative finite ``g_i`` (see :func:`_sweeps`): they sort last, never move the level and get
    nothing. At least one entry must have ``a_i > 0``.
    """
    n = g.size
    order = np.argsort(-g, kind="stable")
    gs, iv = g[order], inv[order]
    level = (np.cumsum(gs * iv) - 1.0) / np.cumsum(iv)
    # the level is final at the first m where it drops to the next candidate's g (or at the end)
    hits = np.flatnonzero(level[:-1] >= gs[1:])
    m = int(hits[0]) if hits.size else n - 1
    x = np.zeros(n)
    x[order[: m + 1]] = np.maximum((gs[: m + 1] - level[m]) * iv[: m + 1], 0.0)
    return x


def _sweeps(s: np.ndarray, log_beta: np.ndarray, xi: np.ndarray, log_xi: np.ndarray,
            count: int) -> np.ndarray:
    """``count`` sweeps of exact block-coordinate water-filling, one resource per block."""
    usable = xi > 0
    # finite stand-ins for unusable pairs keep the water-filling free of inf/nan arithmetic
    log_xi = np.where(usable, log_xi, -1e300)
    with np.errstate(divide="ignore"):
        inv = np.where(usable, 1.0 / xi, 0.0)
    columns = np.flatnonzero(usable.any(axis=0))
    z = np.einsum("ik,ik->i", xi, s)
    for _ in range(count):
        for k in columns:
            rest = z - xi[:, k] * s[:, k]
            s[:, k] = _waterfill(log_beta - rest + log_xi[:, k], inv[:, k])
            z = rest + xi[:, k] * s[:, k]
    return s


# ----------------------------------------------------------------------------- active set
def _solve_support(support: np.ndarray, c: np.ndarray, c_fin: np.ndarray, inv_xi: np.ndarray,
                   xi: np.ndarray, used: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Solve the linear KKT system for a fixed support; ``None`` when it is singular.

    ``c_ik = log(beta_i xi_ik)``; ``c_fin`` and ``inv_xi`` are ``c`` and ``1 / xi`` with 0 on the
    pairs where ``xi_ik = 0``. A VSP with one support edge ``(i, k)`` has the closed form
    ``s_ik = (c_ik - u_k) / xi_ik``; they are eliminated, leaving a small dense system in the
    log-prices ``u`` and the shares of the VSPs that split across several resources.
    """
    k_count = xi.shape[1]
    degree = support.sum(axis=1)
    # masks instead of index lists: fewer (and cheaper) numpy calls at N <= 50
    single_inv = np.where(support & (degree == 1)[:, None], inv_xi, 0.0)
    b_k = single_inv.sum(axis=0)
    a_k = (single_inv * c_fin).sum(axis=0)
    multi = np.flatnonzero(degree > 1)
    if not multi.size and used.all():
        # no split VSP: every resource clears on its own, u_k = (A_k - 1) / B_k in closed form
        if not b_k.all():
            return None
        u = (a_k - 1.0) / b_k
        return (c_fin - u) * single_inv, u
    res = np.flatnonzero(used)
    col_of = np.full(k_count, -1)
    col_of[res] = np.arange(res.size)
    t_rows, t_cols = np.nonzero(support[multi])
    t_rows = multi[t_rows]
    e = t_rows.size
    r = res.size
    size = r + e
    a = np.zeros((size, size))
    b = np.empty(size)
    # column sums: A_k - B_k u_k + sum_{split i} s_ik = 1
    a[np.arange(r), np.arange(r)] = -b_k[res]
    b[:r] = 1.0 - a_k[res]
    if e:
        if np.any(col_of[t_cols] < 0):
            return None
        a[col_of[t_cols], r + np.arange(e)] = 1.0
        # split edges: sum_{k' in T_i} xi_ik' s_ik' + u_k = c_ik
        a[r:, r:] = (t_rows[:, None] == t_rows[None, :]) * xi[t_rows, t_cols][None, :]
        a[r + np.arange(e), col_of[t_cols]] = 1.0
        b[r:] = c[t_rows, t_cols]
    # LAPACK directly: np.linalg.solve's wrapper costs more than the solve at this size
    _lu, _piv, x, info = _dgesv(a, b)
    if info != 0 or not np.all(np.isfinite(x)):
        return None
    u = np.full(k_count, np.inf)
    u[res] = x[:r]
    s = (c_fin - np.where(used, u, 0.0)) * single_inv
    if e:
        s[t_rows, t_cols] = x[r:]
    return s, u


def _prune_to_forest(mask: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Keep a support whose VSP-resource graph is a forest (so the KKT system is regular).

    Every VSP keeps its heaviest pair; further pairs are added heaviest first only when they
    join two resource components that are not yet linked (a tiny union-find on the resources).
    """
    _n, k_count = mask.shape
    w = np.where(mask, weight, -np.inf)
    out = np.zeros_like(mask)
    has = mask.any(axis=1)
    primary = np.argmax(w, axis=1)
    out[np.flatnonzero(has), primary[has]] = True
    extra = mask & ~out
    if not extra.any():
        return out
    label = list(range(k_count))

    def find(k: int) -> int:
        while label[k] != k:
            k = label[k]
        return k

    for flat in np.argsort(-np.where(extra, w, -np.inf), axis=None):
        i, k = divmod(int(flat), k_count)
        if not extra[i, k]:
            break
        a, b = find(int(primary[i])), find(k)
        if a != b:
            label[max(a, b)] = min(a, b)
            out[i, k] = True
    return out


def slicing_welfare_optimum(beta: Any, xi: Any, *, warm_start: Any = None,
                            tol: float = 1e-12, max_iter: int = 60,
                            return_prices: bool = False, backend: str = "auto") -> tuple:
    """The exact welfare-maximizing slicing ``argmax sum_i beta_i (1 - exp(-xi_i . s_i))``.

    Subject to ``sum_i s_ik <= 1`` and ``s >= 0`` (MARKETS §3, paper (9)/(14)); primal-dual
    active-set method on the KKT system (module docstring).

    Args:
        beta: ``(N,)`` utility scales, ``> 0``.
        xi: ``(N, K)`` resource efficiencies, ``>= 0`` (``K = 3`` in the market).
        warm_start: optional ``(N, K)`` allocation whose support seeds the active set (e.g. the
            optimum of a neighbouring instance).
        tol: relative tolerance of the support tests (sign of ``s``, dual violations).
        max_iter: active-set iterations per attempt before refining the guess.
        return_prices: also return the resource prices ``lambda_k`` (the KKT multipliers).
        backend: ``"numba"`` runs the method compiled (:mod:`._slicing_kernel`; needs the
            ``fast`` extra), ``"numpy"`` runs it with numpy, ``"auto"`` (default) takes numba
            when it is installed. Both give the optimum to rounding error.

    Returns:
        ``(allocation, welfare)``: ``(N, K)`` array and the optimal welfare (a float); with
        ``return_prices=True``, ``(allocation, welfare, prices)``.

    Raises:
        InvalidArgumentError: on malformed or out-of-domain ``beta`` / ``xi``, an unknown
            ``backend``, or ``backend="numba"`` without numba installed.
    """
    if backend not in _BACKENDS:
        raise InvalidArgumentError("backend", backend, f"one of {_BACKENDS}")
    kernel = None if backend == "numpy" else compiled_kernel()
    if kernel is None and backend == "numba":
        raise InvalidArgumentError("backend", backend,
                                   'numba installed (pip install "auction-envs[fast]")')
    if kernel is not None:
        solved = _optimum_compiled(kernel, beta, xi, warm_start, tol, max_iter)
        if solved is not None:
            s, welfare, log_prices = solved
            if return_prices:
                return s, welfare, np.exp(np.where(np.isfinite(log_prices), log_prices, -np.inf))
            return s, welfare
    return _optimum_numpy(beta, xi, warm_start, tol, max_iter, return_prices)


def _optimum_compiled(kernel: Any, beta: Any, xi: Any, warm_start: Any, tol: float,
                      max_iter: int) -> tuple[np.ndarray, float, np.ndarray] | None:
    """The compiled kernel's answer, or ``None`` when its active set did not settle."""
    beta_arr = np.asarray(beta, dtype=np.float64)  # not ascontiguousarray: it makes scalars 1-D
    xi_arr = np.asarray(xi, dtype=np.float64)
    if beta_arr.ndim != 1 or beta_arr.size == 0 or xi_arr.ndim != 2 \
            or xi_arr.shape[0] != beta_arr.size:
        _check_instance(beta, xi)  # raises the error that names the argument
    beta_arr, xi_arr = np.ascontiguousarray(beta_arr), np.ascontiguousarray(xi_arr)
    if warm_start is None:
        guess, use_guess = xi_arr, False  # a placeholder of the right type, never read
    else:
        guess, use_guess = np.ascontiguousarray(warm_start, dtype=np.float64), True
        if guess.shape != xi_arr.shape:
            raise InvalidArgumentError("warm_start", warm_start, f"an array of shape {xi_arr.shape}")
    s = np.empty(xi_arr.shape)
    log_prices = np.empty(xi_arr.shape[1])
    status, welfare = kernel(beta_arr, xi_arr, guess, use_guess, float(tol), int(max_iter), s,
                             log_prices)
    if status == INVALID_INPUT:
        _check_instance(beta, xi)  # raises the error that names the argument
    if status < 0:
        return None
    return s, welfare, log_prices


def _optimum_numpy(beta: Any, xi: Any, warm_start: Any, tol: float, max_iter: int,
                   return_prices: bool) -> tuple:
    """:func:`slicing_welfare_optimum` with numpy (also where the compiled kernel gives up)."""
    beta, xi = _check_instance(beta, xi)
    n, k_count = xi.shape
    log_beta = np.log(beta)
    usable = xi > 0
    with np.errstate(divide="ignore"):
        log_xi = np.log(xi)
    c = np.where(usable, log_beta[:, None] + log_xi, -np.inf)
    c_fin = np.where(usable, c, 0.0)
    with np.errstate(divide="ignore"):
        inv_xi = np.where(usable, 1.0 / xi, 0.0)
    used = usable.any(axis=0)
    if warm_start is not None:
        guess = np.asarray(warm_start, dtype=np.float64)
        if guess.shape != xi.shape:
            raise InvalidArgumentError("warm_start", warm_start, f"an array of shape {xi.shape}")
        support = _prune_to_forest((guess > 0) & usable, guess)
    else:
        s_bcd = _sweeps(np.full((n, k_count), 1.0 / n) * usable, log_beta, xi, log_xi, 3)
        support = _prune_to_forest((s_bcd > 1e-9) & usable, s_bcd)
    s_bcd = None if warm_start is not None else s_bcd
    seen: set[bytes] = set()
    for attempt in range(40):
        for _ in range(max_iter):
            for k in np.flatnonzero(used & ~support.any(axis=0)):
                support[np.argmax(c[:, k]), k] = True
            key = np.packbits(support).tobytes()
            if key in seen:
                break
            seen.add(key)
            solved = _solve_support(support, c, c_fin, inv_xi, xi, used)
            if solved is None:
                break
            s, u = solved
            z = np.einsum("ik,ik->i", xi, s)
            slack = c - z[:, None] - u[None, :]
            negative = support & (s < -tol)
            entering = ~support & (slack > tol * (1.0 + np.abs(c)))
            if not negative.any() and not entering.any():
                s = np.maximum(s, 0.0)
                welfare = float(slicing_utility(s, beta, xi).sum())
                if return_prices:
                    return s, welfare, np.exp(np.where(used, u, -np.inf))
                return s, welfare
            weight = np.where(support, np.abs(s) + 1.0, slack)
            if attempt:  # retries explore other forests (seeded, deterministic)
                weight = weight * np.random.default_rng([attempt, len(seen)]).uniform(
                    0.2, 1.0, weight.shape) + np.where(support, 0.0, 1.0) * (attempt % 2)
            support = _prune_to_forest((support & ~negative) | entering, weight)
        # cycled or singular: refine the guess with water-filling and try again
        if s_bcd is None:
            s_bcd = np.full((n, k_count), 1.0 / n) * usable
        s_bcd = _sweeps(s_bcd, log_beta, xi, log_xi, 5 if attempt < 8 else 1)
        # later attempts prune the (possibly cyclic) support in randomized orders (seeded)
        jitter = np.random.default_rng(attempt).uniform(0.2, 1.0, s_bcd.shape) if attempt else 1.0
        support = _prune_to_forest((s_bcd > 1e-9) & usable, s_bcd * jitter)
        seen.clear()
    # last resort (never seen on random instances of the paper's ranges): water-filling to
    # convergence, which is exact in the limit; the KKT residual is checked before returning
    s = np.full((n, k_count), 1.0 / n) * usable
    for _ in range(2000):
        previous = s.copy()
        s = _sweeps(s, log_beta, xi, log_xi, 10)
        if np.max(np.abs(s - previous)) < 1e-14:
            break
    if slicing_kkt_residual(s, beta, xi)["max"] > 1e-8:
        raise RuntimeError("slicing_welfare_optimum did not converge (please report the instance)")
    welfare = float(slicing_utility(s, beta, xi).sum())
    if return_prices:
        z = np.einsum("ik,ik->i", xi, s)
        return s, welfare, (beta[:, None] * xi * np.exp(-z)[:, None]).max(axis=0)
    return s, welfare


def slicing_welfare_without(beta: Any, xi: Any, allocation: Any | None = None) -> np.ndarray:
    """``SW*_{-i}``: the optimal welfare of the others when VSP ``i`` is left out, for every ``i``.

    ``allocation`` (the optimum with everyone) warm-starts each solve; shape ``(N,)``.
    A single VSP's ``SW*_{-i}`` is 0.
    """
    beta, xi = _check_instance(beta, xi)
    n = beta.size
    if allocation is None:
        allocation, _ = slicing_welfare_optimum(beta, xi)
    out = np.zeros(n)
    for i in range(n):
        if n == 1:
            break
        keep = np.arange(n) != i
        _, out[i] = slicing_welfare_optimum(beta[keep], xi[keep],
                                            warm_start=np.asarray(allocation)[keep])
    return out


def slicing_optimum_batch(beta: Any, xi: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The optimum, its welfare and the Clarke pivots of every market of a batch, in one call.

    For ``beta [B, N]`` and ``xi [B, N, K]``, returns ``(s [B, N, K], welfare [B], without
    [B, N])``: row ``b`` is ``slicing_welfare_optimum(beta[b], xi[b])`` and
    ``slicing_welfare_without(beta[b], xi[b], s[b])``, bit for bit (the same compiled kernel,
    called for the whole batch from one compiled loop; tested). Rows the compiled kernel does
    not settle, and every row without numba, take the per-market functions.

    Raises:
        InvalidArgumentError: on malformed shapes, or the first row with an out-of-domain entry.
    """
    beta_arr = np.ascontiguousarray(beta, dtype=np.float64)
    xi_arr = np.ascontiguousarray(xi, dtype=np.float64)
    if beta_arr.ndim != 2 or beta_arr.shape[1] == 0:
        raise InvalidArgumentError("beta", beta, "a 2-D array [B, N] with N >= 1")
    if xi_arr.ndim != 3 or xi_arr.shape[:2] != beta_arr.shape:
        raise InvalidArgumentError("xi", xi, f"a 3-D array [B, N, K] with [B, N] = "
                                             f"{list(beta_arr.shape)}")
    batch, n = beta_arr.shape
    s = np.empty(xi_arr.shape)
    welfare = np.empty(batch)
    without = np.zeros((batch, n))
    status = np.full(batch, SOLVED_NOT, dtype=np.int64)
    kernel = compiled_batch_kernel()
    if kernel is not None and batch:
        kernel(beta_arr, xi_arr, 1e-12, 60, s, welfare, without, status)  # the defaults' tol, max_iter
    for b in np.flatnonzero(status < 0):  # unsettled, invalid (raises, naming it) or no numba
        s[b], welfare[b] = slicing_welfare_optimum(beta_arr[b], xi_arr[b])
        without[b] = slicing_welfare_without(beta_arr[b], xi_arr[b], s[b])
    return s, welfare, without


def slicing_kkt_residual(allocation: Any, beta: Any, xi: Any) -> dict[str, float]:
    """Independent check of an allocation's optimality (KKT conditions), all relative numbers.

    With marginal values ``g_ik = beta_i xi_ik exp(-z_i)`` and prices ``lambda_k = max_i g_ik``
    (the smallest prices that are dual feasible), returns:

    * ``primal``: largest violation of ``s >= 0`` and ``sum_i s_ik <= 1``;
    * ``stationarity``: largest ``(lambda_k - g_ik) / lambda_k`` over pairs with ``s_ik > 1e-9``;
    * ``complementarity``: largest ``s_ik (lambda_k - g_ik) / lambda_k`` over all pairs plus the
      unused capacity ``lambda_k (1 - sum_i s_ik) / max lambda``;
    * ``max``: the largest of the three. An optimum has every entry near 0 (1e-9 or less).
    """
    beta, xi = _check_instance(beta, xi)
    s = np.asarray(allocation, dtype=np.float64)
    z = np.einsum("ik,ik->i", xi, s)
    g = beta[:, None] * xi * np.exp(-z)[:, None]
    lam = g.max(axis=0)
    scale = np.where(lam > 0, lam, 1.0)
    gap = (lam[None, :] - g) / scale[None, :]
    col = s.sum(axis=0)
    primal = float(max(np.max(-s, initial=0.0), np.max(col - 1.0, initial=0.0), 0.0))
    stationarity = float(np.max(np.where(s > 1e-9, gap, 0.0), initial=0.0))
    complementarity = float(max(np.max(np.maximum(s, 0) * gap, initial=0.0),
                                np.max(lam * np.maximum(1.0 - col, 0.0), initial=0.0)
                                / max(lam.max(), 1e-300)))
    return {"primal": primal, "stationarity": stationarity, "complementarity": complementarity,
            "max": max(primal, stationarity, complementarity)}


# ----------------------------------------------------------------------------- VCG
def vcg_payments(beta: Any, xi: Any, allocation: Any | None = None) -> np.ndarray:
    """Clarke-pivot VCG payments with full information, ``p_i = SW*_{-i} - sum_{j!=i} u_j(s*_j)``.

    ``allocation`` defaults to the exact optimum. Payments are ``>= 0`` at the optimum.
    """
    beta, xi = _check_instance(beta, xi)
    if allocation is None:
        allocation, _ = slicing_welfare_optimum(beta, xi)
    utility = slicing_utility(allocation, beta, xi)
    others = utility.sum() - utility
    return slicing_welfare_without(beta, xi, allocation) - others


def truthful_bids(beta: Any, xi: Any, allocation: Any | None = None) -> np.ndarray:
    """The truthful DVCG bid of every VSP: its utility at the welfare optimum, ``u_i(s*_i)``."""
    beta, xi = _check_instance(beta, xi)
    if allocation is None:
        allocation, _ = slicing_welfare_optimum(beta, xi)
    return slicing_utility(allocation, beta, xi)


# ----------------------------------------------------------------------------- QVCG
@lru_cache(maxsize=8)
def _grid(m: int, k_count: int) -> np.ndarray:
    axes = np.meshgrid(*[np.arange(m + 1)] * k_count, indexing="ij")
    grid = np.stack(axes, axis=-1).reshape(-1, k_count)
    grid.setflags(write=False)
    return grid


def qvcg_grid(m: int, k_count: int = 3) -> np.ndarray:
    """The quantization grid: every ``(n_0, ..., n_{K-1})`` with ``0 <= n_k <= M`` (units of 1/M),
    shape ``((M+1)^K, K)``, in C order (the last resource varies fastest)."""
    if not isinstance(m, (int, np.integer)) or m < 1:
        raise InvalidArgumentError("M", m, "a positive integer")
    return _grid(int(m), int(k_count))


def qvcg_tables(beta: Any, xi: Any, m: int, scale: Any = 1.0) -> np.ndarray:
    """Utility reports on the QVCG grid: ``scale_i * u_i(grid / M)``, shape ``(N, (M+1)^K)``.

    ``scale = 1`` is the truthful report; a bidder who "bids" ``x_i`` while its truthful bid is
    ``x*_i`` reports ``scale_i = x_i / x*_i`` (the env's convention).
    """
    beta, xi = _check_instance(beta, xi)
    grid = qvcg_grid(m, xi.shape[1]) / m
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), beta.shape)
    return (scale * beta)[:, None] * -np.expm1(-(xi @ grid.T))


def qvcg_allocation_milp(tables: Any, m: int, k_count: int = 3,
                         time_limit: float | None = None) -> tuple[np.ndarray, float]:
    """QVCG's allocation as the integer program, solved by scipy's HiGHS ``milp``.

    One binary ``y_ig`` per VSP ``i`` and grid point ``g``: ``max sum y_ig T_ig`` s.t.
    ``sum_g y_ig = 1`` and ``sum_ig g_k y_ig <= M`` per resource. Exact but slow beyond ``M ~ 10``
    (module docstring); :func:`qvcg_allocation_dp` solves the same program faster.

    Returns:
        ``(units, value)``: ``(N, K)`` integer units (allocation = units / M) and the objective.
    """
    from scipy import sparse
    from scipy.optimize import Bounds, LinearConstraint, milp

    tables = np.asarray(tables, dtype=np.float64)
    grid = qvcg_grid(m, k_count)
    n, size = tables.shape
    if size != grid.shape[0]:
        raise InvalidArgumentError("tables", tables.shape, f"(N, {(m + 1) ** k_count})")
    one_each = sparse.kron(sparse.eye(n), np.ones((1, size)))
    capacity = sparse.hstack([sparse.csr_matrix(grid.T.astype(np.float64))] * n)
    a = sparse.vstack([one_each, capacity]).tocsr()
    low = np.concatenate([np.ones(n), np.full(k_count, -np.inf)])
    high = np.concatenate([np.ones(n), np.full(k_count, float(m))])
    options = {} if time_limit is None else {"time_limit": time_limit}
    result = milp(-tables.ravel(), constraints=LinearConstraint(a, low, high),
                  integrality=np.ones(n * size), bounds=Bounds(0, 1), options=options)
    if result.x is None:
        raise RuntimeError(f"milp failed: {result.message}")
    choice = np.round(result.x).reshape(n, size).argmax(axis=1)
    return grid[choice].copy(), float(tables[np.arange(n), choice].sum())


def _maxplus_stage(best: np.ndarray, table: np.ndarray, m: int, k_count: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """One DP stage: ``new[c] = max_{g <= c} best[c - g] + table[g]`` on the ``(M+1)^K`` cube
    (compiled for K = 3 when numba is installed: the same loop order and ties, about 10x faster)."""
    stage = compiled_maxplus_stage() if k_count == 3 else None
    if stage is not None:
        new = np.empty((m + 1) ** k_count)
        arg = np.empty((m + 1) ** k_count, dtype=np.int64)
        stage(np.ascontiguousarray(best, dtype=np.float64),
              np.ascontiguousarray(table, dtype=np.float64), int(m), new, arg)
        return new, arg
    shape = (m + 1,) * k_count
    best = best.reshape(shape)
    table = table.reshape(shape)
    new = np.full(shape, -np.inf)
    arg = np.zeros(shape, dtype=np.int64)
    for flat, g in enumerate(qvcg_grid(m, k_count)):
        dst = tuple(slice(gk, None) for gk in g)
        src = tuple(slice(0, m + 1 - gk) for gk in g)
        candidate = best[src] + table[tuple(g)]
        better = candidate > new[dst]
        new[dst] = np.where(better, candidate, new[dst])
        arg[dst] = np.where(better, flat, arg[dst])
    return new.ravel(), arg.ravel()


def qvcg_allocation_dp(tables: Any, m: int, k_count: int = 3, *, pivots: bool = True
                       ) -> tuple[np.ndarray, float, np.ndarray | None]:
    """QVCG's integer program solved exactly by dynamic programming over VSPs.

    ``F_i[c]`` = best value of VSPs ``0..i`` using at most ``c`` units (per resource); stage
    ``i`` is a 3-D max-plus convolution with VSP ``i``'s table. The Clarke pivots
    ``W*_{-i} = max_c F_{i-1}[c] + B_{i+1}[M - c]`` come from prefix and suffix tables.

    Returns:
        ``(units, value, welfare_without)``: ``(N, K)`` integer units, the optimal reported
        welfare, and ``W*_{-i}`` per VSP (``None`` when ``pivots=False``).
    """
    tables = np.asarray(tables, dtype=np.float64)
    grid = qvcg_grid(m, k_count)
    n, size = tables.shape
    if size != grid.shape[0]:
        raise InvalidArgumentError("tables", tables.shape, f"(N, {(m + 1) ** k_count})")
    shape = (m + 1,) * k_count
    # "at most c" form: the empty prefix is worth 0 everywhere
    prefix = [np.zeros(size)]
    args = []
    for i in range(n):
        new, arg = _maxplus_stage(prefix[-1], tables[i], m, k_count)
        prefix.append(new)
        args.append(arg)
    full = (m,) * k_count
    flat_full = int(np.ravel_multi_index(full, shape))
    value = float(prefix[-1][flat_full])
    # backtrack
    units = np.zeros((n, k_count), dtype=np.int64)
    c = np.array(full)
    for i in range(n - 1, -1, -1):
        g = grid[args[i][int(np.ravel_multi_index(tuple(c), shape))]]
        units[i] = g
        c = c - g
    without = None
    if pivots:
        suffix = [np.zeros(size)]
        for i in range(n - 1, 0, -1):
            suffix.append(_maxplus_stage(suffix[-1], tables[i], m, k_count)[0])
        suffix = suffix[::-1]  # suffix[i] covers VSPs i+1..n-1 (suffix[n-1] is empty)
        complement = np.array([int(np.ravel_multi_index(tuple(m - g), shape)) for g in grid])
        without = np.array([float(np.max(prefix[i] + suffix[i][complement])) for i in range(n)])
    return units, value, without
