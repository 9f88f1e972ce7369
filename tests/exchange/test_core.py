"""The exchange core's bookkeeping: the traders' CE loss, computed when asked, is the per-round
oracle loss summed in play order."""

from __future__ import annotations

import numpy as np
import pytest

import auction_envs
from auction_envs.envs.exchange import core as exchange_core
from auction_envs.oracles.exchange import ce_loss


def play_traders(rounds: int, read_every: int) -> tuple[dict, list[float]]:
    """Play seeded random spending weights; return the final metrics and each round's oracle
    CE loss (from the infos' allocation and prices), reading ``metrics()`` every ``read_every``."""
    env = auction_envs.make("auction_envs/ExchangeEconomy-v0", n_agents=4, n_goods=3)
    env.reset(seed=5)
    economy = env.unwrapped.economy
    rng = np.random.default_rng(9)
    losses = []
    for t in range(rounds):
        actions = {agent: rng.uniform(0, 1, 3).astype(np.float32) for agent in env.agents}
        _, _, _, _, infos = env.step(actions)
        allocation = np.stack([infos[agent]["allocation"] for agent in env.possible_agents])
        prices = infos["trader_0"]["prices"]
        losses.append(ce_loss(allocation, prices, economy.theta, economy.endowments,
                              economy.family))
        if read_every and t % read_every == 0:
            assert env.unwrapped.metrics()["ce_loss"] == losses[-1]
    return env.unwrapped.metrics(), losses


@pytest.mark.parametrize("read_every", [0, 1, 4])
def test_traders_ce_loss_is_the_oracle_loss_summed_in_play_order(read_every, monkeypatch):
    monkeypatch.setattr(exchange_core, "MAX_UNSCORED_ROUNDS", 3)  # flushes while playing too
    metrics, losses = play_traders(rounds=11, read_every=read_every)
    total = 0.0
    for loss in losses:
        total += loss
    assert metrics["round"] == 11
    assert metrics["ce_loss"] == losses[-1]
    assert metrics["cumulative_ce_loss"] == total  # exactly: the same sum, in the same order
    assert metrics["mean_ce_loss"] == total / 11
