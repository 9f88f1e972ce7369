"""Accuracy and speed of the exact slicing optimum against cvxpy, side by side in one run.

For N = 10..50, random instances of paper (39) (``beta ~ U(100, 200)``, ``xi ~ U(0, 10)``, K = 3)
are solved by both solvers, one instance after the other, so that machine load hits both alike.
Reported per N: the largest relative welfare gap to cvxpy, our largest KKT residual
(:func:`slicing_kkt_residual`), the median wall time of each side and the **median of the
per-instance time ratios** (cvxpy / ours), beside the project requirement (gap <= 1e-6 and median
ratio >= 100).

What is timed (``time.perf_counter`` around each call):

* ours: one call ``slicing_welfare_optimum(beta, xi)`` (input checks included);
* cvxpy: building the problem for that instance (variable, objective, constraint, as a user would)
  and ``problem.solve()`` with cvxpy's default solver for this exponential-cone program (its name
  is reported; CLARABEL with cvxpy 1.9). cvxpy's one-time import is excluded: one untimed warm-up
  solve runs before the measurements.

Paper claim checked: paper 002 solves the slicing welfare program (39) with a generic convex
solver; the project claims its closed-form optimum matches it (gap <= 1e-6) at least 100 times
faster (median ratio), which the table shows beside those thresholds.

``python -m benchmarks.iov_solver [--instances 20] [--seed 0] [--json PATH] [--png PATH]``
(the JSON is rewritten after each N, so an interrupted run keeps the finished sizes).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from auction_envs.oracles.slicing import slicing_kkt_residual, slicing_welfare_optimum
from benchmarks.common import (
    IncrementalResults,
    add_output_arguments,
    benchmark_parser,
    plt_agg,
    progress,
    save_figure,
)

REQUIRED_GAP = 1e-6
REQUIRED_SPEEDUP = 100.0


def _cvxpy_solve(beta: np.ndarray, xi: np.ndarray) -> tuple[float, str]:
    """Build and solve the welfare program with cvxpy's default solver: ``(value, solver name)``."""
    import cvxpy as cp

    s = cp.Variable(xi.shape, nonneg=True)
    z = cp.sum(cp.multiply(xi, s), axis=1)
    problem = cp.Problem(cp.Maximize(cp.sum(cp.multiply(beta, 1 - cp.exp(-z)))),
                         [cp.sum(s, axis=0) <= 1])
    problem.solve()
    return float(problem.value), problem.solver_stats.solver_name


def run(sizes: tuple[int, ...] = (10, 20, 30, 40, 50), instances: int = 20,
        seed: int = 0, on_row: Callable[[dict], None] | None = None,
        show_progress: bool = False) -> list[dict]:
    """One row per N with accuracy, median times and the median speed ratio (module docstring);
    ``on_row(row)`` is called as each N finishes."""
    rng = np.random.default_rng(seed)
    warm_beta, warm_xi = rng.uniform(100, 200, 5), rng.uniform(0, 10, (5, 3))
    _cvxpy_solve(warm_beta, warm_xi)  # untimed: imports and cvxpy's one-time setup
    slicing_welfare_optimum(warm_beta, warm_xi)
    rows = []
    for n in progress(sizes, desc="N", enabled=show_progress):
        gaps, kkts, ours, theirs, solvers = [], [], [], [], set()
        for _ in range(instances):
            beta, xi = rng.uniform(100, 200, n), rng.uniform(0, 10, (n, 3))
            t = time.perf_counter()
            s, welfare = slicing_welfare_optimum(beta, xi)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            value, solver = _cvxpy_solve(beta, xi)
            theirs.append(time.perf_counter() - t)
            solvers.add(solver)
            gaps.append(abs(value - welfare) / welfare)
            kkts.append(slicing_kkt_residual(s, beta, xi)["max"])
        speedup = float(np.median(np.array(theirs) / np.array(ours)))
        gap = float(np.max(gaps))
        rows.append({"N": n, "instances": instances, "cvxpy_solver": ",".join(sorted(solvers)),
                     "max_rel_gap": gap, "max_kkt_residual": float(np.max(kkts)),
                     "ours_median_ms": 1e3 * float(np.median(ours)),
                     "cvxpy_median_ms": 1e3 * float(np.median(theirs)),
                     "speedup_median": speedup,
                     "meets_requirement": bool(gap <= REQUIRED_GAP and speedup >= REQUIRED_SPEEDUP)})
        if on_row is not None:
            on_row(rows[-1])
    return rows


def _table(rows: list[dict]) -> str:
    head = (f"{'N':>3} {'max rel gap':>12} {'max KKT':>9} {'ours ms':>8} {'cvxpy ms':>9} "
            f"{'median ratio':>12}  requirement (gap <= {REQUIRED_GAP:g}, ratio >= {REQUIRED_SPEEDUP:g})")
    lines = [head]
    for r in rows:
        lines.append(f"{r['N']:>3} {r['max_rel_gap']:>12.2e} {r['max_kkt_residual']:>9.1e} "
                     f"{r['ours_median_ms']:>8.3f} {r['cvxpy_median_ms']:>9.2f} "
                     f"{r['speedup_median']:>11.1f}x  {'met' if r['meets_requirement'] else 'NOT met'}")
    lines.append(f"cvxpy solver: {', '.join(sorted({r['cvxpy_solver'] for r in rows}))}; "
                 f"{rows[0]['instances']} instances per N")
    return "\n".join(lines)


def plot(rows: list[dict], path: str) -> None:
    """Median times of both solvers against N (log scale), and the median ratio with the target."""
    plt = plt_agg()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    sizes = [r["N"] for r in rows]
    axes[0].semilogy(sizes, [r["ours_median_ms"] for r in rows], "o-", label="ours (exact)")
    axes[0].semilogy(sizes, [r["cvxpy_median_ms"] for r in rows], "s-", label="cvxpy")
    axes[0].set(xlabel="N (VSPs)", ylabel="median wall time (ms)", title="time per instance")
    axes[0].legend()
    axes[1].plot(sizes, [r["speedup_median"] for r in rows], "o-", label="median ratio cvxpy/ours")
    axes[1].axhline(REQUIRED_SPEEDUP, color="k", ls="--", lw=0.8, label="requirement")
    axes[1].set(xlabel="N (VSPs)", ylabel="speed ratio", title="speed-up")
    axes[1].legend()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = benchmark_parser(__doc__, "python -m benchmarks.iov_solver")
    parser.add_argument("--instances", type=int, default=20,
                        help="random instances per N (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the instance generator")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 30, 40, 50],
                        help="the N (number of VSPs) to test (default 10 20 30 40 50)")
    add_output_arguments(parser, png=True,
                         json_help="write the rows (one per N) as JSON to PATH, after each N")
    args = parser.parse_args(argv)
    results = IncrementalResults(args.json, [])
    rows = run(tuple(args.sizes), instances=args.instances, seed=args.seed, on_row=results.add,
               show_progress=not args.no_progress)
    print(_table(rows))
    if args.png:
        plot(rows, args.png)
        print(f"plot: {args.png}")
    if args.json:
        print(f"json: {args.json}")
    return rows


if __name__ == "__main__":
    main()
