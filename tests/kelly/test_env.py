"""KellyGame env behaviour: payoffs, feedback, metrics and arguments."""

from __future__ import annotations

import numpy as np
import pytest

import auction_envs
from auction_envs import InvalidActionError, InvalidArgumentError
from auction_envs.envs.kelly import KellyGameEnv
from auction_envs.oracles.kelly import kelly_nash_equilibrium


def bids_dict(env, bids):
    return {agent: np.array([bid]) for agent, bid in zip(env.possible_agents, bids)}


def test_one_round_by_hand():
    env = KellyGameEnv(n_agents=2, a=np.array([10.0, 20.0]), c=50.0, eps=1.0, delta=1.0)
    env.reset(seed=0)
    observations, rewards, _, _, infos = env.step(bids_dict(env, [2.0, 7.0]))
    # x = z / (2 + 7 + 1); payoff = a log x - z; gradient = a s / (z (z + s)) - 1
    assert infos["bidder_0"]["allocation"] == pytest.approx(0.2)
    assert rewards["bidder_0"] == pytest.approx(10 * np.log(0.2) - 2)
    assert rewards["bidder_1"] == pytest.approx(20 * np.log(0.7) - 7)
    assert infos["bidder_0"]["others_bid"] == pytest.approx(8.0)
    assert infos["bidder_0"]["gradient"] == pytest.approx(10 * 8 / (2 * 10) - 1)
    best = (-8 + np.sqrt(64 + 4 * 10 * 8)) / 2
    assert infos["bidder_0"]["best_response"] == pytest.approx(best)
    np.testing.assert_allclose(observations["bidder_1"],
                               np.float32([7, 3, 0.7, 20 * np.log(0.7) - 7, 20 * 3 / (7 * 10) - 1,
                                           20, 50, 1]), rtol=1e-6)


def test_heterogeneous_valuations_follow_gamma():
    env = auction_envs.make("auction_envs/KellyGameHeterogeneous-v0")
    np.testing.assert_allclose(env.unwrapped.valuations, [100, 90, 80, 70, 60, 50, 40, 30, 20, 10])
    env = KellyGameEnv(n_agents=20, gamma=10.0)
    assert env.valuations.min() == 1.0  # a_min floor


def test_metrics_vanish_at_equilibrium_and_not_elsewhere():
    env = auction_envs.make("auction_envs/KellyGameHeterogeneous-v0")
    env.reset(seed=0)
    equilibrium = env.unwrapped.equilibrium()
    env.step(bids_dict(env, equilibrium))
    metrics = env.unwrapped.metrics()
    assert metrics["residual"] < 1e-9 and metrics["nash_conv"] < 1e-9
    assert metrics["price_of_anarchy"] >= 1.0
    env.step(bids_dict(env, equilibrium * 0.5))
    metrics = env.unwrapped.metrics()
    assert metrics["residual"] > 1 and metrics["nash_conv"] > 0
    assert metrics["round"] == 2


def test_normalized_payoff_lies_in_unit_interval_for_random_bids():
    env = KellyGameEnv(n_agents=5, gamma=10.0, max_cycles=200)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(200):
        env.step(bids_dict(env, rng.uniform(1, 400, 5)))
        normalized = env.metrics()["normalized_payoff"]
        assert np.all((normalized >= 0) & (normalized <= 1))


def test_price_of_anarchy_is_one_at_the_welfare_optimum_bids():
    # bids proportional to a give x_i proportional to a (up to the reserve's share)
    env = KellyGameEnv(n_agents=3, a=np.array([10.0, 20.0, 30.0]), delta=1e-9, c=1e6)
    env.reset()
    env.step(bids_dict(env, [100.0, 200.0, 300.0]))
    assert env.metrics()["price_of_anarchy"] == pytest.approx(1.0, abs=1e-9)


def test_alpha_fair_variant_uses_its_alpha():
    env = auction_envs.make("auction_envs/KellyGameAlphaFair-v0", alpha=0.5)
    assert env.unwrapped.alpha == 0.5
    np.testing.assert_allclose(
        env.unwrapped.equilibrium(), kelly_nash_equilibrium(np.full(10, 100.0), 400.0, 1.0, 0.1, 0.5))


def test_truncates_at_horizon_without_terminating():
    env = KellyGameEnv(n_agents=2, max_cycles=3)
    env.reset(seed=0)
    for t in range(3):
        _, _, terminations, truncations, _ = env.step(bids_dict(env, [5.0, 5.0]))
        assert not any(terminations.values())
        assert all(truncations.values()) == (t == 2)
    assert env.agents == []


def test_invalid_action_names_agent_space_and_value():
    env = KellyGameEnv(n_agents=2)
    env.reset(seed=0)
    with pytest.raises(InvalidActionError) as error:
        env.step({"bidder_0": np.array([5.0]), "bidder_1": np.array([401.0])})
    message = str(error.value)
    assert "bidder_1" in message and "Box(1.0, 400.0" in message and "401" in message
    assert error.value.agent == "bidder_1"


def test_clip_policy_clips_out_of_bounds_bids_but_rejects_nan():
    env = KellyGameEnv(n_agents=2, action_policy="clip")
    env.reset(seed=0)
    _, _, _, _, infos = env.step({"bidder_0": np.array([0.0]), "bidder_1": np.array([1e9])})
    assert infos["bidder_0"]["bid"] == 1.0 and infos["bidder_1"]["bid"] == 400.0
    with pytest.raises(InvalidActionError, match="NaN"):
        env.step({"bidder_0": np.array([np.nan]), "bidder_1": np.array([3.0])})


def test_scalar_bids_are_accepted_for_one_dimensional_spaces():
    env = KellyGameEnv(n_agents=2)
    env.reset(seed=0)
    _, rewards, _, _, _ = env.step({"bidder_0": 5.0, "bidder_1": 10})
    assert set(rewards) == {"bidder_0", "bidder_1"}


@pytest.mark.parametrize("kwargs, name", [
    ({"n_agents": 0}, "n_agents"),
    ({"eps": -1.0}, "eps"),
    ({"c": 0.5}, "c"),
    ({"a": np.ones(3), "n_agents": 2}, "a"),
    ({"a": np.ones(2), "n_agents": 2, "gamma": 1.0}, "gamma"),
    ({"alpha": -0.5}, "alpha"),
    ({"max_cycles": 0}, "max_cycles"),
    ({"render_mode": "video"}, "render_mode"),
    ({"action_policy": "ignore"}, "action_policy"),
])
def test_bad_arguments_fail_at_construction(kwargs, name):
    with pytest.raises(InvalidArgumentError, match=name):
        KellyGameEnv(**kwargs)


def test_ansi_render_summarizes_the_round():
    env = KellyGameEnv(n_agents=2, render_mode="ansi")
    env.reset(seed=0)
    env.step(bids_dict(env, [5.0, 6.0]))
    text = env.render()
    assert "round 1/3000" in text and "bidder_1" in text and "NashConv" in text
