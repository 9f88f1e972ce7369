"""RTRM vs CDARA vs ICAA, each with the fairness mechanism off and on (paper 004, §5).

The paper trains the providers' pricing agents (MADDPG) and compares the three mechanisms; here the
providers use one *scripted* pricing policy for every mechanism (default: the same fixed markup for
every buyer), so the comparison isolates the mechanisms' matching, pricing and payment rules. Each
configuration runs ``--episodes`` episodes of ``--steps`` steps (100, the length of the paper's
fairness experiment) on the packaged synthetic task-event sample (or ``--trace``), seeds
``seed, seed + 1, ...``; figures are means over episodes.

    python -m benchmarks.cloud_comparison [--episodes 20] [--policy fixed] [--markup 0.2]
        [--json results/cloud.json] [--png results/cloud.png]

Prints one table per metric family and the paper's claims beside our numbers (RTRM raises every
provider's utility over CDARA and ICAA; buyer utility >= 1.4x both; with fairness every provider
wins at least once per episode and buyers drop far less). ``--json`` is rewritten after each
configuration (the claims are added once all six have run).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from agents.baselines.cloud_pricing import CLOUD_PRICING_POLICIES
from auction_envs.envs.cloud import MECHANISMS, CloudDoubleAuctionEnv
from benchmarks.common import (
    IncrementalResults,
    add_output_arguments,
    benchmark_parser,
    plt_agg,
    progress,
    save_figure,
)

CONFIGS = [(mechanism, fairness) for mechanism in MECHANISMS for fairness in (False, True)]


def label(mechanism: str, fairness: bool) -> str:
    return mechanism.upper() + ("-Fair" if fairness else "")


def make_policy(name: str, env: CloudDoubleAuctionEnv, seed: int, markup: float) -> Any:
    cls = CLOUD_PRICING_POLICIES[name]
    if name == "fixed":
        return cls.for_env(env, markup=markup)
    if name == "random":
        return cls.for_env(env, seed=seed)
    return cls.for_env(env)


def run_config(mechanism: str, fairness: bool, episodes: int = 20, seed: int = 0,
               policy: str = "fixed", markup: float = 0.2, steps: int = 100,
               **env_kwargs: Any) -> dict[str, Any]:
    """Run ``episodes`` episodes of one configuration; return per-episode-mean metrics."""
    env = CloudDoubleAuctionEnv(mechanism=mechanism, fairness=fairness, max_cycles=steps,
                                **env_kwargs)
    pricing = make_policy(policy, env, seed, markup)
    rows = []
    for episode in range(episodes):
        observations, _ = env.reset(seed=seed + episode)
        while env.agents:
            observations, *_ = env.step(pricing.act(observations, explore=False))
        rows.append(env.metrics())

    def mean(key: str) -> Any:
        return np.mean([np.asarray(r[key], dtype=np.float64) for r in rows], axis=0)
    return {
        "mechanism": mechanism, "fairness": fairness, "label": label(mechanism, fairness),
        "policy": policy, "episodes": episodes, "steps": steps,
        "provider_utility": mean("provider_utility").tolist(),
        "total_provider_utility": float(mean("total_provider_utility")),
        "buyer_utility": float(mean("buyer_utility")),
        "mean_buyer_utility": float(mean("mean_buyer_utility")),
        "wins": mean("wins").tolist(),
        "jain_wins": float(mean("jain_wins")),
        "episodes_all_providers_win": float(np.mean([r["providers_without_win"] == 0
                                                     for r in rows])),
        "min_wins": float(np.mean([np.min(r["wins"]) for r in rows])),
        "providers_without_win": float(mean("providers_without_win")),
        "buyer_drops": float(mean("buyer_drops")),
        "dropped_requests": float(mean("dropped_requests")),
        "utilization": mean("utilization").tolist(),
        "mean_utilization": float(mean("mean_utilization")),
        "unmatched_demand": mean("unmatched_demand").tolist(),
        "match_rate": float(mean("match_rate")),
        "deadline_failures": float(mean("deadline_failures")),
    }


def claims(results: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The paper's claims beside our numbers: (claim, ours, holds here?)."""
    rtrm, cdara, icaa = results["RTRM"], results["CDARA"], results["ICAA"]
    fair = results["RTRM-Fair"]
    rows = []
    utility = np.array(rtrm["provider_utility"])
    above = [int(np.sum(utility > np.array(results[b]["provider_utility"])))
             for b in ("CDARA", "ICAA")]
    rows.append(("RTRM raises every provider's utility over CDARA and ICAA",
                 f"providers above CDARA {above[0]}/7, above ICAA {above[1]}/7; total "
                 f"{rtrm['total_provider_utility']:.0f} vs {cdara['total_provider_utility']:.0f}"
                 f" / {icaa['total_provider_utility']:.0f}",
                 "yes" if min(above) == len(utility) else "no"))
    ratios = [rtrm["buyer_utility"] / max(results[b]["buyer_utility"], 1e-9)
              for b in ("CDARA", "ICAA")]
    rows.append(("buyer utility of RTRM >= 1.4 x both baselines",
                 f"x{ratios[0]:.2f} vs CDARA, x{ratios[1]:.2f} vs ICAA",
                 "yes" if min(ratios) >= 1.4 else "no"))
    rows.append(("with fairness every provider wins at least once per episode",
                 f"RTRM-Fair {fair['episodes_all_providers_win']:.0%} of episodes, RTRM "
                 f"{rtrm['episodes_all_providers_win']:.0%}; min wins {fair['min_wins']:.1f} vs "
                 f"{rtrm['min_wins']:.1f}",
                 "yes" if fair["episodes_all_providers_win"] == 1.0 else "no"))
    rows.append(("far fewer buyer drops with fairness",
                 f"{fair['buyer_drops']:.2f} vs {rtrm['buyer_drops']:.2f} drops per episode",
                 "yes" if fair["buyer_drops"] < 0.5 * rtrm["buyer_drops"] else
                 ("n/a (no drops)" if rtrm["buyer_drops"] == 0 else "no")))
    return rows


def format_tables(results: dict[str, dict[str, Any]]) -> str:
    labels = list(results)
    width = max(len(x) for x in labels) + 2
    lines = ["Per-provider utility (payments - base cost, per episode):",
             "".ljust(width) + "".join(f"{f'd{i + 1}':>9}" for i in range(7)) + f"{'total':>10}"]
    for name in labels:
        r = results[name]
        lines.append(name.ljust(width) + "".join(f"{u:9.0f}" for u in r["provider_utility"])
                     + f"{r['total_provider_utility']:10.0f}")
    lines += ["", "Wins per provider (per episode):",
              "".ljust(width) + "".join(f"{f'd{i + 1}':>7}" for i in range(7))
              + f"{'Jain':>7}{'all-win':>9}"]
    for name in labels:
        r = results[name]
        lines.append(name.ljust(width) + "".join(f"{w:7.1f}" for w in r["wins"])
                     + f"{r['jain_wins']:7.3f}{r['episodes_all_providers_win']:9.0%}")
    lines += ["", "Buyers and capacity (per episode):",
              "".ljust(width) + f"{'buyer util':>11}{'per req':>9}{'match':>7}{'drops':>7}"
                                f"{'dropped req':>12}{'util':>6}{'unmatched cpu/mem/sto':>23}"
                                f"{'fail':>6}"]
    for name in labels:
        r = results[name]
        unmatched = "/".join(f"{u:.2f}" for u in r["unmatched_demand"])
        lines.append(name.ljust(width) + f"{r['buyer_utility']:11.0f}{r['mean_buyer_utility']:9.1f}"
                     f"{r['match_rate']:7.2f}{r['buyer_drops']:7.2f}{r['dropped_requests']:12.1f}"
                     f"{r['mean_utilization']:6.2f}{unmatched:>23}{r['deadline_failures']:6.1f}")
    lines += ["", "Paper 004's claims beside ours:"]
    for claim, ours, holds in claims(results):
        lines.append(f"  - {claim}\n      ours: {ours}  -> holds here: {holds}")
    return "\n".join(lines)


def plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    plt = plt_agg()
    labels = list(results)
    fig, axes = plt.subplots(2, 2, figsize=(13, 8))
    x = np.arange(7)
    width = 0.8 / len(labels)
    for k, name in enumerate(labels):
        axes[0, 0].bar(x + k * width, results[name]["provider_utility"], width, label=name)
        axes[0, 1].bar(x + k * width, results[name]["wins"], width, label=name)
    for ax, title in ((axes[0, 0], "provider utility per episode"),
                      (axes[0, 1], "wins per provider per episode")):
        ax.set_xticks(x + 0.4 - width / 2, [f"d{i + 1}" for i in range(7)])
        ax.set_title(title)
    axes[0, 0].legend(fontsize=8)
    axes[1, 0].bar(labels, [results[n]["buyer_utility"] for n in labels], color="tab:green")
    axes[1, 0].set_title("buyer utility per episode")
    axes[1, 1].bar(labels, [results[n]["buyer_drops"] for n in labels], color="tab:red")
    axes[1, 1].set_title("buyer drops per episode")
    for ax in axes[1]:
        ax.tick_params(axis="x", rotation=30)
    fig.suptitle("Cloud double auction: RTRM vs CDARA vs ICAA, fairness off/on (scripted pricing)")
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__doc__, "python -m benchmarks.cloud_comparison")
    parser.add_argument("--episodes", type=int, default=20,
                        help="episodes per configuration (default 20)")
    parser.add_argument("--steps", type=int, default=100, help="steps per episode (default 100)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the first episode; episode k uses seed + k (default 0)")
    parser.add_argument("--policy", choices=sorted(CLOUD_PRICING_POLICIES), default="fixed",
                        help="scripted pricing policy of every provider (default fixed)")
    parser.add_argument("--markup", type=float, default=0.2, help="multiplier of --policy fixed")
    parser.add_argument("--step-seconds", type=float, default=1.0,
                        help="trace seconds per step (more = more buyers per step)")
    parser.add_argument("--trace", default=None, help="task_events file(s); default: the sample")
    add_output_arguments(parser, png=True, json_help="write the results as JSON to PATH "
                                                     "(after each configuration)")
    args = parser.parse_args(argv)
    recorded = {k: v for k, v in vars(args).items() if k != "no_progress"}
    output = IncrementalResults(args.json, {"args": recorded, "results": {}})
    results = output.payload["results"]
    for mechanism, fairness in progress(CONFIGS, desc="configurations",
                                        enabled=not args.no_progress):
        result = run_config(mechanism, fairness, episodes=args.episodes, seed=args.seed,
                            policy=args.policy, markup=args.markup, steps=args.steps,
                            step_seconds=args.step_seconds, trace_path=args.trace)
        results[result["label"]] = result
        output.write()
    print(f"policy={args.policy} markup={args.markup} episodes={args.episodes} steps={args.steps} "
          f"step_seconds={args.step_seconds} trace={args.trace or 'packaged synthetic sample'}\n")
    print(format_tables(results))
    output.update(claims=[dict(zip(("claim", "ours", "holds"), c)) for c in claims(results)])
    if args.png:
        plot(results, Path(args.png))
    return 0


if __name__ == "__main__":
    sys.exit(main())
