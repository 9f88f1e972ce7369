"""Reproduce §IV-B of paper 001: heterogeneous dynamics in the repeated Kelly game.

    python -m benchmarks.kelly_heterogeneous [--rate F] [--runs 20] [--out results/kelly_het]
                                             [--json PATH]

Paper claim reproduced: whatever mixture of algorithms the bidders run, each group's time-average
payoff ends close to the Nash equilibrium's (the paper's §IV-B figures); the table prints both.
``--json PATH`` is rewritten after each (pair, fraction), so an interrupted run keeps them.

n = 10 identical bidders (a = 100, gamma = 0, c = 400, eps = 1, delta = 0.1, T = 3000). A fraction
p = k/10 (k = 1..9) of them runs algorithm A, the rest B, for the pairs (BR, DAQ), (BR, OGD),
(DAQ, OGD); OGD and DAQ use the fixed rate (``--rate F``, default) or the time-varying one
(``--rate V``), with G = 1. Reported per pair and fraction: each group's time-average normalized
payoff (averaged over its agents and over ``--runs`` runs from random first bids), beside the
Nash equilibrium's, and the median final residual. Figures (PNG, in ``--out``):

* ``trajectories_<A>_<B>.png``: bid and payoff of one agent of each group over time, for
  p in {0.1, 0.5, 0.9} (first run), the NE bid and payoff dashed;
* ``payoff_vs_fraction.png``: time-average normalized payoff of each group against p, per pair,
  the NE's as a horizontal line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from agents.no_regret import make_rule
from agents.no_regret.kelly import Group, kelly_valuations, simulate
from auction_envs.oracles.kelly import (
    kelly_best_response,
    kelly_nash_equilibrium,
    kelly_payoff,
    others_bid,
)
from benchmarks.common import (
    IncrementalResults,
    add_output_arguments,
    benchmark_parser,
    plt_agg,
    progress,
    save_figure,
)

PAIRS = (("BR", "DAQ"), ("BR", "OGD"), ("DAQ", "OGD"))
N, A, GAMMA, HORIZON = 10, 100.0, 0.0, 3000
GAME = {"c": 400.0, "eps": 1.0, "delta": 0.1}
FIGURE_FRACTIONS = (0.1, 0.5, 0.9)


def payoff_range(a: np.ndarray, c: float, eps: float, delta: float) -> tuple[float, float]:
    """``(phi_min, phi_max)`` of the paper's normalized payoff (MARKETS.md §1, as KellyGameEnv)."""
    n = a.size
    s_max, s_min = (n - 1) * c + delta, (n - 1) * eps + delta
    low = np.minimum(kelly_payoff(np.full(n, eps), s_max, a),
                     kelly_payoff(np.full(n, c), s_max, a)).min()
    best = kelly_best_response(np.full(n, s_min), a, eps, c)
    return float(low), float(kelly_payoff(best, s_min, a).max())


def rule_name(algorithm: str, rate: str) -> str:
    return algorithm if algorithm == "BR" else f"{algorithm}_{rate}"


def run_mixture(first: str, second: str, k: int, rate: str, runs: int, seed: int):
    """Agents ``0..k-1`` run ``first``, the others ``second``; returns the trajectory."""
    a = kelly_valuations(N, A, GAMMA)
    groups = [Group(make_rule(rule_name(first, rate), horizon=HORIZON), range(k), seed),
              Group(make_rule(rule_name(second, rate), horizon=HORIZON), range(k, N), seed + 1)]
    return simulate(groups, a, rounds=HORIZON, runs=runs, record_bids=True, record_payoff=True,
                    **GAME)


def reproduce(rate: str = "F", runs: int = 20, seed: int = 0,
              on_rows: Callable[[list[dict]], None] | None = None,
              show_progress: bool = False) -> tuple[list[dict], dict]:
    """Rows per pair, fraction and group; ``on_rows(new_rows)`` after each (pair, fraction)."""
    a = kelly_valuations(N, A, GAMMA)
    low, high = payoff_range(a, **GAME)
    equilibrium = kelly_nash_equilibrium(a, GAME["c"], GAME["eps"], GAME["delta"])
    ne_payoff = kelly_payoff(equilibrium, others_bid(equilibrium, GAME["delta"]), a)
    ne_normalized = float(((ne_payoff - low) / (high - low)).mean())
    rows, trajectories = [], {}
    units = [(first, second, k) for first, second in PAIRS for k in range(1, N)]
    for first, second, k in progress(units, desc="mixtures", enabled=show_progress):
        trajectory = run_mixture(first, second, k, rate, runs, seed + 7919 * k)
        normalized = (trajectory.payoff - low) / (high - low)  # (T, runs, n)
        for group, algorithm, agents in (("A", first, slice(0, k)), ("B", second, slice(k, N))):
            rows.append({
                "pair": f"{first}-{second}", "fraction_A": k / N, "group": group,
                "algorithm": rule_name(algorithm, rate),
                "time_average_normalized_payoff": float(normalized[:, :, agents].mean()),
                "spread_over_runs": float(normalized[:, :, agents].mean(axis=(0, 2)).std()),
                "ne_normalized_payoff": ne_normalized,
                "final_residual_median": float(np.median(trajectory.residual[-1])),
            })
        if on_rows is not None:
            on_rows(rows[-2:])
        if k / N in FIGURE_FRACTIONS:
            trajectories[(first, second, k)] = (trajectory.bids[:, 0], trajectory.payoff[:, 0])
    reference = {"ne_bid": float(equilibrium[0]), "ne_payoff": float(ne_payoff[0]),
                 "ne_normalized_payoff": ne_normalized}
    return rows, {"trajectories": trajectories, **reference}


def table(rows: list[dict]) -> str:
    lines = [f"{'pair':>8} {'p(A)':>5} | {'A: algorithm':>12} {'payoff':>7} | "
             f"{'B: algorithm':>12} {'payoff':>7} | {'NE':>6} | residual"]
    for index in range(0, len(rows), 2):
        x, y = rows[index], rows[index + 1]
        lines.append(f"{x['pair']:>8} {x['fraction_A']:>5.1f} | {x['algorithm']:>12} "
                     f"{x['time_average_normalized_payoff']:>7.4f} | {y['algorithm']:>12} "
                     f"{y['time_average_normalized_payoff']:>7.4f} | {x['ne_normalized_payoff']:>6.4f}"
                     f" | {x['final_residual_median']:.1e}")
    return "\n".join(lines)


def plot(rows: list[dict], extra: dict, out: Path, rate: str) -> list[Path]:
    plt = plt_agg()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for first, second in PAIRS:
        fig, axes = plt.subplots(2, len(FIGURE_FRACTIONS), figsize=(13, 6.5), sharex=True)
        for column, fraction in enumerate(FIGURE_FRACTIONS):
            k = round(fraction * N)
            bids, payoffs = extra["trajectories"][(first, second, k)]
            for row, (series, reference, label) in enumerate(
                    ((bids, extra["ne_bid"], "bid"), (payoffs, extra["ne_payoff"], "payoff"))):
                ax = axes[row, column]
                ax.plot(series[:, 0], lw=0.8, label=f"{rule_name(first, rate)} (agent 0)")
                ax.plot(series[:, -1], lw=0.8, label=f"{rule_name(second, rate)} (agent {N - 1})")
                ax.axhline(reference, color="k", ls="--", lw=0.8, label="NE")
                ax.set_xscale("log")
                if label == "payoff":
                    ax.set_ylim(reference - 40, reference + 15)
                    ax.set_xlabel("round")
                else:
                    ax.set_title(f"p = {fraction:.1f} use {rule_name(first, rate)}")
                ax.set_ylabel(label)
        axes[0, 0].legend(fontsize=8)
        path = out / f"trajectories_{first}_{second}.png"
        save_figure(fig, path)
        written.append(path)
    fig, axes = plt.subplots(1, len(PAIRS), figsize=(13, 3.8), sharey=True)
    for ax, (first, second) in zip(axes, PAIRS):
        pair = [r for r in rows if r["pair"] == f"{first}-{second}"]
        for group in ("A", "B"):
            points = [r for r in pair if r["group"] == group]
            ax.plot([r["fraction_A"] for r in points],
                    [r["time_average_normalized_payoff"] for r in points], "o-",
                    label=points[0]["algorithm"])
        ax.axhline(extra["ne_normalized_payoff"], color="k", ls="--", lw=0.8, label="NE")
        ax.set_xlabel(f"fraction using {rule_name(first, rate)}")
        ax.set_title(f"{rule_name(first, rate)} / {rule_name(second, rate)}")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("time-average normalized payoff")
    path = out / "payoff_vs_fraction.png"
    save_figure(fig, path)
    written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__, "python -m benchmarks.kelly_heterogeneous")
    parser.add_argument("--rate", choices=("F", "V"), default="F",
                        help="step rule of OGD and DAQ: F fixed, V time-varying (default F)")
    parser.add_argument("--runs", type=int, default=20,
                        help="runs per (pair, fraction) from random first bids (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    parser.add_argument("--out", default="results/kelly_heterogeneous",
                        help="folder for the PNGs (default results/kelly_heterogeneous)")
    parser.add_argument("--no-plots", action="store_true", help="write no PNGs")
    add_output_arguments(parser, json_help="write the rows as JSON to PATH (after each pair and "
                                           "fraction)")
    args = parser.parse_args(argv)
    results = IncrementalResults(args.json, [])
    start = time.perf_counter()
    rows, extra = reproduce(args.rate, args.runs, args.seed,
                            on_rows=lambda new: results.set(results.payload + new),
                            show_progress=not args.no_progress)
    print(f"§IV-B heterogeneous dynamics, n = {N}, gamma = {GAMMA:g}, {args.runs} runs, "
          f"rate {args.rate}; time-average normalized payoff per group\n")
    print(table(rows))
    if not args.no_plots:
        for path in plot(rows, extra, Path(args.out), args.rate):
            print(f"wrote {path}")
    print(f"wall time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
