"""A failed ``reset`` leaves the env exactly as it was: seed and options are checked before
anything changes, and an error while building the episode restores attributes and generator."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from auction_envs import InvalidArgumentError
from auction_envs.testing.toy import ToyMarket


def continuation(env, steps=5):
    """What the env does next: an unseeded reset, then seeded steps (bytes, to compare exactly)."""
    out = [env.np_random.bit_generator.state, env.reset()]
    rng = np.random.default_rng(99)
    for _ in range(steps):
        out.append(env.step({a: rng.uniform(0.1, 0.7, size=1) for a in env.agents}))
    out.append(env.state())
    return pickle.dumps(out)


def used_pair(cls=ToyMarket, **kwargs):
    env, twin = cls(**kwargs), cls(**kwargs)
    for e in (env, twin):
        e.reset(seed=3)
        e.step({a: 0.3 for a in e.agents})
    return env, twin


@pytest.mark.parametrize("seed", [[1, 2], -1, 1.5, "3", True, np.float64(2.0), (4,)])
def test_a_bad_seed_changes_nothing(seed):
    env, twin = used_pair()
    generator = env.np_random
    with pytest.raises(InvalidArgumentError, match="seed"):
        env.reset(seed=seed)
    assert env.np_random is generator and env.num_cycles == 1
    assert continuation(env) == continuation(twin)


@pytest.mark.parametrize("options", [[("target", 0.5)], "target", 3, {1: 0.5}])
def test_options_that_are_not_a_dict_of_names_are_rejected(options):
    env, twin = used_pair()
    with pytest.raises(InvalidArgumentError, match="options"):
        env.reset(options=options)
    assert continuation(env) == continuation(twin)


def test_bad_option_values_are_checked_before_anything_changes():
    env, twin = used_pair()
    for bad in (5.0, "0.5", None, [0.5]):
        with pytest.raises(InvalidArgumentError, match="options\\['target'\\]"):
            env.reset(seed=8, options={"target": bad})
    assert continuation(env) == continuation(twin)


def test_unknown_option_keys_are_ignored_as_in_pettingzoo():
    env, twin = used_pair()
    env.reset(seed=4, options={"options": 1})
    twin.reset(seed=4)
    assert continuation(env) == continuation(twin)


class FailsLate(ToyMarket):
    """Draws from the generator and replaces attributes, then fails (an option checked late, as
    V2X's budgets used to be): the base class must undo all of it."""

    def _reset_market(self, options):
        infos = super()._reset_market(options)
        self.np_random.random(10)
        self.attempt = object()  # a new object each reset
        if options.get("fail"):
            raise InvalidArgumentError("options['fail']", options["fail"], "False")
        return infos


class FailsInObservations(ToyMarket):
    def _observations(self):
        if getattr(self, "break_next", False):
            raise RuntimeError("observation bug")
        return super()._observations()


@pytest.mark.parametrize("seed", [None, 5])
def test_an_error_inside_reset_market_restores_attributes_and_generator(seed):
    env, twin = used_pair(FailsLate)
    before = dict(env.__dict__)
    with pytest.raises(InvalidArgumentError):
        env.reset(seed=seed, options={"fail": True})
    assert env.__dict__.keys() == before.keys()
    assert all(env.__dict__[k] is before[k] for k in before)  # attempt, _target, ... restored
    assert env.agents == twin.agents and env.np_random_seed == twin.np_random_seed == 3
    assert continuation(env) == continuation(twin)


def test_an_error_in_the_first_observations_is_undone_too():
    env, twin = used_pair(FailsInObservations)
    env.break_next = True
    with pytest.raises(RuntimeError):
        env.reset(seed=1)
    del env.break_next
    assert continuation(env) == continuation(twin)


def test_a_failed_first_reset_leaves_the_env_unreset():
    env = FailsLate()
    with pytest.raises(InvalidArgumentError):
        env.reset(seed=0, options={"fail": True})
    assert env.agents == [] and not getattr(env, "_has_reset", False)


class MutatesInPlace(FailsLate):
    """Changes an existing array in place before failing: only the deep snapshot undoes that."""

    reset_snapshot = "deep"

    def _reset_market(self, options):
        if hasattr(self, "_error_sum"):
            self._error_sum += 100.0
        return super()._reset_market(options)


def test_the_deep_snapshot_undoes_in_place_changes():
    env, twin = used_pair(MutatesInPlace)
    with pytest.raises(InvalidArgumentError):
        env.reset(options={"fail": True})
    assert env.metrics()["mean_error"].tolist() == twin.metrics()["mean_error"].tolist()
    assert continuation(env) == continuation(twin)


def test_an_unknown_snapshot_mode_is_a_programming_error():
    class Wrong(ToyMarket):
        reset_snapshot = "none"

    with pytest.raises(TypeError, match="reset_snapshot"):
        Wrong()


def test_v2x_bad_budgets_leave_the_env_unchanged():
    """Issue 19's case: V2X drew the episode's budgets before checking ``options['budgets']``."""
    import auction_envs

    env, twin = (auction_envs.make("auction_envs/V2XOffloading-v1", n_vehicles=3, max_cycles=20)
                 for _ in range(2))
    for e in (env, twin):
        e.reset(seed=2)
    for bad in ("rich", [1.0, 2.0], [1.0, -2.0, 3.0]):
        with pytest.raises(ValueError):
            env.reset(options={"budgets": bad})
    rng = np.random.default_rng(0)
    for _ in range(3):
        joint = {a: rng.uniform(0, 1, 2) for a in env.agents}
        assert pickle.dumps(env.step(joint)) == pickle.dumps(twin.step(joint))
    assert pickle.dumps(env.reset()) == pickle.dumps(twin.reset())
