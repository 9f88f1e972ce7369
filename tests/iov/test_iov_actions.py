"""The IoV fast action path (``envs/iov/actions.py``) against ``MarketEnv``'s strict check."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import auction_envs
from auction_envs import InvalidActionError
from auction_envs.core.market_env import MarketEnv

ENV_IDS = ("auction_envs/IoVSlicing-v1", "auction_envs/IoVSlicingLearned-v1")


def _env(env_id: str):
    env = auction_envs.make(env_id).unwrapped
    env.reset(seed=3)
    return env


def _valid(env) -> dict:
    return {agent: env.action_space(agent).sample() for agent in env.agents}


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("bad", [np.nan, -1e-3, np.inf, 1e9])
@pytest.mark.parametrize("position", [0, -1])
def test_a_bad_bid_anywhere_names_its_agent_and_changes_nothing(env_id, bad, position) -> None:
    env = _env(env_id)
    env.action_space("vsp_0").seed(0)
    actions = _valid(env)
    agent = env.vsps[position]
    actions[agent] = np.array([bad], dtype=np.float32)
    before = (env.num_cycles, env.core.slices.copy(), env.np_random.bit_generator.state)
    with pytest.raises(InvalidActionError) as error:
        env.step(actions)
    assert error.value.agent == agent
    assert env.num_cycles == before[0]
    np.testing.assert_array_equal(env.core.slices, before[1])
    assert env.np_random.bit_generator.state == before[2]


bid_values = st.floats(0.0, 2.0 * 200.0, width=32)
bid_forms = st.sampled_from(["f32", "f64", "f16", "scalar0d", "nested", "python", "int"])


@settings(max_examples=60, deadline=None)
@given(bids=st.lists(bid_values, min_size=10, max_size=10), forms=st.lists(bid_forms, min_size=10,
                                                                            max_size=10))
def test_fast_path_equals_the_strict_check(bids, forms) -> None:
    env = _env(ENV_IDS[0])
    limit = float(env.action_space("vsp_0").high[0])
    converters = {"f32": lambda b: np.array([b], np.float32), "f64": lambda b: np.array([b]),
                  "f16": lambda b: np.array([b], np.float16), "scalar0d": np.float64,
                  "nested": lambda b: np.array([[b]], np.float32), "python": float,
                  "int": lambda b: int(b)}
    actions = {agent: converters[form](min(bid, limit))
               for agent, bid, form in zip(env.vsps, bids, forms)}
    fast = env.validate_actions(actions)
    strict = MarketEnv.validate_actions(env, actions)
    assert fast.keys() == strict.keys()
    for agent in strict:
        np.testing.assert_array_equal(fast[agent], strict[agent])
        assert fast[agent].dtype == strict[agent].dtype and fast[agent].shape == strict[agent].shape
    np.testing.assert_array_equal(fast.bids, np.array([strict[a][0] for a in env.vsps]))


def test_info_keys_keep_their_documented_order() -> None:
    from auction_envs.envs.iov.env import VSP_INFO_KEYS

    env = _env(ENV_IDS[0])
    _, _, _, _, infos = env.step({a: np.array([1.0], np.float32) for a in env.agents})
    assert list(infos["vsp_0"]) == [*VSP_INFO_KEYS, "allocation"]
