"""DRACO pilots and probes on the synthetic V2X market (issue 13): small, single-seed checks.

``pilot``: train one DRACO run (v1 settings of ``reproduce_draco``: shared parameters, start at the
passive action, rollout 8, actor rate 1e-3, 2000 steps, cap 60, MP 1) with extra ``DRACOConfig``
overrides, then play ψ's and ζ's means greedily for 3000 steps on seed ``20000 + seed`` (seeds
that no stored result reports); prints OFR, its failure mix, the reward per vehicle-step and the
mean/sd of the actions of the vehicles that decide. ``--label passive`` evaluates passive instead.

``deviate``: one vehicle plays another policy while the 29 others stay passive; the deviator's
reward per step and own OFR, paired per (seed, vehicle) against the all-passive episode. It asks
whether backing off pays for the vehicle that does it, i.e. whether a best response to passive
vehicles backs off at all.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

ENV_KWARGS: dict[str, Any] = {"capacity": 60.0, "max_rebids": 1}
V1_KWARGS: dict[str, Any] = {"init_action": [0.95, 0.375], "rollout_steps": 8, "actor_lr": 1e-3}
KEYS = ("ofr", "rejected", "dropped_held", "deadline_miss", "reward")


class ActionSpy:
    """Wraps a policy and records the actions of the vehicles whose observation says they decide."""

    def __init__(self, policy: Any, layout: Any) -> None:
        self.policy, self.layout, self.seen = policy, layout, []

    def reset_evaluation(self) -> None:
        if hasattr(self.policy, "reset_evaluation"):
            self.policy.reset_evaluation()

    def act(self, observations: dict[str, np.ndarray], explore: bool = False
            ) -> dict[str, np.ndarray]:
        actions = self.policy.act(observations, explore=explore)
        for agent, observation in observations.items():
            if float(np.asarray(self.layout.get(observation, "needs_action"))) > 0.5:
                self.seen.append(np.asarray(actions[agent], np.float64).reshape(-1))
        return actions


def pilot(seed: int, label: str, overrides: dict[str, Any], train_steps: int = 2000,
          eval_steps: int = 3000) -> list[dict[str, Any]]:
    """One training (or passive) and its greedy evaluations; one row per evaluated policy."""
    import torch

    torch.set_num_threads(1)
    import auction_envs
    from agents.baselines import PassiveV2XPolicy
    from benchmarks.reproduce_draco import (
        EVAL_SEED_OFFSET,
        FAMILIES,
        best_response_view,
        evaluate_policy,
        newest_id,
        train_draco,
    )

    env_id = newest_id(FAMILIES["synthetic"])
    layout = auction_envs.make(env_id, **ENV_KWARGS).unwrapped.layout
    eval_seed = 2 * EVAL_SEED_OFFSET + seed  # 20000 + seed: not the reproduction's 10000 + seed
    common = {"label": label, "seed": seed, "eval_seed": eval_seed, "overrides": overrides}

    def evaluate(name: str, policy: Any, seconds: float) -> dict[str, Any]:
        spy = ActionSpy(policy, layout)
        row = evaluate_policy(spy, env_id, ENV_KWARGS, eval_seed, eval_steps)
        acts = np.array(spy.seen)
        row.pop("vehicle_ofr")
        return {**common, "policy": name, "train_seconds": seconds,
                **row, "alpha": float(acts[:, 0].mean()), "alpha_sd": float(acts[:, 0].std()),
                "bid": float(acts[:, 1].mean()), "bid_sd": float(acts[:, 1].std())}

    if label == "passive":
        return [evaluate("passive", PassiveV2XPolicy(), 0.0)]
    options = {"per_vehicle": False, "eta_schedule": "50/(t+50)",
               "draco_kwargs": {**V1_KWARGS, **overrides}, "checkpoint_dir": tempfile.mkdtemp(),
               "checkpoint_every": 1000, "progress": False}
    started = time.perf_counter()
    learner = train_draco(env_id, ENV_KWARGS, seed, train_steps, options, "pilot")
    seconds = time.perf_counter() - started
    return [evaluate("draco", learner, seconds),
            evaluate("draco_br", best_response_view(learner), seconds)]


def _episode(seed: int, deviator: int, make: Callable[[Any], Any] | None, steps: int
             ) -> tuple[np.ndarray, np.ndarray]:
    from agents.baselines import PassiveV2XPolicy
    from auction_envs.envs.v2x import V2XOffloadingEnv
    from benchmarks.reproduce_draco import VEHICLE_OFR_PATH, read_metric

    env = V2XOffloadingEnv(capacity=ENV_KWARGS["capacity"],
                           max_rebids=ENV_KWARGS["max_rebids"], max_cycles=steps)
    passive, other = PassiveV2XPolicy(), (make(env) if make else None)
    observations, _ = env.reset(seed=seed)
    agents = list(env.possible_agents)
    total = np.zeros(len(agents))
    while env.agents:
        actions = passive.act(observations)
        if other is not None:
            actions[agents[deviator]] = other.act(observations)[agents[deviator]]
        observations, rewards, *_ = env.step(actions)
        total += [rewards[a] for a in agents]
    metrics = env.metrics()
    return total / steps, np.asarray(read_metric(metrics, VEHICLE_OFR_PATH), float).reshape(-1)


def deviate(seeds: list[int], vehicles: list[int], steps: int = 2000) -> list[dict[str, Any]]:
    """Per deviation policy: the deviator's paired reward/step and own-OFR change (95% normal CI)."""
    from agents.baselines import PassiveV2XPolicy, ScriptedBackoffV2XPolicy

    policies: dict[str, Callable[[Any], Any]] = {
        "scripted_backoff": lambda env: ScriptedBackoffV2XPolicy(layout=env.layout),
        "bid_0.75": lambda env: PassiveV2XPolicy(price=None, fraction=0.75),
        "bid_0.25": lambda env: PassiveV2XPolicy(price=None, fraction=0.25),
    }
    base = {s: _episode(s, 0, None, steps) for s in seeds}
    rows = []
    for name, make in policies.items():
        reward, ofr = [], []
        for s in seeds:
            r0, o0 = base[s]
            for k in vehicles:
                r, o = _episode(s, k, make, steps)
                reward.append(r[k] - r0[k])
                ofr.append(o[k] - o0[k])
        rows.append({"policy": name, "n": len(reward),
                     **{f"{key}_{stat}": value for key, x in (("reward", reward), ("ofr", ofr))
                        for stat, value in (("mean", float(np.mean(x))),
                                            ("ci", float(1.96 * np.std(x, ddof=1)
                                                         / np.sqrt(len(x)))))}})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("pilot")
    p.add_argument("--seed", type=int, default=101)
    p.add_argument("--label", required=True)
    p.add_argument("--overrides", type=json.loads, default={})
    d = sub.add_parser("deviate")
    d.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103, 104, 105])
    d.add_argument("--vehicles", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    args = parser.parse_args(argv)
    rows = (pilot(args.seed, args.label, args.overrides) if args.mode == "pilot"
            else deviate(args.seeds, args.vehicles))
    for row in rows:
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
