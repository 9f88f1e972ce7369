"""RTRM vs CDARA vs ICAA, each with the fairness mechanism off and on (paper 004, §5).

The paper trains the providers' pricing agents (MADDPG) and compares the three mechanisms; here the
RTRM providers use one *scripted* pricing policy (default: the same fixed markup for every buyer),
while CDARA and ICAA price with their own rules (the env's ``baseline_markup``, default 0). Each
configuration runs ``--episodes`` episodes of ``--steps`` steps (100, the length of the paper's
fairness experiment) on the packaged synthetic task-event sample (or ``--trace``), seeds
``seed, seed + 1, ...``; figures are means over episodes.

    python -m benchmarks.cloud_comparison [--episodes 20] [--policy fixed] [--markup 0.2]
        [--json results/cloud.json] [--png results/cloud.png]

Two studies of the market itself (RTRM without fairness; CDARA and ICAA price with their own rule,
``baseline_markup``), each over ``--seeds`` seeds with 95% t-intervals, ``--episodes`` episodes per
seed on one buyer population (fresh per seed):

    python -m benchmarks.cloud_comparison --sweep 0,0.1,...,1.5,2,3 --seeds 5 --episodes 1
        the total provider utility per episode of every provider at one fixed markup, for each
        markup: the bar a learned pricing policy must clear;
    python -m benchmarks.cloud_comparison --best-response 0,0.25,...,2 --seeds 5 --rounds 2
        iterated best responses over per-provider fixed markups (each provider in turn picks the
        grid markup maximizing its own utility, mean over seeds), then how many providers beat
        both baselines and what fraction of the best baseline's buyer utility buyers keep; and the
        surplus bound test of the paper's joint claim (every provider above both baselines AND
        buyer utility >= 1.4x both) per seed.

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

from agents.baselines.cloud_pricing import CLOUD_PRICING_POLICIES, FixedMarkupPricing
from auction_envs.envs.cloud import MECHANISMS, CloudDoubleAuctionEnv
from benchmarks.common import (
    CellStore,
    IncrementalResults,
    add_output_arguments,
    benchmark_parser,
    cell_store,
    plt_agg,
    progress,
    run_jobs,
    save_figure,
)
from benchmarks.reproduce_exchange import mean_ci

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


def config_cell(mechanism: str, fairness: bool, episodes: int, seed: int, policy: str,
                markup: float, steps: int, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """One configuration as a job of :func:`benchmarks.common.run_jobs` (every argument that
    changes the result is in the job, so it keys the stored cell)."""
    return run_config(mechanism, fairness, episodes=episodes, seed=seed, policy=policy,
                      markup=markup, steps=steps, **env_kwargs)


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


# ---------------------------------------------------------------------------- market studies
def play_markups(markups: float | dict[str, float], seed: int, episodes: int,
                 mechanism: str = "rtrm", multiplier_high: float = 1.0,
                 **env_kwargs: Any) -> dict[str, Any]:
    """Episodes ``seed * 1000 + e`` on one fresh population with fixed markups (one or per
    provider); per-episode means of the utilities, the surplus and its bound."""
    env = CloudDoubleAuctionEnv(mechanism=mechanism, multiplier_high=multiplier_high,
                                **env_kwargs)
    pricing = FixedMarkupPricing.for_env(env, markup=markups)
    rows = []
    for episode in range(episodes):
        observations, _ = env.reset(seed=seed * 1000 + episode,
                                    options={"new_population": episode == 0})
        while env.agents:
            observations, *_ = env.step(pricing.act(observations, explore=False))
        rows.append(env.metrics())
    keys = ("provider_utility", "buyer_utility", "surplus", "surplus_bound",
            "total_provider_utility", "payments_above_ask", "matched")
    out = {key: np.mean([np.asarray(r[key], dtype=np.float64) for r in rows], axis=0)
           for key in keys}
    return {key: value.tolist() for key, value in out.items()}


def markup_cell(markups: float | dict[str, float], seed: int, episodes: int, mechanism: str,
                multiplier_high: float, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """:func:`play_markups` as a job of :func:`benchmarks.common.run_jobs` (a stored cell)."""
    return play_markups(markups, seed, episodes, mechanism=mechanism,
                        multiplier_high=multiplier_high, **env_kwargs)


def _play(store: CellStore | None, markups: float | dict[str, float], seeds: list[int],
          episodes: int, mechanism: str = "rtrm", multiplier_high: float = 1.0,
          **env_kwargs: Any) -> list[dict]:
    """:func:`play_markups` for each seed, through ``store`` (cells it holds are not run again)."""
    jobs = [(markups, s, episodes, mechanism, multiplier_high, env_kwargs) for s in seeds]
    return run_jobs(markup_cell, jobs, show_progress=False, store=store)


def _ci(values: list[float]) -> dict[str, float]:
    mean, low, high = mean_ci(values)
    return {"mean": mean, "ci_low": low, "ci_high": high}


def baselines(seeds: list[int], episodes: int, store: CellStore | None = None,
              **env_kwargs: Any) -> dict[str, list[dict]]:
    return {name: _play(store, 0.0, seeds, episodes, mechanism=name, **env_kwargs)
            for name in ("cdara", "icaa")}


def versus_baselines(runs: list[dict], base: dict[str, list[dict]]) -> dict[str, Any]:
    """Paired per seed: providers above both baselines, buyer utility / the best baseline's."""
    above, fraction = [], []
    for k, run in enumerate(runs):
        best = np.maximum(base["cdara"][k]["provider_utility"], base["icaa"][k]["provider_utility"])
        above.append(int(np.sum(np.array(run["provider_utility"]) > best)))
        fraction.append(run["buyer_utility"] / max(base["cdara"][k]["buyer_utility"],
                                                   base["icaa"][k]["buyer_utility"]))
    return {"providers_above_both": _ci(above), "buyer_fraction_of_best_baseline": _ci(fraction)}


def markup_sweep(markups: list[float], seeds: list[int], episodes: int, show: bool = True,
                 output: IncrementalResults | None = None, store: CellStore | None = None,
                 **env_kwargs: Any) -> dict[str, Any]:
    """The fixed-markup sweep; with a ``store`` (:func:`cell_store`) each (markup, seed) run it
    holds is not played again."""
    high = max(1.0, max(markups))
    base = baselines(seeds, episodes, store, **env_kwargs)
    rows = []
    for markup in progress(markups, desc="markups", enabled=show):
        runs = _play(store, markup, seeds, episodes, multiplier_high=high, **env_kwargs)
        rows.append({"markup": markup,
                     "total_provider_utility": _ci([r["total_provider_utility"] for r in runs]),
                     "buyer_utility": _ci([r["buyer_utility"] for r in runs]),
                     "surplus": _ci([r["surplus"] for r in runs]),
                     "surplus_bound": _ci([r["surplus_bound"] for r in runs]),
                     **versus_baselines(runs, base)})
        if output is not None:
            output.update(sweep=rows)
    best = max(rows, key=lambda row: row["total_provider_utility"]["mean"])
    return {"sweep": rows, "best_markup": best["markup"],
            "best_total_provider_utility": best["total_provider_utility"],
            "baselines": {name: {"total_provider_utility":
                                 _ci([r["total_provider_utility"] for r in runs]),
                                 "buyer_utility": _ci([r["buyer_utility"] for r in runs])}
                          for name, runs in base.items()}}


def best_responses(grid: list[float], seeds: list[int], episodes: int, rounds: int,
                   show: bool = True, store: CellStore | None = None,
                   **env_kwargs: Any) -> dict[str, Any]:
    """Iterated best responses over per-provider fixed markups from the best common markup.

    Every (profile, seed) run goes through ``store`` (in memory by default), which is also the
    cache of profiles met again; with :func:`cell_store` a rerun takes finished runs from disk."""
    env = CloudDoubleAuctionEnv(**env_kwargs)
    agents, high = list(env.possible_agents), max(1.0, max(grid))
    store = CellStore(None) if store is None else store

    def evaluate(profile: dict[str, float]) -> list[dict]:
        return _play(store, {a: profile[a] for a in agents}, seeds, episodes,
                     multiplier_high=high, **env_kwargs)

    common = max(grid, key=lambda g: np.mean([r["total_provider_utility"]
                                               for r in evaluate(dict.fromkeys(agents, g))]))
    profile = dict.fromkeys(agents, common)
    steps = [(r, i) for r in range(rounds) for i in range(len(agents))]
    for _, i in progress(steps, desc="best responses", enabled=show):
        def own(g: float, i: int = i) -> float:
            return float(np.mean([run["provider_utility"][i]
                                  for run in evaluate({**profile, agents[i]: g})]))
        profile[agents[i]] = max(grid, key=own)
    runs = evaluate(profile)
    base = baselines(seeds, episodes, store, **env_kwargs)
    # the joint claim needs, per seed, sum_i max(U_i^C, U_i^I) + 1.4 max(B^C, B^I) <= surplus bound
    required, bound = [], []
    for k, run in enumerate(runs):
        c, ic = base["cdara"][k], base["icaa"][k]
        required.append(float(np.sum(np.maximum(c["provider_utility"], ic["provider_utility"]))
                              + 1.4 * max(c["buyer_utility"], ic["buyer_utility"])))
        bound.append(run["surplus_bound"])
    return {"start_common_markup": common, "profile": profile,
            "provider_utility": np.mean([r["provider_utility"] for r in runs], axis=0).tolist(),
            "buyer_utility": _ci([r["buyer_utility"] for r in runs]),
            **versus_baselines(runs, base),
            "joint_claim_required_surplus": _ci(required), "surplus_bound": _ci(bound),
            "rtrm_surplus": _ci([r["surplus"] for r in runs]),
            "seeds_where_joint_claim_fits_the_bound": int(np.sum(np.array(required)
                                                                 <= np.array(bound))),
            "baselines": {name: {"provider_utility": np.mean([r["provider_utility"] for r in v],
                                                             axis=0).tolist(),
                                 "buyer_utility": _ci([r["buyer_utility"] for r in v])}
                          for name, v in base.items()}}


def _fmt(ci: dict[str, float]) -> str:
    return f"{ci['mean']:9.0f} [{ci['ci_low']:8.0f}, {ci['ci_high']:8.0f}]"


def format_sweep(result: dict[str, Any]) -> str:
    lines = ["Fixed-markup sweep, RTRM (no fairness): per episode, mean [95% CI] over seeds",
             f"{'markup':>7} {'total provider utility':>28} {'buyer utility':>28} "
             f"{'surplus / bound':>17} {'above both':>11} {'buyer/best base':>16}"]
    for row in result["sweep"]:
        lines.append(f"{row['markup']:7.2f} {_fmt(row['total_provider_utility']):>28} "
                     f"{_fmt(row['buyer_utility']):>28} "
                     f"{row['surplus']['mean'] / row['surplus_bound']['mean']:17.3f} "
                     f"{row['providers_above_both']['mean']:11.1f} "
                     f"{row['buyer_fraction_of_best_baseline']['mean']:16.2f}")
    for name, b in result["baselines"].items():
        lines.append(f"{name.upper():>7} {_fmt(b['total_provider_utility']):>28} "
                     f"{_fmt(b['buyer_utility']):>28}")
    best = result["best_total_provider_utility"]
    lines.append(f"best fixed markup: {result['best_markup']} -> total provider utility "
                 f"{best['mean']:.0f} [{best['ci_low']:.0f}, {best['ci_high']:.0f}] per episode")
    return "\n".join(lines)


def format_best_response(result: dict[str, Any]) -> str:
    n = len(result["provider_utility"])
    lines = [f"Iterated best responses from the common markup {result['start_common_markup']}:",
             "  markups " + " ".join(f"{v:.2f}" for v in result["profile"].values()),
             "  RTRM  " + " ".join(f"{u:8.0f}" for u in result["provider_utility"])]
    for name, b in result["baselines"].items():
        lines.append(f"  {name.upper():5} " + " ".join(f"{u:8.0f}" for u in b["provider_utility"]))
    lines += [f"  providers above both baselines: {result['providers_above_both']['mean']:.1f}/{n}"
              f"; buyers get {result['buyer_fraction_of_best_baseline']['mean']:.2f}x the best "
              "baseline's utility (paper: 7/7 and >= 1.4x)",
              f"  joint claim needs a surplus of {_fmt(result['joint_claim_required_surplus'])}; "
              f"the bound is {_fmt(result['surplus_bound'])} (RTRM realizes "
              f"{_fmt(result['rtrm_surplus'])}); it fits in "
              f"{result['seeds_where_joint_claim_fits_the_bound']} seeds"]
    return "\n".join(lines)


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


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
    parser.add_argument("--sweep", type=_floats, default=None, metavar="M1,M2,...",
                        help="run the fixed-markup sweep over these markups instead")
    parser.add_argument("--best-response", type=_floats, default=None, metavar="G1,G2,...",
                        help="run iterated best responses over this markup grid instead")
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the studies (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="best-response rounds (default 2)")
    add_output_arguments(parser, png=True, json_help="write the results as JSON to PATH "
                                                     "(after each configuration)")
    args = parser.parse_args(argv)
    recorded = {k: v for k, v in vars(args).items() if k not in ("no_progress", "restart")}
    store = cell_store(args)  # a rerun with the same --json runs only the missing cells
    if args.sweep is not None or args.best_response is not None:
        if args.seeds < 2 or args.episodes < 1:
            parser.error("the studies need --seeds >= 2 and --episodes >= 1")
        command = "python -m benchmarks.cloud_comparison " + " ".join(
            a for a in (argv if argv is not None else sys.argv[1:]) if a != "--restart")
        output = IncrementalResults(args.json, {"command": command, "args": recorded})
        env_kwargs = {"max_cycles": args.steps, "step_seconds": args.step_seconds,
                      "trace_path": args.trace}
        seeds = list(range(args.seed, args.seed + args.seeds))
        if args.sweep is not None:
            sweep = markup_sweep(args.sweep, seeds, args.episodes, not args.no_progress, output,
                                 store, **env_kwargs)
            output.update(**sweep)
            print(format_sweep(sweep))
        if args.best_response is not None:
            result = best_responses(args.best_response, seeds, args.episodes, args.rounds,
                                    not args.no_progress, store, **env_kwargs)
            output.update(best_response=result)
            print(format_best_response(result))
        return 0
    output = IncrementalResults(args.json, {"args": recorded, "results": {}})
    env_kwargs = {"step_seconds": args.step_seconds, "trace_path": args.trace}
    jobs = [(mechanism, fairness, args.episodes, args.seed, args.policy, args.markup, args.steps,
             env_kwargs) for mechanism, fairness in CONFIGS]

    def save(index: int, result: dict[str, Any]) -> None:
        output.payload["results"][result["label"]] = result
        output.write()

    configs = run_jobs(config_cell, jobs, on_result=save, show_progress=not args.no_progress,
                       desc="configurations", store=store)
    results = {result["label"]: result for result in configs}  # in CONFIGS order
    output.payload["results"] = results
    print(f"policy={args.policy} markup={args.markup} episodes={args.episodes} steps={args.steps} "
          f"step_seconds={args.step_seconds} trace={args.trace or 'packaged synthetic sample'}\n")
    print(format_tables(results))
    output.update(claims=[dict(zip(("claim", "ours", "holds"), c)) for c in claims(results)])
    if args.png:
        plot(results, Path(args.png))
    return 0


if __name__ == "__main__":
    sys.exit(main())
