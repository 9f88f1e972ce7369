"""Accuracy and speed of the exact slicing optimum against cvxpy, side by side in one run.

For N = 10..50, random instances of paper (39) (``beta ~ U(100, 200)``, ``xi ~ U(0, 10)``, K = 3)
are solved by our solver and by cvxpy. Reported per N: the largest relative welfare gap to cvxpy,
our largest KKT residual (:func:`slicing_kkt_residual`, both backends), median wall times, and
the **median of the per-instance time ratios** (cvxpy / ours), beside the project requirement
(gap <= 1e-6 and median ratio >= 100).

How it is timed (``time.perf_counter`` around each call, cvxpy's one-time import and numba's
one-time compilation excluded by an untimed warm-up solve of each):

* ours: one call ``slicing_welfare_optimum(beta, xi)`` (input checks included), with the default
  backend (numba-compiled when the ``fast`` extra is installed; the backend is reported) and, in
  its own column, with ``backend="numpy"``;
* cvxpy: building the problem for that instance (variable, objective, constraint, as a user would)
  and ``problem.solve()`` with cvxpy's default solver for this exponential-cone program (its name
  is reported; CLARABEL with cvxpy 1.9).
* **back to back** (the requirement's ratio): each solver runs all instances of one N in a row,
  as in use (a market round solves N + 1 programs); the blocks alternate per N, so load drift
  hits all solvers alike.
* **interleaved** (shown for information): each of our calls runs right after a cvxpy solve. The
  compiled solver then starts with cold CPU caches (cvxpy's Python evicts its code and data), which
  adds tens of microseconds per call; the column shows how much.

Paper claim checked: paper 002 solves the slicing welfare program (39) with a generic convex
solver; the project claims its exact optimum matches it (gap <= 1e-6) at least 100 times faster
(median ratio), which the table shows beside those thresholds.

``python -m benchmarks.iov_solver [--instances 20] [--seed 0] [--json PATH] [--png PATH]``
(the JSON is rewritten after each N, so an interrupted run keeps the finished sizes).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from auction_envs.oracles._slicing_kernel import compiled_kernel
from auction_envs.oracles.slicing import slicing_kkt_residual, slicing_welfare_optimum
from benchmarks.common import (
    CellStore,
    IncrementalResults,
    add_output_arguments,
    benchmark_parser,
    cell_store,
    plt_agg,
    run_jobs,
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


def _timed(solve: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = solve()
    return result, time.perf_counter() - start


def instances_of(sizes: tuple[int, ...], instances: int, seed: int
                 ) -> tuple[tuple[np.ndarray, np.ndarray], list[list[tuple[np.ndarray, np.ndarray]]]]:
    """The warm-up instance and, per entry of ``sizes``, its random instances: one generator
    drawn in that order, so every size's instances are the same whichever sizes are resumed."""
    rng = np.random.default_rng(seed)
    warm = (rng.uniform(100, 200, 5), rng.uniform(0, 10, (5, 3)))
    blocks = [[(rng.uniform(100, 200, n), rng.uniform(0, 10, (n, 3))) for _ in range(instances)]
              for n in sizes]
    return warm, blocks


_WARMED: list[bool] = []


def size_cell(index: int, sizes: tuple[int, ...], instances: int, seed: int) -> dict:
    """The row of ``sizes[index]`` (a job of :func:`benchmarks.common.run_jobs`)."""
    warm, blocks = instances_of(tuple(sizes), instances, seed)
    if not _WARMED:  # untimed, once per process: cvxpy's imports and setup, numba's compilation
        _cvxpy_solve(*warm)
        slicing_welfare_optimum(*warm)
        _WARMED.append(True)
    backend = "numba" if compiled_kernel() is not None else "numpy"
    n, problems = sizes[index], blocks[index]
    # back to back: one solver over all instances, then the next
    ours = [_timed(lambda p=p: slicing_welfare_optimum(*p)) for p in problems]
    plain = [_timed(lambda p=p: slicing_welfare_optimum(*p, backend="numpy")) for p in problems]
    theirs = [_timed(lambda p=p: _cvxpy_solve(*p)) for p in problems]
    # interleaved: each of our calls right after a cvxpy solve
    interleaved = []
    for p in problems:
        _timed(lambda p=p: _cvxpy_solve(*p))
        interleaved.append(_timed(lambda p=p: slicing_welfare_optimum(*p))[1])
    ours_t, plain_t = np.array([t for _, t in ours]), np.array([t for _, t in plain])
    theirs_t = np.array([t for _, t in theirs])
    gaps = [abs(value - welfare) / welfare
            for ((_, welfare), _), ((value, _), _) in zip(ours, theirs)]
    kkts = [slicing_kkt_residual(s, *p)["max"]
            for solved in (ours, plain) for ((s, _), _), p in zip(solved, problems)]
    speedup = float(np.median(theirs_t / ours_t))
    gap = float(np.max(gaps))
    return {"N": n, "instances": instances, "backend": backend,
            "cvxpy_solver": ",".join(sorted({solver for (_, solver), _ in theirs})),
            "max_rel_gap": gap, "max_kkt_residual": float(np.max(kkts)),
            "ours_median_us": 1e6 * float(np.median(ours_t)),
            "numpy_median_us": 1e6 * float(np.median(plain_t)),
            "cvxpy_median_ms": 1e3 * float(np.median(theirs_t)),
            "speedup_median": speedup,
            "speedup_numpy_median": float(np.median(theirs_t / plain_t)),
            "ours_interleaved_median_us": 1e6 * float(np.median(interleaved)),
            "speedup_interleaved_median": float(np.median(theirs_t / np.array(interleaved))),
            "meets_requirement": bool(gap <= REQUIRED_GAP and speedup >= REQUIRED_SPEEDUP)}


def run(sizes: tuple[int, ...] = (10, 20, 30, 40, 50), instances: int = 20,
        seed: int = 0, on_row: Callable[[dict], None] | None = None,
        show_progress: bool = False, store: CellStore | None = None) -> list[dict]:
    """One row per N with accuracy, median times and the median speed ratios (module docstring),
    in the order of ``sizes``; ``on_row(row)`` is called as each N finishes. With a ``store``
    (:func:`cell_store`), sizes it holds are not measured again."""
    jobs = [(index, list(sizes), instances, seed) for index in range(len(sizes))]
    return run_jobs(size_cell, jobs, show_progress=show_progress, desc="N", store=store,
                    on_result=None if on_row is None else lambda _, row: on_row(row))


def _table(rows: list[dict]) -> str:
    head = (f"{'N':>3} {'max rel gap':>11} {'max KKT':>8} {'ours us':>8} {'numpy us':>8} "
            f"{'cvxpy ms':>8} {'ratio':>7} {'numpy':>6} {'interl.':>7}  "
            f"requirement (gap <= {REQUIRED_GAP:g}, ratio >= {REQUIRED_SPEEDUP:g})")
    lines = [head]
    for r in rows:
        lines.append(f"{r['N']:>3} {r['max_rel_gap']:>11.2e} {r['max_kkt_residual']:>8.1e} "
                     f"{r['ours_median_us']:>8.1f} {r['numpy_median_us']:>8.1f} "
                     f"{r['cvxpy_median_ms']:>8.2f} {r['speedup_median']:>6.0f}x "
                     f"{r['speedup_numpy_median']:>5.0f}x {r['speedup_interleaved_median']:>6.0f}x  "
                     f"{'met' if r['meets_requirement'] else 'NOT met'}")
    lines.append(f"ours: backend {rows[0]['backend']}; cvxpy solver: "
                 f"{', '.join(sorted({r['cvxpy_solver'] for r in rows}))}; {rows[0]['instances']} "
                 "instances per N; ratios are medians of per-instance cvxpy/ours times, back to back "
                 "(ratio, numpy) and interleaved with cvxpy (interl.)")
    return "\n".join(lines)


def plot(rows: list[dict], path: str) -> None:
    """Median times of both solvers against N (log scale), and the median ratio with the target."""
    plt = plt_agg()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    sizes = [r["N"] for r in rows]
    axes[0].semilogy(sizes, [r["ours_median_us"] / 1e3 for r in rows], "o-",
                     label=f"ours ({rows[0]['backend']})")
    axes[0].semilogy(sizes, [r["numpy_median_us"] / 1e3 for r in rows], "^-", label="ours (numpy)")
    axes[0].semilogy(sizes, [r["cvxpy_median_ms"] for r in rows], "s-", label="cvxpy")
    axes[0].set(xlabel="N (VSPs)", ylabel="median wall time (ms)", title="time per instance")
    axes[0].legend()
    axes[1].semilogy(sizes, [r["speedup_median"] for r in rows], "o-", label="back to back")
    axes[1].semilogy(sizes, [r["speedup_interleaved_median"] for r in rows], "v-",
                     label="interleaved")
    axes[1].semilogy(sizes, [r["speedup_numpy_median"] for r in rows], "^-", label="numpy backend")
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
               show_progress=not args.no_progress,
               store=cell_store(args))  # a rerun with the same --json measures only missing N
    results.set(rows)  # in the order of --sizes, whichever came from the store
    print(_table(rows))
    if args.png:
        plot(rows, args.png)
        print(f"plot: {args.png}")
    if args.json:
        print(f"json: {args.json}")
    return rows


if __name__ == "__main__":
    main()
