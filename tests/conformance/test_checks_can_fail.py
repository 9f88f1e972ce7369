"""Each strict conformance check fails on an env broken in exactly the way it guards against."""

from __future__ import annotations

import numpy as np
import pytest

from auction_envs.envs.kelly import KellyGameEnv
from auction_envs.testing.conformance import STRICT_CHECKS


class ObservationOutsideSpace(KellyGameEnv):
    def _observations(self):
        observations = super()._observations()
        if self.num_cycles >= 5:  # allocation entry above its bound of 1
            observations = {a: o.copy() for a, o in observations.items()}
            for observation in observations.values():
                observation[2] = 1.5
        return observations


class MissingObservationKey(KellyGameEnv):
    def _observations(self):
        observations = super()._observations()
        if self.num_cycles >= 2:
            observations.pop(self.possible_agents[-1], None)
        return observations


class NonFiniteReward(KellyGameEnv):
    def _step_market(self, actions):
        rewards, infos, terminated = super()._step_market(actions)
        if self.num_cycles >= 7:
            rewards[self.possible_agents[0]] = float("nan")
        return rewards, infos, terminated


class UnseededNoise(KellyGameEnv):
    def _step_market(self, actions):
        rewards, infos, terminated = super()._step_market(actions)
        noise = np.random.default_rng().normal()  # not from self.np_random
        return {a: r + noise for a, r in rewards.items()}, infos, terminated


class LosesRngWhenPickled(KellyGameEnv):
    def _step_market(self, actions):
        rewards, infos, terminated = super()._step_market(actions)
        noise = self.np_random.normal()
        return {a: r + noise for a, r in rewards.items()}, infos, terminated

    def __getstate__(self):
        state = self.__dict__.copy()
        state["np_random"] = np.random.default_rng(12345)
        return state


class Unpicklable(KellyGameEnv):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.callback = lambda: None


class AcceptsNaN(KellyGameEnv):
    def validate_actions(self, actions):
        return {agent: np.atleast_1d(np.asarray(actions.get(agent, [1.0]), dtype=float))
                for agent in self.agents}


class MutatesBeforeValidating(KellyGameEnv):
    def validate_actions(self, actions):
        self._bids = self._bids + 1.0  # corrupts state even when the actions are then rejected
        return super().validate_actions(actions)


BROKEN = {
    "observations_in_space": ObservationOutsideSpace,
    "key_sets": MissingObservationKey,
    "finite_rewards": NonFiniteReward,
    "deterministic": UnseededNoise,
    "pickle_round_trip": [LosesRngWhenPickled, Unpicklable],
    "malformed_actions": [AcceptsNaN, MutatesBeforeValidating],
}

CASES = [(name, cls) for name, classes in BROKEN.items()
         for cls in (classes if isinstance(classes, list) else [classes])]


def test_every_strict_check_has_a_broken_env():
    assert set(BROKEN) == set(STRICT_CHECKS)


@pytest.mark.parametrize("check_name, broken_env", CASES, ids=[f"{n}-{c.__name__}" for n, c in CASES])
def test_check_fails_on_broken_env(check_name, broken_env):
    def env_fn(**kwargs):
        return broken_env(**{"n_agents": 3, "max_cycles": 50, **kwargs})

    with pytest.raises(AssertionError):
        STRICT_CHECKS[check_name](env_fn)


@pytest.mark.parametrize("check_name", sorted(STRICT_CHECKS))
def test_check_passes_on_the_intact_env(check_name):
    STRICT_CHECKS[check_name](lambda **kw: KellyGameEnv(**{"n_agents": 3, "max_cycles": 50, **kw}))
