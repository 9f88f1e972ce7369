"""MarketEnv behaviour shared by every market, and the command line."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from auction_envs import EpisodeOverError, InvalidActionError, MarketEnv
from auction_envs.cli import main
from auction_envs.envs.kelly import KellyGameEnv


class DiscreteToy(MarketEnv):
    """Two agents pick a level in {0,..,4} x {0,..,2}; reward = sum of the levels."""

    def __init__(self, **kwargs):
        self.possible_agents = ["a", "b"]
        super().__init__(max_cycles=kwargs.pop("max_cycles", 5), **kwargs)
        box = spaces.Box(0, 10, shape=(2,), dtype=np.float32)
        self._set_spaces({a: box for a in self.possible_agents},
                         {a: spaces.MultiDiscrete([5, 3]) for a in self.possible_agents}, box)
        self.last = {}

    def _reset_market(self, options):
        self.last = {}
        return {a: {} for a in self.agents}

    def _step_market(self, actions):
        self.last = actions
        return {a: float(v.sum()) for a, v in actions.items()}, {a: {} for a in actions}, False

    def _observations(self):
        return {a: np.asarray(self.last.get(a, [0, 0]), dtype=np.float32) for a in self.agents}

    def state(self):
        return np.zeros(2, dtype=np.float32)


def test_discrete_actions_are_validated_and_returned_as_integers():
    env = DiscreteToy()
    env.reset(seed=0)
    _, rewards, *_ = env.step({"a": [4, 2], "b": np.array([0.0, 1.0])})
    assert rewards == {"a": 6.0, "b": 1.0} and env.last["b"].dtype == np.int64
    for bad in ([5, 0], [1.5, 0], [-1, 0], [1, 1, 1]):
        with pytest.raises(InvalidActionError, match="'a'"):
            env.step({"a": bad, "b": [0, 0]})


def test_step_after_the_episode_ended_raises():
    env = DiscreteToy(max_cycles=1)
    with pytest.raises(EpisodeOverError):
        env.step({})
    env.reset()
    env.step({"a": [0, 0], "b": [0, 0]})
    with pytest.raises(EpisodeOverError, match="reset"):
        env.step({"a": [0, 0], "b": [0, 0]})


def test_reset_without_seed_continues_the_generator():
    env = KellyGameEnv(n_agents=2)
    env.reset(seed=5)
    first = env.np_random.random()
    env.reset()
    assert env.np_random.random() != first
    env.reset(seed=5)
    assert env.np_random.random() == first


def test_cli_list_and_info(capsys):
    assert main(["list"]) == 0
    assert "auction_envs/KellyGame-v0" in capsys.readouterr().out
    assert main(["info", "auction_envs/KellyGame-v0"]) == 0
    out = capsys.readouterr().out
    assert "Box(1.0, 400.0, (1,), float32)" in out and "## Rewards" in out
    assert main(["info", "KellyGam-v0"]) == 2
    assert "Did you mean" in capsys.readouterr().err


class LeavingToy(DiscreteToy):
    """DiscreteToy whose agent ``b`` leaves after the first round (the episode goes on for ``a``)."""

    def _step_market(self, actions):
        rewards, infos, terminated = super()._step_market(actions)
        self.agents = ["a"]
        return rewards, infos, terminated


def test_termination_and_truncation_dicts_are_new_each_step_and_follow_the_live_agents():
    env = DiscreteToy(max_cycles=3)
    env.reset(seed=0)
    action = {a: np.array([1, 1]) for a in env.agents}
    first = env.step(action)
    first[2]["a"], first[3]["b"] = True, True  # a caller's edits reach no later step
    _, _, terminations, truncations, _ = env.step(action)
    assert terminations == truncations == {"a": False, "b": False}
    assert terminations is not truncations and terminations is not first[2]
    *_, terminations, truncations, _ = env.step(action)
    assert terminations == {"a": False, "b": False} and truncations == {"a": True, "b": True}
    leaving = LeavingToy(max_cycles=3)
    leaving.reset(seed=0)
    assert leaving.step(action)[2] == {"a": False}  # the agents live after the round
    *_, terminations, truncations, _ = leaving.step({"a": np.array([1, 1])})
    assert terminations == {"a": False} and truncations == {"a": False}
    *_, terminations, truncations, _ = leaving.step({"a": np.array([1, 1])})
    assert terminations == {"a": False} and truncations == {"a": True}
    env.reset(seed=0)
    assert env.step(action)[3] == {"a": False, "b": False}
