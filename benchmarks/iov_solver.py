"""Accuracy and speed of the exact slicing optimum against cvxpy (CLARABEL), side by side.

For N = 10..50, random instances of paper (39) (beta ~ U(100, 200), xi ~ U(0, 10)): the relative
welfare gap, our KKT residual, and the wall time of both solvers per instance (cvxpy: building and
solving the problem, as a user would; ours: one call). ``python -m benchmarks.iov_solver``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from auction_envs.oracles.slicing import slicing_kkt_residual, slicing_welfare_optimum


def _cvxpy_solve(beta: np.ndarray, xi: np.ndarray) -> float:
    import cvxpy as cp

    n = beta.size
    s = cp.Variable((n, xi.shape[1]), nonneg=True)
    z = cp.sum(cp.multiply(xi, s), axis=1)
    problem = cp.Problem(cp.Maximize(cp.sum(cp.multiply(beta, 1 - cp.exp(-z)))),
                         [cp.sum(s, axis=0) <= 1])
    problem.solve(solver="CLARABEL")
    return float(problem.value)


def run(sizes=(10, 20, 30, 40, 50), instances: int = 20, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        gaps, kkts, ours, theirs = [], [], [], []
        for _ in range(instances):
            beta, xi = rng.uniform(100, 200, n), rng.uniform(0, 10, (n, 3))
            t = time.perf_counter()
            s, welfare = slicing_welfare_optimum(beta, xi)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            value = _cvxpy_solve(beta, xi)
            theirs.append(time.perf_counter() - t)
            gaps.append(abs(value - welfare) / welfare)
            kkts.append(slicing_kkt_residual(s, beta, xi)["max"])
        rows.append({"N": n, "instances": instances, "max_rel_gap": float(np.max(gaps)),
                     "max_kkt_residual": float(np.max(kkts)),
                     "ours_median_ms": 1e3 * float(np.median(ours)),
                     "cvxpy_median_ms": 1e3 * float(np.median(theirs)),
                     "speedup_median": float(np.median(np.array(theirs) / np.array(ours)))})
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(run(instances=args.instances), indent=1))
