"""NormalizeMarket: actions in [-1, 1] onto the documented bounds, rewards in the documented unit,
the PettingZoo API on every market kind, and bad actions rejected before anything changes."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo.test import parallel_api_test

import auction_envs
from auction_envs.core.errors import InvalidActionError
from auction_envs.wrappers.normalize import NormalizeMarket

IDS = ["auction_envs/KellyGame-v0", "auction_envs/IoVSlicingLearned-v1",
       "auction_envs/CloudDoubleAuction-v1", "auction_envs/V2XOffloading-v1",
       "auction_envs/ExchangeEconomyMechanism-v0"]


@pytest.mark.parametrize("env_id", IDS)
def test_api_and_the_same_trajectory_on_two_scales(env_id: str) -> None:
    parallel_api_test(NormalizeMarket(auction_envs.make(env_id)), num_cycles=10)
    wrapped, raw = NormalizeMarket(auction_envs.make(env_id)), auction_envs.make(env_id)
    wrapped.reset(seed=3)
    raw.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(5):
        unit = {a: (wrapped.action_space(a).sample() if not isinstance(wrapped.action_space(a), spaces.Box)
                    else rng.uniform(-1, 1, wrapped.action_space(a).shape).astype(np.float32))
                for a in wrapped.agents}
        market = {}
        for agent, action in unit.items():
            if isinstance(wrapped.action_space(agent), spaces.Box):
                low, high = (np.asarray(b, np.float64) for b in raw.unwrapped.action_bounds(agent))
                market[agent] = low + (action.astype(np.float64) + 1.0) / 2.0 * (high - low)
            else:
                market[agent] = action
        obs_w, rew_w, *_ = wrapped.step(unit)
        obs_r, rew_r, *_ = raw.step(market)
        for agent in rew_r:
            scale = raw.unwrapped.reward_scale(agent)
            assert scale > 0
            assert rew_w[agent] == pytest.approx(rew_r[agent] / scale, rel=1e-12, abs=1e-12)
            np.testing.assert_array_equal(obs_w[agent], obs_r[agent])


def test_kelly_scaled_payoffs_lie_in_unit_interval_and_bounds_map_exactly() -> None:
    env = NormalizeMarket(auction_envs.make("auction_envs/KellyGame-v0", n_agents=3))
    env.reset(seed=0)
    low, high = env.unwrapped.payoff_range("bidder_0")
    assert env.reward_scale("bidder_0") == max(abs(low), abs(high))
    for joint in ({"bidder_0": [-1.0], "bidder_1": [1.0], "bidder_2": [0.0]},
                  {a: [1.0] for a in env.possible_agents}, {a: [-1.0] for a in env.possible_agents}):
        _, rewards, *_ = env.step({a: np.array(v) for a, v in joint.items()})
        assert all(-1.0 <= r <= 1.0 for r in rewards.values())
    assert env.unwrapped.core.bids[0].tolist() == [1.0, 1.0, 1.0]  # -1 is eps exactly


def test_bad_actions_change_nothing() -> None:
    env = NormalizeMarket(auction_envs.make("auction_envs/KellyGame-v0", n_agents=2))
    env.reset(seed=0)
    env.step({"bidder_0": np.array([0.5]), "bidder_1": np.array([0.0])})
    state = env.state().copy()
    for bad in (np.array([1.5]), np.array([np.nan]), np.array([0.1, 0.2]), "0.5", np.array([True])):
        with pytest.raises(InvalidActionError, match="bidder_1"):
            env.step({"bidder_0": np.array([0.0]), "bidder_1": bad})
    np.testing.assert_array_equal(env.state(), state)
    assert env.unwrapped.num_cycles == 1
    raw = NormalizeMarket(auction_envs.make("auction_envs/KellyGame-v0"), actions=False, rewards=False)
    assert raw.action_space("bidder_0") == raw.unwrapped.action_space("bidder_0")
    assert raw.reward_scale("bidder_0") == 1.0
