"""The looped vector envs (cloud double auction, V2X offloading) equal ``B`` dict envs stepped with
the same seeds and actions, bit for bit, across autoresets: the shell steps copies of the dict
env, so nothing but the bookkeeping (seeds, autoreset, validation, stacking) can differ."""

from __future__ import annotations

import numpy as np
import pytest

import auction_envs
from auction_envs.core import InvalidActionError, InvalidArgumentError
from auction_envs.envs.cloud import CloudVectorEnv
from auction_envs.envs.v2x import V2XVectorEnv

CASES = [
    ("auction_envs/CloudDoubleAuction-v1", {"max_cycles": 3}),
    ("auction_envs/CloudDoubleAuctionLowLoadFair-v1", {"max_cycles": 2}),
    ("auction_envs/CloudDoubleAuction-v1", {"max_cycles": 2, "mechanism": "icaa",
                                            "max_buyers": 6, "start_window": 40}),
    ("auction_envs/V2XOffloading-v1", {"n_vehicles": 4, "max_cycles": 3}),
    ("auction_envs/V2XOffloadingIntersection-v1", {"n_vehicles": 4, "max_cycles": 3,
                                                   "history": 2}),
]


def _actions(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Uniform actions as float32 (what a policy sends), a few exactly at the bounds."""
    actions = rng.uniform(low, high).astype(np.float32)
    actions[0, 0] = low[0, 0]
    actions[-1, -1] = high[-1, -1]
    return actions


def _assert_same_metrics(vector_value, dict_value) -> None:
    if isinstance(dict_value, dict):
        for key, value in dict_value.items():
            _assert_same_metrics(vector_value[key], value)
    else:
        np.testing.assert_array_equal(vector_value, dict_value)


@pytest.mark.parametrize(("env_id", "kwargs"), CASES)
def test_equals_dict_envs_bit_for_bit_across_autoresets(env_id, kwargs):
    batch = 3
    venv = auction_envs.make_vec(env_id, num_envs=batch, **kwargs)
    envs = [auction_envs.make(env_id, **kwargs) for _ in range(batch)]
    agents = envs[0].possible_agents
    observations, reset_infos = venv.reset(seed=7)
    for b, env in enumerate(envs):
        dict_obs, dict_infos = env.reset(seed=7 + b)
        np.testing.assert_array_equal(observations[b], np.stack([dict_obs[a] for a in agents]))
        for key, values in reset_infos.items():
            if key != "_reset":
                np.testing.assert_array_equal(values[b], [dict_infos[a][key] for a in agents])
    rng = np.random.default_rng(0)
    low, high = venv.action_space.low, venv.action_space.high
    resets = 0
    for _ in range(3 * (kwargs["max_cycles"] + 1) + 1):  # three autoresets per env
        actions = _actions(rng, low, high)
        observations, rewards, terms, truncs, infos = venv.step(actions)
        assert observations.dtype == np.float32 and rewards.shape == (batch, len(agents))
        for b, env in enumerate(envs):
            if infos["_reset"][b]:  # next-step autoreset: the dict env resets, without a seed
                resets += 1
                dict_obs, _ = env.reset()
                np.testing.assert_array_equal(rewards[b], 0.0)
                assert not truncs[b].any() and not terms[b].any()
            else:
                dict_obs, dict_rewards, dict_terms, dict_truncs, dict_infos = env.step(
                    {a: actions[b, i] for i, a in enumerate(agents)})
                np.testing.assert_array_equal(rewards[b], [dict_rewards[a] for a in agents])
                np.testing.assert_array_equal(terms[b], [dict_terms[a] for a in agents])
                np.testing.assert_array_equal(truncs[b], [dict_truncs[a] for a in agents])
                for key in dict_infos[agents[0]]:
                    np.testing.assert_array_equal(infos[key][b],
                                                  [dict_infos[a][key] for a in agents])
            np.testing.assert_array_equal(observations[b], np.stack([dict_obs[a] for a in agents]))
    assert resets == 3 * batch
    metrics = venv.metrics()
    for b, env in enumerate(envs):
        _assert_same_metrics({k: _row(v, b) for k, v in metrics.items()}, env.metrics())


def _row(value, b):
    return {k: _row(v, b) for k, v in value.items()} if isinstance(value, dict) else value[b]


@pytest.mark.parametrize("env_id", ["auction_envs/CloudDoubleAuctionLowLoad-v1",
                                    "auction_envs/V2XOffloading-v1"])
def test_copies_without_a_seed_draw_their_own_markets(env_id):
    kwargs = {"n_vehicles": 3} if "V2X" in env_id else {}
    venv = auction_envs.make_vec(env_id, num_envs=3, max_cycles=2, **kwargs)
    venv.reset()
    for _ in range(2):  # the V2X arrivals are random from the first step on
        observations, *_ = venv.step(np.full(venv.action_space.shape, 0.5, np.float32))
    assert not np.array_equal(observations[0], observations[1])
    assert not np.array_equal(observations[1], observations[2])


def test_invalid_actions_name_env_agent_and_change_nothing():
    env_id, kwargs = "auction_envs/CloudDoubleAuction-v1", {"max_cycles": 4, "max_buyers": 5}
    venv = auction_envs.make_vec(env_id, num_envs=3, **kwargs)
    observations, _ = venv.reset(seed=3)
    good = np.full(venv.action_space.shape, 0.3, np.float32)
    venv.step(good)
    observations = venv._observations()
    generators = [env.np_random.bit_generator.state for env in venv.envs]
    bad = good.copy()
    bad[2, 4, 1] = 1.5  # provider_d5 of env 2, out of [0, 1]
    with pytest.raises(InvalidActionError, match=r"provider_d5.*env 2"):
        venv.step(bad)
    for weird in ("0.3", good[:, :3], np.full(good.shape, np.nan), None, good.astype(complex)):
        with pytest.raises(InvalidActionError):
            venv.step(weird)
    assert (venv.rounds == 1).all()
    assert [env.num_cycles for env in venv.envs] == [1, 1, 1]
    np.testing.assert_array_equal(venv._observations(), observations)
    assert [env.np_random.bit_generator.state for env in venv.envs] == generators
    # what follows is what a vector env that never saw the rejected actions does
    twin = auction_envs.make_vec(env_id, num_envs=3, **kwargs)
    twin.reset(seed=3)
    twin.step(good)
    np.testing.assert_array_equal(venv.step(good)[1], twin.step(good)[1])
    clipped = auction_envs.make_vec(env_id, num_envs=3, action_policy="clip", **kwargs)
    clipped.reset(seed=3)
    clipped.step(bad)
    np.testing.assert_array_equal(clipped.rounds, 1)


def test_reset_options_reach_every_copy_and_bad_ones_change_nothing():
    venv = auction_envs.make_vec("auction_envs/V2XOffloading-v1", num_envs=2, n_vehicles=3,
                                 max_cycles=2)
    budgets = [900.0, 1500.0, 2000.0]
    _, infos = venv.reset(seed=0, options={"budgets": budgets})
    np.testing.assert_array_equal(infos["budget"], [budgets, budgets])
    observations = venv._observations()
    with pytest.raises(InvalidArgumentError, match="budgets"):
        venv.reset(seed=5, options={"budgets": [1.0, -1.0, 1.0]})
    assert venv.seeds == [0, 1]
    np.testing.assert_array_equal(venv._observations(), observations)


def test_registered_variants_build_their_looped_shell():
    cases = {"auction_envs/CloudDoubleAuctionLowLoad-v1": ({}, CloudVectorEnv, 7, 24),
             "auction_envs/CloudDoubleAuctionFair-v1": ({}, CloudVectorEnv, 7, 24),
             "auction_envs/V2XOffloadingHighContention-v1": ({"n_vehicles": 5}, V2XVectorEnv, 5,
                                                             2),
             "auction_envs/V2XOffloadingIntersectionTest-v1": ({"n_vehicles": 5}, V2XVectorEnv,
                                                               5, 2)}
    for env_id, (kwargs, shell, n_agents, action_dim) in cases.items():
        venv = auction_envs.make_vec(env_id, num_envs=2, **kwargs)
        assert type(venv) is shell and venv.max_cycles == auction_envs.make(env_id).max_cycles
        observations, _ = venv.reset(seed=0)
        assert observations.shape == (2, n_agents, *venv.single_observation_space.shape)
        assert venv.action_space.shape == (2, n_agents, action_dim)
        assert len({id(env) for env in venv.envs}) == 2


def test_sumo_mobility_is_refused_clearly():
    from auction_envs.envs.v2x.mobility import sumo_available

    if not sumo_available()[0]:
        pytest.skip("libsumo is not installed")
    with pytest.raises(InvalidArgumentError, match="mobility"):
        auction_envs.make_vec("auction_envs/V2XOffloadingIntersection-v1", num_envs=2,
                              mobility="sumo")


@pytest.mark.parametrize(("env_id", "kwargs"), [
    ("auction_envs/CloudDoubleAuctionLowLoad-v1", {"max_cycles": 3, "max_buyers": 4}),
    ("auction_envs/V2XOffloading-v1", {"n_vehicles": 3, "max_cycles": 3}),
])
def test_sb3_ppo_trains_through_the_native_adapter(env_id, kwargs):
    pytest.importorskip("stable_baselines3")
    import torch
    from stable_baselines3 import PPO

    from auction_envs.wrappers.sb3 import sb3_native_vec_env

    venv = sb3_native_vec_env(env_id, num_envs=2, **kwargs)
    n_agents = venv.venv.n_agents
    assert venv.num_envs == 2 * n_agents
    venv.seed(0)
    venv.reset()
    zeros = np.zeros((venv.num_envs, *venv.action_space.shape), np.float32)
    for _ in range(kwargs["max_cycles"] - 1):
        _, _, dones, _ = venv.step(zeros)
        assert not dones.any()
    _, _, dones, infos = venv.step(zeros)  # the horizon: SB3 sees a truncation and bootstraps
    assert dones.all() and all(info["TimeLimit.truncated"] for info in infos)
    torch.set_num_threads(1)

    def trained() -> list[torch.Tensor]:
        model = PPO("MlpPolicy", sb3_native_vec_env(env_id, num_envs=2, **kwargs), n_steps=6,
                    batch_size=6 * n_agents, n_epochs=2, seed=0, device="cpu")
        before = [p.detach().clone() for p in model.policy.parameters()]
        model.learn(total_timesteps=2 * 6 * 2 * n_agents)
        after = [p.detach().clone() for p in model.policy.parameters()]
        assert all(torch.isfinite(p).all() for p in after)
        assert any(not torch.equal(a, b) for a, b in zip(before, after))  # the policy moved
        return after

    first, second = trained(), trained()
    assert all(torch.equal(a, b) for a, b in zip(first, second))  # PPO(seed=0) reproduces
