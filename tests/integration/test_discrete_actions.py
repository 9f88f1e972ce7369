"""The discrete-action view: PettingZoo's API test on every market kind, the documented grid, and
bad levels rejected with the market's error before anything changes."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo.test import parallel_api_test

import auction_envs
from auction_envs.core.errors import InvalidActionError, InvalidArgumentError
from auction_envs.wrappers.discrete import DiscreteActions


@pytest.mark.parametrize("env_id", ["auction_envs/KellyGame-v0", "auction_envs/IoVSlicingLearned-v1",
                                    "auction_envs/CloudDoubleAuction-v1",
                                    "auction_envs/V2XOffloading-v1",
                                    "auction_envs/ExchangeEconomy-v0"])
def test_api_and_grid(env_id: str) -> None:
    env = DiscreteActions(auction_envs.make(env_id), levels=5)
    parallel_api_test(env, num_cycles=20)
    market = env.unwrapped
    for agent in env.possible_agents:
        box = market.action_space(agent)
        space = env.action_space(agent)
        if not isinstance(box, spaces.Box):
            assert space is box  # the IoV slicers are discrete already
            continue
        low, high = map(np.ravel, market.action_bounds(agent))
        grid = env.grid(agent)
        assert grid.shape == (low.size, 5)
        np.testing.assert_array_equal(grid[:, 0], low)
        np.testing.assert_array_equal(grid[:, -1], high)
        assert np.all(np.diff(grid, axis=1) >= 0)
        top = space.nvec - 1 if isinstance(space, spaces.MultiDiscrete) else 4
        assert box.contains(env.to_market(agent, top).astype(box.dtype))


def test_kelly_levels_map_to_bids_and_bad_levels_change_nothing() -> None:
    env = DiscreteActions(auction_envs.make("auction_envs/KellyGame-v0", n_agents=2), levels=5)
    assert env.action_space("bidder_0") == spaces.Discrete(5)
    env.reset(seed=0)
    _, rewards, *_ = env.step({"bidder_0": 0, "bidder_1": np.int64(4)})
    direct = auction_envs.make("auction_envs/KellyGame-v0", n_agents=2)
    direct.reset(seed=0)
    _, expected, *_ = direct.step({"bidder_0": np.array([1.0]), "bidder_1": np.array([400.0])})
    assert rewards == expected
    state = env.state().copy()
    for bad in (5, -1, 2.5, True, "3", [1, 2]):
        with pytest.raises(InvalidActionError, match="bidder_1") as error:
            env.step({"bidder_0": 1, "bidder_1": bad})
        assert error.value.agent == "bidder_1"
    np.testing.assert_array_equal(env.state(), state)
    assert env.unwrapped.num_cycles == 1
    with pytest.raises(InvalidArgumentError, match="levels"):
        DiscreteActions(auction_envs.make("auction_envs/KellyGame-v0"), levels=1)
