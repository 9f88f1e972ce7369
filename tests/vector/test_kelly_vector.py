"""The Kelly vector env equals B dict envs stepped with the same bids, across autoresets."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

import auction_envs
from auction_envs.core import InvalidActionError, InvalidArgumentError
from auction_envs.envs.kelly.env import INFO_KEYS

ID = "auction_envs/KellyGameHeterogeneous-v0"


@pytest.mark.parametrize("env_id, kwargs", [
    (ID, {"n_agents": 4, "max_cycles": 5}),
    (ID, {"n_agents": 3, "max_cycles": 4, "eps": 0.1, "c": 0.7}),
    # alpha != 1 and a counterfactual grid take kelly_round instead of the buffer kernel
    ("auction_envs/KellyGameAlphaFair-v0", {"n_agents": 3, "max_cycles": 4}),
    ("auction_envs/KellyGame-v0", {"n_agents": 3, "max_cycles": 4, "counterfactual_grid": 5}),
])
def test_equals_dict_envs_bit_for_bit_across_autoresets(env_id, kwargs):
    batch = 3
    venv = auction_envs.make_vec(env_id, num_envs=batch, **kwargs)
    envs = [auction_envs.make(env_id, **kwargs) for _ in range(batch)]
    observations, _ = venv.reset(seed=7)
    for b, env in enumerate(envs):
        dict_obs, _ = env.reset(seed=7 + b)
        np.testing.assert_array_equal(observations[b], np.stack(list(dict_obs.values())))
    rng = np.random.default_rng(0)
    low, high = venv.action_space.low.astype(np.float64), venv.action_space.high.astype(np.float64)
    resets = 0
    for _ in range(3 * kwargs["max_cycles"] + 2):
        actions = rng.uniform(low, high).astype(np.float32)
        actions[0, 0] = low[0, 0]  # documented bounds are accepted
        observations, rewards, terms, truncs, infos = venv.step(actions)
        for b, env in enumerate(envs):
            if infos["_reset"][b]:  # next-step autoreset: the dict env resets instead
                resets += 1
                dict_obs, _ = env.reset()
                np.testing.assert_array_equal(rewards[b], 0.0)
                assert not truncs[b].any()
            else:
                joint = {a: actions[b, i] for i, a in enumerate(env.possible_agents)}
                dict_obs, dict_rewards, dict_terms, dict_truncs, dict_infos = env.step(joint)
                np.testing.assert_array_equal(rewards[b], list(dict_rewards.values()))
                np.testing.assert_array_equal(truncs[b], list(dict_truncs.values()))
                np.testing.assert_array_equal(terms[b], list(dict_terms.values()))
                for key in INFO_KEYS:
                    np.testing.assert_array_equal(
                        infos[key][b], [dict_infos[a][key] for a in env.possible_agents])
            np.testing.assert_array_equal(observations[b], np.stack(list(dict_obs.values())))
    assert resets == 2 * batch


def test_invalid_actions_name_env_agent_and_change_nothing():
    venv = auction_envs.make_vec(ID, num_envs=2, n_agents=3, max_cycles=10)
    observations, _ = venv.reset(seed=0)
    good = np.full((2, 3, 1), 5.0)
    bad = good.copy()
    bad[1, 2, 0] = 1e6
    with pytest.raises(InvalidActionError, match=r"bidder_2.*env 1"):
        venv.step(bad)
    for weird in ("5", np.full((2, 3, 1), "5"), good[:, :2], np.full((2, 3, 1), np.nan), None):
        with pytest.raises(InvalidActionError):
            venv.step(weird)
    assert (venv.rounds == 0).all()
    np.testing.assert_array_equal(venv._observations(), observations)
    clipped = auction_envs.make_vec(ID, num_envs=2, n_agents=3, action_policy="clip")
    clipped.reset(seed=0)
    clipped.step(bad)
    assert clipped.bids[1, 2] == 400.0


def test_make_vec_rejects_markets_without_a_vector_shell():
    with pytest.raises(InvalidArgumentError, match="vector shell"):
        auction_envs.make_vec("auction_envs/ExchangeEconomyMechanism-v0", num_envs=2)
    with pytest.raises(InvalidArgumentError, match="num_envs"):
        auction_envs.make_vec(ID, num_envs=0)


def test_vector_metrics_match_the_dict_env():
    venv = auction_envs.make_vec(ID, num_envs=2, n_agents=4)
    venv.reset(seed=0)
    equilibrium = auction_envs.make(ID, n_agents=4).unwrapped.equilibrium()
    venv.step(np.stack([equilibrium, 1.2 * equilibrium])[..., None])
    metrics = venv.metrics()
    assert metrics["nash_conv"][0] == pytest.approx(0.0, abs=1e-9) and metrics["nash_conv"][1] > 0


def test_outputs_a_caller_keeps_are_never_overwritten_and_dropped_ones_are_reused():
    venv = auction_envs.make_vec(ID, num_envs=3, n_agents=4, max_cycles=50)
    venv.reset(seed=0)
    rng = np.random.default_rng(1)
    low, high = venv.action_space.low, venv.action_space.high
    kept, snapshots = [], []
    for _ in range(6):  # more steps than the pool's depth, every output kept
        result = venv.step(rng.uniform(low, high).astype(np.float32))
        kept.append(result)
        snapshots.append([np.copy(x) for x in result[:4]]
                         + [{k: np.copy(v) for k, v in result[4].items()}])
    for result, snapshot in zip(kept, snapshots):
        for array, copy in zip(result[:4], snapshot[:4]):
            np.testing.assert_array_equal(array, copy)
        for key, copy in snapshot[4].items():
            np.testing.assert_array_equal(result[4][key], copy)
    view = kept[-1][0][:, 0]  # a view keeps its base: that observation array stays untouched
    base_copy = kept[-1][0].copy()
    del kept, snapshots, result
    actions = rng.uniform(low, high).astype(np.float32)
    dropped = weakref.ref(venv.step(actions)[0])  # dropped at once: the next step reuses it
    assert venv.step(actions)[0] is dropped()
    np.testing.assert_array_equal(view, base_copy[:, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_every_real_dtype_is_checked_like_the_dict_env(dtype):
    venv = auction_envs.make_vec(ID, num_envs=2, n_agents=3, max_cycles=10)
    env = auction_envs.make(ID, n_agents=3, max_cycles=10)
    venv.reset(seed=0)
    env.reset(seed=0)
    bids = np.array([[[1.0], [2.0], [3.0]], [[4.0], [5.0], [6.0]]]).astype(dtype)
    _, rewards, _, _, infos = venv.step(bids)
    _, dict_rewards, _, _, _ = env.step({a: bids[0, i] for i, a in enumerate(env.possible_agents)})
    np.testing.assert_array_equal(rewards[0], list(dict_rewards.values()))
    np.testing.assert_array_equal(infos["bid"], bids[..., 0].astype(np.float64))
    budget = float(venv._high[0, 0])  # a float64 value that float32 rounds onto the Box bound
    just_above = np.nextafter(budget, np.inf)
    if dtype == np.float64 and np.float32(just_above) <= venv.action_space.high[0, 0, 0]:
        bids[0, 0, 0] = just_above
        venv.step(bids)
        assert venv.bids[0, 0] == budget  # accepted, then clipped into the documented bound
    bids[1, 1, 0] = -1
    rounds = venv.rounds.copy()
    with pytest.raises(InvalidActionError, match=r"bidder_1.*env 1"):
        venv.step(bids)
    np.testing.assert_array_equal(venv.rounds, rounds)
