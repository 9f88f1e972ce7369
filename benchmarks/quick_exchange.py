"""A quick check of proportional response traders on ``auction_envs/ExchangeEconomy-v0``.

``quick_run(seed=0)`` lets every trader play proportional response
(``agents.exchange.proportional_response_traders``) in the trading post for 300 rounds (the noisy
utility rewards do not affect proportional response, which reads the allocation) and returns rows
in the ``benchmarks.quick_run`` format: the CE loss (first round, last round, mean), the distance to
the CE prices (``||p - p*||_1``) and the largest allocation error, beside the oracle's verified
competitive equilibrium (whose CE loss is 0), on ``ExchangeEconomy-v0`` and
``ExchangeEconomyAmdahl-v0`` (PRD is much slower for Amdahl utilities with F = 0.8: its rate per
round is about 0.99, see ``benchmarks.reproduce_exchange``).
Takes about a second. ``python -m benchmarks.quick_exchange`` prints the rows.
"""

from __future__ import annotations

import json

import auction_envs
from agents.exchange import proportional_response_traders
from agents.runner import play_episode
from auction_envs.oracles.exchange import verify_competitive_equilibrium

ENVS = ("auction_envs/ExchangeEconomy-v0", "auction_envs/ExchangeEconomyAmdahl-v0")
ROUNDS = 300


def quick_run(seed: int = 0) -> list[dict]:
    rows = []
    for env_id in ENVS:
        env = auction_envs.make(env_id, max_cycles=ROUNDS)
        learner = proportional_response_traders(env, seed=seed)
        rounds_metrics: list[dict] = []  # every round's metrics, to show the progress made
        play_episode(env, learner, seed=seed,
                     on_step=lambda env, seen=rounds_metrics: seen.append(env.unwrapped.metrics()))
        first = rounds_metrics[0]
        metrics = env.unwrapped.metrics()
        economy = env.unwrapped.economy
        allocation, prices = env.unwrapped.equilibrium()
        oracle_ok = verify_competitive_equilibrium(allocation, prices, economy.theta,
                                                   economy.endowments, economy.family).ok
        policy = f"proportional response x{len(env.possible_agents)}"
        reference_loss = economy.ce_loss(allocation, prices)
        # each metric beside its value at the oracle's verified competitive equilibrium
        for metric, value, reference in (
            ("CE loss, first round", first["ce_loss"], reference_loss),
            ("CE loss, last round", metrics["ce_loss"], reference_loss),
            ("mean CE loss", metrics["mean_ce_loss"], reference_loss),
            ("||p - p_CE||", metrics["price_distance"], 0.0),
            ("||x - x_CE||", metrics["allocation_distance"], 0.0),
            ("oracle CE verified", float(oracle_ok), 1.0),
        ):
            rows.append({"env_id": env_id, "policy": policy, "metric": metric,
                         "value": float(value), "reference": float(reference),
                         "rounds": ROUNDS, "seed": seed})
    return rows


if __name__ == "__main__":
    for row in quick_run():
        print(json.dumps({k: (round(v, 8) if isinstance(v, float) else v)
                          for k, v in row.items()}))
