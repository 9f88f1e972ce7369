"""Native vectorized envs: ``B`` copies of a market stepped as arrays, a second shell over the
market's batched core.

    venv = auction_envs.make_vec("auction_envs/KellyGame-v0", num_envs=4096, n_agents=10)
    observations, infos = venv.reset(seed=0)          # [B, n_agents, obs_dim]
    observations, rewards, terminations, truncations, infos = venv.step(actions)  # [B, n, 1]

Arrays are ``[B, n_agents, ...]``: observations ``float32 [B, n, obs_dim]``, actions
``[B, n, action_dim]``, rewards ``float64 [B, n]``, terminations and truncations ``bool [B, n]``,
infos a dict of arrays ``[B, n]`` (per agent) or ``[B]`` (per env).

**Seeds**: ``reset(seed=s)`` seeds env ``b`` with ``s + b`` (a list gives one seed per env), as
Gymnasium's vector envs do; env ``b`` then follows exactly the dict env reset with that seed, and
an autoreset continues it like the dict env's ``reset()`` without a seed.

**Autoreset** (Gymnasium 1.x's default, "next step"): when env ``b`` ends at step ``t`` (its
agents terminated or truncated), step ``t + 1`` resets it instead of stepping it: its actions are
ignored, its observations are the reset observations, its rewards 0 and its terminations and
truncations False; ``infos["_reset"][b]`` is True on that step.

**Validation** is the dict env's: the joint action must be real numbers of shape
``[B, n, action_dim]``, finite, inside each agent's Box (float32 rounding of the documented bounds
accepted, then clipped into them; ``action_policy="clip"`` clips instead of raising); a rejection
raises :class:`InvalidActionError` naming the env index, the agent, the space and the value, and
changes nothing.

**Outputs** are the caller's: an array ``step`` returned is never written again while anything
references it (a name, a list, a view, an exported buffer); once dropped, its memory serves a
later step (:class:`OutputPool`; fresh ``[B, n]`` arrays cost more than the step's arithmetic).

Markets whose core batches register a vector shell with :func:`register_vector`; ``make_vec``
takes any id of such a market (registered variants work unchanged) and raises a clear error for
the others.

**Looped shells**: the event-driven markets (the cloud double auction: buyers matched one at a
time against booked capacity; V2X offloading: per-request arrival, auction, assignment and
completion events over request tables that differ per market) have no core that steps ``B``
markets as array operations. :class:`LoopedVectorEnv` gives them the same API by stepping ``B``
copies of the dict env in a loop: the same arrays, seeds, autoreset and validation, bit-identical
to ``B`` dict envs, but throughput about ``B`` times the dict env's step time (not batched
arithmetic).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from auction_envs._numba import compiled_on_first_use
from auction_envs.core.checks import check_int, check_seed
from auction_envs.core.errors import InvalidActionError, InvalidArgumentError

_VECTOR_SHELLS: dict[str, Callable[..., VectorMarketEnv]] = {}


def register_vector(env_class: type, factory: Callable[..., VectorMarketEnv]) -> None:
    """Declare ``factory(template_env, num_envs) -> VectorMarketEnv`` the vector shell of every id
    whose entry point builds ``env_class``."""
    _VECTOR_SHELLS[f"{env_class.__module__}:{env_class.__qualname__}"] = factory


def make_vec(env_id: str, num_envs: int = 1, **kwargs: Any) -> VectorMarketEnv:
    """``num_envs`` copies of the registered env ``env_id`` (with ``kwargs``) as one vector env.

    KellyGame, IoVSlicing (VSP-only ids) and the exchange traders step ``B`` markets as arrays
    through their batched cores. CloudDoubleAuction and V2XOffloading (every registered variant)
    get a :class:`LoopedVectorEnv`: the same API over ``B`` dict envs stepped one after the other
    (their steps are per-buyer matching and per-request events, which do not batch), so their
    throughput is about ``B`` times the dict env's, not more.
    """
    import auction_envs

    num_envs = check_int("num_envs", num_envs, low=1, high=10_000_000)
    template = auction_envs.make(env_id, **kwargs).unwrapped  # checks the arguments once
    key = f"{type(template).__module__}:{type(template).__qualname__}"
    if key not in _VECTOR_SHELLS:
        import auction_envs.envs

    factory = _VECTOR_SHELLS.get(key)
    if factory is None:
        batched = sorted(name.rsplit(":", 1)[1] for name in _VECTOR_SHELLS)
        raise InvalidArgumentError("env_id", env_id, f"an id of a market with a vector shell "
                                   f"({batched}); use the dict env (auction_envs.make) for this one")
    return factory(template, num_envs)


class VectorMarketEnv:
    """Base of the vector shells: spaces, seeds, validation and autoreset; a market supplies
    ``_reset_rows(rows)``, ``_step_rows(actions, rows) -> (rewards, infos)`` and
    ``_observations()`` over its batched core.

    Attributes: ``num_envs``, ``possible_agents``, ``n_agents``, ``max_cycles``,
    ``single_observation_space`` / ``single_action_space`` (one agent's; agents share them),
    ``observation_space`` / ``action_space`` (the batched Boxes).
    """

    def __init__(self, template: Any, num_envs: int) -> None:
        self.template = template
        self.num_envs = int(num_envs)
        self.possible_agents = list(template.possible_agents)
        self.n_agents = len(self.possible_agents)
        self.max_cycles = int(template.max_cycles)
        self.action_policy = template.action_policy
        first = self.possible_agents[0]
        self.single_observation_space = template.observation_space(first)
        self.single_action_space = template.action_space(first)
        if not isinstance(self.single_action_space, spaces.Box):
            raise TypeError("vector shells need Box action spaces")
        boxes = [template.action_space(agent) for agent in self.possible_agents]
        self._action_shape = self.single_action_space.shape
        low32 = np.stack([box.low for box in boxes])
        high32 = np.stack([box.high for box in boxes])
        documented = [template.action_bounds(agent) for agent in self.possible_agents]
        self._low = np.stack([np.broadcast_to(np.asarray(lo, np.float64), self._action_shape)
                              for lo, _ in documented])
        self._high = np.stack([np.broadcast_to(np.asarray(hi, np.float64), self._action_shape)
                               for _, hi in documented])
        self._low32, self._high32 = low32, high32
        self._agent_boxes = boxes
        obs = self.single_observation_space
        self.observation_space = spaces.Box(
            np.broadcast_to(obs.low, (self.num_envs, self.n_agents, *obs.shape)),
            np.broadcast_to(obs.high, (self.num_envs, self.n_agents, *obs.shape)), dtype=obs.dtype)
        self.action_space = spaces.Box(
            np.broadcast_to(low32, (self.num_envs, *low32.shape)),
            np.broadcast_to(high32, (self.num_envs, *high32.shape)), dtype=np.float32)
        self.rounds = np.zeros(self.num_envs, dtype=np.int64)
        self.seeds: list[int | None] = [None] * self.num_envs
        self._ended = np.zeros(self.num_envs, dtype=bool)
        self._has_reset = False
        self._every_row = np.arange(self.num_envs)
        self._bounds: tuple[np.ndarray, ...] | None = None
        self._stored32: np.ndarray | None = None
        self._pool = OutputPool()

    # ------------------------------------------------------------------ API
    def reset(self, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        seeds = self._seeds(seed)
        self.seeds = seeds
        every = np.arange(self.num_envs)
        self._seed_rows(every, seeds)
        self._reset_rows(every)
        self.rounds[:] = 0
        self._ended[:] = False
        self._has_reset = True
        return self._observations(), self._reset_infos(np.ones(self.num_envs, dtype=bool))

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                          dict[str, np.ndarray]]:
        if not self._has_reset:
            from auction_envs.core.errors import ResetNeededError

            raise ResetNeededError("step() before reset(): call reset() first")
        bids = self._validated(actions, self._action_out())
        if not self._ended.any():  # the common step: every env live, no autoreset bookkeeping
            rewards, infos = self._step_every(bids)
            self.rounds += 1
            resetting = self._pool.take("_reset", (self.num_envs,), bool)
            resetting.fill(False)
            observations = self._step_observations()
            truncated = self.rounds >= self.max_cycles
        else:
            resetting = self._ended.copy()
            live = np.flatnonzero(~resetting)
            rewards = np.zeros((self.num_envs, self.n_agents))
            infos = {}
            if live.size:
                rewards[live], live_infos = self._step_rows(bids[live], live)
                for key, values in live_infos.items():  # rows that reset this step carry zeros
                    full = np.zeros((self.num_envs, *values.shape[1:]), dtype=values.dtype)
                    full[live] = values
                    infos[key] = full
                self.rounds[live] += 1
            rows = np.flatnonzero(resetting)
            # next-step autoreset: like a dict env's reset() without a seed (its generator goes on)
            self._seed_rows(rows, [None] * rows.size)
            self._reset_rows(rows)
            self.rounds[rows] = 0
            observations = self._observations()
            truncated = (self.rounds >= self.max_cycles) & ~resetting
        self._ended = truncated
        shape = (self.num_envs, self.n_agents)
        terminations = self._pool.take("terminations", shape, bool)
        terminations.fill(False)
        truncations = self._pool.take("truncations", shape, bool)
        np.copyto(truncations, truncated[:, None])
        infos["_reset"] = resetting
        return observations, rewards, terminations, truncations, infos

    def reset_ended(self) -> np.ndarray:
        """Reset now the envs that ended at the last step (instead of at the next one) and
        return their indices: the same-step autoreset of Stable-Baselines3's ``VecEnv``."""
        rows = np.flatnonzero(self._ended)
        if rows.size:
            self._seed_rows(rows, [None] * rows.size)
            self._reset_rows(rows)
            self.rounds[rows] = 0
            self._ended[rows] = False
        return rows

    def validate(self, actions: Any) -> np.ndarray:
        """The joint action as checked float64 ``[B, n, *shape]`` clipped into the documented
        bounds, or :class:`InvalidActionError` (env index, agent, space, value)."""
        return self._validated(actions, None)

    def _validated(self, actions: Any, out: np.ndarray | None) -> np.ndarray:
        """:meth:`validate`, written into ``out`` (float64 ``[B, n, *shape]``) when given.

        One vectorized check first: the action, float32-rounded as the Box stores it, against
        the float32 bounds cached at full size ``[B, n, *shape]`` (a per-agent ``[n, 1]`` bound
        broadcast over ``B`` makes numpy loop over rows of ``n``: 50x slower). NaN fails both
        comparisons; infinities fail them as long as the bounds are finite (else the entry-wise
        check runs). Only an action that fails goes through the entry-wise check that names the
        offending env and agent. Nothing but ``out`` (a buffer no caller holds) is written
        before the check passes, so a rejected action changes nothing.
        """
        array = self._real_array(actions)
        bounds = self._full_bounds()
        if bounds is not None:
            low32, high32, low64, high64, inside, upper = bounds
            if array.dtype == np.float32:
                stored = array
            else:  # the Box's float32 rounding (monotone, as astype(np.float32) rounds)
                stored = self._stored32 if self._stored32 is not None else np.empty(
                    array.shape, np.float32)
                self._stored32 = stored
                with np.errstate(over="ignore"):
                    np.copyto(stored, array, casting="unsafe")
            np.greater_equal(stored, low32, out=inside)
            np.less_equal(stored, high32, out=upper)
            inside &= upper
            if inside.all():
                if out is None:
                    out = np.empty(array.shape)
                np.copyto(out, array, casting="unsafe")  # the float64 astype() would give
                np.maximum(out, low64, out=out)  # np.clip into the documented bounds
                np.minimum(out, high64, out=out)
                return out
        clipped = self._checked_entrywise(array, actions)
        if out is None:
            return clipped
        np.copyto(out, clipped)
        return out

    def _full_bounds(self) -> tuple[np.ndarray, ...] | None:
        """The float32 and documented float64 action bounds broadcast to ``[B, n, *shape]``
        (contiguous) and two boolean work arrays, built on first use; None where a bound is
        infinite (the entry-wise check then rejects infinite actions)."""
        if self._bounds is None:
            if not (np.isfinite(self._low32).all() and np.isfinite(self._high32).all()):
                return None
            shape = (self.num_envs, self.n_agents, *self._action_shape)
            full = [np.ascontiguousarray(np.broadcast_to(bound, shape))
                    for bound in (self._low32, self._high32, self._low, self._high)]
            self._bounds = (*full, np.empty(shape, bool), np.empty(shape, bool))
        return self._bounds

    def _real_array(self, actions: Any) -> np.ndarray:
        """``actions`` as a real array of shape ``[B, n, *shape]`` (a view where possible), or
        :class:`InvalidActionError` for another type or shape."""
        expected = (self.num_envs, self.n_agents, *self._action_shape)
        if isinstance(actions, np.ndarray) and actions.dtype.kind in "iuf":
            array = actions
        else:
            if isinstance(actions, (str, bytes)) or (
                    isinstance(actions, np.ndarray) and actions.dtype.kind not in "iuf"):
                raise InvalidActionError(f"actions must be a real array of shape {expected}",
                                         value=actions)
            try:
                array = np.asarray(actions)
            except Exception as exc:  # exotic input: every failure is an InvalidActionError
                raise InvalidActionError(f"not a numeric array ({exc})", value=actions) from None
            if array.dtype.kind not in "iuf":
                raise InvalidActionError(f"actions must be real numbers (got dtype {array.dtype})",
                                         value=actions)
        if array.shape != expected:
            if array.size == int(np.prod(expected)) and int(np.prod(self._action_shape)) == 1:
                array = array.reshape(expected)
            else:
                raise InvalidActionError(f"shape {array.shape} instead of {expected}",
                                         value=actions)
        return array

    def _checked_entrywise(self, array: np.ndarray, actions: Any) -> np.ndarray:
        """The entry-wise check: the first offending entry raises (naming its env and agent),
        or under ``action_policy="clip"`` the action comes back clipped (float64)."""
        array = array.astype(np.float64)
        stored = array.astype(np.float32)
        inside = np.isfinite(array) & (stored >= self._low32) & (stored <= self._high32)
        if not inside.all():
            bad = np.argwhere(~inside)[0]
            env_index, agent_index = int(bad[0]), int(bad[1])
            value = array[env_index, agent_index]
            if not np.isfinite(array).all() or self.action_policy != "clip":
                agent = self.possible_agents[agent_index]
                reason = ("NaN or infinite entry" if not np.isfinite(value).all()
                          else "out of bounds (pass action_policy='clip' to clip instead)")
                raise InvalidActionError(f"env {env_index}: {reason}", agent=agent,
                                         space=self._agent_boxes[agent_index], value=value)
        return np.clip(array, self._low, self._high)

    def close(self) -> None:
        """Nothing to release."""

    def _require_reset(self, what: str) -> None:
        """``MarketEnv``'s convention: views of the markets (``metrics()``, ``equilibrium()``)
        before the first ``reset()`` raise :class:`ResetNeededError`."""
        if not self._has_reset:
            from auction_envs.core.errors import ResetNeededError

            raise ResetNeededError(f"{type(self).__name__}.{what}() before the first reset(): "
                                   "call reset() first")

    # ------------------------------------------------------------------ seeds
    def _seeds(self, seed: int | Sequence[int] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (list, tuple, np.ndarray)):
            seeds = [check_seed(int(s)) if isinstance(s, (int, np.integer)) else check_seed(s)
                     for s in seed]
            if len(seeds) != self.num_envs:
                raise InvalidArgumentError("seed", seed, f"an integer or {self.num_envs} of them")
            return seeds
        base = check_seed(seed)
        return [base + b for b in range(self.num_envs)]

    def _seed_rows(self, rows: np.ndarray, seeds: Sequence[int | None]) -> None:
        """Seed the generators of ``rows`` (markets with randomness override)."""

    # ------------------------------------------------------------------ market hooks
    def _reset_rows(self, rows: np.ndarray) -> None:
        raise NotImplementedError

    def _step_rows(self, actions: np.ndarray, rows: np.ndarray
                   ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError

    def _observations(self) -> np.ndarray:
        raise NotImplementedError

    def _action_out(self) -> np.ndarray | None:
        """Where :meth:`step` writes the validated action (float64 ``[B, n, *shape]``); None for a
        fresh array. A market may hand out a pooled buffer it returns again (its ``bid`` info)."""
        return None

    def _step_every(self, actions: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One step of every env (none resets): ``_step_rows`` over all rows, its rewards and
        infos copied (the market may keep and update the arrays it returns). A market whose
        core batches without row selection overrides it with a buffer-reusing kernel."""
        rewards, infos = self._step_rows(actions, self._every_row)
        return (np.array(rewards, dtype=np.float64),
                {key: np.array(values) for key, values in infos.items()})

    def _step_observations(self) -> np.ndarray:
        """The observations after a step of every env (``_observations()`` unless overridden)."""
        return self._observations()

    def _reset_infos(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {"_reset": rows}


def _refcount_at(arrays: list[np.ndarray], index: int) -> int:
    """The reference count of ``arrays[index]`` as seen from here (the list's reference and the
    call's own are included)."""
    return sys.getrefcount(arrays[index])


def _calibrated_free_count() -> int | None:
    """The count :func:`_refcount_at` reports for an array only its list holds, or None where
    the interpreter's counts do not show an extra holder (then the pool never recycles)."""
    probe = [np.empty(1)]
    free = _refcount_at(probe, 0)
    held = probe[0]
    shows_holder = _refcount_at(probe, 0) == free + 1
    del held
    return free if shows_holder and _refcount_at(probe, 0) == free else None


_FREE_COUNT = _calibrated_free_count()


class OutputPool:
    """The step's output arrays, recycled once no caller holds them.

    A fresh ``[B, n]`` array per output and step costs more than the step's arithmetic: above
    glibc's mmap threshold every fresh array is a new mapping whose pages fault in on first
    write (about 150 us per 320 KiB array here). :meth:`take` hands back an array of ``key``
    that nothing outside the pool references (no name, container, view or exported buffer: each
    of those holds a reference), else a fresh one; so an array a caller keeps is never
    overwritten, and one it dropped is reused. ``depth`` arrays per key are kept.
    """

    def __init__(self, depth: int = 3) -> None:
        self.depth = depth
        self._arrays: dict[str, list[np.ndarray]] = {}

    def take(self, key: str, shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
        """An array of ``shape`` and ``dtype`` no caller holds (contents undefined)."""
        arrays = self._arrays.setdefault(key, [])
        if _FREE_COUNT is not None:
            for index in range(len(arrays)):
                if _refcount_at(arrays, index) == _FREE_COUNT:
                    array = arrays[index]
                    if array.shape == shape and array.dtype == dtype:
                        return array
        array = np.empty(shape, dtype)
        arrays.append(array)
        if len(arrays) > self.depth:
            del arrays[0]  # the caller may still hold it; the pool just forgets it
        return array


class RowGenerators:
    """One generator per env, seen as one by a batched core: a draw of shape ``[B', ...]``
    (``B'`` the rows in ``rows``) fills row ``b`` from env ``b``'s generator with the draw a dict
    env would make of shape ``[...]``, so every env consumes its generator exactly as the dict
    env does. :meth:`seed` follows ``MarketEnv.reset``: a seed makes a fresh generator, no seed
    keeps the env's generator going (an env never seeded gets an unseeded one).

    With numba installed, ``standard_normal`` (the per-round draw) runs the loop over the envs
    compiled: numba's ``Generator.standard_normal`` is numpy's algorithm on the same generator
    state (the same numbers, the state advanced alike; tested through the equivalence tests).
    """

    def __init__(self, num_envs: int) -> None:
        self.generators: list[np.random.Generator | None] = [None] * num_envs
        self.rows = np.arange(num_envs)
        self._typed: list[Any] = [None]  # numba's typed list of the generators, shared by views

    def seed(self, rows: np.ndarray, seeds: Sequence[int | None]) -> None:
        for row, seed in zip(rows.tolist(), seeds):
            if seed is not None:
                self.generators[row] = np.random.default_rng(seed)
            elif self.generators[row] is None:
                self.generators[row] = np.random.default_rng()
            else:
                continue
            self._typed[0] = None

    def select(self, rows: np.ndarray) -> RowGenerators:
        """The same generators restricted to ``rows`` (draws of shape ``[len(rows), ...]``)."""
        view = RowGenerators.__new__(RowGenerators)
        view.generators, view.rows, view._typed = self.generators, np.asarray(rows), self._typed
        return view

    def standard_normal(self, shape: tuple[int, ...]) -> np.ndarray:
        out = np.empty(shape)
        kernel = _compiled_standard_normal()
        if kernel is not None and out.size:
            if self._typed[0] is None:
                import numba
                from numba.typed import List

                # typed once, then appended: List(iterable) types every item (20x slower)
                typed = List.empty_list(numba.typeof(self.generators[0]))
                for generator in self.generators:
                    typed.append(generator)
                self._typed[0] = typed
            kernel(self._typed[0], self.rows, out.reshape(len(self.rows), -1))
            return out
        for target, row in zip(out, self.rows.tolist(), strict=True):
            self.generators[row].standard_normal(out=target)  # type: ignore[union-attr]
        return out

    def uniform(self, low: float, high: float, shape: tuple[int, ...]) -> np.ndarray:
        return np.stack([self.generators[row].uniform(low, high, shape[1:])  # type: ignore
                         for row in self.rows.tolist()])


def _fill_standard_normal(generators: Any, rows: np.ndarray, out: np.ndarray) -> None:
    """Row ``j`` of ``out [R, size]`` from ``generators[rows[j]].standard_normal(size)``."""
    for j in range(rows.size):
        out[j, :] = generators[rows[j]].standard_normal(out.shape[1])


_compiled_standard_normal = compiled_on_first_use(_fill_standard_normal)


class LoopedVectorEnv(VectorMarketEnv):
    """``num_envs`` copies of an event-driven dict env behind the array API: the same interface
    as the batched shells (:mod:`auction_envs.vector`), **not** batched arithmetic.

    Markets whose step is a sequence of events rather than array operations (the cloud double
    auction matches buyers one at a time against providers' booked capacity; the V2X market runs
    per-request admission, assignment and completion events) have no core that steps ``B``
    markets at once. This shell holds ``B`` independent copies of the dict env (``envs``, deep
    copies of the unreset template, each with its own generator) and steps them one after the
    other, so its throughput is about ``B`` times the dict env's step time: what it buys is one
    API for every market (arrays ``[B, n, ...]``, per-env seeds, next-step autoreset, the
    SB3 adapter), not speed.

    Everything follows from the dict envs: env ``b`` is exactly ``envs[b]`` reset with seed
    ``s + b`` (``reset(seed=s)``) and stepped with row ``b`` of the actions; an autoreset is its
    ``reset()`` without a seed (its generator goes on, and what the market keeps across episodes,
    such as the cloud market's buyer population, is kept, as in the dict env). The joint action
    is validated for all ``B`` rows (the dict env's checks and messages, naming the env index)
    before any copy steps, so a rejected action changes nothing. ``reset(options=...)`` passes
    the options to every copy's reset (autoresets take none).

    Infos: every per-agent key of the dict env's step infos as an array ``[B, n, ...]``
    (numbers; object arrays for anything else), and ``"_reset"``; rows that autoreset on a
    step carry zeros. The reset infos of ``reset`` are the same keys from the copies' resets.
    ``metrics()`` stacks the copies' ``metrics()`` key by key (arrays ``[B, ...]``; nested dicts
    stay dicts of stacked arrays).
    """

    def __init__(self, template: Any, num_envs: int) -> None:
        import copy

        super().__init__(template, num_envs)
        try:
            self.envs = [template] + [copy.deepcopy(template) for _ in range(self.num_envs - 1)]
        except TypeError as error:  # e.g. a live external simulator (pickling refused)
            raise InvalidArgumentError("env", type(template).__name__,
                                       f"an env whose copies can be made ({error})") from None
        for env in self.envs:  # copies of one unseeded generator would draw the same numbers
            env.np_random = np.random.default_rng()
        obs = self.single_observation_space
        self._observation = np.zeros((self.num_envs, self.n_agents, *obs.shape), dtype=obs.dtype)
        self._pending_seeds: list[int | None] = [None] * self.num_envs
        self._options: dict[str, Any] | None = None
        self._last_reset_infos: list[dict[str, Any]] = [{}] * self.num_envs

    # ------------------------------------------------------------------ API
    def reset(self, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Reset every copy (env ``b`` with seed ``s + b``, or its own generator going on for
        ``seed=None``), each with ``options``."""
        self._options, seeds = options, self.seeds
        try:
            return super().reset(seed=seed, options=options)
        except BaseException:
            # a copy's reset refused (options are checked alike, so the first copy refuses
            # before it changes): the vector env stays as it was
            self.seeds = seeds
            raise
        finally:
            self._options = None
            self._pending_seeds = [None] * self.num_envs

    def metrics(self) -> dict[str, Any]:
        """Every copy's ``metrics()`` stacked key by key: arrays ``[B, ...]``."""
        self._require_reset("metrics")
        return _stacked([env.metrics() for env in self.envs])

    def close(self) -> None:
        """Close every copy."""
        for env in self.envs:
            env.close()

    # ------------------------------------------------------------------ market hooks
    def _seed_rows(self, rows: np.ndarray, seeds: Sequence[int | None]) -> None:
        for row, seed in zip(rows.tolist(), seeds):
            self._pending_seeds[row] = seed

    def _reset_rows(self, rows: np.ndarray) -> None:
        agents = self.possible_agents
        for row in rows.tolist():
            seed, self._pending_seeds[row] = self._pending_seeds[row], None
            observations, infos = self.envs[row].reset(seed=seed, options=self._options)
            self._observation[row] = [observations[agent] for agent in agents]
            self._last_reset_infos[row] = infos

    def _step_rows(self, actions: np.ndarray, rows: np.ndarray
                   ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        agents = self.possible_agents
        rewards = np.empty((rows.size, self.n_agents))
        step_infos = []
        for j, row in enumerate(rows.tolist()):
            env = self.envs[row]
            observations, row_rewards, terminations, _, infos = env.step(
                dict(zip(agents, actions[j])))
            if any(terminations.values()):  # the base step reports truncations only
                raise RuntimeError(f"{type(env).__name__} terminated; {type(self).__name__} "
                                   "shells markets that never terminate")
            self._observation[row] = [observations[agent] for agent in agents]
            rewards[j] = [row_rewards[agent] for agent in agents]
            step_infos.append(infos)
        return rewards, _info_arrays(step_infos, agents)

    def _observations(self) -> np.ndarray:
        return self._observation.copy()

    def _reset_infos(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        infos = _info_arrays(self._last_reset_infos, self.possible_agents)
        infos["_reset"] = rows
        return infos


def _info_arrays(infos: list[dict[str, dict[str, Any]]], agents: list[str]
                 ) -> dict[str, np.ndarray]:
    """Per-agent dict infos of ``R`` envs as arrays ``[R, n, ...]``, key by key (the first
    agent's keys; object arrays where the values are not numbers of one shape)."""
    if not infos or not infos[0]:
        return {}
    out = {}
    for key in infos[0][agents[0]]:
        values = [[row[agent][key] for agent in agents] for row in infos]
        try:
            array = np.asarray(values)
        except ValueError:  # ragged values
            array = None
        if array is None or array.dtype.kind not in "biuf":
            array = np.empty((len(infos), len(agents)), dtype=object)
            for r, row_values in enumerate(values):
                for i, value in enumerate(row_values):
                    array[r, i] = value
        out[key] = array
    return out


def _stacked(values: list[Any]) -> Any:
    """``B`` values of one structure (dicts of numbers and arrays) stacked: dicts key by key,
    numbers and arrays into one array ``[B, ...]``, anything else a list."""
    first = values[0]
    if isinstance(first, dict):
        return {key: _stacked([value[key] for value in values]) for key in first}
    try:
        array = np.asarray(values)
    except ValueError:
        return list(values)
    return array if array.dtype.kind in "biuf" else list(values)
