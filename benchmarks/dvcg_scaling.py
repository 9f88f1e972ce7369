"""Paper 002 claim (2), as a cost measure: training seconds per episode of the learned slicers vs N.

Paper 002 (MARKETS §3, issue 15) claims that mean-field learning (DVCG-MFMARL) converges faster
than MADDPG as the number of VSPs N grows. This benchmark measures the part of that claim that a
clock can settle without training to convergence: the **training cost per episode** (wall-clock
and CPU seconds of one training episode of ``episode_rounds`` rounds: acting, the env step, the
replay insert and one update round per round) of DVCG-MFMARL, DVCG-MARL and DVCG-MADDPG for
N = 10, 20, 30, 40, 50. It is the cost of an episode, not the time to converge: it says nothing
about how many episodes each learner needs (:mod:`benchmarks.reproduce_dvcg` measures that, at
N = 10 MADDPG learns and MF-AC stays at the uniform split).

Set-up: the learners of :func:`benchmarks.reproduce_dvcg._learner` (``LEARNER_SETUP``), the welfare
reward, truthful bidders, market ``instance_seed = seed``. One cell is one (N, seed): the three
learners are built on the same market and trained on the same episodes (episode seed
``seed * 10_000 + episode``, as in the reproduction), first ``warmup`` untimed episodes so that
every learner's replay buffer has passed ``learning_starts`` (MADDPG stores one row per round, the
mean-field learners one per slicer per round), then ``episodes`` timed episodes, *interleaved*
(episode e of every learner before episode e + 1 of any), so a change of load on a shared machine
falls on all three alike. The critic input sizes are read off the networks: the mean-field critic
sees one slicer's observation and the mean field (54 inputs whatever N; the independent learners'
critic the observation alone, 33), MADDPG's shared critic the market state, every slicer's action
and an agent id (8 N + 1: 81 at N = 10, 401 at N = 50).

Verdict per N, paired per seed: ``d = MADDPG - MFMARL`` seconds per episode (CPU, the measure on a
shared machine; wall printed beside), 95% t-interval over seeds; "holds" when its lower end is
above 0 (and "NOT shown" otherwise, e.g. at a small N where MADDPG's update is as cheap). "As N
grows": per seed, the least-squares slope of the ratio MADDPG / MFMARL against N; holds when the
t-interval of the slopes is above 0.

    python -m benchmarks.dvcg_scaling --json docs/results/dvcg_scaling.json \\
        --png docs/figures/dvcg_scaling.png
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import numpy as np

import auction_envs
from benchmarks.common import (
    IncrementalResults,
    add_output_arguments,
    benchmark_parser,
    cell_store,
    plt_agg,
    run_jobs,
    save_figure,
)
from benchmarks.reproduce_dvcg import ENV_ID, LEARNER_SETUP, _episode, _learner, mean_ci

METHODS = ("DVCG-MFMARL", "DVCG-MARL", "DVCG-MADDPG")
NS = (10, 20, 30, 40, 50)
EPISODE_ROUNDS = 30
TAIL = 10


def critic_input_size(learner: Any) -> int:
    """Inputs of the learner's (first) critic network: MF-AC's ``critic``, MADDPG's ``critics[0]``."""
    critic = learner.critic if hasattr(learner, "critic") else learner.critics[0]
    return int(critic[0].in_features)


def replay_rows_per_round(method: str, n: int) -> int:
    """Rows a learner stores per round: MADDPG one joint row, the mean-field learners one per slicer."""
    return 1 if method == "DVCG-MADDPG" else n


def warmup_episodes(learners: dict[str, Any], n: int, rounds: int) -> int:
    """Untimed episodes after which every learner updates from a timed episode's first round
    (its buffer holds ``learning_starts`` rows)."""
    return max(math.ceil(learner.config.learning_starts / (replay_rows_per_round(method, n) * rounds))
               for method, learner in learners.items())


def scaling_cell(n: int, seed: int, methods: tuple[str, ...], episode_rounds: int, episodes: int,
                 setup: int) -> dict[str, Any]:
    """One (N, seed): every method trained on the same market and episodes, the timed ones
    interleaved; per method the wall and CPU seconds of each timed episode and the critic input
    size. ``setup`` is :data:`~benchmarks.reproduce_dvcg.LEARNER_SETUP` (part of the cell key)."""
    import torch

    if setup != LEARNER_SETUP:
        raise ValueError(f"setup {setup} is not this code's LEARNER_SETUP {LEARNER_SETUP}")
    torch.set_num_threads(1)
    envs, learners, adapters = {}, {}, {}
    for method in methods:
        envs[method] = auction_envs.make(ENV_ID, n_vsps=n, instance_seed=seed,
                                         slicer_reward="welfare", max_cycles=episode_rounds)
        learners[method], adapters[method] = _learner(method, envs[method], n, seed, "welfare")
    warmup = warmup_episodes(learners, n, episode_rounds)
    out: dict[str, Any] = {"warmup": warmup}
    for method in methods:
        out[method] = {"wall_s": [], "cpu_s": [], "critic_input": critic_input_size(learners[method])}
    for episode in range(1, warmup + episodes + 1):
        for method in methods:
            wall, cpu = time.perf_counter(), time.process_time()
            _episode(envs[method], learners[method], adapters[method], "welfare",
                     seed * 10_000 + episode, True, True, TAIL)
            if episode > warmup:
                out[method]["wall_s"].append(time.perf_counter() - wall)
                out[method]["cpu_s"].append(time.process_time() - cpu)
    return out


def paired_faster(fast: Any, slow: Any) -> dict[str, Any]:
    """``slow - fast`` per seed: mean, 95% t half-width, and whether its interval is above 0
    (``holds``; never with fewer than 2 seeds)."""
    difference = np.asarray(slow, dtype=np.float64) - np.asarray(fast, dtype=np.float64)
    mean, half = mean_ci(difference)
    return {"difference": (mean, half), "holds": bool(np.isfinite(half) and mean - half > 0),
            "seeds_faster": int(np.sum(difference > 0)), "seeds": int(difference.size)}


def growing_ratio(ns: Any, ratios: Any) -> dict[str, Any]:
    """Per seed (rows of ``ratios`` ``[seeds, len(ns)]``) the least-squares slope of the ratio
    against N; mean, 95% t half-width, and whether the interval is above 0 (``holds``)."""
    ns = np.asarray(ns, dtype=np.float64)
    slopes = [np.polyfit(ns, row, 1)[0] for row in np.asarray(ratios, dtype=np.float64)]
    mean, half = mean_ci(slopes)
    return {"slope_per_vsp": (mean, half), "holds": bool(np.isfinite(half) and mean - half > 0)}


def summarize(cells: dict[tuple[int, int], Any], ns: tuple[int, ...], seeds: int,
              methods: tuple[str, ...]) -> dict[str, Any]:
    rows = []
    for n in ns:
        runs = [cells.get((n, s)) for s in range(seeds)]
        if any(r is None for r in runs):
            continue
        row: dict[str, Any] = {"n": n, "seeds": seeds}
        for method in methods:
            for clock in ("cpu_s", "wall_s"):
                row[f"{method} {clock}"] = mean_ci([np.mean(r[method][clock]) for r in runs])
            row[f"{method} critic input"] = runs[0][method]["critic_input"]
        if "DVCG-MFMARL" in methods and "DVCG-MADDPG" in methods:
            for clock in ("cpu_s", "wall_s"):
                row[f"MF < MADDPG {clock}"] = paired_faster(
                    [np.mean(r["DVCG-MFMARL"][clock]) for r in runs],
                    [np.mean(r["DVCG-MADDPG"][clock]) for r in runs])
            row["ratio MADDPG / MF (cpu)"] = [float(np.mean(r["DVCG-MADDPG"]["cpu_s"])
                                                    / np.mean(r["DVCG-MFMARL"]["cpu_s"]))
                                              for r in runs]
        rows.append(row)
    summary: dict[str, Any] = {"table": rows}
    with_ratio = [r for r in rows if "ratio MADDPG / MF (cpu)" in r]
    if len(with_ratio) >= 2:
        summary["ratio grows with N"] = growing_ratio(
            [r["n"] for r in with_ratio], np.array([r["ratio MADDPG / MF (cpu)"]
                                                    for r in with_ratio]).T)
    return summary


def print_report(summary: dict[str, Any], methods: tuple[str, ...], episodes: int,
                 out: Any = None) -> None:
    out = sys.stdout if out is None else out
    rows = summary["table"]
    print(f"Training cost per episode ({EPISODE_ROUNDS} rounds, one update round per round), "
          f"mean of {episodes} timed episodes per seed after the warm-up; mean ± 95% CI over "
          f"seeds. Cost per episode, NOT time to converge.", file=out)
    header = "  " + f"{'':<30}" + "".join(f"{'N=' + str(r['n']):>18}" for r in rows)
    for clock, label in (("cpu_s", "CPU s / episode"), ("wall_s", "wall s / episode")):
        print(f"\n{label}", file=out)
        print(header, file=out)
        for method in methods:
            print("  " + f"{method:<30}" + "".join(
                f"{r[f'{method} {clock}'][0]:>10.3f} ± {r[f'{method} {clock}'][1]:<5.3f}"
                for r in rows), file=out)
    print("\ncritic input size", file=out)
    print(header, file=out)
    for method in methods:
        print("  " + f"{method:<30}" + "".join(f"{r[f'{method} critic input']:>18}" for r in rows),
              file=out)
    if rows and "MF < MADDPG cpu_s" in rows[0]:
        print("\nClaim (paper 002): mean-field learning is faster than MADDPG as N grows; ours, "
              "per episode, paired per seed (MADDPG - MFMARL seconds):", file=out)
        for r in rows:
            for clock in ("cpu_s", "wall_s"):
                v = r[f"MF < MADDPG {clock}"]
                print(f"  N={r['n']:<3} {clock[:-2]:>4}: {v['difference'][0]:.3f} ± "
                      f"{v['difference'][1]:.3f} s, {v['seeds_faster']}/{v['seeds']} seeds MF "
                      f"faster -> {'holds' if v['holds'] else 'NOT shown'}", file=out)
        grows = summary.get("ratio grows with N")
        if grows:
            print(f"  ratio MADDPG / MFMARL (CPU) grows with N: slope {grows['slope_per_vsp'][0]:.4f}"
                  f" ± {grows['slope_per_vsp'][1]:.4f} per VSP -> "
                  f"{'holds' if grows['holds'] else 'NOT shown'}", file=out)


def plot(summary: dict[str, Any], methods: tuple[str, ...], path: str) -> None:
    plt = plt_agg()
    rows = summary["table"]
    figure, axes = plt.subplots(1, 3, figsize=(14, 4))
    ns = [r["n"] for r in rows]
    styles = {"DVCG-MFMARL": "o-", "DVCG-MARL": "^-", "DVCG-MADDPG": "s-"}
    for axis, clock, label in ((axes[0], "wall_s", "wall-clock"), (axes[1], "cpu_s", "CPU")):
        for method in methods:
            axis.errorbar(ns, [r[f"{method} {clock}"][0] for r in rows],
                          yerr=[np.nan_to_num(r[f"{method} {clock}"][1]) for r in rows],
                          fmt=styles.get(method, "x-"), capsize=3, label=method)
        axis.set(xlabel="N (VSPs)", ylabel=f"{label} seconds per training episode",
                 title=f"training cost per episode ({label}, 95% CI)", xticks=ns)
        axis.set_ylim(bottom=0)
        axis.legend(fontsize=8)
    for method in methods:
        axes[2].plot(ns, [r[f"{method} critic input"] for r in rows], styles.get(method, "x-"),
                     label=method)
    axes[2].set(xlabel="N (VSPs)", ylabel="critic input size", title="critic input size",
                xticks=ns)
    axes[2].legend(fontsize=8)
    figure.suptitle("DVCG learners: cost per training episode (not time to converge)")
    save_figure(figure, path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = benchmark_parser(__doc__, "python -m benchmarks.dvcg_scaling")
    parser.add_argument("--n", type=int, nargs="+", default=list(NS),
                        help="numbers of VSPs (default 10 20 30 40 50)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds (markets) per N (default 3)")
    parser.add_argument("--episodes", type=int, default=3,
                        help="timed training episodes per learner and seed (default 3)")
    parser.add_argument("--episode-rounds", type=int, default=EPISODE_ROUNDS,
                        help=f"rounds per episode (default {EPISODE_ROUNDS}, as the reproduction)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="learners to time (default: all three)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes (default 1: timings from parallel cells share the cores)")
    add_output_arguments(parser, png=True)
    args = parser.parse_args(argv)
    if min(args.n) < 2 or max(args.n) > 50:
        parser.error(f"--n values must be in 2..50; got {args.n}")
    for name in ("seeds", "episodes", "episode_rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    ns, methods = tuple(args.n), tuple(args.methods)
    jobs = [(n, seed, methods, args.episode_rounds, args.episodes, LEARNER_SETUP)
            for n in sorted(ns, reverse=True) for seed in range(args.seeds)]
    results = IncrementalResults(args.json, {"ns": ns, "seeds": args.seeds, "methods": methods,
                                             "episodes": args.episodes,
                                             "episode_rounds": args.episode_rounds,
                                             "setup": LEARNER_SETUP, "cells": []})
    cells: dict[tuple[int, int], Any] = {}

    def record(index: int, result: Any) -> None:
        n, seed = jobs[index][:2]
        cells[(n, seed)] = result
        results.add({"n": n, "seed": seed, "result": result}, key="cells")

    started, cpu_started = time.perf_counter(), time.process_time()
    run_jobs(scaling_cell, jobs, workers=args.workers, on_result=record,
             show_progress=not args.no_progress, desc="scaling cells", store=cell_store(args))
    summary = summarize(cells, ns, args.seeds, methods)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    results.update(summary=summary, wall_seconds=elapsed, cpu_seconds=cpu)
    print_report(summary, methods, args.episodes)
    print(f"\nrun time {elapsed:.0f} s wall, {cpu:.0f} s CPU ({len(jobs)} cells, --workers "
          f"{args.workers}; cells resumed from --json cost nothing)")
    if args.png:
        plot(summary, methods, args.png)
        print(f"figure: {args.png}")
    if args.json:
        print(f"json: {args.json}")
    return results.payload


if __name__ == "__main__":
    main()
