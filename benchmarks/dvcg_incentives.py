"""DSIC and collusion with learned slicers (issue 15: "DSIC and collusion with learned bidders").

Paper 002 proves DVCG is DSIC, and collusion-proof, with the *optimal* allocation
(:mod:`benchmarks.iov_incentives` checks both with the exact allocator). With learned slicers the
allocation is the slicers' policy, whose input carries the VSPs' last bids, so a bid moves the
allocation the way the slicers learned, not the way the optimum would: the proof does not cover
it. Here the trained DVCG-MADDPG slicers of :mod:`benchmarks.reproduce_dvcg` (N = 10, the welfare
set-up: critic on the market state, gamma 0, truthful bidders in training; ``LEARNER_SETUP``) are
frozen and played greedily, and the VSPs bid:

* **unilateral**: VSP ``k`` bids ``c x*_k`` for every ``c`` of
  :data:`benchmarks.iov_incentives.FACTORS` (0.5..1.5), the others truthful (``x* = u(s*)``, the
  env's equilibrium); every VSP ``k`` in turn;
* **collusion**: VSPs 0 and 1 bid ``(c_0 x*_0, c_1 x*_1)`` over the grid
  :data:`benchmarks.iov_incentives.COLLUSION_GRID`, the others truthful.

Gain = the deviator's (coalition's summed) mean profit per round over one greedy episode of
``episode_rounds`` rounds (the slicers' start: the uniform split), minus the same with everyone
truthful, on the same market and episode seed (common random numbers: the same perturbation
draws), through :func:`benchmarks.iov_incentives._run`. Statistics over seeds (markets, each with
its own trained slicers): paired per seed; per ``c`` the mean gain and its 95% t-interval.
Verdicts (able to fail): "DSIC violated" when some misreport's gain has an interval above
``TOLERANCE`` (a gain on every seed, beyond noise), "no significant gain" otherwise; the largest
per-seed gain is printed beside it. The same for the coalition's best joint misreport (the grid
point with the largest mean gain; a max over 121 points is biased upward, so a significant gain
there is read with that in mind).

    python -m benchmarks.dvcg_incentives --json docs/results/dvcg_incentives.json \\
        --png docs/figures/dvcg_incentives.png
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from benchmarks.common import (
    IncrementalResults,
    add_output_arguments,
    benchmark_parser,
    cell_store,
    plt_agg,
    run_jobs,
    save_figure,
)
from benchmarks.iov_incentives import COLLUSION_GRID, FACTORS, TOLERANCE, _run
from benchmarks.reproduce_dvcg import (
    FULL,
    LEARNER_SETUP,
    mean_ci,
    slicer_actions,
    trained_slicers,
)

METHOD = "DVCG-MADDPG"
COALITION = (0, 1)


def scaled_bids(scales: dict[int, float]):
    """``bids_fn`` of :func:`benchmarks.iov_incentives._run`: the truthful bids with VSP ``k``'s
    multiplied by ``scales[k]``."""
    def bids_fn(t: int, truthful: np.ndarray) -> np.ndarray:
        bids = truthful.copy()
        for k, c in scales.items():
            bids[k] *= c
        return bids
    return bids_fn


def misreport_gains(env: Any, learner: Any, adapter: Any, rounds: int, seed: int,
                    factors: tuple[float, ...] = FACTORS,
                    grid: tuple[float, ...] = COLLUSION_GRID,
                    coalition: tuple[int, int] = COALITION) -> dict[str, Any]:
    """With the slicers of ``learner`` frozen (greedy), each VSP's mean-profit gain over
    truthful for every unilateral bid scale (``unilateral[k][j]``: VSP ``k``, ``factors[j]``)
    and the coalition's summed gain for every joint scale (``collusion[a][b]``: ``grid[a]`` for
    the first member, ``grid[b]`` for the second), on episode ``seed`` (common random numbers)."""
    base = env.unwrapped

    def slicers(observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return slicer_actions(learner, adapter, {a: observations[a] for a in base.slicers},
                              False)[1]

    def mean_profits(scales: dict[int, float]) -> np.ndarray:
        return _run(env, scaled_bids(scales), rounds, seed, slicers).mean(axis=0)

    truthful = mean_profits({})
    unilateral = [[float(mean_profits({k: c})[k] - truthful[k]) for c in factors]
                  for k in range(base.n_vsps)]
    members = list(coalition)
    collusion = [[float(mean_profits({coalition[0]: a, coalition[1]: b})[members].sum()
                        - truthful[members].sum()) for b in grid] for a in grid]
    return {"truthful_profit": truthful.tolist(), "unilateral": unilateral,
            "collusion": collusion}


def incentives_cell(n: int, seed: int, train_budget: dict[str, int],
                    factors: tuple[float, ...], grid: tuple[float, ...]) -> dict[str, Any]:
    """Train the DVCG-MADDPG slicers on market ``seed`` exactly as
    :func:`benchmarks.reproduce_dvcg.train_slicers` does (welfare reward), then measure the
    misreport gains on the greedy evaluation episode (seed ``10**6 + seed``)."""
    if train_budget.get("setup") != LEARNER_SETUP:
        raise ValueError(f"train_budget setup {train_budget.get('setup')} is not this code's "
                         f"LEARNER_SETUP {LEARNER_SETUP}")
    env, learner, adapter, trained = trained_slicers(METHOD, n, seed, "welfare", train_budget)
    started = time.process_time()
    gains = misreport_gains(env, learner, adapter, train_budget["episode_rounds"], 10**6 + seed,
                            factors, grid)
    return {**gains, "efficiency": trained["efficiency"], "train_seconds": trained["train_seconds"],
            "measure_cpu_s": time.process_time() - started}


def significant_gain(gains: Any) -> dict[str, Any]:
    """Per-seed gains of one misreport: mean, 95% t half-width, the largest seed's, and whether
    the interval lies above :data:`TOLERANCE` (a gain beyond noise; never with one seed)."""
    gains = np.asarray(gains, dtype=np.float64)
    mean, half = mean_ci(gains)
    return {"mean": mean, "half": half, "max_seed": float(gains.max()),
            "significant": bool(np.isfinite(half) and mean - half > TOLERANCE)}


def summarize(cells: list[dict[str, Any]], factors: tuple[float, ...],
              grid: tuple[float, ...]) -> dict[str, Any]:
    unilateral = np.array([c["unilateral"] for c in cells])  # [seeds, N, factors]
    collusion = np.array([c["collusion"] for c in cells])  # [seeds, grid, grid]
    per_factor = [significant_gain(unilateral[:, :, j].max(axis=1)) for j in range(len(factors))]
    per_vsp_factor = [[significant_gain(unilateral[:, k, j]) for j in range(len(factors))]
                      for k in range(unilateral.shape[1])]
    violations = [(k, factors[j]) for k, row in enumerate(per_vsp_factor)
                  for j, v in enumerate(row) if v["significant"]]
    mean_collusion = collusion.mean(axis=0)
    a, b = np.unravel_index(np.argmax(mean_collusion), mean_collusion.shape)
    best_joint = significant_gain(collusion[:, a, b])
    return {"seeds": len(cells), "factors": list(factors), "grid": list(grid),
            "efficiency": mean_ci([c["efficiency"] for c in cells]),
            "unilateral_mean": unilateral.mean(axis=0).tolist(),
            "unilateral_best_vsp": per_factor, "unilateral": per_vsp_factor,
            "dsic_violations": violations,
            "collusion_mean": mean_collusion.tolist(),
            "collusion_best": {"scales": [float(grid[a]), float(grid[b])], **best_joint},
            "collusion_max_seed": float(collusion.max())}


def print_report(summary: dict[str, Any], out: Any = None) -> None:
    out = sys.stdout if out is None else out
    factors = summary["factors"]
    print(f"Frozen DVCG-MADDPG slicers (greedy), N = {len(summary['unilateral'])}, "
          f"{summary['seeds']} seeds; their efficiency {summary['efficiency'][0]:.4f} ± "
          f"{summary['efficiency'][1]:.4f} of the optimum", file=out)
    print("\nUnilateral misreport c x*_k (others truthful): VSP k's mean-profit gain per round "
          "over truthful, mean over seeds (paired per seed)", file=out)
    print("  " + f"{'c':<10}" + "".join(f"{c:>8.1f}" for c in factors), file=out)
    for k, row in enumerate(summary["unilateral_mean"]):
        print("  " + f"{'VSP ' + str(k):<10}" + "".join(f"{g:>8.3f}" for g in row), file=out)
    best = summary["unilateral_best_vsp"]
    print("  " + f"{'best VSP':<10}" + "".join(f"{v['mean']:>8.3f}" for v in best)
          + "   (per seed the VSP that gains most: an upper envelope)", file=out)
    print("  " + f"{'  ± 95%':<10}" + "".join(f"{v['half']:>8.3f}" for v in best), file=out)
    c = summary["collusion_best"]
    print(f"\nCollusion of VSPs {COALITION}: best joint scales {c['scales']} (largest mean gain): "
          f"{c['mean']:.3f} ± {c['half']:.3f} per round; largest gain of any seed and grid point "
          f"{summary['collusion_max_seed']:.3f}", file=out)
    print("\nPaper 002's claims (proved for the optimal allocation) beside ours, learned slicers:",
          file=out)
    violations = summary["dsic_violations"]
    print("  - DSIC: no unilateral misreport gains over truthful -> "
          + ("holds here (no misreport of any VSP has a gain interval above 0)" if not violations
             else f"VIOLATED: significant gains for (VSP, c) {violations}"), file=out)
    print("  - collusion-proof: a coalition gains nothing by joint misreports -> "
          + ("VIOLATED (gain interval above 0 at the best grid point; a max over the grid, "
             "biased upward)" if c["significant"] else "holds here (no significant gain)"),
          file=out)


def plot(summary: dict[str, Any], path: str) -> None:
    plt = plt_agg()
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    factors = summary["factors"]
    for k, row in enumerate(summary["unilateral"]):
        axes[0].plot(factors, [v["mean"] for v in row], lw=0.8, alpha=0.7, label=f"VSP {k}")
    best = summary["unilateral_best_vsp"]
    axes[0].errorbar(factors, [v["mean"] for v in best], yerr=[np.nan_to_num(v["half"])
                                                              for v in best],
                     fmt="k-", lw=2, capsize=3, label="best VSP per seed (95% CI)")
    axes[0].axhline(0, color="grey", lw=0.8)
    axes[0].set(xlabel="bid / truthful bid (c)", ylabel="mean profit gain per round",
                title="unilateral misreports, frozen MADDPG slicers")
    axes[0].legend(fontsize=6, ncol=2)
    grid = summary["grid"]
    gain = np.array(summary["collusion_mean"])
    limit = float(np.abs(gain).max()) or 1.0
    image = axes[1].imshow(gain, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit,
                           extent=(grid[0], grid[-1], grid[0], grid[-1]))
    axes[1].set(xlabel=f"VSP {COALITION[1]} scale", ylabel=f"VSP {COALITION[0]} scale",
                title=f"coalition gain (mean over seeds), max {gain.max():.3g}")
    figure.colorbar(image, ax=axes[1])
    save_figure(figure, path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = benchmark_parser(__doc__, "python -m benchmarks.dvcg_incentives")
    parser.add_argument("--n", type=int, default=10, help="number of VSPs (default 10)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds (markets) (default 5)")
    parser.add_argument("--episodes", type=int, default=FULL.episodes,
                        help=f"training episodes of the slicers (default {FULL.episodes}, the "
                             "reproduction's full mode)")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--only-seeds", type=int, nargs="+", default=None,
                        help="run (or take from the store) only these of the seeds, in this "
                             "order: two processes can share one --json store, each on its "
                             "seeds; a final run without it reports every stored seed")
    add_output_arguments(parser, png=True)
    args = parser.parse_args(argv)
    if args.only_seeds is not None and not set(args.only_seeds) <= set(range(args.seeds)):
        parser.error(f"--only-seeds must be among 0..{args.seeds - 1}; got {args.only_seeds}")
    if not 2 <= args.n <= 50:
        parser.error(f"--n must be in 2..50; got {args.n}")
    for name in ("seeds", "episodes"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1; got {getattr(args, name)}")
    train_budget = {"episodes": args.episodes, "episode_rounds": FULL.episode_rounds,
                    "eval_every": FULL.eval_every, "tail": FULL.tail, "setup": LEARNER_SETUP}
    seeds = range(args.seeds) if args.only_seeds is None else args.only_seeds
    jobs = [(args.n, seed, train_budget, FACTORS, COLLUSION_GRID) for seed in seeds]
    results = IncrementalResults(args.json, {"n": args.n, "seeds": args.seeds,
                                             "train_budget": train_budget, "cells": []})
    started, cpu_started = time.perf_counter(), time.process_time()
    cells = run_jobs(incentives_cell, jobs, workers=args.workers,
                     on_result=lambda i, r: results.add({"seed": jobs[i][1], "result": r},
                                                        key="cells"),
                     show_progress=not args.no_progress, desc="incentive cells",
                     store=cell_store(args))
    summary = summarize(cells, FACTORS, COLLUSION_GRID)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    results.update(summary=summary, wall_seconds=elapsed, cpu_seconds=cpu)
    print_report(summary)
    print(f"\nrun time {elapsed:.0f} s wall, {cpu:.0f} s CPU of this process ({len(jobs)} cells, "
          f"--workers {args.workers}; cells resumed from --json cost nothing)")
    if args.png:
        plot(summary, args.png)
        print(f"figure: {args.png}")
    if args.json:
        print(f"json: {args.json}")
    return results.payload


if __name__ == "__main__":
    main()
