"""OFR against capacity for the passive "RIAL only" vehicles (paper 000, Fig. 4a, MP 1 and 5).

Runs :class:`agents.baselines.PassiveV2XPolicy` on the synthetic V2X market for each capacity and
MP, averages over seeds, prints a table (OFR and its parts, utilization, rebidding overhead) beside
the paper's RIAL reference points, and writes a plot and, with ``--json``, the rows.

    python -m benchmarks.v2x_capacity_sweep [--steps 4000] [--seeds 0 1] [--workers 2]
        [--capacities 50 60 ...] [--plot results/v2x_capacity_sweep.png] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

CAPACITIES = (50, 60, 70, 80, 90, 100, 110, 130, 150, 170, 190, 210, 230)
# The paper's passive (RIAL) OFR, read from its text and figures: ~20% at capacity 60 with MP 1
# (Fig. 3a), ~2% in low contention (Fig. 4a: "RIAL OFR only reaches 2%").
PAPER_REFERENCE = {(60, 1): 0.20, (230, 1): 0.02, (230, 5): 0.02}


def run_one(capacity: float, max_rebids: int, seed: int, steps: int) -> dict:
    from agents.baselines import PassiveV2XPolicy
    from auction_envs.envs.v2x import V2XOffloadingEnv

    env = V2XOffloadingEnv(capacity=float(capacity), max_rebids=max_rebids, max_cycles=steps)
    policy = PassiveV2XPolicy()
    observations, _ = env.reset(seed=seed)
    started = time.perf_counter()
    while env.agents:
        observations, *_ = env.step(policy.act(observations))
    m = env.metrics()
    return {
        "capacity": capacity, "mp": max_rebids, "seed": seed, "steps": steps,
        "ofr": m["ofr"], "ofr_rejected": m["ofr_rejected"],
        "ofr_dropped_on_hold": m["ofr_dropped_on_hold"], "ofr_deadline_miss": m["ofr_deadline_miss"],
        "utilization_edge": m["utilization"]["edge"], "utilization_remote": m["utilization"]["remote"],
        "utilization_std_remote": m["utilization_std"]["remote"],
        "rebidding_overhead": m["rebidding_overhead"], "requests": m["requests"],
        "seconds": time.perf_counter() - started,
    }


def aggregate(runs: list[dict]) -> list[dict]:
    keys = sorted({(r["capacity"], r["mp"]) for r in runs})
    rows = []
    for capacity, mp in keys:
        mine = [r for r in runs if r["capacity"] == capacity and r["mp"] == mp]
        row = {"capacity": capacity, "mp": mp, "seeds": len(mine)}
        for field in ("ofr", "ofr_rejected", "ofr_deadline_miss", "ofr_dropped_on_hold",
                      "utilization_edge", "utilization_remote", "utilization_std_remote",
                      "rebidding_overhead"):
            values = np.array([r[field] for r in mine])
            row[field] = float(values.mean())
            if field == "ofr":
                row["ofr_sd"] = float(values.std())
        row["paper_rial_ofr"] = PAPER_REFERENCE.get((capacity, mp))
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    lines = ["capacity  MP   OFR (sd)         rejected  deadline  util edge/remote (sd)  "
             "rebids/req  paper RIAL"]
    for r in rows:
        paper = f"{r['paper_rial_ofr']:.2f}" if r["paper_rial_ofr"] is not None else "-"
        lines.append(
            f"{r['capacity']:>8}  {r['mp']:>2}   {r['ofr']:.3f} ({r['ofr_sd']:.3f})    "
            f"{r['ofr_rejected']:.3f}     {r['ofr_deadline_miss']:.3f}     "
            f"{r['utilization_edge']:.2f}/{r['utilization_remote']:.2f} "
            f"({r['utilization_std_remote']:.2f})      {r['rebidding_overhead']:>8.3f}  {paper:>9}")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for mp, marker in ((1, "o"), (5, "s")):
        mine = [r for r in rows if r["mp"] == mp]
        if not mine:
            continue
        capacity = [r["capacity"] for r in mine]
        axes[0].errorbar(capacity, [r["ofr"] for r in mine], yerr=[r["ofr_sd"] for r in mine],
                         marker=marker, label=f"passive (RIAL), MP={mp}", capsize=2)
        axes[1].plot(capacity, [r["utilization_remote"] for r in mine], marker=marker,
                     label=f"remote site, MP={mp}")
        axes[2].plot(capacity, [r["rebidding_overhead"] for r in mine], marker=marker,
                     label=f"MP={mp}")
    for (capacity, mp), value in PAPER_REFERENCE.items():
        axes[0].plot([capacity], [value], "k*", markersize=10,
                     label="paper, RIAL" if (capacity, mp) == (60, 1) else None)
    axes[0].set_xlabel("capacity (resource units)")
    axes[0].set_ylabel("offloading failure rate")
    axes[0].legend()
    axes[0].grid(alpha=0.3)
    axes[1].set_xlabel("capacity (resource units)")
    axes[1].set_ylabel("utilization")
    axes[1].set_ylim(0, 1)
    axes[1].legend()
    axes[1].grid(alpha=0.3)
    axes[2].set_xlabel("capacity (resource units)")
    axes[2].set_ylabel("rebidding overhead (rebids per request)")
    axes[2].legend()
    axes[2].grid(alpha=0.3)
    figure.suptitle("V2X offloading: passive vehicles, OFR and utilization vs capacity")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.v2x_capacity_sweep",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--capacities", type=int, nargs="+", default=list(CAPACITIES))
    parser.add_argument("--mp", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--plot", type=Path, default=Path("results/v2x_capacity_sweep.png"))
    parser.add_argument("--json", type=Path, help="also write the rows (and every run) here")
    args = parser.parse_args(argv)
    jobs = [(c, mp, s, args.steps) for c in args.capacities for mp in args.mp for s in args.seeds]
    started = time.perf_counter()
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as pool:
            runs = list(pool.map(run_one, *zip(*jobs)))
    else:
        runs = [run_one(*job) for job in jobs]
    rows = aggregate(runs)
    print(format_table(rows))
    print(f"\n{len(runs)} runs of {args.steps} steps in {time.perf_counter() - started:.0f} s")
    plot(rows, args.plot)
    print(f"plot: {args.plot}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "runs": runs}, indent=1))
        print(f"json: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
