"""A quick check of the no-regret learners on the registered Kelly envs, through the env itself.

``quick_run(seed=0)`` plays BR and OGD_F (every agent) for 300 rounds on ``KellyGame-v0`` and
``KellyGameHeterogeneous-v0`` with :class:`agents.no_regret.NoRegretLearner` and returns one row
per (env, learner, metric) in the format of ``benchmarks.quick_run``: the final fixed-point
residual, NashConv and distance to the Nash equilibrium (reference 0), and the mean normalized payoff
(time average over agents and rounds) beside the NE's. Takes about a
second. ``python -m benchmarks.quick_kelly`` prints the rows.
"""

from __future__ import annotations

import json

import numpy as np

import auction_envs
from agents.no_regret import NoRegretLearner, make_rule
from agents.runner import play_episode

ENVS = ("auction_envs/KellyGame-v0", "auction_envs/KellyGameHeterogeneous-v0")
LEARNERS = ("BR", "OGD_F")
ROUNDS = 300


def _ne_normalized_payoff(env_id: str) -> float:
    """The mean normalized payoff of one round at the Nash equilibrium (via the env's metrics)."""
    env = auction_envs.make(env_id, max_cycles=1)
    env.reset(seed=0)
    equilibrium = env.unwrapped.equilibrium()
    env.step({agent: np.array([bid]) for agent, bid in zip(env.possible_agents, equilibrium)})
    return float(np.mean(env.unwrapped.metrics()["normalized_payoff"]))


def quick_run(seed: int = 0) -> list[dict]:
    rows = []
    for env_id in ENVS:
        ne_payoff = _ne_normalized_payoff(env_id)
        for name in LEARNERS:
            env = auction_envs.make(env_id, max_cycles=ROUNDS)
            learner = NoRegretLearner(env, make_rule(name, G=1.0, horizon=ROUNDS), seed=seed)
            play_episode(env, learner, seed=seed)
            metrics = env.unwrapped.metrics()
            # each metric beside its value at the Nash equilibrium (the reference solution)
            for metric, value, reference in (
                ("residual ||BR(z)-z||", metrics["residual"], 0.0),
                ("NashConv", metrics["nash_conv"], 0.0),
                ("distance to NE", metrics["distance_to_equilibrium"], 0.0),
                ("mean normalized payoff", float(np.mean(metrics["mean_normalized_payoff"])),
                 ne_payoff),
            ):
                rows.append({"env_id": env_id, "policy": f"{name} x{len(env.possible_agents)}",
                             "metric": metric, "value": float(value), "reference": reference,
                             "rounds": ROUNDS, "seed": seed})
    return rows


if __name__ == "__main__":
    print(json.dumps(quick_run(), indent=1))
