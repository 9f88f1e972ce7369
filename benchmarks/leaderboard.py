"""The leaderboard: every registered learner on every market it fits, over seeds, ranked on the
market's own metric beside its reference solution.

    auction-envs leaderboard --quick                    # the README's main job (a few minutes)
    auction-envs leaderboard --full --seeds 10 --out runs/board
    auction-envs leaderboard --envs KellyGame --learners BR,OGD_F --backend ray

The grid is (env × learner × seed). Each finished run is appended at once to ``OUT/runs.jsonl``
(:class:`benchmarks.common.CellStore`): a crash, even ``kill -9``, loses nothing finished, and a
rerun with the same ``--out`` resumes, running only the missing cells and never duplicating one.

Per env and learner the board reports the market's primary metric as an IQM with a 95%
bootstrap interval over seeds, marked **met / not met** against its reference (the equilibrium,
the optimum, or the paper's claim), the probability of improvement over the market's reference
learner, the exploitability (NashConv) of the final joint play, and a normalized score paired per
seed with the random policy (0 = random, 1 = the reference).

Exploitability per market: exact on the Kelly game (closed-form best responses) and the exchange
economies (the CE loss: each agent's demand at the posted prices); a bid grid around the truthful
bids on IoV; on V2X and the cloud, where no best response is known, the held-out deviation search
of :mod:`auction_envs.oracles.best_response` against the trained policies, frozen (per searched
agent, the best of a documented family of deviation policies picked on search seeds with common
random numbers, then scored on fresh seeds; its budget per mode in ``BUDGETS``). A single quick
run's search estimate is noisy, so the table shows its IQM with the 95% interval over runs.
Across markets, each learner's normalized scores are aggregated with the stratified bootstrap and
drawn as performance profiles (rliable's statistics, :mod:`benchmarks.stats`).

Outputs in ``OUT``: ``runs.jsonl`` (every run), ``results.json`` (marl-eval layout:
``{env: {task: {algorithm: {run_k: {"absolute_metrics": {...}}}}}}``), ``leaderboard.json`` (the
aggregated rows), ``leaderboard.md`` (the table; ``--update-readme`` embeds it in README.md) and
``performance_profiles.png``.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import stats
from benchmarks.common import (
    CellStore,
    add_output_arguments,
    benchmark_parser,
    plt_agg,
    run_jobs,
    save_figure,
    write_json_atomic,
)

MODES = ("quick", "full")
README_START, README_END = "<!-- leaderboard:start -->", "<!-- leaderboard:end -->"


# ---------------------------------------------------------------------------- markets on the board
@dataclass(frozen=True)
class RunContext:
    """What an exploitability oracle may need besides the finished env and learner."""

    env_id: str
    env_kwargs: dict[str, Any]  #: the board env's constructor arguments (``max_cycles`` included)
    mode: str
    seed: int


def _kelly_exploitability(env: Any, learner: Any, run: RunContext | None = None) -> float:
    return float(env.unwrapped.metrics()["nash_conv"])  # exact: closed-form best responses


def _exchange_exploitability(env: Any, learner: Any, run: RunContext | None = None) -> float:
    # the CE loss is the sum over agents of the utility gained by demanding at the posted prices
    return float(env.unwrapped.metrics()["ce_loss"])


def _iov_exploitability(env: Any, learner: Any, run: RunContext | None = None) -> float | None:
    # approximate: the best multiple (0.5..1.5) of the truthful bid per VSP, 16 noise samples,
    # against the last round's bids (the env's documented bid-grid search)
    market = env.unwrapped
    if not hasattr(market, "bidder_nash_conv"):
        return None
    return float(market.bidder_nash_conv(samples=16)["nash_conv"])


def frozen_policy_factory(learner: Any) -> Callable[[], Callable[[dict], dict]]:
    """Fresh frozen copies of a trained learner (``act(..., explore=False)``, never ``observe``):
    one per oracle episode, so a stochastic policy replays the same draws (common random
    numbers) and no episode changes the learner the board measured."""
    import copy

    def make() -> Callable[[dict], dict]:
        frozen = copy.deepcopy(learner)
        return lambda observations: frozen.act(observations, explore=False)
    return make


def _search_exploitability(market: str) -> Callable[[Any, Any, RunContext | None], dict | None]:
    """Approximate NashConv of the trained joint policy by the held-out deviation search of
    :mod:`auction_envs.oracles.best_response` (its family and budget for ``market`` and the mode)."""
    def exploitability(env: Any, learner: Any, run: RunContext | None = None) -> dict | None:
        import auction_envs
        from auction_envs.oracles.best_response import BUDGETS, market_nash_conv

        if run is None or learner is None:
            return None
        budget = BUDGETS[market][run.mode]
        oracle_env = auction_envs.make(run.env_id, **{**run.env_kwargs,
                                                      "max_cycles": budget.max_cycles})
        try:
            result = market_nash_conv(market, oracle_env, frozen_policy_factory(learner), budget,
                                      run.seed)
        finally:
            oracle_env.close()
        return {"nash_conv": result["nash_conv"], "ci95": result["ci95"],
                "stderr": None if math.isnan(result["stderr"]) else result["stderr"],
                "episodes": result["episodes"], "scale": result["scale"],
                "deviations": {agent: entry["deviation"] for agent, entry in
                               result["agents"].items()}, "budget": result["budget"]}
    return exploitability


@dataclass(frozen=True)
class Board:
    """One market on the leaderboard: its primary metric, reference and budgets."""

    market: str  #: env id without version
    metric: str  #: key of ``metrics()``
    higher_is_better: bool
    reference_learner: str  #: the learner the probability of improvement is taken against
    reference_value: float | None  #: the metric at the reference solution (None: the reference learner's)
    reference_text: str
    #: met(learner IQM, context) with context = {"value": reference_value, "reference_learner":
    #: that learner's IQM, "best_scripted": the best scripted policy's IQM}
    met: Callable[[float, dict[str, float]], bool]
    rounds: dict[str, int]
    env_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ``(env, learner, run) -> NashConv`` (a float, or a dict with ``nash_conv`` and its error
    #: bar) of the final joint play, None where the market has no oracle
    exploitability: Callable[[Any, Any, RunContext | None], Any] | None = None
    exploitability_method: str = ""  #: how it is computed (the table's footnote)


EXACT_KELLY = "exact (closed-form best responses to the last round)"
EXACT_CE = "exact (CE loss: each agent's demand at the posted prices)"
GRID_IOV = "bid grid (0.5..1.5 x truthful, 16 noise samples), last round"
SEARCH = ("approximate: held-out deviation search against the frozen policies "
          "(auction_envs.oracles.best_response; IQM over runs [95% CI])")

BOARDS: tuple[Board, ...] = (
    Board("auction_envs/KellyGame", "nash_conv", False, "BR", 0.0,
          "0 at the Nash equilibrium (met: NashConv ≤ 1e-3)", lambda v, c: v <= 1e-3,
          {"quick": 300, "full": 3000}, exploitability=_kelly_exploitability,
          exploitability_method=EXACT_KELLY),
    Board("auction_envs/KellyGameHeterogeneous", "nash_conv", False, "BR", 0.0,
          "0 at the Nash equilibrium (met: NashConv ≤ 1e-3)", lambda v, c: v <= 1e-3,
          {"quick": 300, "full": 3000}, exploitability=_kelly_exploitability,
          exploitability_method=EXACT_KELLY),
    Board("auction_envs/ExchangeEconomy", "ce_loss", False, "ProportionalResponse", 0.0,
          "0 at the competitive equilibrium (met: ≤ 1e-3)", lambda v, c: v <= 1e-3,
          {"quick": 200, "full": 2000}, exploitability=_exchange_exploitability,
          exploitability_method=EXACT_CE),
    Board("auction_envs/ExchangeEconomyAmdahl", "ce_loss", False, "ProportionalResponse", 0.0,
          "0 at the competitive equilibrium (met: ≤ 1e-3)", lambda v, c: v <= 1e-3,
          {"quick": 200, "full": 2000}, exploitability=_exchange_exploitability,
          exploitability_method=EXACT_CE),
    Board("auction_envs/ExchangeEconomyMechanism", "mean_ce_loss", False, "GreedyCE", 0.0,
          "0 at the CE; paper 003: cumulative loss sublinear (met: mean loss ≤ greedy's)",
          lambda v, c: v <= c["reference_learner"], {"quick": 200, "full": 2000},
          exploitability=_exchange_exploitability,
          exploitability_method=EXACT_CE),
    Board("auction_envs/ExchangeEconomyMechanismAmdahl", "mean_ce_loss", False, "GreedyCE", 0.0,
          "0 at the CE; paper 003: cumulative loss sublinear (met: mean loss ≤ greedy's)",
          lambda v, c: v <= c["reference_learner"], {"quick": 200, "full": 2000},
          exploitability=_exchange_exploitability,
          exploitability_method=EXACT_CE),
    Board("auction_envs/V2XOffloadingHighContention", "ofr", False, "PassiveV2X", None,
          "paper 000: DRACO ≈ 30% below passive at capacity 60 (met: ≤ 0.7 × passive)",
          lambda v, c: v <= 0.7 * c["reference_learner"], {"quick": 1000, "full": 20000},
          exploitability=_search_exploitability("v2x"), exploitability_method=SEARCH),
    Board("auction_envs/V2XOffloading", "ofr", False, "PassiveV2X", None,
          "paper 000: DRACO ≈ 40% below passive on average (met: ≤ 0.7 × passive)",
          lambda v, c: v <= 0.7 * c["reference_learner"], {"quick": 1000, "full": 20000},
          exploitability=_search_exploitability("v2x"), exploitability_method=SEARCH),
    Board("auction_envs/CloudDoubleAuction", "total_provider_utility", True, "FixedMarkup1.2", None,
          "beats the best fixed markup on the board (met: ≥ the best scripted IQM)",
          lambda v, c: v >= c["best_scripted"], {"quick": 200, "full": 2000},
          exploitability=_search_exploitability("cloud"), exploitability_method=SEARCH),
    Board("auction_envs/IoVSlicing", "mean_efficiency", True, "TruthfulIoV", 1.0,
          "1 at the exact welfare optimum (met: ≥ 0.95)", lambda v, c: v >= 0.95,
          {"quick": 100, "full": 1000}, exploitability=_iov_exploitability,
          exploitability_method=GRID_IOV),
    Board("auction_envs/IoVSlicingVCG", "mean_efficiency", True, "TruthfulIoV", 1.0,
          "1 at the exact welfare optimum (met: ≥ 0.95)", lambda v, c: v >= 0.95,
          {"quick": 100, "full": 1000}, exploitability=_iov_exploitability,
          exploitability_method=GRID_IOV),
)


def board_of(market: str) -> Board:
    for board in BOARDS:
        if board.market == market:
            return board
    raise KeyError(f"no market {market!r} on the board; markets: {[b.market for b in BOARDS]}")


def latest_id(market: str) -> str:
    """The highest registered version of ``market`` (``auction_envs/KellyGame`` -> ``...-v0``)."""
    import auction_envs

    versions = [(int(env_id.rsplit("-v", 1)[1]), env_id) for env_id in auction_envs.list_envs()
                if env_id.rsplit("-v", 1)[0] == market]
    if not versions:
        raise KeyError(f"no registered id for market {market!r}")
    return max(versions)[1]


# ---------------------------------------------------------------------------- one run
def run_one(market: str, learner_name: str, seed: int, mode: str) -> dict[str, Any]:
    """Train (or play) ``learner_name`` for one episode of the board's budget; its final metrics."""
    import auction_envs
    from agents.logging import scalars
    from agents.registry import get_learner
    from agents.runner import play_episode

    board = board_of(market)
    env_id = latest_id(market)
    spec = get_learner(learner_name)
    options, learner_env_kwargs = spec.options(env_id)
    env_kwargs = {**board.env_kwargs.get(mode, {}), **learner_env_kwargs,
                  "max_cycles": board.rounds[mode]}
    started, started_cpu = time.perf_counter(), time.process_time()
    env = auction_envs.make(env_id, **env_kwargs)
    learner = spec.make(env, seed, **options)
    totals: dict[str, float] = {}

    def add(rewards: dict[str, float]) -> None:
        for agent, reward in rewards.items():
            totals[agent] = totals.get(agent, 0.0) + float(reward)

    play_episode(env, learner, seed=seed, on_rewards=add)
    metrics = scalars(env.unwrapped.metrics())
    trained = time.process_time()
    run = RunContext(env_id, env_kwargs, mode, seed)
    found = board.exploitability(env, learner, run) if board.exploitability else None
    detail = found if isinstance(found, dict) else None
    exploitability = detail["nash_conv"] if detail else found
    env.close()
    finished = time.process_time()
    return {"env_id": env_id, "market": market, "learner": learner_name, "seed": seed, "mode": mode,
            "rounds": board.rounds[mode], "metric": board.metric, "value": metrics[board.metric],
            "return": float(np.mean(list(totals.values()))) if totals else 0.0,
            "exploitability": exploitability, "exploitability_detail": detail,
            "metrics": metrics, "seconds": round(time.perf_counter() - started, 3),
            "cpu_seconds": round(finished - started_cpu, 3),
            "oracle_cpu_seconds": round(finished - trained, 3)}


def grid(markets: list[str], learners: list[str] | None, seeds: int, mode: str = "quick"
         ) -> list[tuple[str, str, int]]:
    """Every (market, learner, seed) of the board, learners filtered by ``learners`` (the random
    policy and each market's reference learner always run: the normalization needs them)."""
    from agents.registry import learners_for

    cells = []
    for market in markets:
        board = board_of(market)
        names = [spec.name for spec in learners_for(latest_id(market)) if mode in spec.modes]
        if learners:
            names = [n for n in names if n in learners or n in ("Random", board.reference_learner)]
        for name in names:
            cells.extend((market, name, seed) for seed in range(seeds))
    return cells


# ---------------------------------------------------------------------------- execution
def _run_local(jobs: list[tuple], store: CellStore, workers: int, show_progress: bool) -> None:
    run_jobs(run_one, jobs, workers, show_progress=show_progress, desc="leaderboard", store=store)


def _run_ray(jobs: list[tuple], store: CellStore, address: str | None, show_progress: bool) -> None:
    try:
        import ray
    except ImportError as exc:
        raise SystemExit("--backend ray needs Ray: pip install -e '.[ray]'") from exc
    from benchmarks.common import progress

    pending = [job for job in jobs if store.get(("run_one", job)) is None]
    if not pending:
        return
    ray.init(address=address, include_dashboard=False, log_to_driver=False,
             ignore_reinit_error=True, runtime_env={"env_vars": {"PYTHONHASHSEED": "0"}})
    try:
        remote = ray.remote(run_one)
        refs = {remote.remote(*job): job for job in pending}
        bar = iter(progress(range(len(refs)), len(refs), "leaderboard (ray)", show_progress))
        while refs:  # stream each finished run into the store as soon as it completes
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                store.put(("run_one", refs.pop(ref)), ray.get(ref))
                next(bar, None)
    finally:
        ray.shutdown()


# ---------------------------------------------------------------------------- aggregation
def _paired(runs: list[dict], learner: str, field_name: str) -> dict[int, float]:
    return {run["seed"]: run[field_name] for run in runs if run["learner"] == learner
            and run[field_name] is not None}


def aggregate(runs: list[dict], reps: int = 2000) -> dict[str, Any]:
    """Leaderboard rows per (env, learner) and the overall aggregate per learner."""
    rows: list[dict[str, Any]] = []
    normalized: dict[str, dict[str, np.ndarray]] = {}  # learner -> env -> per-seed scores
    for market in dict.fromkeys(run["market"] for run in runs):
        board = board_of(market)
        market_runs = [run for run in runs if run["market"] == market]
        reference_values = _paired(market_runs, board.reference_learner, "value")
        random_values = _paired(market_runs, "Random", "value")
        random_returns = _paired(market_runs, "Random", "return")
        reference_returns = _paired(market_runs, board.reference_learner, "return")
        reference_iqm = stats.iqm(np.array(list(reference_values.values()))) if reference_values \
            else float("nan")
        context = {"value": board.reference_value, "reference_learner": reference_iqm,
                   "best_scripted": _best_scripted(market_runs, board)}
        for learner in dict.fromkeys(run["learner"] for run in market_runs):
            mine = _paired(market_runs, learner, "value")
            seeds = sorted(mine)
            values = np.array([mine[s] for s in seeds])
            centre = stats.iqm(values)
            low, high = stats.stratified_bootstrap_ci(values, reps=reps)
            if reference_values and learner != board.reference_learner:
                ref = np.array(list(reference_values.values()))
                poi = stats.probability_of_improvement(-values if not board.higher_is_better
                                                       else values,
                                                       -ref if not board.higher_is_better else ref)
            else:
                poi = None
            scores = _scores(mine, random_values, board.reference_value, reference_values,
                             board.higher_is_better)
            if scores.size:
                normalized.setdefault(learner, {})[market] = scores
            returns = _scores(_paired(market_runs, learner, "return"), random_returns, None,
                              reference_returns, True)
            exploit = [run["exploitability"] for run in market_runs
                       if run["learner"] == learner and run["exploitability"] is not None]
            rows.append({
                "market": market, "env_id": market_runs[0]["env_id"], "learner": learner,
                "metric": board.metric, "seeds": len(seeds), "iqm": centre, "ci": [low, high],
                "reference": board.reference_text, "reference_context": context,
                "met": _judge(board, centre, context),
                "poi_vs_reference": poi, "reference_learner": board.reference_learner,
                "exploitability": stats.iqm(np.array(exploit)) if exploit else None,
                "exploitability_ci": list(stats.stratified_bootstrap_ci(np.array(exploit),
                                                                        reps=reps))
                if len(exploit) > 1 else None,
                "exploitability_method": board.exploitability_method if exploit else None,
                "normalized_score": stats.iqm(scores) if scores.size else None,
                "normalized_return": stats.iqm(returns) if returns.size else None,
            })
    overall = {}
    for learner, by_market in normalized.items():
        width = min(len(v) for v in by_market.values())
        matrix = np.column_stack([v[:width] for v in by_market.values()])
        low, high = stats.stratified_bootstrap_ci(matrix, reps=reps)
        overall[learner] = {"markets": sorted(by_market), "iqm": stats.iqm(matrix),
                            "ci": [low, high]}
    return {"rows": rows, "overall": overall, "normalized": {
        learner: {m: v.tolist() for m, v in by.items()} for learner, by in normalized.items()}}


def _judge(board: Board, value: float, context: dict[str, Any]) -> bool | None:
    """The board's verdict, or None when a quantity it needs is missing from the grid."""
    try:
        return bool(board.met(value, context))
    except TypeError:  # a None in the context: that learner did not run
        return None


def _best_scripted(runs: list[dict], board: Board) -> float | None:
    from agents.registry import get_learner

    by_learner: dict[str, list[float]] = {}
    for run in runs:
        if get_learner(run["learner"]).kind == "scripted":
            by_learner.setdefault(run["learner"], []).append(run["value"])
    if not by_learner:
        return None
    values = [stats.iqm(np.array(v)) for v in by_learner.values()]
    return max(values) if board.higher_is_better else min(values)


def _scores(mine: dict[int, float], floor: dict[int, float], reference_value: float | None,
            reference: dict[int, float], higher_is_better: bool) -> np.ndarray:
    """Per seed ``(x - random) / (reference - random)``: 0 = the random policy, 1 = the reference
    (the reference solution's value, else the reference learner's on the same seed). A seed where
    the reference does not beat the random policy has no score (the scale would be inverted)."""
    scores = []
    for seed, value in sorted(mine.items()):
        top = reference_value if reference_value is not None else reference.get(seed)
        if seed not in floor or top is None:
            continue
        gap = top - floor[seed]
        if (gap <= 0) if higher_is_better else (gap >= 0):
            continue
        scores.append((value - floor[seed]) / (top - floor[seed]))
    return np.array(scores)


# ---------------------------------------------------------------------------- outputs
def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "met" if value else "**not met**"
    value = float(value)
    if not math.isfinite(value):
        return "nan"
    return f"{value:.3g}" if value == 0 or 1e-3 <= abs(value) < 1e5 else f"{value:.2e}"


def _exploit(row: dict[str, Any]) -> str:
    """The exploitability cell: the IQM, with its interval over runs for the approximate oracles
    (whose single-run estimates are noisy)."""
    if row.get("exploitability_method") == SEARCH and row.get("exploitability_ci"):
        low, high = row["exploitability_ci"]
        return f"{_fmt(row['exploitability'])} [{_fmt(low)}, {_fmt(high)}]"
    return _fmt(row["exploitability"])


def markdown(board: dict[str, Any], mode: str, seeds: int) -> str:
    lines = [f"Leaderboard ({mode} grid, {seeds} seeds; `auction-envs leaderboard --{mode}`). "
             "IQM over seeds [95% bootstrap CI]; PoI = probability of improvement over the "
             "market's reference learner; score 0 = random policy, 1 = reference.", "",
             "| env | learner | metric | IQM [95% CI] | reference | verdict | PoI | exploitability "
             "| score | norm. return |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in board["rows"]:
        lines.append(
            f"| `{row['env_id'].split('/')[-1]}` | {row['learner']} | {row['metric']} | "
            f"{_fmt(row['iqm'])} [{_fmt(row['ci'][0])}, {_fmt(row['ci'][1])}] | {row['reference']} | "
            f"{_fmt(row['met'])} | {_fmt(row['poi_vs_reference'])} | {_exploit(row)} | "
            f"{_fmt(row['normalized_score'])} | {_fmt(row['normalized_return'])} |")
    methods: dict[str, dict[str, None]] = {}  # method -> envs, in table order
    for row in board["rows"]:
        if row.get("exploitability_method"):
            methods.setdefault(row["exploitability_method"], {})[row["env_id"].split("/")[-1]] = None
    if methods:
        lines += ["", "Exploitability (NashConv of the final joint play): " + "; ".join(
            f"{method}: {', '.join(f'`{env}`' for env in envs)}" for method, envs in
            methods.items()) + "."]
    lines += ["", "| learner | markets | normalized score IQM [95% stratified-bootstrap CI] |",
              "|---|---|---|"]
    for learner, entry in sorted(board["overall"].items(), key=lambda kv: -kv[1]["iqm"]):
        lines.append(f"| {learner} | {len(entry['markets'])} | {_fmt(entry['iqm'])} "
                     f"[{_fmt(entry['ci'][0])}, {_fmt(entry['ci'][1])}] |")
    return "\n".join(lines) + "\n"


def marl_eval(runs: list[dict]) -> dict[str, Any]:
    """The runs in marl-eval's layout: env family -> task -> algorithm -> run -> metrics."""
    layout: dict[str, Any] = {}
    for run in runs:
        family, task = run["market"].split("/")
        node = layout.setdefault(family, {}).setdefault(task, {}).setdefault(run["learner"], {})
        metrics = {run["metric"]: [run["value"]], "return": [run["return"]]}
        if run["exploitability"] is not None:
            metrics["exploitability"] = [run["exploitability"]]
        node[f"seed_{run['seed']}"] = {"absolute_metrics": metrics}
    return layout


def plot_profiles(board: dict[str, Any], path: Path) -> Path | None:
    try:
        plt = plt_agg()
    except ImportError:
        return None
    taus = np.linspace(-0.5, 1.5, 81)
    figure, axis = plt.subplots(figsize=(7, 4.2))
    for learner, by_market in sorted(board["normalized"].items()):
        scores = np.concatenate([np.asarray(v) for v in by_market.values()])
        axis.plot(taus, stats.performance_profile(scores, taus), label=learner)
    axis.set_xlabel("normalized score τ (0 = random, 1 = reference)")
    axis.set_ylabel("fraction of runs with score > τ")
    axis.set_title("Performance profiles over every market a learner runs on")
    axis.legend(fontsize=7, ncol=2)
    return save_figure(figure, path)


def update_readme(table: str, readme: Path) -> bool:
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{table}{README_END}{tail}")
    return True


# ---------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__doc__, "auction-envs leaderboard")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--quick", action="store_const", const="quick", dest="mode",
                       help="short budgets (the default; a few minutes on 2 cores)")
    scope.add_argument("--full", action="store_const", const="full", dest="mode",
                       help="the full budgets of each market")
    parser.add_argument("--envs", default="", help="comma-separated markets (names with or "
                        "without 'auction_envs/'; default: every market on the board)")
    parser.add_argument("--learners", default="", help="comma-separated learner names (default: "
                        "every registered learner that fits; Random and the reference learner "
                        "always run)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per (env, learner) (default 5)")
    parser.add_argument("--backend", choices=("local", "ray"), default="local",
                        help="local process pool (default) or Ray tasks")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: a local Ray)")
    parser.add_argument("--workers", type=int, default=1, help="local processes (default 1)")
    parser.add_argument("--out", type=Path, default=Path("results/leaderboard"),
                        help="results folder (default results/leaderboard); a rerun resumes")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap replicates (default 2000)")
    parser.add_argument("--update-readme", action="store_true",
                        help="embed the markdown table in README.md between its markers")
    add_output_arguments(parser, json_help="also write the aggregated leaderboard to PATH")
    args = parser.parse_args(argv)
    mode = args.mode or "quick"
    if args.seeds < 1 or args.workers < 1 or args.reps < 1:
        parser.error("--seeds, --workers and --reps must be positive")
    markets = [b.market for b in BOARDS]
    if args.envs:
        wanted = [e if e.startswith("auction_envs/") else f"auction_envs/{e}"
                  for e in args.envs.split(",")]
        unknown = [w for w in wanted if w not in markets]
        if unknown:
            parser.error(f"unknown markets {unknown}; choose among {markets}")
        markets = wanted
    from agents.registry import learner_registry

    learners = [name for name in args.learners.split(",") if name]
    unknown = sorted(set(learners) - set(learner_registry()))
    if unknown:
        parser.error(f"unknown learners {unknown}; registered: {sorted(learner_registry())}")
    jobs = [(market, learner, seed, mode) for market, learner, seed in grid(markets, learners or None,
                                                                          args.seeds, mode)]
    args.out.mkdir(parents=True, exist_ok=True)
    store = CellStore(args.out / "runs.jsonl", restart=args.restart)
    print(f"{len(jobs)} runs ({len(store)} already in {args.out / 'runs.jsonl'})", file=sys.stderr)
    if args.backend == "ray":
        _run_ray(jobs, store, args.address, not args.no_progress)
    else:
        _run_local(jobs, store, args.workers, not args.no_progress)
    runs = [store.get(("run_one", job)) for job in jobs]
    board = aggregate(runs, reps=args.reps)
    table = markdown(board, mode, args.seeds)
    print(table)
    write_json_atomic(args.out / "results.json", marl_eval(runs))
    write_json_atomic(args.out / "leaderboard.json", {"mode": mode, "seeds": args.seeds, **board})
    (args.out / "leaderboard.md").write_text(table)
    figure = plot_profiles(board, args.out / "performance_profiles.png")
    if args.json:
        write_json_atomic(args.json, {"mode": mode, "seeds": args.seeds, **board})
    if args.update_readme and not update_readme(table, Path("README.md")):
        print("README.md has no leaderboard markers; not updated", file=sys.stderr)
    print(f"wrote {args.out}/results.json, leaderboard.json, leaderboard.md"
          + (f", {figure.name}" if figure else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
