"""Reproduce paper 000 (DRACO): learning V2X vehicles against passive ones, OFR against capacity.

    python -m benchmarks.reproduce_draco --quick            # a smoke run (< 15 min on 2 cores)
    python -m benchmarks.reproduce_draco [--seeds 0 1 2 3 4] [--workers 2] [--json PATH]
        [--png results/reproduce_draco] [--checkpoint-dir results/reproduce_draco_runs]

Paper claims compared (MARKETS §2, paper 000 §IV):

* OFR against capacity 50-230, MP 1 and 5 (Fig. 4a): DRACO ("D+R") about 40% lower than passive
  RIAL-only vehicles on average, about 30% lower at capacity 60 with MP 1 (Fig. 3a: 14% vs 20%);
* rebidding overhead at MP 5 about 32% lower (Fig. 4c);
* remote-site utilization up to 18% higher in high contention, its standard deviation up to 21%
  lower (Fig. 4d, Fig. 3b);
* per-vehicle OFR CDF (Fig. 5, capacity 70): every vehicle's OFR drops; low-budget vehicles learn
  longer backoff (Fig. 6);
* models trained on the intersection *training* setup keep beating passive on the *test* setup
  without retraining (Fig. 7).

Every row is paired per seed: the same evaluation seed (arrivals, budgets) for every policy, and a
verdict uses the 95% t-interval of the per-seed differences (never "disjoint intervals"). Policies:
``passive`` (:class:`agents.baselines.PassiveV2XPolicy`: submit at once, price 750), ``scripted``
(the same price; submit when the ACA's utilization view β is below ``--scripted-threshold``, else
``alpha = --scripted-alpha``), ``backoff`` and ``backoff15``
(:class:`agents.baselines.ScriptedBackoffV2XPolicy`, default and ``min_slack = 15``: hold what can
wait while congested, bid more for the urgent; ``SCRIPTED_BACKOFFS``), ``draco``
(:class:`agents.fsp.DRACOLearner`, trained ``--train-steps`` steps on the same capacity and MP
with the training seed, then evaluated greedily on the mean of its average behaviour ψ;
``draco_br``: the same run on the mean of its best response ζ; with ``--imitate NAME`` both
start from a behaviour clone of the scripted vehicles ``NAME`` played ``--imitate-steps`` steps on
seed 20000 + seed, a warm start the paper does not use, named in the verdict lines; the rows
``draco_clone`` / ``draco_clone_br`` are that clone before any RL step, the control that shows
what the RL steps add), and
``ppo`` (off-the-shelf SB3 PPO with parameter sharing through
``auction_envs.wrappers.sb3.sb3_vec_env``, default hyper-parameters (``--quick``: rollouts of
256 steps instead of 2048), ``--ppo-steps`` agent steps, at ``--ppo-capacities``). Every row
shows the failure mix (rejected / dropped while held / missed deadline after admission), so
"hold everything" or "admitted, then late" solutions are visible, and the mean reward per
vehicle-step, so a policy whose reward and OFR disagree shows it.

Training resumes from checkpoints: each DRACO training run writes
``<checkpoint-dir>/<unit>/checkpoint.npz`` every ``--checkpoint-every`` steps (through
``agents.runner.train``, the safe format); a rerun continues each unfinished run exactly and reuses
finished ones (a finished PPO model is kept in SB3's zip and reused). ``--restart`` recomputes the
result cells (evaluation) but still reuses these checkpoints: for training from scratch, give an
empty ``--checkpoint-dir`` (or delete the old one).
``--json PATH`` is rewritten after each finished unit. The env ids are arguments (``--env-id``,
``--intersection-train-id``, ``--intersection-test-id``; default: the newest registered version of
each family), and every metric name of the env is read in one place (``METRIC_PATHS``).
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
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

FAMILIES = {"synthetic": "V2XOffloading", "train": "V2XOffloadingIntersection",
            "test": "V2XOffloadingIntersectionTest"}
CAPACITIES = (50, 60, 70, 80, 90, 100, 110, 130, 150, 170, 190, 210, 230)
QUICK = {"capacities": [60], "mps": [1, 5], "seeds": [0, 1, 2], "train_steps": 800,
         "eval_steps": 600, "ppo_steps": 15_000, "ppo_n_steps": 256,
         "intersection_train_steps": 600, "intersection_eval_steps": 600}
FULL = {"capacities": list(CAPACITIES), "mps": [1, 5], "seeds": [0, 1, 2, 3, 4],
        "train_steps": 20_000, "eval_steps": 3000, "ppo_steps": 300_000, "ppo_n_steps": 2048,
        "intersection_train_steps": 20_000, "intersection_eval_steps": 3000}
#: The congestion-aware scripted vehicles of ``agents.baselines`` (hold what can wait while the
#: auction is congested, bid more for the urgent): the default, and ``min_slack = 15``, the best
#: scripted policy of the grid in docs/results/v2x_policy_grid_c60_mp1.txt (OFR -32% at 60, MP 1):
#: the bar a learner should approach.
SCRIPTED_BACKOFFS: dict[str, dict[str, float]] = {"backoff": {}, "backoff15": {"min_slack": 15.0}}
EVAL_SEED_OFFSET = 10_000  # evaluation seeds differ from training seeds

#: Where each reported quantity lives in ``env.unwrapped.metrics()`` (the one place to change if
#: the env renames a metric); a missing path reads as NaN.
METRIC_PATHS: dict[str, tuple[str, ...]] = {
    "ofr": ("ofr",),
    "rejected": ("ofr_rejected",),
    "dropped_held": ("ofr_dropped_on_hold",),
    "deadline_miss": ("ofr_deadline_miss",),
    "remote_utilization": ("utilization", "remote"),
    "remote_utilization_std": ("utilization_std", "remote"),
    "edge_utilization": ("utilization", "edge"),
    "rebidding_overhead": ("rebidding_overhead",),
    "backoff_high": ("backoff_by_budget", "high"),
    "backoff_low": ("backoff_by_budget", "low"),
    "price_high": ("price_by_budget", "high"),
    "price_low": ("price_by_budget", "low"),
}
VEHICLE_OFR_PATH = ("vehicle_ofr",)
#: The paper's numbers (read from its text), by claim.
PAPER = {
    "ofr_reduction_mean": 0.40, "ofr_reduction_60_mp1": 0.30, "passive_ofr_60_mp1": 0.20,
    "draco_ofr_60_mp1": 0.14, "rebidding_reduction_mp5": 0.32,
    "remote_utilization_gain_high_contention": 0.18, "utilization_std_reduction": 0.21,
}
ISSUE_TARGET_REDUCTION = 0.20  # issue 13: at least 20% lower OFR at capacities 60 and 80, MP 1


# ---------------------------------------------------------------------------- env plumbing
def newest_id(family: str) -> str:
    """The newest registered version of ``auction_envs/<family>-v<k>``."""
    import auction_envs

    pattern = re.compile(rf"^auction_envs/{re.escape(family)}-v(\d+)$")
    versions = [(int(m.group(1)), i) for i in auction_envs.list_envs() if (m := pattern.match(i))]
    if not versions:
        raise ValueError(f"no registered id of family {family!r}")
    return max(versions)[1]


def read_metric(metrics: dict[str, Any], path: Sequence[str]) -> Any:
    value: Any = metrics
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return float("nan")
        value = value[key]
    return value


def observation_reader(env: Any, name: str) -> Callable[[np.ndarray], float]:
    """Read header field ``name`` of an observation by name: through the env's layout when it has
    one; else through the v0 env's ``HEADER_FIELDS`` (the only place this script knows offsets)."""
    base = env.unwrapped
    layout = getattr(base, "layout", None)
    if layout is not None and name in layout:
        return lambda obs: float(np.asarray(layout.get(obs, name)).reshape(-1)[0])
    from auction_envs.envs.v2x.env import HEADER_FIELDS

    index = HEADER_FIELDS.index(name)
    return lambda obs: float(obs[index])


class ScriptedBackoff:
    """Passive pricing; submit (``alpha = 1``) while the ACA's utilization view β is below
    ``threshold``, else ``alpha`` (a hold of ``ceil((1 - alpha) 10)`` steps unless the random
    threshold lets it through)."""

    def __init__(self, env: Any, threshold: float = 0.8, alpha: float = 0.3) -> None:
        from agents.baselines import PassiveV2XPolicy

        self.passive = PassiveV2XPolicy()
        self.beta = observation_reader(env, "system_utilization")
        self.threshold, self.alpha = threshold, alpha

    def act(self, observations: dict[str, np.ndarray], explore: bool = False
            ) -> dict[str, np.ndarray]:
        actions = self.passive.act(observations)
        for agent, obs in observations.items():
            if self.beta(obs) >= self.threshold:
                actions[agent][0] = self.alpha
        return actions


class PPOPolicy:
    """An SB3 model acting for every vehicle (one shared policy), deterministically."""

    def __init__(self, model: Any, agents: Sequence[str]) -> None:
        self.model, self.agents = model, list(agents)

    def act(self, observations: dict[str, np.ndarray], explore: bool = False
            ) -> dict[str, np.ndarray]:
        batch = np.stack([observations[a] for a in self.agents])
        actions, _ = self.model.predict(batch, deterministic=True)
        return {a: np.clip(actions[i], 0.0, 1.0).astype(np.float32)
                for i, a in enumerate(self.agents)}


def evaluate_policy(policy: Any, env_id: str, env_kwargs: dict[str, Any], seed: int,
                    steps: int) -> dict[str, Any]:
    """Play ``policy`` greedily for ``steps`` steps; the metrics, the per-vehicle OFR and the mean
    reward per vehicle-step."""
    import auction_envs

    env = auction_envs.make(env_id, **{**env_kwargs, "max_cycles": steps})
    if hasattr(policy, "reset_evaluation"):
        policy.reset_evaluation()
    observations, _ = env.reset(seed=seed)
    reward, count = 0.0, 0
    while env.agents:
        observations, rewards, *_ = env.step(policy.act(observations, explore=False))
        reward += float(np.sum(list(rewards.values())))
        count += len(rewards)
    metrics = env.unwrapped.metrics()
    row = {name: _number(read_metric(metrics, path)) for name, path in METRIC_PATHS.items()}
    vehicle = np.asarray(read_metric(metrics, VEHICLE_OFR_PATH), dtype=np.float64).reshape(-1)
    row["vehicle_ofr"] = [None if not np.isfinite(v) else float(v) for v in vehicle]
    row["reward"] = reward / max(count, 1)
    env.close()
    return row


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


# ---------------------------------------------------------------------------- units of work
def draco_config(options: dict[str, Any]) -> dict[str, Any]:
    return {"share_parameters": not options["per_vehicle"], "eta_schedule": options["eta_schedule"],
            **options["draco_kwargs"]}


def best_response_view(learner: Any) -> Any:
    """The same trained learner, evaluated on the mean of its best response ζ instead of ψ."""
    from dataclasses import replace

    view = copy.copy(learner)
    view.config = replace(learner.config, eval_policy="best_response")
    view.eval_history = learner.eval_history.copy()
    return view


def train_draco(env_id: str, env_kwargs: dict[str, Any], seed: int, steps: int,
                options: dict[str, Any], unit: str) -> Any:
    """Train (or resume, or reload) one DRACO run through ``agents.runner.train``."""
    from agents.fsp import DRACOLearner
    from agents.runner import RunConfig, train

    log_dir = Path(options["checkpoint_dir"]) / unit
    resume = (log_dir / "runner.json").exists()
    config = RunConfig(env_id, seed=seed, rounds=steps,
                       env_kwargs={**env_kwargs, "max_cycles": max(steps, 1)},
                       log_dir=str(log_dir), log_every=100,
                       checkpoint_every=options["checkpoint_every"], tensorboard=False,
                       progress=options["progress"])
    overrides = draco_config(options)

    def make_learner(env: Any) -> Any:
        learner = DRACOLearner(env, seed=seed, **overrides)
        if options.get("imitate"):  # the behaviour-cloning warm start (resume reloads over it)
            learner.imitation = warm_start(learner, env_id, env_kwargs, seed, options)
        return learner

    result = train(make_learner, config, resume=resume)
    return result["learner"]


#: Demonstrations of the warm start play on seeds IMITATION_SEED_OFFSET + seed: neither a training
#: nor an evaluation seed.
IMITATION_SEED_OFFSET = 20_000


def warm_start(learner: Any, env_id: str, env_kwargs: dict[str, Any], seed: int,
               options: dict[str, Any]) -> dict[str, float]:
    """Clone the scripted vehicles ``options["imitate"]`` (a key of :data:`SCRIPTED_BACKOFFS`)
    into ``learner`` from ``options["imitate_steps"]`` demonstration steps
    (:meth:`agents.fsp.DRACOLearner.imitate`) [ours: the paper trains from scratch]."""
    import auction_envs
    from agents.baselines import ScriptedBackoffV2XPolicy

    steps = int(options["imitate_steps"])
    env = auction_envs.make(env_id, **{**env_kwargs, "max_cycles": steps})
    policy = ScriptedBackoffV2XPolicy(layout=env.unwrapped.layout,
                                      **SCRIPTED_BACKOFFS[options["imitate"]])
    report = learner.imitate(env, policy, steps, seed=IMITATION_SEED_OFFSET + seed)
    env.close()
    return report


def synthetic_unit(capacity: float, mp: int, seed: int, options: dict[str, Any]) -> list[dict]:
    """Passive, scripted and DRACO at one (capacity, MP, seed), evaluated on the same seed."""
    import torch

    torch.set_num_threads(1)
    import auction_envs
    from agents.baselines import PassiveV2XPolicy, ScriptedBackoffV2XPolicy

    env_id = options["env_id"]
    kwargs = {**options["env_kwargs"], "capacity": float(capacity), "max_rebids": int(mp)}
    eval_seed = EVAL_SEED_OFFSET + seed
    common = {"setup": "synthetic", "env_id": env_id, "capacity": capacity, "mp": mp,
              "seed": seed}
    probe = auction_envs.make(env_id, **kwargs)
    policies: list[tuple[str, Any, float]] = [
        ("passive", PassiveV2XPolicy(), 0.0),
        ("scripted", ScriptedBackoff(probe, options["scripted_threshold"],
                                     options["scripted_alpha"]), 0.0),
        *[(name, ScriptedBackoffV2XPolicy(layout=probe.unwrapped.layout, **kwargs), 0.0)
          for name, kwargs in SCRIPTED_BACKOFFS.items()]]
    started = time.perf_counter()
    warm = f"_bc-{options['imitate']}" if options.get("imitate") else ""
    learner = train_draco(env_id, kwargs, seed, options["train_steps"], options,
                          f"synthetic_c{capacity:g}_mp{mp}_s{seed}{warm}")
    seconds = time.perf_counter() - started
    policies += [("draco", learner, seconds), ("draco_br", best_response_view(learner), seconds)]
    if options.get("imitate"):  # the control: the same clone before any RL step
        from agents.fsp import DRACOLearner

        clone = DRACOLearner(probe, seed=seed, **draco_config(options))
        clone.imitation = warm_start(clone, env_id, kwargs, seed, options)
        policies += [("draco_clone", clone, 0.0),
                     ("draco_clone_br", best_response_view(clone), 0.0)]
    rows = []
    for name, policy, seconds in policies:
        row = evaluate_policy(policy, env_id, kwargs, eval_seed, options["eval_steps"])
        if name.startswith("draco") and options.get("imitate"):
            row["imitation"] = {"policy": options["imitate"], **getattr(policy, "imitation", {})}
        rows.append({**common, "policy": name, "train_seconds": seconds, **row})
    return rows


def ppo_unit(capacity: float, mp: int, seed: int, options: dict[str, Any]) -> list[dict]:
    """Off-the-shelf SB3 PPO, parameter sharing over the vehicles, default hyper-parameters."""
    import torch

    torch.set_num_threads(1)
    from stable_baselines3 import PPO

    import auction_envs
    from auction_envs.wrappers.sb3 import sb3_vec_env

    env_id = options["env_id"]
    kwargs = {**options["env_kwargs"], "capacity": float(capacity), "max_rebids": int(mp)}
    env = auction_envs.make(env_id, **kwargs)
    vector = sb3_vec_env(env)
    path = Path(options["checkpoint_dir"]) / f"ppo_c{capacity:g}_mp{mp}_s{seed}.zip"
    started = time.perf_counter()
    if path.exists():  # a finished PPO run is reused (SB3's own zip format, written by SB3)
        model = PPO.load(path, env=vector, device="cpu")
    else:
        model = PPO("MlpPolicy", vector, seed=seed, verbose=0, device="cpu",
                    n_steps=options["ppo_n_steps"])
        model.learn(total_timesteps=options["ppo_steps"], progress_bar=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
    seconds = time.perf_counter() - started
    row = evaluate_policy(PPOPolicy(model, env.possible_agents), env_id, kwargs,
                          EVAL_SEED_OFFSET + seed, options["eval_steps"])
    return [{"setup": "synthetic", "env_id": env_id, "capacity": capacity, "mp": mp, "seed": seed,
             "policy": "ppo", "train_seconds": seconds, "ppo_steps": options["ppo_steps"],
             "ppo_n_steps": options["ppo_n_steps"], **row}]


def intersection_unit(seed: int, options: dict[str, Any]) -> list[dict]:
    """DRACO trained on the intersection training setup, evaluated on the test setup (no
    retraining), beside passive on the test setup."""
    import torch

    torch.set_num_threads(1)
    from agents.baselines import PassiveV2XPolicy

    started = time.perf_counter()
    warm = f"_bc-{options['imitate']}" if options.get("imitate") else ""
    learner = train_draco(options["intersection_train_id"], {}, seed,
                          options["intersection_train_steps"], options,
                          f"intersection_s{seed}{warm}")
    seconds = time.perf_counter() - started
    rows = []
    for setup, env_id in (("intersection-train", options["intersection_train_id"]),
                          ("intersection-test", options["intersection_test_id"])):
        for name, policy in (("passive", PassiveV2XPolicy()), ("draco", learner),
                             ("draco_br", best_response_view(learner))):
            row = evaluate_policy(policy, env_id, {}, EVAL_SEED_OFFSET + seed,
                                  options["intersection_eval_steps"])
            rows.append({"setup": setup, "env_id": env_id, "capacity": None, "mp": None,
                         "seed": seed, "policy": name,
                         "train_seconds": 0.0 if name == "passive" else seconds, **row})
    return rows


def run_unit(kind: str, args: tuple, options: dict[str, Any]) -> list[dict]:
    return {"synthetic": synthetic_unit, "ppo": ppo_unit,
            "intersection": intersection_unit}[kind](*args, options)


# ---------------------------------------------------------------------------- statistics
def t_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and the two ends of its 95% Student-t interval (NaN ends for one value)."""
    from scipy import stats

    x = np.asarray([v for v in values if np.isfinite(v)], dtype=np.float64)
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(x.mean())
    if x.size < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def paired(rows: list[dict], key: dict[str, Any], metric: str, policy: str,
           baseline: str = "passive") -> dict[str, Any]:
    """Per-seed relative change ``policy / baseline − 1`` of ``metric`` at ``key``, with its CI."""
    def select(name: str) -> dict[int, float]:
        return {r["seed"]: r[metric] for r in rows if r["policy"] == name
                and all(r.get(k) == v for k, v in key.items())}

    mine, base = select(policy), select(baseline)
    seeds = sorted(set(mine) & set(base))
    changes = [mine[s] / base[s] - 1.0 for s in seeds if base[s] and np.isfinite(base[s])]
    mean, low, high = t_interval(changes)
    return {"seeds": len(seeds), "change": mean, "low": low, "high": high}


def summarize(rows: list[dict]) -> dict[str, Any]:
    """Per (setup, capacity, MP, policy): mean and CI of each metric; paired changes vs passive."""
    cells: dict[tuple, list[dict]] = {}
    for row in rows:
        cells.setdefault((row["setup"], row["capacity"], row["mp"], row["policy"]), []).append(row)
    table = []
    for (setup, capacity, mp, policy), mine in sorted(cells.items(), key=lambda kv: (
            kv[0][0], kv[0][1] or 0, kv[0][2] or 0, kv[0][3])):
        entry: dict[str, Any] = {"setup": setup, "capacity": capacity, "mp": mp, "policy": policy,
                                 "seeds": len(mine)}
        for metric in (*METRIC_PATHS, "reward"):
            entry[metric] = t_interval([r[metric] for r in mine])
        key = {"setup": setup, "capacity": capacity, "mp": mp}
        if policy != "passive":
            for metric in ("ofr", "rebidding_overhead", "remote_utilization",
                           "remote_utilization_std", "reward"):
                entry[f"{metric}_vs_passive"] = paired(rows, key, metric, policy)
            entry["reward_minus_passive"] = _paired_difference(rows, key, "reward", policy)
        if policy.startswith("draco"):  # against the best scripted vehicles, the bar to approach
            entry["ofr_vs_backoff15"] = paired(rows, key, "ofr", policy, baseline="backoff15")
        clone = "draco_clone_br" if policy == "draco_br" else "draco_clone"
        if policy in ("draco", "draco_br") and any(r["policy"] == clone for r in mine_rows(
                rows, key)):  # what the RL steps did to the warm start
            entry["ofr_vs_clone"] = paired(rows, key, "ofr", policy, baseline=clone)
            entry["reward_minus_clone"] = _paired_difference(rows, key, "reward", policy,
                                                             baseline=clone)
        table.append(entry)
    return {"cells": table}


def mine_rows(rows: list[dict], key: dict[str, Any]) -> list[dict]:
    """The rows at ``key`` (setup, capacity, MP)."""
    return [r for r in rows if all(r.get(k) == v for k, v in key.items())]


def _paired_difference(rows: list[dict], key: dict[str, Any], metric: str, policy: str,
                       baseline: str = "passive") -> tuple[float, float, float]:
    values: dict[str, dict[int, float]] = {}
    for r in rows:
        if all(r.get(k) == v for k, v in key.items()):
            values.setdefault(r["policy"], {})[r["seed"]] = r[metric]
    mine, base = values.get(policy, {}), values.get(baseline, {})
    return t_interval([mine[s] - base[s] for s in sorted(set(mine) & set(base))])


def verdicts(summary: dict[str, Any], warm_start: str | None = None) -> list[str]:
    """The issue's verdict per (capacity 60 / 80, MP 1); ``warm_start``: the scripted vehicles
    DRACO was cloned from (``--imitate``), named in every line."""
    name = "DRACO" if not warm_start else f"DRACO (warm start: clone of {warm_start}, not the paper's)"
    lines = []
    for cell in summary["cells"]:
        if cell["setup"] != "synthetic" or cell["mp"] != 1 or cell["capacity"] not in (60, 80):
            continue
        if cell["policy"] == "draco_clone":  # the control, at the issue's level (not DRACO's verdict)
            change = cell["ofr_vs_passive"]
            lines.append(f"capacity {cell['capacity']}, MP 1: the clone of {warm_start} before any "
                         f"RL step: OFR against passive {_pct(change)} over {change['seeds']} "
                         f"seeds ({'at' if -change['high'] >= ISSUE_TARGET_REDUCTION else 'not at'}"
                         f" the {ISSUE_TARGET_REDUCTION:.0%} level)")
            continue
        if cell["policy"] != "draco":
            continue
        change = cell["ofr_vs_passive"]
        reduction_low = -change["high"]  # the interval of the reduction is −(change interval)
        ok = np.isfinite(reduction_low) and reduction_low >= ISSUE_TARGET_REDUCTION
        lines.append(f"capacity {cell['capacity']}, MP 1: {name}'s OFR reduction against passive "
                     f"{-change['change']:.0%}, 95% CI [{-change['high']:.0%}, {-change['low']:.0%}] "
                     f"over {change['seeds']} seeds; target >= {ISSUE_TARGET_REDUCTION:.0%} "
                     f"(paper ~{PAPER['ofr_reduction_60_mp1']:.0%}): "
                     f"{'REPRODUCED' if ok else 'NOT reproduced'}")
        bar = cell.get("ofr_vs_backoff15", {})
        if bar.get("seeds"):
            lines.append(f"  {name}'s OFR against the best scripted vehicles (backoff15): "
                         f"{_pct(bar)} over {bar['seeds']} seeds")
        clone = cell.get("ofr_vs_clone", {})
        if clone.get("seeds"):
            reward = cell["reward_minus_clone"]
            lines.append(f"  after the RL steps against the clone before them: OFR {_pct(clone)}, "
                         f"reward/vehicle-step {reward[0]:+.1f} [{reward[1]:+.1f}, "
                         f"{reward[2]:+.1f}] over {clone['seeds']} seeds")
    return lines


# ---------------------------------------------------------------------------- printing
def _fmt(stat: tuple[float, float, float], digits: int = 3) -> str:
    mean, low, high = stat
    if not np.isfinite(mean):
        return "–"
    if not np.isfinite(low):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ±{(high - low) / 2:.{digits}f}"


def _pct(change: dict[str, Any]) -> str:
    if not np.isfinite(change["change"]):
        return "–"
    if not np.isfinite(change["low"]):
        return f"{change['change']:+.0%}"
    return f"{change['change']:+.0%} [{change['low']:+.0%}, {change['high']:+.0%}]"


def format_tables(summary: dict[str, Any]) -> str:
    cells = summary["cells"]
    out = ["OFR against capacity (paper: D+R ~40% lower on average, ~30% at capacity 60 MP 1; "
           "passive ~20% at 60)",
           f"{'setup':<18} {'cap':>4} {'MP':>2} {'policy':<9} {'OFR (95% CI)':>16} "
           f"{'rejected':>8} {'held-drop':>9} {'late':>7} {'OFR vs passive':>22} "
           f"{'reward/veh-step':>16} {'reward - passive':>18}"]
    for c in cells:
        vs = _pct(c["ofr_vs_passive"]) if "ofr_vs_passive" in c else ""
        dr = _fmt(c["reward_minus_passive"], 1) if "reward_minus_passive" in c else ""
        out.append(f"{c['setup']:<18} {c['capacity'] or '':>4} {c['mp'] or '':>2} "
                   f"{c['policy']:<9} {_fmt(c['ofr']):>16} {c['rejected'][0]:>8.3f} "
                   f"{c['dropped_held'][0]:>9.3f} {c['deadline_miss'][0]:>7.3f} {vs:>22} "
                   f"{_fmt(c['reward'], 1):>16} {dr:>18}")
    out += ["", "Rebidding overhead at MP 5 (paper: D+R ~32% lower)",
            f"{'cap':>4} {'policy':<9} {'rebids/request':>16} {'vs passive':>22}"]
    for c in cells:
        if c["mp"] == 5 and c["setup"] == "synthetic":
            vs = _pct(c["rebidding_overhead_vs_passive"]) if "ofr_vs_passive" in c else ""
            out.append(f"{c['capacity']:>4} {c['policy']:<9} {_fmt(c['rebidding_overhead']):>16} "
                       f"{vs:>22}")
    out += ["", "Remote-site utilization, MP 1 (paper: up to +18% in high contention, sd up to "
            "-21%)", f"{'cap':>4} {'policy':<9} {'utilization':>14} {'vs passive':>22} "
            f"{'sd':>14} {'sd vs passive':>22}"]
    for c in cells:
        if c["mp"] == 1 and c["setup"] == "synthetic":
            vs = _pct(c["remote_utilization_vs_passive"]) if "ofr_vs_passive" in c else ""
            sd = _pct(c["remote_utilization_std_vs_passive"]) if "ofr_vs_passive" in c else ""
            out.append(f"{c['capacity']:>4} {c['policy']:<9} {_fmt(c['remote_utilization']):>14} "
                       f"{vs:>22} {_fmt(c['remote_utilization_std']):>14} {sd:>22}")
    out += ["", "Backoff (mean hold steps per decision) and price by budget group (paper: "
            "low-budget vehicles learn longer backoff)",
            f"{'setup':<18} {'cap':>4} {'MP':>2} {'policy':<9} {'backoff high':>13} "
            f"{'backoff low':>12} {'price high':>11} {'price low':>10}"]
    for c in cells:
        if c["policy"] != "passive":
            out.append(f"{c['setup']:<18} {c['capacity'] or '':>4} {c['mp'] or '':>2} "
                       f"{c['policy']:<9} {c['backoff_high'][0]:>13.2f} {c['backoff_low'][0]:>12.2f}"
                       f" {c['price_high'][0]:>11.0f} {c['price_low'][0]:>10.0f}")
    return "\n".join(out)


#: The policies drawn, in legend order (absent ones are skipped).
PLOTTED = ("passive", "scripted", *SCRIPTED_BACKOFFS, "draco", "draco_br", "draco_clone", "ppo")


def plot(rows: list[dict], summary: dict[str, Any], prefix: str) -> list[str]:
    plt = plt_agg()
    cells = summary["cells"]
    written = []
    mps = sorted({c["mp"] for c in cells if c["setup"] == "synthetic"})
    if mps:
        figure, axes = plt.subplots(1, len(mps), figsize=(5.5 * len(mps), 3.8), squeeze=False)
        for ax, mp in zip(axes[0], mps, strict=True):
            for policy in PLOTTED:
                mine = [c for c in cells if c["setup"] == "synthetic" and c["mp"] == mp
                        and c["policy"] == policy]
                if not mine:
                    continue
                x = [c["capacity"] for c in mine]
                y = np.array([c["ofr"] for c in mine], dtype=np.float64)
                ax.errorbar(x, y[:, 0], yerr=np.nan_to_num(y[:, 0] - y[:, 1]), marker="o",
                            capsize=3, label=policy)
            if mp == 1:
                ax.scatter([60, 60], [PAPER["passive_ofr_60_mp1"], PAPER["draco_ofr_60_mp1"]],
                           marker="x", color="k", label="paper (RIAL, D+R) at 60")
            ax.set(xlabel="capacity", ylabel="OFR", title=f"OFR vs capacity, MP {mp}")
            ax.legend(fontsize=7)
        written.append(str(save_figure(figure, f"{prefix}_ofr.png")))
        # failure mix
        synthetic = [c for c in cells if c["setup"] == "synthetic"]
        figure, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(synthetic)), 3.8))
        labels = [f"{c['policy']}\n{c['capacity']}/MP{c['mp']}" for c in synthetic]
        bottom = np.zeros(len(synthetic))
        for part in ("rejected", "dropped_held", "deadline_miss"):
            values = np.array([c[part][0] for c in synthetic])
            ax.bar(range(len(synthetic)), values, bottom=bottom, label=part)
            bottom += values
        ax.set_xticks(range(len(synthetic)), labels, fontsize=6)
        ax.set(ylabel="share of requests", title="Failure mix (rejected / dropped held / late)")
        ax.legend(fontsize=7)
        written.append(str(save_figure(figure, f"{prefix}_failure_mix.png")))
    # per-vehicle OFR CDF at the capacity closest to 70, MP 1
    capacities = sorted({r["capacity"] for r in rows if r["setup"] == "synthetic" and r["mp"] == 1})
    if capacities:
        capacity = min(capacities, key=lambda c: abs(c - 70))
        figure, ax = plt.subplots(figsize=(5, 3.6))
        for policy in PLOTTED:
            values = [v for r in rows if r["setup"] == "synthetic" and r["mp"] == 1
                      and r["capacity"] == capacity and r["policy"] == policy
                      for v in r["vehicle_ofr"] if v is not None]
            if values:
                ax.step(np.sort(values), np.arange(1, len(values) + 1) / len(values),
                        label=policy, where="post")
        ax.set(xlabel="per-vehicle OFR", ylabel="CDF",
               title=f"Per-vehicle OFR, capacity {capacity}, MP 1 (paper Fig. 5: 70)")
        ax.legend(fontsize=7)
        written.append(str(save_figure(figure, f"{prefix}_vehicle_ofr_cdf.png")))
    return written


# ---------------------------------------------------------------------------- main
def build_parser():
    parser = benchmark_parser(__doc__, "python -m benchmarks.reproduce_draco")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke-sized run (< 15 min on 2 cores): {QUICK}")
    parser.add_argument("--capacities", type=float, nargs="+", default=None,
                        help=f"capacities (default: full {FULL['capacities']})")
    parser.add_argument("--mp", type=int, nargs="+", default=None, help="MP values (default 1 5)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="seeds, paired across policies (default 0-4; quick 0-2)")
    parser.add_argument("--train-steps", type=int, default=None,
                        help=f"DRACO training steps per run (default {FULL['train_steps']})")
    parser.add_argument("--eval-steps", type=int, default=None,
                        help=f"evaluation steps per run (default {FULL['eval_steps']})")
    parser.add_argument("--ppo-steps", type=int, default=None,
                        help=f"PPO agent steps (default {FULL['ppo_steps']}, the audit's)")
    parser.add_argument("--ppo-n-steps", type=int, default=None,
                        help="PPO rollout length per vehicle (default 2048, SB3's; quick 256: "
                             "SB3 collects n_steps x 30 vehicles before its first update)")
    parser.add_argument("--ppo-capacities", type=float, nargs="*", default=[60.0],
                        help="capacities (MP 1) of the PPO comparison row; none to skip")
    parser.add_argument("--no-intersection", action="store_true",
                        help="skip the intersection train -> test generalization")
    parser.add_argument("--intersection-train-steps", type=int, default=None)
    parser.add_argument("--intersection-eval-steps", type=int, default=None)
    parser.add_argument("--env-id", default=None,
                        help="synthetic env id (default: newest V2XOffloading-v*)")
    parser.add_argument("--intersection-train-id", default=None,
                        help="default: newest V2XOffloadingIntersection-v*")
    parser.add_argument("--intersection-test-id", default=None,
                        help="default: newest V2XOffloadingIntersectionTest-v*")
    parser.add_argument("--env-kwargs", type=json.loads, default={},
                        help="JSON keyword arguments for every synthetic env, training and "
                             "evaluation alike (e.g. '{\"failure_penalty\": 1}')")
    parser.add_argument("--eta-schedule", default="50/(t+50)", choices=["1/t", "50/(t+50)",
                                                                        "constant"])
    parser.add_argument("--draco-kwargs", type=json.loads, default={},
                        help="JSON DRACOConfig overrides (e.g. '{\"td_lambda\": 0.95}')")
    parser.add_argument("--per-vehicle", action="store_true",
                        help="one network set per vehicle (the paper) instead of shared ones")
    parser.add_argument("--imitate", choices=tuple(SCRIPTED_BACKOFFS), default=None,
                        help="warm-start DRACO by behaviour cloning of these scripted vehicles "
                             "(not in the paper, which trains from scratch; default: none)")
    parser.add_argument("--imitate-steps", type=int, default=1500,
                        help="demonstration steps of --imitate (default 1500)")
    parser.add_argument("--scripted-threshold", type=float, default=0.8)
    parser.add_argument("--scripted-alpha", type=float, default=0.3)
    parser.add_argument("--checkpoint-dir", default="results/reproduce_draco_runs",
                        help="training checkpoints; a rerun resumes from them, with --restart "
                             "too (an empty folder trains from scratch)")
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=None,
                        help="processes (default 1; --quick: 2, for 2 cores)")
    add_output_arguments(parser, png_default="results/reproduce_draco")
    return parser


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    workers = args.workers if args.workers is not None else (2 if args.quick else 1)
    sizes = dict(QUICK if args.quick else FULL)
    for name in ("capacities", "seeds", "train_steps", "eval_steps", "ppo_steps", "ppo_n_steps",
                 "intersection_train_steps", "intersection_eval_steps"):
        if getattr(args, name) is not None:
            sizes[name] = getattr(args, name)
    if args.mp is not None:
        sizes["mps"] = args.mp
    options = {
        **sizes,
        "env_id": args.env_id or newest_id(FAMILIES["synthetic"]), "env_kwargs": args.env_kwargs,
        "intersection_train_id": args.intersection_train_id or newest_id(FAMILIES["train"]),
        "intersection_test_id": args.intersection_test_id or newest_id(FAMILIES["test"]),
        "eta_schedule": args.eta_schedule, "draco_kwargs": args.draco_kwargs,
        "per_vehicle": args.per_vehicle, "scripted_threshold": args.scripted_threshold,
        "scripted_alpha": args.scripted_alpha, "checkpoint_dir": args.checkpoint_dir,
        "checkpoint_every": args.checkpoint_every,
        "progress": not args.no_progress and workers <= 1,
    }
    if args.imitate:  # only then: the stored units of runs without a warm start keep their keys
        if args.imitate_steps < 1:
            raise SystemExit(f"--imitate-steps must be >= 1; got {args.imitate_steps}")
        options.update(imitate=args.imitate, imitate_steps=args.imitate_steps)
    jobs: list[tuple] = [("synthetic", (float(c) if c % 1 else int(c), mp, seed), options)
                         for mp in sizes["mps"] for c in sizes["capacities"]
                         for seed in sizes["seeds"]]
    jobs += [("ppo", (float(c) if c % 1 else int(c), 1, seed), options)
             for c in args.ppo_capacities for seed in sizes["seeds"]]
    if not args.no_intersection:
        jobs += [("intersection", (seed,), options) for seed in sizes["seeds"]]
    results = IncrementalResults(args.json, {"options": options, "paper": PAPER, "rows": []})
    rows: list[dict] = []

    def record(index: int, unit_rows: list[dict]) -> None:
        rows.extend(unit_rows)
        results.update(rows=rows, summary=summarize(rows))

    started = time.perf_counter()
    run_jobs(run_unit, jobs, workers=workers, on_result=record,
             show_progress=not args.no_progress, desc="units",
             store=cell_store(args))  # a rerun with the same --json runs only missing units
    summary = summarize(rows)
    print(format_tables(summary))
    print()
    final_verdicts = verdicts(summary, options.get("imitate"))
    for line in final_verdicts:
        print(line)
    figures = plot(rows, summary, args.png) if args.png else []
    for path in figures:
        print(f"figure: {path}")
    print(f"({time.perf_counter() - started:.0f} s)")
    results.update(rows=rows, summary=summary, verdicts=final_verdicts, figures=figures)
    return results.payload


if __name__ == "__main__":
    main()
