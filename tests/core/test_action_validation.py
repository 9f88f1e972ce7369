"""MarketEnv action validation: one vectorized check of the joint action, the precise per-agent
error only on failure, float32 documented bounds, strict real numbers, the joint action array."""

from __future__ import annotations

import datetime
import fractions
import pickle

import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from auction_envs import InvalidActionError, MarketEnv
from auction_envs.core.layout import float32_box
from auction_envs.testing.toy import ArrayToyMarket, ToyMarket

AGENTS = ["trader_0", "trader_1", "trader_2"]


def toy(**kwargs):
    env = ToyMarket(**kwargs)
    env.reset(seed=0)
    return env


def valid(value=0.4):
    return {agent: np.array([value], dtype=np.float32) for agent in AGENTS}


# ---------------------------------------------------------------------------- fast path
def test_a_valid_joint_action_never_walks_the_agents(monkeypatch):
    env = toy()
    calls = []
    monkeypatch.setattr(env, "_validate_one", lambda agent, value: calls.append(agent))
    for joint in (valid(), {a: 0.4 for a in AGENTS}, {a: [0.3] for a in AGENTS},
                  {a: np.float64(0.5) for a in AGENTS}):
        env.step(joint)
    assert calls == []


class SubArray(np.ndarray):
    """A plain ndarray subclass."""


@pytest.mark.parametrize("value", [
    np.ma.array([0.4], mask=[True]), np.ma.array([0.4]), np.matrix([[0.4]]),
    np.array([0.4]).view(SubArray), np.float32(0.4), 0.4, np.array([[0.4]]),
    np.array([0.4], dtype=np.float16), np.array([1], dtype=np.int64)], ids=repr)
def test_the_fast_path_gives_the_per_agent_walks_answer_for_every_array_like(value):
    """The one-float fast path reads ``np.ndarray.item``: subclasses, scalars, other shapes and
    dtypes in one slot must come out exactly as the per-agent walk makes them."""
    env = toy(action_policy="clip")
    joint = {**valid(), "trader_1": value}
    fast = env.validate_joint_action(joint)
    walked = np.stack(list(env._validate_each(joint).values()))
    assert fast.dtype == walked.dtype == np.float64 and np.array_equal(fast, walked)


def test_an_invalid_joint_action_is_walked_to_name_the_agent():
    env = toy()
    with pytest.raises(InvalidActionError, match=r"'trader_1'.*out of bounds") as error:
        env.step({**valid(), "trader_1": [0.9]})
    assert error.value.agent == "trader_1" and error.value.value == [0.9]
    assert error.value.space is env.action_space("trader_1")


def test_validated_actions_are_float64_copies_per_agent():
    env = toy()
    joint = valid()
    out = env.validate_actions(joint)
    assert list(out) == AGENTS
    for agent in AGENTS:
        assert out[agent].dtype == np.float64 and out[agent].shape == (1,)
        assert not np.shares_memory(out[agent], joint[agent])
    out["trader_0"][0] = 5.0  # the rows do not alias each other
    assert out["trader_1"][0] == np.float32(0.4)


def test_scalar_and_nested_size_one_values_fit_a_size_one_space():
    env = toy()
    out = env.validate_actions({"trader_0": 0.2, "trader_1": [[0.3]], "trader_2": np.array(0.5)})
    assert [v.tolist() for v in out.values()] == [[0.2], [0.3], [0.5]]


def test_joint_action_array_subclass_receives_one_array():
    received = []

    class Spy(ArrayToyMarket):
        def _step_market(self, actions):
            received.append(actions)
            return super()._step_market(actions)

    env = Spy(dim=2)
    env.reset(seed=1)
    twin = ToyMarket(dim=2)
    twin.reset(seed=1)
    joint = {agent: np.array([0.2 + i / 10, 0.6], dtype=np.float32) for i, agent in enumerate(AGENTS)}
    result, expected = env.step(joint), twin.step(joint)
    assert received[0].shape == (3, 2) and received[0].dtype == np.float64
    assert pickle.dumps(result) == pickle.dumps(expected)
    # the slow path (here: clipping) hands over an array too
    clipping = Spy(dim=2, action_policy="clip")
    clipping.reset(seed=1)
    clipping.step({**joint, "trader_2": [5.0, -5.0]})
    assert received[-1].shape == (3, 2) and received[-1][2].tolist() == [0.7, 0.1]


def test_joint_action_array_needs_one_kind_of_space():
    class Mixed(MarketEnv):
        joint_action_array = True

        def __init__(self):
            super().__init__(max_cycles=3, possible_agents=["a", "b"])
            box = spaces.Box(0, 1, (1,), np.float32)
            self._set_spaces({"a": box, "b": box}, {"a": box, "b": spaces.Box(0, 1, (2,))}, box)

    with pytest.raises(TypeError, match="same kind and shape"):
        Mixed()


def test_validate_joint_action_returns_the_stacked_rows():
    env = toy()
    assert env.validate_joint_action({a: 0.3 for a in AGENTS}).tolist() == [[0.3]] * 3


def test_rewards_may_be_an_array_aligned_with_the_agents():
    env = toy(noise=0.0)
    env.reset(seed=0, options={"target": 0.5})
    _, rewards, *_ = env.step({"trader_0": 0.5, "trader_1": 0.3, "trader_2": 0.7})
    assert rewards == pytest.approx({"trader_0": 0.0, "trader_1": -0.04, "trader_2": -0.04})
    assert all(type(r) is float for r in rewards.values())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hnp.arrays(np.float64, (3, 1), elements=st.floats(-1.0, 2.0) | st.sampled_from(
    [np.nan, np.inf, -np.inf, 0.1, 0.7, float(np.float32(0.1)), float(np.float32(0.7)),
     float(np.nextafter(np.float32(0.1), np.float32(0))), 0.09999999, 0.70000002])),
       st.sampled_from(["raise", "clip"]))
def test_fast_path_agrees_with_the_per_agent_walk(values, policy):
    env = toy(action_policy=policy)
    joint = dict(zip(AGENTS, values))
    try:
        walked = {agent: env._validate_one(agent, joint[agent]) for agent in AGENTS}
    except InvalidActionError as expected:
        with pytest.raises(InvalidActionError) as error:
            env.validate_actions(joint)
        assert str(error.value) == str(expected)
        return
    fast = env.validate_actions(joint)
    assert {a: v.tolist() for a, v in fast.items()} == {a: v.tolist() for a, v in walked.items()}


# ---------------------------------------------------------------------------- float32 bounds
@pytest.mark.parametrize("build", ["nearest", "outward"])
def test_documented_float32_bounds_are_accepted_and_clipped_into_them(build):
    class Bounded(ToyMarket):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            box = (spaces.Box(0.1, 0.7, (1,), np.float32) if build == "nearest"
                   else float32_box(0.1, 0.7, (1,)))
            self._set_spaces(self.observation_spaces, dict.fromkeys(AGENTS, box), self.state_space,
                             action_bounds=dict.fromkeys(AGENTS, (0.1, 0.7)))

    env = Bounded()
    env.reset(seed=0)
    for low, high in ((0.1, 0.7), (np.float32(0.1), np.float32(0.7)), ([0.1], [0.7])):
        out = env.validate_actions({"trader_0": low, "trader_1": high, "trader_2": 0.4})
        assert 0.1 <= out["trader_0"][0] <= np.float32(0.1) and out["trader_0"][0] >= 0.1
        assert np.float32(0.7) <= out["trader_1"][0] <= 0.7
    out = env.validate_actions({"trader_0": 0.1, "trader_1": 0.7, "trader_2": 0.4})
    assert out["trader_0"][0] == 0.1 and out["trader_1"][0] == 0.7  # exactly the documented ends
    assert env.action_bounds("trader_0") == (np.array([0.1]), np.array([0.7]))
    for outside in (0.0999, 0.09999998, 0.7001, 0.7000001):
        with pytest.raises(InvalidActionError, match="out of bounds"):
            env.step({**valid(), "trader_0": outside})


def test_a_plain_float32_box_accepts_its_decimal_bounds():
    """``spaces.Box(0.1, ...)`` stores 0.100000001; 0.1 itself rounds onto it, so it is accepted
    (and clipped into the Box: without ``action_bounds`` the Box is all the env documents)."""

    class Plain(MarketEnv):
        def __init__(self):
            super().__init__(max_cycles=3, possible_agents=["a"])
            box = spaces.Box(0.1, 0.7, (1,), np.float32)
            self._set_spaces({"a": box}, {"a": box}, box)

    env = Plain()
    env.agents = ["a"]
    assert env.validate_actions({"a": 0.1})["a"][0] == np.float32(0.1)
    assert env.validate_actions({"a": np.float32(0.1)})["a"][0] == np.float32(0.1)
    assert env.validate_actions({"a": 0.7})["a"][0] == np.float32(0.7)


def test_action_bounds_must_match_the_space():
    class Wrong(ToyMarket):
        def __init__(self):
            super().__init__()
            self._set_spaces(self.observation_spaces, self.action_spaces, self.state_space,
                             action_bounds=dict.fromkeys(AGENTS, (0.05, 0.7)))

    with pytest.raises(TypeError, match="action_bounds"):
        Wrong()


def test_infinite_bounds_let_no_inf_or_float32_overflow_through():
    class Unbounded(MarketEnv):
        def __init__(self, **kwargs):
            super().__init__(max_cycles=3, possible_agents=["a"], **kwargs)
            box = spaces.Box(-np.inf, np.inf, (2,), np.float32)
            self._set_spaces({"a": box}, {"a": box}, box)

    for policy in ("raise", "clip"):
        env = Unbounded(action_policy=policy)
        env.agents = ["a"]
        assert env.validate_actions({"a": [1e30, -1e30]})["a"].tolist() == [1e30, -1e30]
        for bad in ([np.inf, 0.0], [0.0, -np.inf], [np.nan, 0.0]):
            with pytest.raises(InvalidActionError, match="NaN or infinite"):
                env.validate_actions({"a": bad})
    env = Unbounded()
    env.agents = ["a"]
    with pytest.raises(InvalidActionError, match="out of bounds"):
        env.validate_actions({"a": [1e39, 0.0]})  # finite in float64, inf as the space's float32


# ---------------------------------------------------------------------------- strict types
class Grad:
    """Stands in for a torch tensor with requires_grad: ``__array__`` raises a RuntimeError."""

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("Can't call numpy() on Tensor that requires grad.")


class Floaty:
    def __float__(self):
        return 0.4


WEIRD = {
    "numeric string": "0.4",
    "numeric bytes": b"0.4",
    "bytearray": bytearray(b"1"),
    "bool": True,
    "numpy bool": np.bool_(False),
    "bool array": np.array([True]),
    "bool in a list": [True],
    "string in a list": ["0.4"],
    "datetime64": np.datetime64("2020-01-01"),
    "timedelta64": np.timedelta64(1, "s"),
    "datetime": datetime.datetime(2020, 1, 1),
    "complex": 0.4 + 0j,
    "complex array": np.array([0.4 + 1j]),
    "object array": np.array([0.4], dtype=object),
    "huge int": 10**400,
    "huge int in a list": [10**400],
    "None": None,
    "dict": {"bid": 0.4},
    "set": {0.4},
    "grad tensor": Grad(),
    "float-like object": Floaty(),
    "ragged": [[0.4], [0.4, 0.5]],
    "text array": np.array(["0.4"]),
    "structured": np.zeros(1, dtype=[("x", float)]),
}


@pytest.mark.parametrize("name", sorted(WEIRD))
@pytest.mark.parametrize("policy", ["raise", "clip"])
def test_non_real_actions_raise_invalid_action_naming_agent_space_value(name, policy):
    env = toy(action_policy=policy)
    twin = toy(action_policy=policy)
    value = WEIRD[name]
    with pytest.raises(InvalidActionError) as error:
        env.step({**valid(), "trader_1": value})
    assert isinstance(error.value, ValueError)
    assert error.value.agent == "trader_1" and error.value.value is value
    assert "trader_1" in str(error.value) and "Box(" in str(error.value)
    assert pickle.dumps(env.step(valid())) == pickle.dumps(twin.step(valid()))


def test_real_numbers_of_every_kind_are_accepted():
    env = toy()
    for value in (0.4, 1, np.float32(0.4), np.int8(0), np.uint64(0), np.longdouble(0.4),
                  fractions.Fraction(2, 5), np.array([0.4], dtype=np.float16), (0.4,),
                  [np.float32(0.4)], memoryview(np.array([0.4]))):
        clipped = toy(action_policy="clip")
        assert clipped.validate_actions({**valid(), "trader_0": value})["trader_0"].shape == (1,)
    assert env.validate_actions({**valid(), "trader_0": np.longdouble(0.4)})["trader_0"][0] == 0.4


leaf = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**500, 10**500),
    st.booleans(), st.text(max_size=3), st.binary(max_size=3), st.none(),
    st.complex_numbers(max_magnitude=10), st.just(np.datetime64("2021-01-01")),
    st.builds(np.float32, st.floats(width=32)),
)
weird_values = st.recursive(leaf, lambda children: st.lists(children, max_size=3), max_leaves=6) | \
    hnp.arrays(st.sampled_from([np.float64, np.float32, np.int64, np.bool_, np.complex128, "U2",
                                "M8[s]", object]),
               hnp.array_shapes(min_dims=0, max_dims=2, max_side=2))


@settings(max_examples=200, deadline=None)
@given(weird_values, st.sampled_from(["raise", "clip"]))
def test_any_input_is_accepted_into_the_space_or_rejected_with_invalid_action(value, policy):
    env = toy(action_policy=policy)
    try:
        out = env.validate_actions({**valid(), "trader_2": value})
    except InvalidActionError as error:
        assert error.agent == "trader_2"
        return
    action = out["trader_2"]
    assert action.dtype == np.float64 and action.shape == (1,)
    assert np.all(np.isfinite(action)) and 0.1 <= action[0] <= 0.7


# ---------------------------------------------------------------------------- discrete spaces
class Levels(MarketEnv):
    def __init__(self, space, **kwargs):
        super().__init__(max_cycles=5, possible_agents=["a", "b"], **kwargs)
        box = spaces.Box(0, 10, shape=(2,), dtype=np.float32)
        self._set_spaces({a: box for a in self.possible_agents},
                         {a: space for a in self.possible_agents}, box)


@pytest.mark.parametrize("space, good, bad", [
    (spaces.Discrete(4, start=1), [1, 4.0, np.int8(2), [3]], [0, 5, 1.5, True, "2"]),
    (spaces.MultiDiscrete([5, 3]), [[4, 2], np.array([0.0, 1.0])], [[5, 0], [-1, 0], [1, 1, 1]]),
    (spaces.MultiBinary(3), [[0, 1, 1], np.ones(3)], [[2, 0, 0], [True, False, True]]),
])
def test_integer_spaces_on_both_paths(space, good, bad):
    env = Levels(space)
    env.agents = ["a", "b"]
    for value in good:
        for joint in ({"a": value, "b": value}, {"a": value, "b": np.asarray(value)}):
            out = env.validate_actions(joint)
            assert out["a"].dtype == np.int64 and space.contains(out["a"].astype(space.dtype))
    for value in bad:
        with pytest.raises(InvalidActionError, match="'b'"):
            env.validate_actions({"a": good[0], "b": value})
    clip = Levels(space, action_policy="clip")
    clip.agents = ["a", "b"]
    with pytest.raises(InvalidActionError, match="out of range"):  # no clipping of levels
        clip.validate_actions({"a": good[0], "b": bad[0]})
