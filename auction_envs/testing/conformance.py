"""The conformance suite every registered env must pass (``tests/conformance`` runs it over the
whole registry; run it on your own variant with :func:`run_all`).

It wraps PettingZoo's own tests (``parallel_api_test``, and through ``parallel_to_aec`` its
``api_test``, ``seed_test``, ``max_cycles_test``, ``render_test``, ``state_test``) and adds strict
checks for what they miss: observations inside their spaces at every step, exact key sets, finite
rewards, bit-identical seeded rollouts over many steps, a pickle round trip, and malformed actions
rejected with a ``ValueError`` subclass while the env stays usable and unchanged.

Each ``check_*`` takes ``env_fn(**kwargs) -> ParallelEnv`` and raises ``AssertionError`` on failure.
"""

from __future__ import annotations

import io
import pickle
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

EnvFn = Callable[..., ParallelEnv]


# ---------------------------------------------------------------------------- helpers
def _seeded_action_sampler(env: ParallelEnv, seed: int) -> Callable[[list[str]], dict[str, Any]]:
    """Actions sampled from each agent's space with its own seeded generator (reproducible)."""
    generators = {agent: np.random.default_rng([seed, i])
                  for i, agent in enumerate(env.possible_agents)}

    def sample(agents: list[str]) -> dict[str, Any]:
        return {agent: _sample(env.action_space(agent), generators[agent]) for agent in agents}

    return sample


def _sample(space: spaces.Space, rng: np.random.Generator) -> Any:
    if isinstance(space, spaces.Box):
        low = np.where(np.isfinite(space.low), space.low, -1e3).astype(np.float64)
        high = np.where(np.isfinite(space.high), space.high, 1e3).astype(np.float64)
        return rng.uniform(low, high).astype(space.dtype)
    if isinstance(space, spaces.Discrete):
        return np.int64(space.start + rng.integers(space.n))
    if isinstance(space, spaces.MultiDiscrete):
        return (space.start + rng.integers(space.nvec)).astype(space.dtype)
    if isinstance(space, spaces.MultiBinary):
        return rng.integers(2, size=space.shape).astype(space.dtype)
    raise AssertionError(f"unsupported action space {space}")


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


STRICT_CHECKS: dict[str, Callable[[EnvFn], None]] = {
    "observations_in_space": check_observations_in_space,
    "key_sets": check_key_sets,
    "finite_rewards": check_finite_rewards,
    "deterministic": check_deterministic,
    "pickle_round_trip": check_pickle_round_trip,
    "malformed_actions": check_malformed_actions,
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
