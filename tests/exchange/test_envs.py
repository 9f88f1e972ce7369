"""The exchange-economy envs: both views, the Gymnasium single-agent view, bad arguments."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import auction_envs
from auction_envs.envs.exchange import decode_action, encode_action
from auction_envs.envs.exchange.variants import GYM_ID
from auction_envs.oracles.exchange import verify_competitive_equilibrium


def test_gymnasium_view_passes_check_env():
    env = gymnasium.make(GYM_ID)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # advisory: unbounded report entries in the observation
        check_env(env.unwrapped)
    observation, info = env.reset(seed=0)
    assert env.observation_space.contains(observation)
    assert "endowments" in info
    observation, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert np.isfinite(reward) and reward <= 0 and not terminated and not truncated


@pytest.mark.parametrize("env_id", ["auction_envs/ExchangeEconomyMechanism-v0",
                                    "auction_envs/ExchangeEconomyMechanismAmdahl-v0"])
def test_mechanism_reward_is_zero_at_the_ce(env_id):
    env = auction_envs.make(env_id, noise_std=0.0)
    env.reset(seed=3)
    x, p = env.unwrapped.equilibrium()
    economy = env.unwrapped.economy
    assert verify_competitive_equilibrium(x, p, economy.theta, economy.endowments,
                                          economy.family).ok
    _, rewards, _, _, infos = env.step({"mechanism": encode_action(x, p)})
    assert abs(rewards["mechanism"]) < 1e-9
    np.testing.assert_allclose(infos["mechanism"]["reports"], economy.utilities(x))
    # the endowment at uniform prices is not an equilibrium
    _, m = x.shape
    _, rewards, _, _, _ = env.step({"mechanism": encode_action(economy.endowments,
                                                               np.full(m, 1 / m))})
    assert rewards["mechanism"] < -1e-3


def test_action_decoding_normalizes_columns_explicitly():
    action = np.zeros(2 * 3 + 3)
    action[:6] = [1, 0, 0, 1, 0, 0]  # agent 0: (1, 0, 0), agent 1: (1, 0, 0)
    action[6:] = [2, 1, 1]
    x, p = decode_action(action, 2, 3)
    np.testing.assert_allclose(x, [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]])
    np.testing.assert_allclose(p, [0.5, 0.25, 0.25])
    x2, p2 = decode_action(encode_action(x, p), 2, 3)
    np.testing.assert_allclose(x2, x)
    np.testing.assert_allclose(p2, p)


def test_trading_post_conserves_money_and_reaches_ce_under_proportional_response():
    env = auction_envs.make("auction_envs/ExchangeEconomy-v0", noise_std=0.0, max_cycles=400)
    observations, _ = env.reset(seed=1)
    economy = env.unwrapped.economy
    family = economy.family
    m = env.unwrapped.n_goods
    actions = {a: economy.theta[i] / economy.theta[i].sum()
               for i, a in enumerate(env.possible_agents)}
    while env.agents:
        observations, _, _, _, infos = env.step(actions)
        if not env.agents:
            break
        for i, agent in enumerate(env.possible_agents):
            allocation = observations[agent][m:2 * m].astype(np.float64)
            contribution = economy.theta[i] * family.phi_elasticity(allocation, i)
            actions[agent] = contribution / contribution.max()
        assert abs(infos["trader_0"]["prices"].sum() - 1) < 1e-12
    metrics = env.unwrapped.metrics()
    assert metrics["price_distance"] < 1e-6 and metrics["ce_loss"] < 1e-6


def test_fixed_economy_and_bad_arguments():
    theta = np.full((2, 2), 0.5)
    endowments = np.array([[1.0, 0.0], [0.0, 1.0]])
    env = auction_envs.make("auction_envs/ExchangeEconomy-v0", n_agents=2, n_goods=2, theta=theta,
                            endowments=endowments)
    env.reset(seed=0)
    np.testing.assert_allclose(env.unwrapped.economy.theta, theta)
    _, p = env.unwrapped.equilibrium()
    np.testing.assert_allclose(p, [0.5, 0.5], atol=1e-9)
    bad = [{"rho": 0.0}, {"rho": 2.0}, {"family": "amdahl", "F": 1.5}, {"family": "leontief"},
           {"n_agents": 1}, {"n_goods": 0}, {"noise_std": -1.0}, {"theta_range": (0.0, 1.0)},
           {"theta": np.ones((2, 2))}, {"endowments": np.ones((5, 3))}, {"max_cycles": 0}]
    for kwargs in bad:
        with pytest.raises(auction_envs.InvalidArgumentError):
            auction_envs.make("auction_envs/ExchangeEconomy-v0", **kwargs)


def test_trader_observation_layout_and_hidden_preferences():
    env = auction_envs.make("auction_envs/ExchangeEconomy-v0", reveal_preferences=False)
    observations, infos = env.reset(seed=0)
    m = 3
    observation = observations["trader_0"]
    assert observation.shape == (5 * m + 2,)
    np.testing.assert_allclose(observation[2 * m:3 * m], 1 / 3, rtol=1e-6)
    np.testing.assert_allclose(observation[3 * m + 2:4 * m + 2],
                               env.unwrapped.economy.endowments[0], rtol=1e-6)
    assert np.all(observation[4 * m + 2:] == 0)
    assert infos["trader_0"]["budget"] == pytest.approx(observation[3 * m], rel=1e-6)
    assert env.unwrapped.render_mode is None
    text = auction_envs.make("auction_envs/ExchangeEconomy-v0", render_mode="ansi")
    text.reset(seed=0)
    assert "ExchangeEconomy" in text.render()
