"""The exchange-economy vector env (traders' view) equals B dict envs stepped with the same seeds
and spending weights, across autoresets: to 1e-12 (float64) and one float32 step (observations),
because the budgets ``p . e_i`` of a batch are one stacked ``matmul`` where the dict env takes a
matrix-vector product, which may round the last bit differently; everything else is the same
arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

import auction_envs
from auction_envs.core import InvalidActionError, InvalidArgumentError

INFO_KEYS = ("split", "spending", "allocation", "budget", "noisy_utility")


def _close(actual, desired) -> None:
    np.testing.assert_allclose(actual, desired, rtol=1e-12, atol=1e-15)


def _close_float32(actual, desired) -> None:
    """Equal to one float32 rounding step (values equal to 1e-12 may round apart)."""
    np.testing.assert_allclose(actual, desired, rtol=2.0**-23, atol=1e-30)


def _dict_observations(env) -> np.ndarray:
    """The dict env's observations of every trader, also on the truncating step (where
    PettingZoo returns none because no agent is left): the env's own packing of its state."""
    base = env.unwrapped
    agents, base.agents = base.agents, list(base.possible_agents)
    try:
        observations = base._observations()
    finally:
        base.agents = agents
    return np.stack([observations[a] for a in base.possible_agents])


CASES = [
    ("auction_envs/ExchangeEconomy-v0", {"max_cycles": 3}),
    ("auction_envs/ExchangeEconomyAmdahl-v0", {"max_cycles": 2}),
    ("auction_envs/ExchangeEconomy-v0", {"max_cycles": 2, "family": "linear",
                                         "reveal_preferences": False, "n_agents": 3}),
    ("auction_envs/ExchangeEconomy-v0", {"max_cycles": 2, "theta": np.full((5, 3), 0.5)}),
]


@pytest.mark.parametrize(("env_id", "kwargs"), CASES)
def test_equals_dict_envs_across_autoresets(env_id, kwargs):
    seeds = [3, 8, 3, 5]
    batch = len(seeds)
    venv = auction_envs.make_vec(env_id, num_envs=batch, **kwargs)
    envs = [auction_envs.make(env_id, **kwargs) for _ in range(batch)]
    observations, _ = venv.reset(seed=seeds)
    for seed, env, row in zip(seeds, envs, observations):
        env.reset(seed=seed)
        np.testing.assert_array_equal(row, _dict_observations(env))  # no arithmetic yet
    rng = np.random.default_rng(0)
    low = venv.action_space.low.astype(np.float64)
    high = venv.action_space.high.astype(np.float64)
    resets = 0
    for _ in range(3 * kwargs["max_cycles"] + 2):
        actions = rng.uniform(low, high).astype(np.float32)
        actions[0, 0] = 0.0  # an all-zero split: uniform
        actions[1, 1, 0] = high[1, 1, 0]  # documented bounds are accepted
        observations, rewards, terms, truncs, infos = venv.step(actions)
        for b, env in enumerate(envs):
            if infos["_reset"][b]:  # next-step autoreset: the dict env resets instead
                resets += 1
                env.reset()
                np.testing.assert_array_equal(rewards[b], 0.0)
                assert not truncs[b].any() and not terms[b].any()
            else:
                joint = {a: actions[b, i] for i, a in enumerate(env.possible_agents)}
                _, dict_rewards, dict_terms, dict_truncs, dict_infos = env.step(joint)
                _close(rewards[b], list(dict_rewards.values()))
                np.testing.assert_array_equal(truncs[b], list(dict_truncs.values()))
                np.testing.assert_array_equal(terms[b], list(dict_terms.values()))
                for key in INFO_KEYS:
                    _close(infos[key][b], [dict_infos[a][key] for a in env.possible_agents])
                _close(infos["prices"][b], dict_infos[env.possible_agents[0]]["prices"])
            _close_float32(observations[b], _dict_observations(env))
    assert resets == 2 * batch
    # the same seed, the same economies (the noise draws advance both generators alike)
    np.testing.assert_array_equal(venv.endowments[0], venv.endowments[2])
    np.testing.assert_array_equal(venv.theta[0], venv.theta[2])
    assert not np.array_equal(venv.endowments[0], venv.endowments[1])


def test_equilibrium_and_metrics_match_the_dict_env():
    kwargs = {"n_agents": 3, "n_goods": 2}
    venv = auction_envs.make_vec("auction_envs/ExchangeEconomy-v0", num_envs=2, **kwargs)
    venv.reset(seed=0)
    env = auction_envs.make("auction_envs/ExchangeEconomy-v0", **kwargs)
    env.reset(seed=1)
    allocation, prices = venv.equilibrium()
    dict_allocation, dict_prices = env.unwrapped.equilibrium()
    np.testing.assert_array_equal(allocation[1], dict_allocation)
    np.testing.assert_array_equal(prices[1], dict_prices)
    actions = np.full((2, 3, 2), 0.5)
    venv.step(actions)
    env.step({a: actions[1, i] for i, a in enumerate(env.possible_agents)})
    metrics, dict_metrics = venv.metrics(), env.unwrapped.metrics()
    _close(metrics["ce_loss"][1], dict_metrics["ce_loss"])
    _close(metrics["price_distance"][1], dict_metrics["price_distance"])


def test_invalid_actions_name_env_agent_and_change_nothing():
    venv = auction_envs.make_vec("auction_envs/ExchangeEconomy-v0", num_envs=2)
    observations, _ = venv.reset(seed=0)
    state = [generator.bit_generator.state for generator in venv.generators.generators]
    bad = np.full((2, 5, 3), 0.5)
    bad[1, 4, 2] = 1.5
    with pytest.raises(InvalidActionError, match=r"trader_4.*env 1"):
        venv.step(bad)
    with pytest.raises(InvalidActionError):
        venv.step(np.full((2, 5, 3), np.nan))
    assert (venv.rounds == 0).all()
    assert [generator.bit_generator.state for generator in venv.generators.generators] == state
    np.testing.assert_array_equal(venv._observations(), observations)


def test_the_mechanism_view_has_no_vector_shell():
    with pytest.raises(InvalidArgumentError, match="vector shell"):
        auction_envs.make_vec("auction_envs/ExchangeEconomyMechanism-v0", num_envs=2)


def test_views_before_reset_raise_reset_needed():
    from auction_envs.core.errors import ResetNeededError

    venv = auction_envs.make_vec("auction_envs/ExchangeEconomy-v0", num_envs=2)
    for view in (venv.equilibrium, venv.metrics):
        with pytest.raises(ResetNeededError, match="reset"):
            view()
