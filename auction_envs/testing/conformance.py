"""The conformance suite every registered env must pass (``tests/conformance`` runs it over the
whole registry; run it on your own variant with :func:`run_all`).

It wraps PettingZoo's own tests (``parallel_api_test``, and through ``parallel_to_aec`` its
``api_test``, ``seed_test``, ``max_cycles_test``, ``render_test``, ``state_test``) and adds strict
checks for what they miss: observations inside their spaces at every step, exact key sets, finite
rewards, bit-identical seeded rollouts over many steps, a pickle round trip, and malformed actions
rejected with a ``ValueError`` subclass while the env stays usable and unchanged, non-real action
types (strings, bools, complex, datetimes, huge integers, objects whose ``__array__`` raises)
rejected the same way, failed resets that leave the env unchanged, documented float32 bounds
accepted, ``state()`` / ``metrics()`` before the first reset, infos of one structure at reset and
step (TorchRL builds its specs from them), and property-based fuzzing of actions (hypothesis, if
installed; ``AUCTION_ENVS_FUZZ_EXAMPLES`` sets the number of examples per env, default 25; e.g.
``AUCTION_ENVS_FUZZ_EXAMPLES=2000`` for a long run), and every documented constructor argument
given bad values (strings, booleans, NaN, inf, negatives, zero, 1e300, wrong lengths, reversed
pairs): rejected with an error naming it, or accepted and then a short rollout that works, all
within a time bound (:func:`check_constructor_arguments`; more values and steps when
``AUCTION_ENVS_FUZZ_EXAMPLES`` exceeds its default).

Each ``check_*`` takes ``env_fn(**kwargs) -> ParallelEnv`` and raises ``AssertionError`` on failure.
"""

from __future__ import annotations

import datetime
import functools
import inspect
import io
import numbers
import os
import pickle
import re
import reprlib
import signal
import threading
from collections.abc import Callable, Mapping
from contextlib import redirect_stdout
from types import SimpleNamespace
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.test import (
    api_test,
    max_cycles_test,
    parallel_api_test,
    render_test,
    seed_test,
)
from pettingzoo.test.state_test import state_test
from pettingzoo.utils.conversions import parallel_to_aec

from auction_envs.core.errors import InvalidArgumentError
from auction_envs.testing.golden import sample_action

EnvFn = Callable[..., ParallelEnv]
FUZZ_EXAMPLES_VARIABLE = "AUCTION_ENVS_FUZZ_EXAMPLES"
DEFAULT_FUZZ_EXAMPLES = 25


# ---------------------------------------------------------------------------- helpers
def _seeded_action_sampler(env: ParallelEnv, seed: int) -> Callable[[list[str]], dict[str, Any]]:
    """Actions sampled from each agent's space with its own seeded generator (reproducible)."""
    generators = {agent: np.random.default_rng([seed, i])
                  for i, agent in enumerate(env.possible_agents)}

    def sample(agents: list[str]) -> dict[str, Any]:
        return {agent: _sample(env.action_space(agent), generators[agent]) for agent in agents}

    return sample


def _sample(space: spaces.Space, rng: np.random.Generator) -> Any:
    return sample_action(space, rng)


def _identical(a: Any, b: Any, where: str) -> None:
    """Assert bit-for-bit equality of nested dicts/lists/arrays/scalars."""
    if isinstance(a, Mapping):
        assert isinstance(b, Mapping) and set(a) == set(b), f"{where}: keys differ"
        for key in a:
            _identical(a[key], b[key], f"{where}[{key!r}]")
        return
    if isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            _identical(x, y, f"{where}[{i}]")
        return
    if isinstance(a, (np.ndarray, np.generic, float, int, bool)):
        x, y = np.asarray(a), np.asarray(b)
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), \
            f"{where}: {a!r} != {b!r}"
        return
    assert a == b, f"{where}: {a!r} != {b!r}"


def _rollout(env: ParallelEnv, seed: int, steps: int,
             on_step: Callable[[int, tuple], None] | None = None) -> list[tuple]:
    """Reset with ``seed`` and play seeded random actions for up to ``steps`` rounds."""
    sample = _seeded_action_sampler(env, seed)
    record = [env.reset(seed=seed)]
    for t in range(steps):
        if not env.agents:
            record.append(env.reset())
        result = env.step(sample(list(env.agents)))
        if on_step is not None:
            on_step(t, result)
        record.append(result)
    return record


# ---------------------------------------------------------------------------- PettingZoo's tests
def check_parallel_api(env_fn: EnvFn, num_cycles: int = 1000) -> None:
    """PettingZoo's ``parallel_api_test`` with ``num_cycles`` rounds."""
    with redirect_stdout(io.StringIO()):
        parallel_api_test(env_fn(), num_cycles=num_cycles)


def check_aec_api(env_fn: EnvFn, num_cycles: int = 1000) -> None:
    """PettingZoo's ``api_test`` on the ``parallel_to_aec`` conversion."""
    with redirect_stdout(io.StringIO()):
        api_test(parallel_to_aec(env_fn()), num_cycles=num_cycles)


def check_seed(env_fn: EnvFn, num_cycles: int = 500) -> None:
    """PettingZoo's ``seed_test`` on the ``parallel_to_aec`` conversion."""
    seed_test(lambda: parallel_to_aec(env_fn()), num_cycles=num_cycles)


def check_max_cycles(env_fn: EnvFn) -> None:
    """PettingZoo's ``max_cycles_test``: ``max_cycles`` truncates both APIs at the same round."""
    module = SimpleNamespace(
        parallel_env=lambda **kw: env_fn(**kw),
        env=lambda **kw: parallel_to_aec(env_fn(**kw)),
    )
    max_cycles_test(module)


def check_render(env_fn: EnvFn) -> None:
    """PettingZoo's ``render_test`` for every render mode in the metadata."""
    with redirect_stdout(io.StringIO()):
        render_test(lambda render_mode=None: parallel_to_aec(env_fn(render_mode=render_mode)))


def check_state(env_fn: EnvFn) -> None:
    """PettingZoo's ``state_test`` (state in ``state_space`` on both APIs)."""
    state_test(parallel_to_aec(env_fn()), env_fn())


# ---------------------------------------------------------------------------- strict checks
def check_observations_in_space(env_fn: EnvFn, steps: int = 300, seed: int = 0) -> None:
    """Every observation lies in its space (dtype and bounds) after reset and every step."""
    env = env_fn()

    def in_space(observations: dict, when: str) -> None:
        for agent, observation in observations.items():
            space = env.observation_space(agent)
            assert space.contains(observation), (
                f"{when}: observation of {agent} outside {space}: {observation!r}")

    in_space(env.reset(seed=seed)[0], "reset")
    _rollout(env, seed, steps, lambda t, result: in_space(result[0], f"step {t}"))


def check_key_sets(env_fn: EnvFn, steps: int = 300, seed: int = 0) -> None:
    """Each returned dict has exactly the agents that acted; ``agents`` only ever shrinks."""
    env = env_fn()
    observations, infos = env.reset(seed=seed)
    live = set(env.agents)
    assert live and live <= set(env.possible_agents), "reset must populate agents"
    assert set(observations) == live and set(infos) == live, "reset: keys != agents"
    sample = _seeded_action_sampler(env, seed)
    for t in range(steps):
        if not env.agents:
            env.reset()
            live = set(env.agents)
        result = env.step(sample(list(env.agents)))
        for name, value in zip(("observations", "rewards", "terminations", "truncations",
                                "infos"), result):
            assert set(value) == live, f"step {t}: {name} keys {sorted(value)} != {sorted(live)}"
        assert set(env.agents) <= live, f"step {t}: an agent was revived"
        done = {a for a in live if result[2][a] or result[3][a]}
        assert set(env.agents) == live - done, f"step {t}: finished agents still in agents"
        live = set(env.agents)


def check_finite_rewards(env_fn: EnvFn, steps: int = 300, seed: int = 0) -> None:
    """Every reward is a finite real number."""

    def finite(t: int, result: tuple) -> None:
        for agent, reward in result[1].items():
            assert np.isscalar(reward) and np.isfinite(reward), (
                f"step {t}: reward of {agent} is {reward!r}")

    _rollout(env_fn(), seed, steps, finite)


def check_deterministic(env_fn: EnvFn, steps: int = 1000, seed: int = 7) -> None:
    """Two instances with the same seed and actions give bit-identical trajectories, and a
    re-seeded reset of a used instance replays the same trajectory."""
    env_a, env_b = env_fn(), env_fn()
    first = _rollout(env_a, seed, steps)
    _identical(first, _rollout(env_b, seed, steps), "second instance")
    _identical(first, _rollout(env_a, seed, steps), "re-seeded instance")
    if hasattr(env_a, "state"):
        _identical(env_a.state(), env_b.state(), "final state")


def check_pickle_round_trip(env_fn: EnvFn, steps: int = 20, seed: int = 3) -> None:
    """An env pickled mid-episode continues exactly like the original."""
    env = env_fn()
    _rollout(env, seed, steps)
    if not env.agents:
        env.reset(seed=seed)
    try:
        clone = pickle.loads(pickle.dumps(env))
    except Exception as error:  # any pickling failure is a conformance failure
        raise AssertionError(f"the env cannot be pickled: {error!r}") from error
    sample = _seeded_action_sampler(env, seed + 1)
    for t in range(steps):
        if not env.agents:
            break
        actions = sample(list(env.agents))
        _identical(env.step(actions), clone.step(actions), f"step {t} after unpickling")


def _malformed_actions(env: ParallelEnv, valid: dict[str, Any]) -> dict[str, dict[str, Any]]:
    agent = env.agents[0]
    space = env.action_space(agent)
    shape = space.shape or ()
    cases: dict[str, dict[str, Any]] = {
        "missing agent": {k: v for k, v in valid.items() if k != agent},
        "extra agent": {**valid, "no_such_agent": valid[agent]},
        "wrong shape": {**valid, agent: np.zeros((*shape, 2))},
        "not numeric": {**valid, agent: "bid"},
        "not a dict": [valid[a] for a in env.agents],
        "NaN": {**valid, agent: np.full(shape, np.nan)},
        "inf": {**valid, agent: np.full(shape, np.inf)},
    }
    if isinstance(space, spaces.Box):
        high, low = space.high.astype(np.float64), space.low.astype(np.float64)
        if np.all(np.isfinite(high)):
            cases["above bounds"] = {**valid, agent: high + 1.0 + np.abs(high)}
        if np.all(np.isfinite(low)):
            cases["below bounds"] = {**valid, agent: low - 1.0 - np.abs(low)}
    elif isinstance(space, spaces.Discrete):
        cases["above bounds"] = {**valid, agent: space.start + space.n}
        cases["non-integer"] = {**valid, agent: space.start + 0.5}
    elif isinstance(space, spaces.MultiDiscrete):
        cases["above bounds"] = {**valid, agent: space.start + space.nvec}
        cases["non-integer"] = {**valid, agent: space.start + 0.5 * np.ones(shape)}
    return cases


def check_malformed_actions(env_fn: EnvFn, seed: int = 11, warmup: int = 3) -> None:
    """Malformed actions raise a ``ValueError`` subclass that names the agent, and change nothing:
    afterwards the env continues bit-identically to a twin that never saw them."""
    env, twin = env_fn(), env_fn()
    for e in (env, twin):
        _rollout(e, seed, warmup)
        if not e.agents:
            e.reset(seed=seed)
    sample = _seeded_action_sampler(env, seed + 1)
    valid = sample(list(env.agents))
    for name, bad in _malformed_actions(env, valid).items():
        try:
            env.step(bad)
        except ValueError as error:
            message = str(error)
            named = [a for a in (*env.agents, "no_such_agent") if repr(a) in message or a in
                     message]
            assert named or name == "not a dict", f"{name}: error does not name the agent: {message}"
        else:
            raise AssertionError(f"{name}: the env accepted a malformed action")
    if hasattr(env, "state"):
        _identical(env.state(), twin.state(), "state after rejected actions")
    for t in range(5):
        if not env.agents:
            break
        actions = sample(list(env.agents)) if t else valid
        _identical(env.step(actions), twin.step(actions), f"step {t} after rejected actions")


# ---------------------------------------------------------------------------- reliability checks
def _used_twins(env_fn: EnvFn, seed: int, warmup: int = 3) -> tuple[ParallelEnv, ParallelEnv]:
    """Two instances driven through the same seeded warm-up (live at the end)."""
    env, twin = env_fn(), env_fn()
    for e in (env, twin):
        _rollout(e, seed, warmup)
        if not e.agents:
            e.reset(seed=seed)
    return env, twin


def _same_continuation(env: ParallelEnv, twin: ParallelEnv, seed: int, where: str,
                       steps: int = 5) -> None:
    """``env`` and ``twin`` are indistinguishable: same state, same next steps, and the same
    episode after an unseeded reset (which reads the generator a failed call must not touch)."""
    for name in ("state", "metrics"):
        if callable(getattr(env.unwrapped, name, None)):
            _identical(getattr(env.unwrapped, name)(), getattr(twin.unwrapped, name)(),
                       f"{where}: {name}()")
    sample = _seeded_action_sampler(env, seed)
    for t in range(steps):
        if not env.agents:
            break
        actions = sample(list(env.agents))
        _identical(env.step(actions), twin.step(actions), f"{where}: step {t}")
    _identical(env.reset(), twin.reset(), f"{where}: unseeded reset")
    for t in range(2):
        actions = sample(list(env.agents))
        _identical(env.step(actions), twin.step(actions), f"{where}: step {t} after the reset")


class _RaisingArray:
    """Stands in for a torch tensor with ``requires_grad``: converting it raises RuntimeError."""

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise RuntimeError("Can't call numpy() on Tensor that requires grad.")

    def __repr__(self) -> str:
        return "<tensor requiring grad>"


def _weird_values(space: spaces.Space) -> dict[str, Any]:
    """Values of the wrong *type* for ``space`` (each of the right size where that matters)."""
    size = int(np.prod(space.shape or ()))
    inside = np.asarray(_sample(space, np.random.default_rng(0)), dtype=np.float64).reshape(-1)
    first = float(inside[0]) if size else 0.0
    as_list = [float(x) for x in inside]
    return {
        "numeric string": str(first) if size == 1 else [str(x) for x in as_list],
        "numeric bytes": str(first).encode(),
        "bool": True,
        "numpy bool array": np.ones(space.shape or (), dtype=bool),
        "bool in a list": [True] * max(size, 1),
        "datetime64": np.full(space.shape or (), np.datetime64("2020-01-01")),
        "timedelta64": np.full(space.shape or (), np.timedelta64(1, "s")),
        "datetime": datetime.datetime(2020, 1, 1),
        "complex": np.asarray(inside + 0j).reshape(space.shape or ()),
        "object array": np.asarray(as_list, dtype=object).reshape(space.shape or ()),
        "huge integer": 10**400,
        "huge integer in a list": [10**400] * max(size, 1),
        "None": None,
        "dict": {"value": first},
        "array that cannot convert": _RaisingArray(),
    }


def check_weird_action_types(env_fn: EnvFn, seed: int = 17) -> None:
    """Non-real action values (numeric strings and bytes, bools, datetimes, complex, object arrays,
    ``10**400``, an object whose ``__array__`` raises like a torch tensor with gradients) raise a
    ``ValueError`` subclass naming the agent, never another exception, and change nothing."""
    env, twin = _used_twins(env_fn, seed)
    sample = _seeded_action_sampler(env, seed + 1)
    valid = sample(list(env.agents))
    agent = env.agents[-1]
    for name, value in _weird_values(env.action_space(agent)).items():
        try:
            env.step({**valid, agent: value})
        except ValueError as error:
            assert agent in str(error), f"{name}: the error does not name {agent}: {error}"
        except Exception as error:
            raise AssertionError(f"{name}: {type(error).__name__} instead of a ValueError: "
                                 f"{error}") from error
        else:
            raise AssertionError(f"{name}: the env accepted {value!r} as the action of {agent}")
    _same_continuation(env, twin, seed, "after rejected action types")


def _bad_resets() -> dict[str, dict[str, Any]]:
    return {
        "seed=[1, 2]": {"seed": [1, 2]},
        "seed=-1": {"seed": -1},
        "seed=1.5": {"seed": 1.5},
        "seed='3'": {"seed": "3"},
        "seed=True": {"seed": True},
        "options=[('a', 1)]": {"options": [("a", 1)]},
        "options='x'": {"options": "x"},
        "seed=[1, 2] with options": {"seed": [1, 2], "options": {"options": 1}},
    }


def check_failed_resets(env_fn: EnvFn, seed: int = 19) -> None:
    """A reset with a bad seed or options that are not a dict raises a ``ValueError`` subclass and
    leaves the env exactly as before: it continues like an untouched twin (including an unseeded
    reset afterwards, which would expose a swapped or advanced generator)."""
    env, twin = _used_twins(env_fn, seed)
    for name, kwargs in _bad_resets().items():
        try:
            env.reset(**kwargs)
        except ValueError:
            pass
        except Exception as error:
            raise AssertionError(f"reset({name}): {type(error).__name__} instead of a "
                                 f"ValueError: {error}") from error
        else:
            raise AssertionError(f"reset({name}) was accepted")
    _same_continuation(env, twin, seed, "after failed resets")


def _documented_bounds(env: ParallelEnv, agent: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The Box's float32 bounds, their float64 values, and the documented float64 bounds where
    the env publishes them (``MarketEnv.action_bounds``)."""
    space = env.action_space(agent)
    pairs = [(space.low, space.high), (space.low.astype(np.float64), space.high.astype(np.float64))]
    bounds = getattr(env.unwrapped, "action_bounds", None)
    if callable(bounds):
        low, high = bounds(agent)
        pairs += [(np.asarray(low, np.float64), np.asarray(high, np.float64)),
                  (np.asarray(low).astype(np.float32), np.asarray(high).astype(np.float32))]
    return pairs


def check_float32_bounds(env_fn: EnvFn, seed: int = 23) -> None:
    """Every agent at its action bounds (the Box's float32 values, as float64, and the documented
    float64 bounds) is accepted, and the env stays inside its observation spaces."""
    env = env_fn()
    env.reset(seed=seed)
    boxes = [a for a in env.agents if isinstance(env.action_space(a), spaces.Box)]
    if not boxes:
        return
    for end in (0, 1):
        for variant in range(4):
            if not env.agents:
                env.reset(seed=seed)
            sample = _seeded_action_sampler(env, seed)(list(env.agents))
            joint = dict(sample)
            for agent in boxes:
                if agent not in joint:
                    continue
                pairs = _documented_bounds(env, agent)
                if variant >= len(pairs):
                    continue
                value = pairs[variant][end]
                if np.all(np.isfinite(value)):
                    joint[agent] = value
            try:
                observations, rewards, *_ = env.step(joint)
            except ValueError as error:
                raise AssertionError(f"bounds rejected ({['low', 'high'][end]}, variant "
                                     f"{variant}): {error}") from error
            for agent, observation in observations.items():
                assert env.observation_space(agent).contains(observation), (
                    f"observation of {agent} outside its space at the action bounds")
            assert all(np.isfinite(r) for r in rewards.values()), "non-finite reward at bounds"


def check_before_reset(env_fn: EnvFn) -> None:
    """``state()`` and ``metrics()`` on a fresh env either work or raise ``ResetNeededError``
    (the suite's convention), never another exception."""
    from auction_envs.core.errors import ResetNeededError

    env = env_fn()
    for name in ("state", "metrics"):
        method = getattr(env.unwrapped, name, None)
        if method is None:
            continue
        try:
            method()
        except ResetNeededError:
            pass
        except Exception as error:
            raise AssertionError(f"{name}() before reset raised {type(error).__name__} instead of "
                                 f"ResetNeededError: {error}") from error


def _info_signature(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, numbers.Real):
        return "float"
    if isinstance(value, np.ndarray):
        kind = {"b": "bool", "i": "int", "u": "int", "f": "float"}.get(value.dtype.kind,
                                                                        str(value.dtype))
        return f"{kind} array of {value.ndim} dims"
    if isinstance(value, Mapping):
        return "dict(" + ", ".join(f"{k}: {_info_signature(v)}" for k, v in sorted(
            value.items(), key=lambda item: str(item[0]))) + ")"
    return type(value).__name__


#: the documented reward unit must bring the median sampled reward within these magnitudes (the
#: alpha-fair Kelly game, scaled by its exact bound, sits at 3e-3)
REWARD_SCALE_WINDOW = (1e-3, 1e3)


def check_reward_scale(env_fn: EnvFn, steps: int = 30, seed: int = 31) -> None:
    """``env.unwrapped.reward_scale(agent)`` (what ``NormalizeMarket`` divides by) is positive
    and finite for every agent, and the median nonzero ``|reward| / reward_scale`` of a sampled
    rollout lies within :data:`REWARD_SCALE_WINDOW`: a unit off by orders of magnitude would
    leave learners on a raw or vanishing scale. (The median, not the largest: heavy-tailed
    markets, e.g. an IoV VSP whose random bids run up the bank's loans, are legitimate.)"""
    env = env_fn()
    market = env.unwrapped
    if not hasattr(market, "reward_scale"):
        raise AssertionError(f"{type(market).__name__} has no reward_scale(agent)")
    scales = {agent: market.reward_scale(agent) for agent in env.possible_agents}
    bad = {a: s for a, s in scales.items()
           if not isinstance(s, (int, float, np.floating)) or not np.isfinite(s) or s <= 0}
    if bad:
        raise AssertionError(f"reward_scale is not a positive finite number for {bad}")
    env.reset(seed=seed)
    sample = _seeded_action_sampler(env, seed)
    scaled: list[float] = []
    for _ in range(steps):
        if not env.agents:
            break
        rewards = env.step(sample(list(env.agents)))[1]
        scaled += [abs(r) / scales[a] for a, r in rewards.items() if r != 0]
    low, high = REWARD_SCALE_WINDOW
    if scaled and not low <= float(np.median(scaled)) <= high:
        raise AssertionError(f"the median |reward| / reward_scale over {steps} sampled steps is "
                             f"{float(np.median(scaled)):.3g}, outside {REWARD_SCALE_WINDOW}: "
                             "the documented unit is off")


def check_info_structure(env_fn: EnvFn, steps: int = 30, seed: int = 29) -> None:
    """Each agent's info has the same keys, and each key the same numeric type (scalar kind, or
    array kind and rank), at reset and at every step: TorchRL's PettingZoo wrapper builds its
    specs from the reset infos and breaks on anything else."""
    env = env_fn()
    _, infos = env.reset(seed=seed)
    reference = {agent: {k: _info_signature(v) for k, v in info.items()}
                 for agent, info in infos.items()}
    sample = _seeded_action_sampler(env, seed)
    for t in range(steps):
        if not env.agents:
            break
        infos = env.step(sample(list(env.agents)))[4]
        for agent, info in infos.items():
            got = {k: _info_signature(v) for k, v in info.items()}
            want = reference.get(agent, {})
            if got != want:
                missing = sorted(set(want) - set(got))
                extra = sorted(set(got) - set(want))
                retyped = sorted(k for k in set(got) & set(want) if got[k] != want[k])
                raise AssertionError(
                    f"step {t}: infos of {agent} differ from reset: missing {missing}, extra "
                    f"{extra}, other types {[(k, want[k], got[k]) for k in retyped]}")


def _fuzz_examples(max_examples: int | None) -> int:
    if max_examples is not None:
        return max_examples
    raw = os.environ.get(FUZZ_EXAMPLES_VARIABLE, str(DEFAULT_FUZZ_EXAMPLES))
    try:
        return max(1, int(raw))
    except ValueError:
        raise ValueError(f"{FUZZ_EXAMPLES_VARIABLE}={raw!r} is not an integer") from None


def _fuzz_strategy(space: spaces.Space) -> Any:
    """Hypothesis strategy of ``(value, expectation)``: ``"accept"`` (real, in the space),
    ``"reject"`` (not real numbers, NaN / inf, far out of bounds, wrong size) or ``"either"``
    (at or just beyond the bounds, where float32 rounding or clipping decides)."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    shape = space.shape or ()
    if isinstance(space, spaces.Box):
        low = np.where(np.isfinite(space.low), space.low, -1e3).astype(np.float64)
        high = np.where(np.isfinite(space.high), space.high, 1e3).astype(np.float64)
        span = np.maximum(high - low, 1e-6)
        unit = hnp.arrays(np.float64, shape,
                          elements=st.floats(0.0, 1.0) | st.sampled_from([0.0, 1.0]))
        inside = unit.map(lambda u: (low + u * span, "accept"))
        boundary = hnp.arrays(np.int8, shape, elements=st.integers(0, 5)).map(
            lambda k: (np.choose(k, [low, high, np.nextafter(low, -np.inf),
                                     np.nextafter(high, np.inf), low.astype(np.float32),
                                     high.astype(np.float32)]), "either"))
        finite_low, finite_high = np.isfinite(space.low).all(), np.isfinite(space.high).all()
        far = st.sampled_from([0, 1]).filter(lambda side: finite_high if side else finite_low).map(
            lambda side: ((high + span + 1.0) if side else (low - span - 1.0), "reject"))
        if not (finite_low or finite_high):
            far = st.nothing()
        typed = st.sampled_from(["f4", "f8", "i8"]).flatmap(
            lambda dtype: unit.map(lambda u: ((low + u * span).astype(dtype), "either")))
    else:
        low = np.asarray(getattr(space, "start", 0), dtype=np.int64) + np.zeros(shape, np.int64)
        count = (np.asarray(space.n if isinstance(space, spaces.Discrete) else
                            getattr(space, "nvec", 2), dtype=np.int64) + np.zeros(shape, np.int64))
        unit = hnp.arrays(np.float64, shape, elements=st.floats(0.0, 1.0, exclude_max=True))
        inside = unit.map(lambda u: (low + np.floor(u * count).astype(np.int64), "accept"))
        boundary = unit.map(lambda u: (low + np.floor(u * count) + 0.5, "reject"))
        far = st.just((low + count, "reject"))
        typed = unit.map(lambda u: ((low + np.floor(u * count)).astype(np.float64), "accept"))
    non_finite = st.sampled_from([np.nan, np.inf, -np.inf]).map(
        lambda x: (np.full(shape, x), "reject"))
    wrong_size = st.integers(2, 3).map(lambda k: (np.zeros((*shape, k)), "reject"))
    leaf = st.one_of(st.booleans(), st.text(max_size=4), st.binary(max_size=4), st.none(),
                     st.complex_numbers(max_magnitude=10, allow_nan=False),
                     st.integers(10**310, 10**320), st.just(np.datetime64("2021-01-01")))
    weird = st.one_of(leaf, st.lists(leaf, min_size=1, max_size=3)).map(lambda v: (v, "reject"))
    return {"valid": st.one_of(inside, boundary, typed),
            "any": st.one_of(inside, boundary, far, typed, non_finite, wrong_size, weird)}


def check_fuzz_actions(env_fn: EnvFn, max_examples: int | None = None, seed: int = 31) -> None:
    """Property-based fuzzing (hypothesis) of one agent's action per step, all others valid:
    values in the space are accepted (observations in space, finite rewards, identical to a twin
    fed the same accepted steps); NaN, inf, far out-of-bounds, wrong sizes and non-real values are
    rejected with a ``ValueError`` and change nothing (the twin never sees them and the two stay
    identical). ``max_examples`` defaults to ``$AUCTION_ENVS_FUZZ_EXAMPLES`` or 25. Skipped (no
    failure) where hypothesis is not installed."""
    try:
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import strategies as st
    except ImportError:  # an optional dependency of the test tools only
        return
    env, twin = _used_twins(env_fn, seed)
    sample = _seeded_action_sampler(env, seed + 1)
    strategies = {agent: _fuzz_strategy(env.action_space(agent)) for agent in env.possible_agents}
    clipping = getattr(env.unwrapped, "action_policy", "raise") == "clip"

    @settings(max_examples=_fuzz_examples(max_examples), deadline=None, database=None,
              derandomize=True, suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.generate])  # no shrinking: the env has moved on
    @given(st.data())
    def fuzz(data: Any) -> None:
        if not env.agents:
            env.reset(seed=seed)
            twin.reset(seed=seed)
        agents = list(env.agents)
        joint = sample(agents)
        expected = dict.fromkeys(agents, "accept")
        if data.draw(st.booleans(), label="every agent near its bounds"):
            for agent in agents:
                joint[agent], expected[agent] = data.draw(strategies[agent]["valid"], label=agent)
        else:
            agent = data.draw(st.sampled_from(agents), label="agent")
            joint[agent], expected[agent] = data.draw(strategies[agent]["any"], label="value")
        for agent in agents:
            if clipping and expected[agent] == "reject" and _is_real_array(joint[agent]):
                expected[agent] = "either"
        suspects = [agent for agent in agents if expected[agent] != "accept"]
        must_reject = [agent for agent in agents if expected[agent] == "reject"]
        try:
            result = env.step(joint)
        except ValueError as error:
            assert suspects, f"a joint action inside the spaces was rejected: {error}; {joint!r}"
            assert any(agent in str(error) for agent in suspects), (
                f"the error names none of {suspects}: {error}")
            return
        except Exception as error:
            raise AssertionError(f"{type(error).__name__} instead of a ValueError for "
                                 f"{joint!r}: {error}") from error
        assert not must_reject, f"the env accepted {[joint[a] for a in must_reject]!r}"
        _identical(result, twin.step(joint), f"twin after accepting {joint!r}")
        for name, observation in result[0].items():
            assert env.observation_space(name).contains(observation), (
                f"observation of {name} outside its space after {joint!r}")
        assert all(np.isfinite(r) for r in result[1].values()), f"non-finite reward after {joint!r}"

    try:
        fuzz()
    except AssertionError:
        raise
    except Exception as error:  # hypothesis groups of failures, errors in strategies
        raise AssertionError(f"fuzzing failed: {type(error).__name__}: {error}") from error
    _same_continuation(env, twin, seed, "after fuzzing")


def _is_real_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind in "iuf" and bool(
        np.all(np.isfinite(value)))


# ---------------------------------------------------------------------------- constructor arguments
CONSTRUCTOR_STEPS = 4
CONSTRUCTOR_TIME_LIMIT_S = 10.0


class _TimeLimitExceeded(Exception):
    """A construction or a short rollout ran past its time bound (an endless loop, most likely)."""


def _within(seconds: float, function: Callable[[], Any]) -> Any:
    """``function()``, failing with :class:`_TimeLimitExceeded` after ``seconds``.

    In the main thread of a POSIX process a ``SIGALRM`` timer interrupts the call (an endless
    Python loop ends there); elsewhere the call runs in a daemon thread that is abandoned on
    timeout (it cannot be stopped, but the check still fails instead of hanging).
    """
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        def expire(signum: int, frame: Any) -> None:
            raise _TimeLimitExceeded(f"still running after {seconds:g} s")

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return function()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0.0)
            signal.signal(signal.SIGALRM, previous)
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:  # handed to the caller below
            outcome["error"] = error

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise _TimeLimitExceeded(f"still running after {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _built_with(env_fn: EnvFn) -> dict[str, Any]:
    """The keyword arguments ``env_fn`` passes: a registered variant's own (when ``env_fn`` is
    ``functools.partial(auction_envs.make, id)``) and the partial's keywords."""
    from auction_envs import registration

    kwargs: dict[str, Any] = {}
    if isinstance(env_fn, functools.partial):
        if env_fn.func is registration.make and env_fn.args:
            kwargs.update(registration.spec(env_fn.args[0]).kwargs)
        kwargs.update(env_fn.keywords)
    return kwargs


def documented_arguments(env_fn: EnvFn) -> dict[str, Any]:
    """Every keyword argument of the env class's ``__init__`` with the value ``env_fn`` builds it
    with (the variant's value, else the signature's default; ``None`` when it has neither). A
    ``**kwargs`` passed on to the parent class brings in the parent's arguments too."""
    env = env_fn()
    env_class = type(env.unwrapped)
    env.close()
    built_with = _built_with(env_fn)
    arguments: dict[str, Any] = {}
    for owner in env_class.__mro__:
        if "__init__" not in vars(owner):
            continue
        forwards = False
        for name, parameter in list(inspect.signature(vars(owner)["__init__"]).parameters.items()
                                    )[1:]:
            if parameter.kind is parameter.VAR_KEYWORD:
                forwards = True
            elif parameter.kind is not parameter.VAR_POSITIONAL and name not in arguments:
                default = None if parameter.default is parameter.empty else parameter.default
                arguments[name] = built_with.get(name, default)
        if not forwards:
            break
    return arguments


def _is_real_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def bad_argument_values(value: Any, extended: bool = False) -> list[Any]:
    """Values of the wrong kind or outside any sensible domain for an argument built with
    ``value``: strings, booleans, NaN, infinities, negatives, zero, 1e300, wrong lengths and
    reversed or degenerate pairs, chosen by the kind of ``value``. ``extended`` adds more (the
    long profile)."""
    if isinstance(value, (bool, np.bool_)):
        bad = ["no", 1, 0.0, None]
        more = [np.nan, "True"]
    elif isinstance(value, (int, np.integer)):
        bad = ["3", True, 2.5, np.nan, -1, 0, 10**18, (1, 2, 3)]
        more = [np.inf, -(10**18), 2**63, float(value), [value]]
    elif _is_real_number(value):
        bad = ["3.0", True, np.nan, np.inf, -np.inf, -1.0, 0.0, 1e300, (1.0, 2.0, 3.0)]
        more = [-1e300, 1e-300, 5e-324, np.float32(np.nan), 10**400, 1j, None]
    elif isinstance(value, str):
        bad = ["no-such-option", value.upper() if value.upper() != value else value + "_", 3,
               True]
        more = [None, "", b"x", [value]]
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_is_real_number, value)):
        lo, hi = value
        bad = [(hi, lo) if hi != lo else (lo + 1.0, lo), (0.0, 0.0), (-1.0, hi), (lo, 1e300),
               (np.nan, hi), (lo, np.inf), (lo, hi, hi), "ab", True]
        more = [(lo,), (1e300, 1e300), (-1e300, -1e300), (lo, "x"), 1.0, [[lo, hi]]]
    elif isinstance(value, (tuple, list, np.ndarray)):
        items = list(value)
        first = items[0] if items else 0
        rest = items[1:]
        bad = [[*items, first], [np.nan, *rest], [-1, *rest], "abc", True]
        more = [[], [10**18, *rest], [[first]], 1e300]
    elif value is None:
        bad = ["bad", True, np.nan, -1, 0, 1e300, (1, 2, 3)]
        more = [np.inf, -1e300, [], b"x", 10**18]
    else:
        bad = ["bad", 3, True]
        more = [None, np.nan]
    return bad + more if extended else bad


def _non_finite_metrics(metrics: Any, where: str = "metrics()") -> set[str]:
    """The paths of every numeric leaf of ``metrics`` that is not finite."""
    if isinstance(metrics, Mapping):
        return set().union(*(_non_finite_metrics(v, f"{where}[{k!r}]") for k, v in metrics.items()))
    if isinstance(metrics, (list, tuple)):
        return set().union(*(_non_finite_metrics(v, f"{where}[{i}]") for i, v in enumerate(metrics)))
    array = np.asarray(metrics) if isinstance(metrics, (numbers.Number, np.ndarray)) else None
    if array is not None and array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
        return {where}
    return set()


def _short_rollout(env: ParallelEnv, steps: int, seed: int) -> set[str]:
    """Reset ``env``, play ``steps`` seeded random rounds; assert finite observations inside their
    spaces and finite rewards; return the paths of the non-finite metrics."""
    observations, _ = env.reset(seed=seed)
    sample = _seeded_action_sampler(env, seed)
    for t in range(steps + 1):
        for agent, observation in observations.items():
            assert np.all(np.isfinite(np.asarray(observation, dtype=np.float64))), (
                f"non-finite observation of {agent} at step {t}: {observation!r}")
            space = env.observation_space(agent)
            assert space.contains(observation), (
                f"observation of {agent} at step {t} outside {space}: {observation!r}")
        if t == steps:
            break
        if not env.agents:
            observations, _ = env.reset()
            continue
        observations, rewards, *_ = env.step(sample(list(env.agents)))
        assert all(np.isfinite(r) for r in rewards.values()), f"non-finite reward at step {t}"
    metrics = getattr(env.unwrapped, "metrics", None)
    return _non_finite_metrics(metrics()) if callable(metrics) else set()


def _build_and_play(env_fn: EnvFn, kwargs: dict[str, Any], steps: int, seed: int
                    ) -> tuple[BaseException | None, set[str]]:
    """``(error, set())`` when construction raises ``error``, else ``(None, non-finite metric
    paths)`` of a short rollout (whose exceptions propagate: an accepted argument must work)."""
    try:
        env = env_fn(**kwargs)
    except _TimeLimitExceeded:
        raise
    except Exception as error:
        return error, set()
    return None, _short_rollout(env, steps, seed)


def _names_argument(error: BaseException, name: str) -> bool:
    """The error is about ``name``: an ``InvalidArgumentError`` for it, or a message that quotes
    it (or, for names of three letters or more, mentions it as a word)."""
    if isinstance(error, InvalidArgumentError) and (
            error.name == name or str(error.name).startswith((f"{name}[", f"{name}."))):
        return True
    message = str(error)
    if any(f"{quote}{name}{quote}" in message for quote in ("'", '"', "`")):
        return True
    return len(name) >= 3 and re.search(rf"\b{re.escape(name)}\b", message) is not None


def check_constructor_arguments(env_fn: EnvFn, seed: int = 37, steps: int | None = None,
                                time_limit: float | None = None,
                                skip: tuple[str, ...] = ()) -> None:
    """Every documented constructor argument (each keyword of the env class's ``__init__``),
    given bad values of several kinds (:func:`bad_argument_values`: strings, booleans, NaN, inf,
    negatives, zero, 1e300, wrong lengths, reversed pairs), is either rejected with a
    ``ValueError`` / ``TypeError`` subclass whose message names the argument, or accepted, in
    which case a reset and ``steps`` seeded random rounds (4; more in the long profile, see
    ``AUCTION_ENVS_FUZZ_EXAMPLES``) run without an exception, with finite observations inside
    their spaces, finite rewards and no metric non-finite that is finite with the variant's own
    arguments. Construction and rollout together must end within ``time_limit`` seconds (an
    argument that makes a loop endless fails here); ``time_limit`` defaults to
    ``CONSTRUCTOR_TIME_LIMIT_S`` (10 s). ``skip`` names arguments left out."""
    time_limit = CONSTRUCTOR_TIME_LIMIT_S if time_limit is None else time_limit
    extended = _fuzz_examples(None) > DEFAULT_FUZZ_EXAMPLES
    steps = steps if steps is not None else (CONSTRUCTOR_STEPS * 5 if extended else
                                             CONSTRUCTOR_STEPS)
    arguments = documented_arguments(env_fn)
    baseline = _short_rollout(env_fn(), steps, seed)
    failures = []
    for name, value in arguments.items():
        if name in skip:
            continue
        for bad in bad_argument_values(value, extended):
            case = f"{name}={reprlib.repr(bad)}"
            try:
                error, non_finite = _within(time_limit, functools.partial(
                    _build_and_play, env_fn, {name: bad}, steps, seed))
            except _TimeLimitExceeded as timeout:
                failures.append(f"{case}: hangs ({timeout})")
                continue
            except Exception as failure:  # assertions of the rollout included
                failures.append(f"{case}: accepted, then {type(failure).__name__}: {failure}")
                continue
            if error is None:
                if non_finite - baseline:
                    failures.append(f"{case}: accepted, then non-finite "
                                    f"{sorted(non_finite - baseline)}")
            elif not isinstance(error, (ValueError, TypeError)):
                failures.append(f"{case}: {type(error).__name__} (not a ValueError or TypeError): "
                                f"{error}")
            elif not _names_argument(error, name):
                failures.append(f"{case}: {type(error).__name__} does not name {name!r}: {error}")
    if failures:
        raise AssertionError(f"{len(failures)} bad constructor arguments not handled:\n  "
                             + "\n  ".join(failures))


STRICT_CHECKS: dict[str, Callable[[EnvFn], None]] = {
    "observations_in_space": check_observations_in_space,
    "key_sets": check_key_sets,
    "finite_rewards": check_finite_rewards,
    "deterministic": check_deterministic,
    "pickle_round_trip": check_pickle_round_trip,
    "malformed_actions": check_malformed_actions,
    "weird_action_types": check_weird_action_types,
    "failed_resets": check_failed_resets,
    "float32_bounds": check_float32_bounds,
    "before_reset": check_before_reset,
    "info_structure": check_info_structure,
    "fuzz_actions": check_fuzz_actions,
    "constructor_arguments": check_constructor_arguments,
    "reward_scale": check_reward_scale,
}

PETTINGZOO_CHECKS: dict[str, Callable[[EnvFn], None]] = {
    "parallel_api": check_parallel_api,
    "aec_api": check_aec_api,
    "seed": check_seed,
    "max_cycles": check_max_cycles,
    "render": check_render,
    "state": check_state,
}

ALL_CHECKS = {**PETTINGZOO_CHECKS, **STRICT_CHECKS}


def run_all(env_fn: EnvFn) -> None:
    """Run every check on ``env_fn`` (e.g. ``functools.partial(auction_envs.make, my_id)``)."""
    for check in ALL_CHECKS.values():
        check(env_fn)
