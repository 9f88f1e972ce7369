"""Reproduce Table I of paper 001 (iterations to reach the Kelly game's Nash equilibrium).

    python -m benchmarks.kelly_table1 [--runs 100] [--seed 0] [--json table1.json] [--png PATH]

Paper claim reproduced: best response (BR) reaches the Nash equilibrium in a handful of iterations,
the no-regret rules (OGD, DAQ, RRM) take tens to thousands, and DAQ_V never gets there within T;
the table prints each cell as ours / paper's. The JSON (the six paper columns) is rewritten after
each finished cell, so an interrupted run keeps the finished cells.

Grid: n in {2, 10, 20} x gamma in {0, 5, 10}; columns BR, OGD_V, OGD_F, DAQ_F, DAQ_V, RRM_V;
c = 400, eps = 1, delta = 0.1, a = 100, T = 3000, G = 1 (MARKETS.md §1). Each run starts from bids
drawn i.i.d. U[eps, c]; a run's count is the first round t (t = 0: the initial bids, so t = number of
updates made) whose fixed-point residual ``||BR(z_t) - z_t||`` is <= 1e-5; a cell is the mean over
the runs that converged, '–' if none did. All runs of a cell are simulated at once
(``agents.no_regret.kelly.simulate``), with the same rules that drive ``KellyGame-v0``.

The extra column ``OGD_V(G=.5)`` (printed, not in the JSON) runs OGD_V with twice the specified step,
``eta_t = D / (G sqrt t)``; a block below the table compares both steps with the paper's OGD_V cell
by cell: neither step fits every cell (the doubled one fits the gamma > 0 cells, the specified one
the gamma = 0 cells), so the table keeps the specified step and prints both.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

import auction_envs
from agents.no_regret import make_rule
from agents.no_regret.kelly import Group, simulate
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

ALGORITHMS = ("BR", "OGD_V", "OGD_F", "DAQ_F", "DAQ_V", "RRM_V")
NS = (2, 10, 20)
GAMMAS = (0, 5, 10)
ENV_ID = "auction_envs/KellyGame-v0"  # c = 400, eps = 1, delta = 0.1, a = 100; n, gamma per cell
HORIZON, TOLERANCE = 3000, 1e-5

#: Table I of paper 001 (file 001_*.txt, lines 207-216), (gamma, n) -> the six columns; None = '–'.
PAPER = {
    (0, 2): (15, 37, 122, 195, None, 1682),
    (0, 10): (7, 19, 240, 311, None, 2291),
    (0, 20): (6, 20, 252, 330, None, 2361),
    (5, 2): (15, 111, 127, 184, None, 504),
    (5, 10): (7, 40, 206, 274, None, 2182),
    (5, 20): (6, 1811, 221, 289, None, 2220),
    (10, 2): (15, 116, 117, 184, None, 498),
    (10, 10): (8, 533, 185, 253, None, 1604),
    (10, 20): (8, 533, 194, 259, None, 2062),
}


def cell(algorithm: str, n: int, gamma: float, runs: int, seed: int, G: float = 1.0,
         horizon: int = HORIZON) -> dict[str, float | int | None]:
    """Mean iterations to residual <= 1e-5 over the converged runs, plus spread and count."""
    rule = make_rule(algorithm, G=G, horizon=horizon)
    env = auction_envs.make(ENV_ID, n_agents=n, gamma=float(gamma), max_cycles=horizon)
    trajectory = simulate([Group(rule, range(n), seed)], env, rounds=horizon, runs=runs)
    first = trajectory.first_below(TOLERANCE)
    converged = first[~np.isnan(first)]
    return {
        "iterations": float(converged.mean()) if converged.size else None,
        "std": float(converged.std()) if converged.size else None,
        "converged": int(converged.size),
        "runs": runs,
        "final_residual_median": float(np.median(trajectory.residual[-1])),
    }


def reproduce(runs: int = 100, seed: int = 0, extra: bool = True,
              on_row: Callable[[dict], None] | None = None, show_progress: bool = False,
              store: CellStore | None = None) -> list[dict]:
    """Every cell of the grid (one seed per cell, derived from ``seed``), in grid order;
    ``on_row(row)`` is called as each cell finishes. With a ``store`` (:func:`cell_store`),
    cells it holds are taken from it and only the missing ones run."""
    columns = [*ALGORITHMS, "OGD_V(G=.5)"] if extra else list(ALGORITHMS)
    grid = [(gamma, n, algorithm) for gamma in GAMMAS for n in NS for algorithm in columns]
    jobs = []
    for gamma, n, algorithm in grid:
        name, G = ("OGD_V", 0.5) if algorithm == "OGD_V(G=.5)" else (algorithm, 1.0)
        k = columns.index(algorithm)
        cell_seed = int(np.random.SeedSequence([seed, gamma, n, k]).generate_state(1)[0])
        jobs.append((name, n, gamma, runs, cell_seed, G, HORIZON))

    def row(index: int, result: dict) -> dict:
        gamma, n, algorithm = grid[index]
        paper = PAPER[(gamma, n)][ALGORITHMS.index(jobs[index][0])]
        return {"gamma": gamma, "n": n, "algorithm": algorithm, **result,
                "paper": paper if algorithm in ALGORITHMS else PAPER[(gamma, n)][1]}

    results = run_jobs(cell, jobs, show_progress=show_progress, desc="cells", store=store,
                       on_result=None if on_row is None else
                       lambda index, result: on_row(row(index, result)))
    return [row(index, result) for index, result in enumerate(results)]


def _format(value: float | None) -> str:
    return "–" if value is None else (f"{value:.0f}" if value >= 100 else f"{value:.1f}")


def table(rows: list[dict]) -> str:
    """Our value / the paper's, per cell, with '*' where they differ by more than 25%."""
    columns = list(dict.fromkeys(row["algorithm"] for row in rows))
    header = f"{'gamma':>5} {'n':>3} | " + " | ".join(f"{c:>15}" for c in columns)
    lines = ["ours / paper (* = differ by more than 25%; '–' = no run reached 1e-5)", header,
             "-" * len(header)]
    for gamma in GAMMAS:
        for n in NS:
            cells = []
            for algorithm in columns:
                row = next(r for r in rows if (r["gamma"], r["n"], r["algorithm"])
                           == (gamma, n, algorithm))
                ours, paper = row["iterations"], row["paper"]
                differ = (ours is None) != (paper is None) or (
                    ours is not None and abs(ours - paper) > 0.25 * paper)
                text = f"{_format(ours)} / {_format(paper)}{'*' if differ else ' '}"
                cells.append(f"{text:>15}")
            lines.append(f"{gamma:>5} {n:>3} | " + " | ".join(cells))
    return "\n".join(lines)


def ogd_v_comparison(rows: list[dict]) -> str:
    """The paper's OGD_V cells beside OGD_V with the specified and with the doubled step."""
    lines = ["OGD_V: paper vs the specified step D/(2 G sqrt t) and the doubled step D/(G sqrt t)",
             f"{'gamma':>5} {'n':>3} | {'paper':>6} | {'specified':>9} {'dev':>6} | "
             f"{'doubled':>9} {'dev':>6} | closer"]
    for gamma in GAMMAS:
        for n in NS:
            cell = {r["algorithm"]: r for r in rows if (r["gamma"], r["n"]) == (gamma, n)}
            if "OGD_V" not in cell or "OGD_V(G=.5)" not in cell:
                continue
            paper = cell["OGD_V"]["paper"]
            values = [cell["OGD_V"]["iterations"], cell["OGD_V(G=.5)"]["iterations"]]
            deviations = [None if v is None else (v - paper) / paper for v in values]
            text = [f"{_format(v):>9} {'–' if d is None else f'{100 * d:+.0f}%':>6}"
                    for v, d in zip(values, deviations)]
            known = [abs(d) if d is not None else np.inf for d in deviations]
            closer = ("specified", "doubled")[int(np.argmin(known))]
            lines.append(f"{gamma:>5} {n:>3} | {paper:>6} | {text[0]} | {text[1]} | {closer}")
    return "\n".join(lines)


def _record(row: dict) -> dict:
    """A row as the JSON has it (the six paper columns only, four fields)."""
    return {"gamma": row["gamma"], "n": row["n"], "algorithm": row["algorithm"],
            "iterations": row["iterations"]}


def plot(rows: list[dict], path: str) -> None:
    """Ours against the paper's per cell (log-log; on the diagonal = same as the paper)."""
    plt = plt_agg()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for algorithm in ALGORITHMS:
        points = [(r["paper"], r["iterations"]) for r in rows if r["algorithm"] == algorithm
                  and r["paper"] is not None and r["iterations"] is not None]
        if points:
            ax.loglog(*zip(*points), "o", label=algorithm)
    ax.loglog([3, 4000], [3, 4000], "k--", lw=0.8, label="same as paper")
    ax.set(xlabel="paper's Table I (iterations)", ylabel="ours (iterations)",
           title="Kelly game, Table I: iterations to the NE")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__, "python -m benchmarks.kelly_table1")
    parser.add_argument("--runs", type=int, default=100, help="runs per cell (default 100)")
    parser.add_argument("--seed", type=int, default=0,
                        help="master seed; each cell's seed is derived from it (default 0)")
    parser.add_argument("--details", action="store_true", help="also print spread per cell")
    add_output_arguments(parser, png=True,
                         json_help="write the six paper columns as JSON to PATH (after each cell)")
    args = parser.parse_args(argv)
    results = IncrementalResults(args.json, [])

    def save(row: dict) -> None:
        if row["algorithm"] in ALGORITHMS:
            results.add(_record(row))

    start = time.perf_counter()
    rows = reproduce(args.runs, args.seed, on_row=save, show_progress=not args.no_progress,
                     store=cell_store(args))  # a rerun with the same --json runs only missing cells
    # in grid order, whichever cells came from the store
    results.set([_record(row) for row in rows if row["algorithm"] in ALGORITHMS])
    elapsed = time.perf_counter() - start
    print(f"Table I of paper 001, {args.runs} runs per cell, T = {HORIZON}, G = 1\n")
    print(table(rows))
    print()
    print(ogd_v_comparison(rows))
    if args.details:
        print("\ncell: mean ± std over converged runs (converged/runs), median final residual")
        for row in rows:
            std = "" if row["std"] is None else f" ± {row['std']:.1f}"
            print(f"  gamma={row['gamma']:>2} n={row['n']:>2} {row['algorithm']:>11}: "
                  f"{_format(row['iterations'])}{std} ({row['converged']}/{row['runs']}), "
                  f"final residual {row['final_residual_median']:.2e}")
    print(f"\nwall time {elapsed:.1f} s")
    if args.png:
        plot(rows, args.png)
        print(f"plot: {args.png}")
    if args.json:
        print(f"json: {args.json}")


if __name__ == "__main__":
    main()
