"""ScriptedAgents: the market with some agents played by a fixed policy, the rest exposed."""

import numpy as np
import pytest

import auction_envs
from auction_envs.wrappers.scripted import ScriptedAgents

ENV_ID = "auction_envs/IoVSlicingLearned-v1"


class TruthfulBidders:
    """The VSPs bid ``u_i(s*_i)``; counts its calls so the test sees the protocol."""

    def __init__(self, base):
        self.base, self.resets, self.seen = base, 0, []

    def reset(self):
        self.resets += 1

    def act(self, observations):
        self.seen.append(sorted(observations))
        bids = self.base.equilibrium()["bids"]
        return {a: np.array([x], dtype=np.float32) for a, x in zip(self.base.vsps, bids)}


def _pair():
    raw = auction_envs.make(ENV_ID, n_vsps=4, instance_seed=1, max_cycles=6)
    env = auction_envs.make(ENV_ID, n_vsps=4, instance_seed=1, max_cycles=6)
    policy = TruthfulBidders(env.unwrapped)
    wrapped = ScriptedAgents(env, policy, env.unwrapped.vsps)
    return raw, wrapped, policy


def test_only_the_learners_are_exposed_and_the_trajectory_is_the_markets():
    raw, wrapped, policy = _pair()
    base = wrapped.unwrapped
    assert wrapped.possible_agents == base.slicers
    raw.reset(seed=5)
    obs, infos = wrapped.reset(seed=5)
    assert policy.resets == 1 and sorted(obs) == sorted(base.slicers) == sorted(infos)
    rng = np.random.default_rng(0)
    while wrapped.agents:
        levels = {a: rng.integers(0, 7, 3) for a in wrapped.agents}
        joint = dict(levels)
        joint.update(TruthfulBidders(raw.unwrapped).act({}))
        raw_obs, raw_rewards, raw_terms, raw_truncs, raw_infos = raw.step(joint)
        obs, rewards, terms, truncs, infos = wrapped.step(levels)
        for part in (obs, rewards, terms, truncs, infos):
            assert sorted(part) == sorted(base.slicers)
        for agent in base.slicers:
            np.testing.assert_array_equal(obs[agent], raw_obs[agent])
            assert rewards[agent] == raw_rewards[agent]
            assert (terms[agent], truncs[agent]) == (raw_terms[agent], raw_truncs[agent])
            assert infos[agent]["welfare"] == raw_infos[agent]["welfare"]
    # the policy saw the VSPs' own observations, every step
    assert policy.seen and all(seen == sorted(base.vsps) for seen in policy.seen)
    assert wrapped.agents == [] and raw.agents == []


def test_scripted_actions_from_the_caller_and_bad_agent_lists_are_refused():
    _, wrapped, _ = _pair()
    wrapped.reset(seed=0)
    with pytest.raises(ValueError, match="scripted"):
        wrapped.step({"vsp_0": np.array([1.0], dtype=np.float32)})
    env = wrapped.env
    with pytest.raises(ValueError, match="not agents"):
        ScriptedAgents(env, TruthfulBidders(env.unwrapped), ["nobody"])
    with pytest.raises(ValueError, match="nothing is left"):
        ScriptedAgents(env, TruthfulBidders(env.unwrapped), env.possible_agents)
    with pytest.raises(TypeError, match="act"):
        ScriptedAgents(env, object(), env.unwrapped.vsps)


def test_a_bad_learner_action_changes_nothing():
    _, wrapped, _ = _pair()
    wrapped.reset(seed=0)
    before = wrapped.unwrapped.state().copy()
    levels = {a: np.array([3, 3, 3]) for a in wrapped.agents}
    levels[wrapped.agents[0]] = np.array([9, 3, 3])
    with pytest.raises(Exception, match="slicer_0"):
        wrapped.step(levels)
    np.testing.assert_array_equal(wrapped.unwrapped.state(), before)
    good = {a: np.array([3, 3, 3]) for a in wrapped.agents}
    wrapped.step(good)  # still usable
