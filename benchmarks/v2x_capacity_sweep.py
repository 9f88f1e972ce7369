"""OFR against capacity for the passive "RIAL only" vehicles (paper 000, Fig. 4a, MP 1 and 5).

Runs :class:`agents.baselines.PassiveV2XPolicy` on the synthetic V2X market for each capacity and
MP, averages over seeds, prints a table (OFR and its parts, utilization, rebidding overhead) beside
the paper's RIAL reference points, and writes a plot and, with ``--json``, the rows.

Paper claim compared: passive (RIAL-only) vehicles fail to offload about 20% of their tasks at
capacity 60 with MP 1 (Fig. 3a) and about 2% in low contention (Fig. 4a, "RIAL OFR only reaches
2%"). ``--json PATH`` is rewritten after each finished run (rows aggregated over the runs so far,
and every run), so an interrupted sweep keeps what finished.

    python -m benchmarks.v2x_capacity_sweep [--steps 4000] [--seeds 0 1] [--workers 2]
        [--capacities 50 60 ...] [--png results/v2x_capacity_sweep.png] [--json PATH]
        [--policies passive scripted_backoff never_offload late_submit]

With ``--policies`` the scripted policies of ``agents.baselines`` run on the same seeds, and a second
table pairs each against passive per seed (mean difference and 95% t-interval): OFR with its failure
mix (rejected / dropped while held / missed deadline) and the reward per vehicle and step under the
v1 reward and under v0's rule (hold-only backoff cost, no failure penalty), recomputed from the same
request events, so it shows whether reward and OFR point the same way.
"""

from __future__ import annotations

import time
from pathlib import Path

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

CAPACITIES = (50, 60, 70, 80, 90, 100, 110, 130, 150, 170, 190, 210, 230)
# The paper's passive (RIAL) OFR, read from its text and figures: ~20% at capacity 60 with MP 1
# (Fig. 3a), ~2% in low contention (Fig. 4a: "RIAL OFR only reaches 2%").
PAPER_REFERENCE = {(60, 1): 0.20, (230, 1): 0.02, (230, 5): 0.02}


POLICIES = ("passive", "scripted_backoff", "never_offload", "late_submit", "fixed")


def parse_policy(spec: str) -> tuple[str, dict[str, float]]:
    """``NAME`` or ``NAME:key=value,key=value`` (keyword arguments of the policy's class, floats):
    e.g. ``passive:fraction=0.1``, ``scripted_backoff:min_slack=1e9``, ``fixed:alpha=1,fraction=0.2``."""
    name, _, rest = spec.partition(":")
    if name not in POLICIES:
        raise ValueError(f"policy {spec!r}: the name must be one of {POLICIES}")
    kwargs: dict[str, float] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"policy {spec!r}: {item!r} is not key=value")
        kwargs[key] = float(value)
    if name == "passive" and "fraction" in kwargs:
        kwargs.setdefault("price", None)
    return name, kwargs


def policy_spec(spec: str) -> str:
    """argparse type: a policy spec that parses (see :func:`parse_policy`)."""
    import argparse

    try:
        parse_policy(spec)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return spec


def make_policy(spec: str, layout):
    from agents.baselines import (
        FixedActionV2XPolicy,
        LateSubmitV2XPolicy,
        NeverOffloadV2XPolicy,
        PassiveV2XPolicy,
        ScriptedBackoffV2XPolicy,
    )

    name, kwargs = parse_policy(spec)
    return {"passive": PassiveV2XPolicy, "scripted_backoff": ScriptedBackoffV2XPolicy,
            "never_offload": NeverOffloadV2XPolicy, "late_submit": LateSubmitV2XPolicy,
            "fixed": FixedActionV2XPolicy}[name](layout=layout, **kwargs)


def run_one(capacity: float, max_rebids: int, seed: int, steps: int,
            policy_name: str = "passive") -> dict:
    """One episode; the reward per vehicle and step under v1's reward and under v0's rule (hold-only
    backoff cost, no failure penalties), both computed from the same request events."""
    from auction_envs.envs.v2x import V2XOffloadingEnv
    from auction_envs.envs.v2x.rewards import V2XReward

    env = V2XOffloadingEnv(capacity=float(capacity), max_rebids=max_rebids, max_cycles=steps)
    policy = make_policy(policy_name, env.layout)
    v0_rule = V2XReward(failure_penalty=0.0, hold_drop_penalty=0.0, backoff_cost="hold")
    observations, _ = env.reset(seed=seed)
    started = time.perf_counter()
    reward_v1 = reward_v0 = 0.0
    while env.agents:
        observations, rewards, *_ = env.step(policy.act(observations))
        reward_v1 += float(sum(rewards.values()))
        reward_v0 += float(v0_rule(env.last_events, env.n_vehicles).sum())
    m = env.metrics()
    per = env.n_vehicles * steps
    return {
        "policy": policy_name, "reward": reward_v1 / per, "reward_v0_rule": reward_v0 / per,
        "capacity": capacity, "mp": max_rebids, "seed": seed, "steps": steps,
        "ofr": m["ofr"], "ofr_rejected": m["ofr_rejected"],
        "ofr_dropped_on_hold": m["ofr_dropped_on_hold"], "ofr_deadline_miss": m["ofr_deadline_miss"],
        "utilization_edge": m["utilization"]["edge"], "utilization_remote": m["utilization"]["remote"],
        "utilization_std_remote": m["utilization_std"]["remote"],
        "rebidding_overhead": m["rebidding_overhead"], "requests": m["requests"],
        "seconds": time.perf_counter() - started,
    }


def aggregate(runs: list[dict]) -> list[dict]:
    keys = sorted({(r["capacity"], r["mp"], r["policy"]) for r in runs},
                  key=lambda k: (k[0], k[1], POLICIES.index(parse_policy(k[2])[0]), k[2]))
    rows = []
    for capacity, mp, policy in keys:
        mine = sorted((r for r in runs if (r["capacity"], r["mp"], r["policy"]) == (capacity, mp, policy)),
                      key=lambda r: r["seed"])
        row = {"capacity": capacity, "mp": mp, "policy": policy, "seeds": len(mine)}
        for field in ("ofr", "ofr_rejected", "ofr_deadline_miss", "ofr_dropped_on_hold",
                      "utilization_edge", "utilization_remote", "utilization_std_remote",
                      "rebidding_overhead"):
            values = np.array([r[field] for r in mine])
            row[field] = float(values.mean())
            if field == "ofr":
                row["ofr_sd"] = float(values.std())
        for field in ("reward", "reward_v0_rule"):
            row[field] = float(np.mean([r[field] for r in mine]))
        row["paper_rial_ofr"] = PAPER_REFERENCE.get((capacity, mp)) if policy == "passive" else None
        passive = {r["seed"]: r for r in runs if (r["capacity"], r["mp"], r["policy"])
                   == (capacity, mp, "passive")}
        paired = [(r, passive[r["seed"]]) for r in mine if r["seed"] in passive]
        for field in ("ofr", "reward", "reward_v0_rule"):
            diffs = np.array([r[field] - p[field] for r, p in paired])
            row[f"{field}_vs_passive"], row[f"{field}_vs_passive_ci"] = paired_ci(diffs)
        rows.append(row)
    return rows


def paired_ci(diffs: np.ndarray) -> tuple[float | None, float | None]:
    """Mean of per-seed paired differences and the half-width of its 95% t-interval."""
    if diffs.size == 0:
        return None, None
    if diffs.size == 1:
        return float(diffs[0]), None
    from scipy import stats

    half = stats.t.ppf(0.975, diffs.size - 1) * diffs.std(ddof=1) / np.sqrt(diffs.size)
    return float(diffs.mean()), float(half)


def format_policy_table(rows: list[dict]) -> str:
    """Reward (v1 and v0's rule) and OFR per policy, each paired per seed against passive."""
    lines = ["capacity  MP  policy            OFR    rej    hold   miss   dOFR vs passive (95% CI)"
             "   reward v1 (d vs passive)      reward v0 rule (d vs passive)"]

    def pm(row: dict, field: str) -> str:
        mean, half = row[f"{field}_vs_passive"], row[f"{field}_vs_passive_ci"]
        if mean is None:
            return "-"
        return f"{mean:+.3f}" + (f" +- {half:.3f}" if half is not None else "")

    for r in rows:
        lines.append(
            f"{r['capacity']:>8}  {r['mp']:>2}  {r['policy']:<16}  {r['ofr']:.3f}  "
            f"{r['ofr_rejected']:.3f}  {r['ofr_dropped_on_hold']:.3f}  {r['ofr_deadline_miss']:.3f}  "
            f"{pm(r, 'ofr'):<22}  {r['reward']:>8.1f} ({pm(r, 'reward'):<16})  "
            f"{r['reward_v0_rule']:>8.1f} ({pm(r, 'reward_v0_rule')})")
    return "\n".join(lines)


def format_table(rows: list[dict]) -> str:
    lines = ["capacity  MP   OFR (sd)         rejected  deadline  util edge/remote (sd)  "
             "rebids/req  paper RIAL"]
    for r in rows:
        if r["policy"] != "passive":
            continue
        paper = f"{r['paper_rial_ofr']:.2f}" if r["paper_rial_ofr"] is not None else "-"
        lines.append(
            f"{r['capacity']:>8}  {r['mp']:>2}   {r['ofr']:.3f} ({r['ofr_sd']:.3f})    "
            f"{r['ofr_rejected']:.3f}     {r['ofr_deadline_miss']:.3f}     "
            f"{r['utilization_edge']:.2f}/{r['utilization_remote']:.2f} "
            f"({r['utilization_std_remote']:.2f})      {r['rebidding_overhead']:>8.3f}  {paper:>9}")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    plt = plt_agg()
    figure, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for mp, marker in ((1, "o"), (5, "s")):
        mine = [r for r in rows if r["mp"] == mp and r["policy"] == "passive"]
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
    save_figure(figure, path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__doc__, "python -m benchmarks.v2x_capacity_sweep")
    parser.add_argument("--capacities", type=int, nargs="+", default=list(CAPACITIES),
                        help="capacities (resource units) to sweep (default: 50 .. 230)")
    parser.add_argument("--mp", type=int, nargs="+", default=[1, 5],
                        help="maximum rebids per request (MP) to sweep (default 1 5)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1],
                        help="seeds per (capacity, MP); results are averaged (default 0 1)")
    parser.add_argument("--steps", type=int, default=4000, help="steps per run (default 4000)")
    parser.add_argument("--workers", type=int, default=2,
                        help="processes (1: this process; default 2)")
    parser.add_argument("--policies", nargs="+", type=policy_spec, default=["passive"],
                        help=f"scripted policies to run (default passive): NAME or "
                             f"NAME:key=value,... (NAME one of {', '.join(POLICIES)}; the keys are "
                             "the policy class's arguments); with more than one, a "
                             "table pairs each against passive per seed: OFR and its failure mix, "
                             "reward under v1 and under v0's reward rule")
    add_output_arguments(parser, png_default="results/v2x_capacity_sweep.png", png_aliases=("--plot",),
                         json_help="also write the rows (and every run) as JSON to PATH, "
                                   "after each finished run")
    args = parser.parse_args(argv)
    jobs = [(c, mp, s, args.steps, p) for c in args.capacities for mp in args.mp
            for s in args.seeds for p in args.policies]
    results = IncrementalResults(args.json)
    finished: dict[int, dict] = {}

    def save(index: int, run: dict) -> None:
        finished[index] = run
        done = [finished[k] for k in sorted(finished)]
        results.set({"rows": aggregate(done), "runs": done})

    started = time.perf_counter()
    runs = run_jobs(run_one, jobs, args.workers, on_result=save, show_progress=not args.no_progress,
                    store=cell_store(args))  # a rerun with the same --json runs only missing cells
    rows = aggregate(runs)
    if "passive" in args.policies:
        print(format_table(rows))
    if args.policies != ["passive"]:
        print("\nScripted policies, paired per seed against passive (reward per vehicle and step)")
        print(format_policy_table(rows))
    print(f"\n{len(runs)} runs of {args.steps} steps in {time.perf_counter() - started:.0f} s")
    if args.png:
        plot(rows, Path(args.png))
        print(f"plot: {args.png}")
    if args.json:
        print(f"json: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
