"""A quick check of proportional response traders on ``auction_envs/ExchangeEconomy-v0``.

``quick_run(seed=0)`` lets every trader play proportional response
(``agents.exchange.proportional_response_traders``) in the trading post for 300 rounds (the noisy
utility rewards do not affect proportional response, which reads the allocation) and returns one
row per env: the CE loss and the distance to the CE prices
(``||p - p*||_1``) of the last round, and the largest allocation error, beside the oracle's
competitive equilibrium (whose CE loss is 0), on ``ExchangeEconomy-v0`` and
``ExchangeEconomyAmdahl-v0`` (PRD is much slower for Amdahl utilities with F = 0.8: its rate per
round is about 0.99, see ``benchmarks.reproduce_exchange``).
Takes about a second. ``python -m benchmarks.quick_exchange`` prints the rows.
"""

from __future__ import annotations

import json

import auction_envs
from agents.base import Transition
from agents.exchange import proportional_response_traders
from auction_envs.oracles.exchange import verify_competitive_equilibrium

ENVS = ("auction_envs/ExchangeEconomy-v0", "auction_envs/ExchangeEconomyAmdahl-v0")
ROUNDS = 300


def quick_run(seed: int = 0) -> list[dict]:
    rows = []
    for env_id in ENVS:
        env = auction_envs.make(env_id, max_cycles=ROUNDS)
        learner = proportional_response_traders(env, seed=seed)
        observations, _ = env.reset(seed=seed)
        first = None
        while env.agents:
            actions = learner.act(observations)
            next_observations, rewards, terminations, truncations, infos = env.step(actions)
            learner.observe(Transition(observations, actions, rewards, next_observations,
                                       terminations, truncations, infos))
            observations = next_observations
            if first is None:
                first = env.unwrapped.metrics()
        metrics = env.unwrapped.metrics()
        economy = env.unwrapped.economy
        allocation, prices = env.unwrapped.equilibrium()
        oracle_ok = verify_competitive_equilibrium(allocation, prices, economy.theta,
                                                   economy.endowments, economy.family).ok
        rows.append({
            "env": env_id, "learner": "proportional_response", "seed": seed, "rounds": ROUNDS,
            "ce_loss_first_round": first["ce_loss"], "ce_loss": metrics["ce_loss"],
            "mean_ce_loss": metrics["mean_ce_loss"],
            "price_distance": metrics["price_distance"],
            "allocation_distance": metrics["allocation_distance"],
            "oracle_prices": prices.tolist(), "oracle_ce_loss": economy.ce_loss(allocation, prices),
            "oracle_verified": bool(oracle_ok),
            "converged": bool(metrics["price_distance"] <= 1e-6),
        })
    return rows


if __name__ == "__main__":
    for row in quick_run():
        print(json.dumps({k: (round(v, 8) if isinstance(v, float) else v)
                          for k, v in row.items()}))
