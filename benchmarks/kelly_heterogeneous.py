"""Reproduce §IV-B of paper 001: heterogeneous dynamics in the repeated Kelly game, two ways.

    python -m benchmarks.kelly_heterogeneous [--rate F] [--runs 10] [--seed 0]
                                             [--json PATH] [--png PATH]

n = 10 identical bidders (``KellyGame-v0``: a = 100, gamma = 0, c = 400, eps = 1, delta = 0.1,
T = 3000). Agents 0..k-1 (a fraction p = k/10, k = 1..9) run algorithm A, the rest B, for the
pairs (BR, DAQ), (BR, OGD), (DAQ, OGD); OGD and DAQ use the fixed rate (``--rate F``, default) or
the time-varying one (``--rate V``), G = 1; ``--runs`` runs from random first bids per cell.

Every cell is played under two feedback models (``agents.no_regret.kelly.simulate``):

* ``faithful``: every rule is fed the real round (gradient and best response against all bids),
  as the paper describes the game;
* ``own_group``: the hybrid dynamics of the authors' public code, where each rule is fed the round
  of the game among its own group only (its gradient and best response ignore the other group's
  bids). Payoffs and residuals are the real market's in both.

The paper's §IV-B claims are checked per run against each model (verdicts below the tables):
(1) heterogeneous dynamics do not converge to the NE (final residual stays above 1e-5);
(2) with a BR majority (p = 0.9) the lone OGD / DAQ bidder oscillates persistently while BR bids
stay stable (std of the bid over the last 500 rounds: lone > 1 and > 10x the BR agents');
(3) BR's time-average payoff is above the NE's; (4) every time-average payoff stays close to the
NE's (the paper's numeric range is lost in the text extraction: we print the largest deviation);
(5) OGD and DAQ end below the NE's payoff when they are a minority (<= 30%), above as a majority
(>= 70%).
Payoffs are normalized with the env's ``payoff_range``. ``--json PATH`` is rewritten after each
finished cell; ``--png PATH`` writes the time-average payoff against p for both models, and
``<PATH stem>_trajectories.png`` the bids of one run at p = 0.5 and 0.9.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import auction_envs
from agents.no_regret import make_rule
from agents.no_regret.kelly import FEEDBACK_MODES, Group, simulate
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

ENV_ID = "auction_envs/KellyGame-v0"
PAIRS = (("BR", "DAQ"), ("BR", "OGD"), ("DAQ", "OGD"))
N, HORIZON, LATE = 10, 3000, 500
TOLERANCE = 1e-5
TRAJECTORY_FRACTIONS = (0.5, 0.9)


def rule_name(algorithm: str, rate: str) -> str:
    return algorithm if algorithm == "BR" else f"{algorithm}_{rate}"


def make_env(horizon: int | None = None):
    return auction_envs.make(ENV_ID, n_agents=N, max_cycles=HORIZON if horizon is None else horizon)


def ne_normalized_payoff(env) -> float:
    core = env.unwrapped.core
    equilibrium = core.equilibrium()
    return float(core.normalize(core.round(equilibrium)["payoff"]).mean())


def run_cell(env, first: str, second: str, k: int, rate: str, runs: int, seed: int,
             feedback: str) -> dict[str, np.ndarray]:
    """Agents ``0..k-1`` run ``first``, the others ``second``; per-run summaries."""
    horizon = env.unwrapped.max_cycles
    groups = [Group(make_rule(rule_name(first, rate), horizon=horizon), range(k), seed),
              Group(make_rule(rule_name(second, rate), horizon=horizon), range(k, N), seed + 1)]
    trajectory = simulate(groups, env, rounds=horizon, runs=runs, record_bids=True,
                          record_payoff=True, feedback=feedback)
    normalized = env.unwrapped.core.normalize(trajectory.payoff)  # (T, runs, n)
    late_std = trajectory.bids[-LATE:].std(axis=0)  # (runs, n)
    return {
        "payoff_A": normalized[:, :, :k].mean(axis=(0, 2)),
        "payoff_B": normalized[:, :, k:].mean(axis=(0, 2)),
        "late_bid_std_A": late_std[:, :k].mean(axis=1),
        "late_bid_std_B": late_std[:, k:].mean(axis=1),
        "final_residual": trajectory.residual[-1],
        "bids_run0": trajectory.bids[:, 0],
    }


def heterogeneous_cell(first: str, second: str, k: int, rate: str, runs: int, seed: int,
                       feedback: str, horizon: int, keep_bids: bool) -> dict[str, Any]:
    """One cell of the grid (a job of :func:`benchmarks.common.run_jobs`): :func:`run_cell` on a
    fresh env, as lists; the bids of run 0 only when ``keep_bids`` (the trajectory figure)."""
    cell = run_cell(make_env(horizon), first, second, k, rate, runs, seed, feedback)
    return {key: value.tolist() for key, value in cell.items()
            if key != "bids_run0" or keep_bids}


def reproduce(rate: str = "F", runs: int = 10, seed: int = 0,
              on_row: Callable[[dict], None] | None = None, show_progress: bool = False,
              pairs: tuple[tuple[str, str], ...] | None = None, ks: tuple[int, ...] | None = None,
              store: CellStore | None = None) -> tuple[list[dict], dict]:
    """One row per (feedback model, pair, k) with per-run lists, in grid order; ``on_row`` after
    each. ``pairs`` default :data:`PAIRS`, ``ks`` ``1..N-1``. With a ``store``
    (:func:`cell_store`), cells it holds are not run again."""
    pairs = PAIRS if pairs is None else pairs
    ks = tuple(range(1, N)) if ks is None else ks
    env = make_env()
    ne = ne_normalized_payoff(env)
    units = [(mode, first, second, k) for mode in FEEDBACK_MODES for first, second in pairs
             for k in ks]
    jobs = [(first, second, k, rate, runs, seed + 7919 * k, mode, HORIZON,
             k / N in TRAJECTORY_FRACTIONS and first == "BR") for mode, first, second, k in units]

    def row(index: int, cell: dict) -> dict:
        mode, first, second, k = units[index]
        return {"feedback": mode, "pair": f"{first}-{second}", "k": k, "fraction_A": k / N,
                "algorithm_A": rule_name(first, rate), "algorithm_B": rule_name(second, rate),
                "ne_normalized_payoff": ne,
                **{key: value for key, value in cell.items() if key != "bids_run0"}}

    cells = run_jobs(heterogeneous_cell, jobs, show_progress=show_progress, desc="cells",
                     store=store, on_result=None if on_row is None else
                     lambda index, cell: on_row(row(index, cell)))
    trajectories = {units[index]: np.asarray(cell["bids_run0"])
                    for index, cell in enumerate(cells) if "bids_run0" in cell}
    return [row(index, cell) for index, cell in enumerate(cells)], {
        "trajectories": trajectories, "ne_bid": float(env.unwrapped.equilibrium()[0]),
        "ne_normalized_payoff": ne}


def _mean(values: list[float]) -> float:
    return float(np.mean(values))


def table(rows: list[dict]) -> str:
    """Faithful and own-group dynamics side by side, per pair and fraction."""
    by_key = {(r["feedback"], r["pair"], r["k"]): r for r in rows}
    header = (f"{'pair':>8} {'p(A)':>4} | {'faithful: A':>11} {'B':>7} {'residual':>8} | "
              f"{'own group: A':>12} {'B':>7} {'residual':>8} {'bid std A':>9} {'B':>6}")
    lines = [f"time-average normalized payoff per group (mean over runs); NE "
             f"{rows[0]['ne_normalized_payoff']:.4f}; residual = median final ||BR(z)-z||; "
             f"bid std = over the last {LATE} rounds", header, "-" * len(header)]
    for pair in dict.fromkeys(r["pair"] for r in rows):
        for k in sorted({r["k"] for r in rows if r["pair"] == pair}):
            cells = []
            for mode in FEEDBACK_MODES:
                r = by_key.get((mode, pair, k))
                if r is None:
                    cells.append(" " * 28)
                    continue
                text = (f"{_mean(r['payoff_A']):>11.4f} {_mean(r['payoff_B']):>7.4f} "
                        f"{np.median(r['final_residual']):>8.1e}")
                if mode == "own_group":
                    text += (f" {_mean(r['late_bid_std_A']):>9.2f} "
                             f"{_mean(r['late_bid_std_B']):>6.2f}")
                cells.append(text)
            lines.append(f"{pair:>8} {k / N:>4.1f} | " + " | ".join(cells))
    return "\n".join(lines)


def verdicts(rows: list[dict]) -> list[dict]:
    """The paper's §IV-B claims checked per run under each feedback model."""
    results = []
    for mode in FEEDBACK_MODES:
        mine = [r for r in rows if r["feedback"] == mode]
        if not mine:
            continue
        ne = mine[0]["ne_normalized_payoff"]
        residuals = np.concatenate([r["final_residual"] for r in mine])
        unconverged = int(np.sum(residuals > TOLERANCE))
        lone = [r for r in mine if r["k"] == N - 1 and r["pair"].startswith("BR-")]
        lone_std = np.concatenate([r["late_bid_std_B"] for r in lone])
        br_std = np.concatenate([r["late_bid_std_A"] for r in lone])
        oscillating = int(np.sum((lone_std > 1.0) & (lone_std > 10 * br_std)))
        br = [(r["k"], np.asarray(r["payoff_A"])) for r in mine if r["pair"].startswith("BR-")]
        br_above = sum(int(np.sum(values > ne)) for _, values in br)
        br_total = sum(values.size for _, values in br)
        br_above_k2 = sum(int(np.sum(values > ne)) for k, values in br if k >= 2)
        br_total_k2 = sum(values.size for k, values in br if k >= 2)
        minority_below = majority_above = minority_total = majority_total = 0
        for r in mine:  # gradient groups: below the NE as a minority, above as a majority
            for group, fraction in (("A", r["k"] / N), ("B", 1 - r["k"] / N)):
                if r[f"algorithm_{group}"] == "BR":
                    continue
                values = np.asarray(r[f"payoff_{group}"])
                if fraction <= 0.3 + 1e-9:
                    minority_below += int(np.sum(values < ne))
                    minority_total += values.size
                elif fraction >= 0.7 - 1e-9:
                    majority_above += int(np.sum(values > ne))
                    majority_total += values.size
        payoffs = np.concatenate([np.r_[r["payoff_A"], r["payoff_B"]] for r in mine])
        results += [
            {"feedback": mode, "claim": "(1) no convergence to the NE (residual > 1e-5)",
             "holds": unconverged > residuals.size // 2,
             "evidence": f"{unconverged}/{residuals.size} runs end with residual > 1e-5 "
                         f"(median {np.median(residuals):.1e})"},
            {"feedback": mode, "claim": "(2) lone gradient bidder oscillates, BR stable (p=0.9)",
             "holds": oscillating > lone_std.size // 2,
             "evidence": f"{oscillating}/{lone_std.size} runs; lone bid std "
                         f"{lone_std.mean():.2f} vs BR {br_std.mean():.2e}"},
            {"feedback": mode, "claim": "(3) BR time-average payoff above the NE's",
             "holds": br_above > br_total // 2,
             "evidence": f"{br_above}/{br_total} (run, p) cells above; "
                         f"{br_above_k2}/{br_total_k2} for p >= 0.2"},
            {"feedback": mode, "claim": "(5) OGD/DAQ below the NE as minority, above as majority",
             "holds": (minority_below > minority_total // 2
                       and majority_above > majority_total // 2),
             "evidence": f"minority (<= 30%) below: {minority_below}/{minority_total}; "
                         f"majority (>= 70%) above: {majority_above}/{majority_total}"},
            {"feedback": mode, "claim": "(4) time-average payoffs close to the NE's",
             "holds": None,
             "evidence": f"range [{payoffs.min():.4f}, {payoffs.max():.4f}] vs NE {ne:.4f} "
                         f"(largest deviation {np.abs(payoffs - ne).max():.4f})"},
        ]
    return results


def verdict_table(results: list[dict]) -> str:
    lines = ["paper §IV-B claim, per feedback model (counts are paired runs)"]
    for result in results:
        mark = {True: "holds", False: "fails", None: "  -  "}[result["holds"]]
        lines.append(f"  {result['feedback']:>9}  {mark}  {result['claim']:<55} {result['evidence']}")
    return "\n".join(lines)


def plot(rows: list[dict], extra: dict, path: str, rate: str) -> list[Path]:
    plt = plt_agg()
    ne = extra["ne_normalized_payoff"]
    fig, axes = plt.subplots(len(FEEDBACK_MODES), len(PAIRS), figsize=(13, 7), sharey=True,
                             squeeze=False)
    for i, mode in enumerate(FEEDBACK_MODES):
        for j, (first, second) in enumerate(PAIRS):
            ax = axes[i, j]
            cells = sorted((r for r in rows if r["feedback"] == mode
                            and r["pair"] == f"{first}-{second}"), key=lambda r: r["k"])
            if not cells:
                continue
            fractions = [r["fraction_A"] for r in cells]
            for group, name in (("A", rule_name(first, rate)), ("B", rule_name(second, rate))):
                ax.plot(fractions, [_mean(r[f"payoff_{group}"]) for r in cells], "o-", label=name)
            ax.axhline(ne, color="k", ls="--", lw=0.8, label="NE")
            ax.set_title(f"{mode}: {rule_name(first, rate)} / {rule_name(second, rate)}")
            ax.set_xlabel(f"fraction using {rule_name(first, rate)}")
            ax.legend(fontsize=8)
        axes[i, 0].set_ylabel("time-average normalized payoff")
    first_path = save_figure(fig, path)
    written = [first_path]
    trajectories = extra["trajectories"]
    if trajectories:
        keys = sorted(trajectories)
        fig, axes = plt.subplots(len(FEEDBACK_MODES), len(TRAJECTORY_FRACTIONS) * 2,
                                 figsize=(16, 6.5), sharex=True, squeeze=False)
        for i, mode in enumerate(FEEDBACK_MODES):
            column = 0
            for first, second in PAIRS[:2]:
                for fraction in TRAJECTORY_FRACTIONS:
                    k = round(fraction * N)
                    key = (mode, first, second, k)
                    ax = axes[i, column]
                    column += 1
                    if key not in keys:
                        continue
                    bids = trajectories[key]
                    ax.plot(bids[:, 0], lw=0.8, label=f"{first} (agent 0)")
                    ax.plot(bids[:, -1], lw=0.8, label=f"{rule_name(second, rate)} (agent {N - 1})")
                    ax.axhline(extra["ne_bid"], color="k", ls="--", lw=0.8, label="NE bid")
                    ax.set_xscale("log")
                    ax.set_title(f"{mode}: p={fraction:.1f} {first}, rest {rule_name(second, rate)}",
                                 fontsize=9)
            axes[i, 0].set_ylabel("bid")
            drawn = [ax for ax in axes[i] if ax.lines]
            if drawn:
                drawn[0].legend(fontsize=7)
        for ax in axes[-1]:
            ax.set_xlabel("round")
        second_path = Path(path).with_name(Path(path).stem + "_trajectories.png")
        written.append(save_figure(fig, second_path))
    return written


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__, "python -m benchmarks.kelly_heterogeneous")
    parser.add_argument("--rate", choices=("F", "V"), default="F",
                        help="step rule of OGD and DAQ: F fixed, V time-varying (default F)")
    parser.add_argument("--runs", type=int, default=10,
                        help="runs per cell from random first bids (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    add_output_arguments(parser, png=True,
                         json_help="write rows (per-run values) and verdicts as JSON to PATH "
                                   "(after each cell)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    results = IncrementalResults(args.json, {"command": "python -m benchmarks.kelly_heterogeneous "
                                             f"--rate {args.rate} --runs {args.runs} "
                                             f"--seed {args.seed}", "rows": []})
    start = time.perf_counter()
    rows, extra = reproduce(args.rate, args.runs, args.seed,
                            on_row=lambda row: results.add(row, key="rows"),
                            show_progress=not args.no_progress,
                            store=cell_store(args))  # a rerun with the same --json resumes
    results.update(rows=rows)  # in grid order, whichever cells came from the store
    checks = verdicts(rows)
    results.update(verdicts=checks)
    print(f"§IV-B heterogeneous dynamics, n = {N}, {args.runs} runs per cell, rate {args.rate}\n")
    print(table(rows))
    print()
    print(verdict_table(checks))
    if args.png:
        for path in plot(rows, extra, args.png, args.rate):
            print(f"plot: {path}")
    print(f"wall time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
