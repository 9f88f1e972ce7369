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


# float arrays of one entry each are checked as Python numbers (the fast path of a bid per agent):
# they must give what the per-agent walk gives, or its error, and change nothing when rejected
FLOAT_BIDS = [np.array([3.5]), np.array(7.25, dtype=np.float32), np.array([[2.0]]),
              np.array([1.0], dtype=np.float16), np.array([400.0], dtype=np.longdouble),
              np.array([np.float32(1.0)]), np.array([0.999]), np.array([400.5]),
              np.array([np.nan]), np.array([-np.inf]), np.array([3.0, 4.0]), np.zeros(0),
              np.array([5.0])[::-1], np.array([1e300])]


@pytest.mark.parametrize("policy", ["raise", "clip"])
@pytest.mark.parametrize("index", range(len(FLOAT_BIDS)))
def test_float_array_bids_agree_with_the_per_agent_walk(index, policy):
    env, twin = (KellyGameEnv(n_agents=3, action_policy=policy) for _ in range(2))
    for market in (env, twin):
        market.reset(seed=0)
    value = FLOAT_BIDS[index]
    joint = {"bidder_0": np.array([2.0]), "bidder_1": value, "bidder_2": np.array([9.0])}
    try:
        walked = [env._validate_one(agent, joint[agent]).tolist() for agent in env.agents]
    except InvalidActionError as expected:
        with pytest.raises(InvalidActionError) as error:
            env.step(joint)
        assert str(error.value) == str(expected)
        assert [o.tolist() for o in env.step(bids_dict(env, [2, 3, 4]))[0].values()] == \
            [o.tolist() for o in twin.step(bids_dict(twin, [2, 3, 4]))[0].values()]
        return
    assert env.validate_joint_action(joint).tolist() == walked
    _, _, _, _, infos = env.step(joint)
    assert [[infos[agent]["bid"]] for agent in env.possible_agents] == walked


@pytest.mark.parametrize("kwargs, name", [
    ({"n_agents": 0}, "n_agents"),
    ({"n_agents": 2.0}, "n_agents"),
    ({"n_agents": True}, "n_agents"),
    ({"eps": -1.0}, "eps"),
    ({"eps": 0.0}, "eps"),
    ({"eps": float("nan")}, "eps"),
    ({"delta": 0.0}, "delta"),
    ({"delta": "0.1"}, "delta"),
    ({"c": 0.5}, "c"),
    ({"c": np.array([400.0, 0.5]), "n_agents": 2}, "c"),
    ({"c": float("inf")}, "c"),
    ({"a": np.ones(3), "n_agents": 2}, "a"),
    ({"a": -1.0}, "a"),  # was silently floored to a_min = 1
    ({"a": 0.0}, "a"),
    ({"a": np.array([1.0, -2.0]), "n_agents": 2}, "a"),
    ({"a": np.ones(2), "n_agents": 2, "gamma": 1.0}, "gamma"),
    ({"gamma": -1.0}, "gamma"),
    ({"a_min": 0.0}, "a_min"),
    ({"alpha": -0.5}, "alpha"),
    ({"alpha": 20.0}, "alpha"),  # payoffs of about -1e70: +-inf as float32 observations
    ({"counterfactual_grid": 1}, "counterfactual_grid"),
    ({"counterfactual_grid": 8.0}, "counterfactual_grid"),
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


def test_largest_accepted_alpha_gives_finite_observations():
    env = KellyGameEnv(n_agents=10, alpha=10.0)  # |phi| up to about 1e33: fits float32
    env.reset(seed=0)
    observations, rewards, _, _, _ = env.step(bids_dict(env, [1.0] + [400.0] * 9))
    assert all(np.all(np.isfinite(o)) for o in observations.values())
    assert all(np.isfinite(r) for r in rewards.values())


VARIANTS = ["auction_envs/KellyGame-v0", "auction_envs/KellyGameHeterogeneous-v0",
            "auction_envs/KellyGameAlphaFair-v0"]


@pytest.mark.parametrize("env_id", VARIANTS)
@pytest.mark.parametrize("eps, c", [(0.1, 400.0), (0.5, 0.7), (0.1, 0.7), (0.3, 0.3)])
def test_equilibrium_and_bids_at_the_documented_bounds_are_accepted(env_id, eps, c):
    # issue 12: float32 Box bounds rounded 0.1 up and 0.7 down, so the env rejected its own
    # equilibrium() (which sits on eps or c) with action_policy="raise"
    env = auction_envs.make(env_id, eps=eps, c=c, max_cycles=5)
    unwrapped = env.unwrapped
    env.reset(seed=0)
    equilibrium = unwrapped.equilibrium()
    _, _, _, _, infos = env.step(bids_dict(env, equilibrium))
    np.testing.assert_array_equal([infos[a]["bid"] for a in env.possible_agents], equilibrium)
    assert unwrapped.metrics()["residual"] < 1e-9
    for bound in (eps, c):
        _, _, _, _, infos = env.step(bids_dict(env, np.full(len(env.possible_agents), bound)))
        assert all(infos[a]["bid"] == bound for a in env.possible_agents)
    # a float32 bid in the rounding gap is accepted and clipped to the float64 bound
    low32 = env.action_space("bidder_0").low[0]
    assert low32 <= np.float32(eps) and float(low32) <= eps
    _, _, _, _, infos = env.step(bids_dict(env, np.full(len(env.possible_agents), low32)))
    assert infos["bidder_0"]["bid"] == max(float(low32), eps)


def test_documented_float64_bounds_and_payoff_range():
    env = KellyGameEnv(n_agents=3, eps=0.1, c=np.array([0.7, 1.3, 400.0]))
    assert env.action_bounds("bidder_0") == (0.1, 0.7)
    assert env.action_bounds("bidder_2") == (0.1, 400.0)
    low, high = env.payoff_range("bidder_1")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        _, rewards, _, _, _ = env.step(bids_dict(env, rng.uniform(0.1, env.budgets)))
        assert all(low <= r <= high for r in rewards.values())
    with pytest.raises(KeyError, match="bidder_9"):
        env.payoff_range("bidder_9")
    assert KellyGameEnv(n_agents=2, eps=2.0, c=2.0).payoff_range("bidder_0")[0] == \
        KellyGameEnv(n_agents=2, eps=2.0, c=2.0).payoff_range("bidder_0")[1]


def test_minimum_bid_equal_to_the_budget_gives_finite_normalized_payoffs():
    # issue 12: eps = c made phi_min = phi_max and the normalized payoffs 0 / 0 = NaN
    env = KellyGameEnv(n_agents=3, eps=2.0, c=2.0)
    env.reset(seed=0)
    env.step(bids_dict(env, [2.0, 2.0, 2.0]))
    metrics = env.metrics()
    np.testing.assert_array_equal(metrics["normalized_payoff"], 1.0)
    np.testing.assert_array_equal(metrics["mean_normalized_payoff"], 1.0)


def test_state_and_metrics_before_the_first_reset_raise():
    from auction_envs.core import ResetNeededError

    env = KellyGameEnv(n_agents=2)
    with pytest.raises(ResetNeededError):
        env.metrics()
    with pytest.raises(ResetNeededError):
        env.state()
    env.reset(seed=0)
    assert env.metrics() == {"round": 0}


def test_observation_fields_by_name_and_docstring_table():
    env = KellyGameEnv(n_agents=2, a=np.array([10.0, 20.0]), c=50.0, eps=1.0, delta=1.0)
    observations, _ = env.reset(seed=0)
    fields = env.layout.unpack(observations["bidder_1"])
    assert fields["valuation"] == 20.0 and fields["budget"] == 50.0 and fields["bid"] == 0.0
    observations, _, _, _, infos = env.step(bids_dict(env, [2.0, 7.0]))
    fields = env.layout.unpack(observations["bidder_0"])
    for key in ("bid", "others_bid", "allocation", "payoff", "gradient"):
        assert fields[key] == pytest.approx(infos["bidder_0"][key], rel=1e-6)
    assert env.layout.table().splitlines()[2].strip() in KellyGameEnv.__doc__
    assert env.observation_space("bidder_0") == env.layout.space()


def test_core_is_batched_and_matches_the_env_round():
    from auction_envs.envs.kelly import KellyCore

    env = auction_envs.make("auction_envs/KellyGameHeterogeneous-v0", n_agents=5)
    core = env.unwrapped.core
    bids = np.random.default_rng(0).uniform(1, 400, size=(7, 5))
    batched = core.round(bids)
    for row in range(7):
        single = core.round(bids[row])
        for key, value in single.items():
            np.testing.assert_allclose(batched[key][row], value, rtol=1e-14)
    fresh = KellyCore(core.valuations, core.budgets, core.eps, core.delta)
    fresh.reset(7)
    fresh.step(bids)
    np.testing.assert_allclose(fresh.metrics()["residual"],
                               [core.round(b)["best_response"].__sub__(b).__pow__(2).sum() ** 0.5
                                for b in bids], rtol=1e-12)
