"""``MarketEnv``: the env contract of the suite implemented once.

Every market subclasses :class:`MarketEnv` and supplies the market itself through a handful of hooks;
the base class owns what must behave identically everywhere: cached spaces, seeding through one
``np.random.Generator``, strict action validation that never corrupts state, transactional resets,
truncation at the horizon, rendering and the ``metrics()`` / ``state()`` / ``equilibrium()`` entry
points.

Subclass checklist (see ``auction_envs/envs/kelly/env.py`` for a complete example):

* in ``__init__``: validate arguments with ``auction_envs.core.checks`` (they raise
  :class:`InvalidArgumentError`), call ``super().__init__(..., possible_agents=[...])``, then
  ``self._set_spaces(observation_spaces, action_spaces, state_space, action_bounds=None)``.
  ``action_bounds`` (optional) gives the *documented* float64 ``(low, high)`` of each Box action
  space when the float32 Box cannot hold them exactly (see "Float32 bounds" below).
* ``_reset_market(options) -> infos``: rebuild the market for a new episode from ``self.np_random``.
  ``options`` is a plain ``dict`` that already passed :meth:`_check_reset_options`.
* ``_check_reset_options(options)`` (optional): raise :class:`InvalidArgumentError` for a bad
  value of a ``reset(options=...)`` key *before anything changes*. Unknown keys are ignored (the
  PettingZoo convention: its own API test resets with ``options={"options": 1}``).
* ``_step_market(actions) -> (rewards, infos, terminated)``: one round with already-validated
  actions, by default a dict ``{agent: float64 array}`` (``int64`` for discrete spaces). A subclass
  that sets ``joint_action_array = True`` receives instead one array ``[len(self.agents), *shape]``
  (rows in the order of ``self.agents``; every agent must then have an action space of the same
  kind and shape) and can step its core on it without any per-agent dict. ``rewards`` may be a dict
  keyed by agent or a sequence / array aligned with ``self.agents`` (the cheap form: one
  ``tolist()``, no per-agent numpy call).
* ``_observations() -> dict``: float32 observations, inside their spaces
  (``dict(zip(self.agents, rows))`` of one ``[n, obs_dim]`` array is the cheap form).
* ``state()``, ``metrics()`` (start both with ``self._require_reset("state")`` etc.),
  ``_render_text()`` (and ``_render_rgb()`` for ``"rgb_array"``).
* Do not override ``validate_actions`` for speed: the base path is the fast one. ``step`` does call
  an override (a market with extra rules may need one), which must then keep every guarantee
  below; the conformance suite (``auction_envs.testing.conformance``) checks them for every id.

Action validation (``step`` / :meth:`validate_actions`): the joint action is checked once, as one
float64 array against bounds cached at ``_set_spaces``; only when that check fails are the agents
walked one by one to raise the precise :class:`InvalidActionError` (agent, space, value). Accepted
values are *real numbers* only: Python / numpy integers and floats, numeric numpy arrays and
(nested) lists or tuples of them, or anything exposing a numeric ``__array__``. Booleans, strings,
bytes, complex numbers, datetimes, ``None`` and object arrays are rejected, as are NaN, infinities
and numbers that overflow the space's dtype; every rejection is an :class:`InvalidActionError`
(a ``ValueError``), whatever the input, and changes nothing.

Float32 bounds: action Boxes are float32, and float32 cannot hold most decimal bounds (``0.1``
becomes ``0.100000001``). A value is accepted when its float32 rounding lies in the Box
(``np.float32(x) in space``), which admits the documented float64 bound whichever way the Box was
built (``spaces.Box(0.1, ...)`` rounds to nearest, ``core.layout.float32_box`` outward); accepted
values are then clipped into the documented float64 bounds (``action_bounds`` of ``_set_spaces``,
default the Box's own bounds), so the market sees exactly ``0.1`` at the documented minimum.

Transactional reset: ``reset`` checks ``seed`` and ``options`` before anything changes; if
``_reset_market`` or ``_observations`` still raises, the base class restores every attribute
(a shallow snapshot of ``__dict__``) and the state of ``self.np_random``, so the env continues
exactly as before the failed call. The shallow snapshot costs a few microseconds; it does not undo
*in-place* changes to attribute objects, so ``_reset_market`` must assign new objects (or mutate
existing ones only after its last check), or the subclass sets ``reset_snapshot = "deep"`` (a
``copy.deepcopy`` of ``__dict__``: 1–5 ms per reset for the built-in markets).
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from auction_envs.core.checks import check_seed
from auction_envs.core.errors import (
    EpisodeOverError,
    InvalidActionError,
    InvalidArgumentError,
    ResetNeededError,
)

AgentID = str
ACTION_POLICIES = ("raise", "clip")
RESET_SNAPSHOTS = ("shallow", "deep")

# Types whose values the fast path may hand to numpy without a closer look (bool is not among
# them: ``type(True) is bool``, not ``int``).
_PLAIN_REAL_TYPES = frozenset({
    float, int, np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
    np.uint64, np.uint32, np.uint16, np.uint8,
})
_REAL_KINDS = frozenset("iuf")
_NDARRAY_ONLY = {np.ndarray}
_FLOAT_ONLY = {float}


def all_plain_real(values: Sequence[Any]) -> bool:
    """True when every value is a plain real number, a numeric (``iuf``) numpy array or a flat
    list/tuple of plain real numbers: the inputs a fast path may convert with
    ``np.asarray(..., float64)`` without accepting booleans, strings, complex numbers and the
    like. A market overriding ``validate_actions`` screens its values with this first and hands
    anything else to ``MarketEnv.validate_actions`` (which rejects it with the precise error)."""
    if set(map(type, values)) <= _PLAIN_REAL_TYPES:
        return True
    for value in values:
        kind = type(value)
        if kind in _PLAIN_REAL_TYPES or (kind is np.ndarray and value.dtype.kind in _REAL_KINDS):
            continue
        if (kind is list or kind is tuple) and all(type(entry) in _PLAIN_REAL_TYPES
                                                   for entry in value):
            continue
        return False
    return True
_KIND_NAMES = {"b": "booleans", "U": "strings", "S": "bytes", "c": "complex numbers",
               "M": "datetimes", "m": "time deltas", "O": "objects", "V": "structured records"}


@dataclass(frozen=True)
class _ActionSpec:
    """What validation needs of one agent's action space, as float64 arrays of the space's shape.

    ``accept_low/high``: the widest values accepted under ``action_policy="raise"`` (the Box's
    bounds widened by half a step of its float dtype); ``low/high``: the documented bounds accepted
    values are clipped into. ``kind`` is ``"box"``, ``"integer"`` or ``"unsupported"``.
    """

    space: spaces.Space
    kind: str
    shape: tuple[int, ...]
    low: np.ndarray
    high: np.ndarray
    accept_low: np.ndarray
    accept_high: np.ndarray


def _half_step_outward(bound: np.ndarray, dtype: np.dtype, direction: float) -> np.ndarray:
    """The midpoint between each float ``bound`` and its neighbour in ``direction`` (float64)."""
    stored = bound.astype(dtype)
    neighbour = np.nextafter(stored, np.asarray(direction, dtype=dtype))
    with np.errstate(over="ignore", invalid="ignore"):
        middle = (stored.astype(np.float64) + neighbour.astype(np.float64)) / 2.0
    return np.where(np.isfinite(middle), middle, stored.astype(np.float64))


def _action_spec(space: spaces.Space, documented: tuple[Any, Any] | None) -> _ActionSpec:
    shape = tuple(space.shape or ())
    if isinstance(space, spaces.Box):
        box_low = space.low.astype(np.float64)
        box_high = space.high.astype(np.float64)
        accept_low, accept_high = box_low, box_high
        if np.issubdtype(space.dtype, np.floating):
            largest = float(np.finfo(space.dtype).max)  # beyond it the stored value is inf
            accept_low = np.maximum(_half_step_outward(box_low, space.dtype, -np.inf), -largest)
            accept_high = np.minimum(_half_step_outward(box_high, space.dtype, np.inf), largest)
        low, high = np.maximum(box_low, accept_low), np.minimum(box_high, accept_high)
        if documented is not None:
            low = np.broadcast_to(np.asarray(documented[0], dtype=np.float64), shape).copy()
            high = np.broadcast_to(np.asarray(documented[1], dtype=np.float64), shape).copy()
            if np.any(low < accept_low) or np.any(high > accept_high) or np.any(low > high):
                raise TypeError(f"action_bounds {documented} do not match the space {space} "
                                "(they must lie within float32 rounding of its bounds)")
        return _ActionSpec(space, "box", shape, low, high, accept_low, accept_high)
    if isinstance(space, spaces.Discrete):
        low = np.asarray(float(space.start))
        high = np.asarray(float(space.start + space.n - 1))
    elif isinstance(space, spaces.MultiDiscrete):
        low = space.start.astype(np.float64)
        high = (space.start + space.nvec - 1).astype(np.float64)
    elif isinstance(space, spaces.MultiBinary):
        low, high = np.zeros(shape), np.ones(shape)
    else:
        empty = np.zeros(0)
        return _ActionSpec(space, "unsupported", shape, empty, empty, empty, empty)
    return _ActionSpec(space, "integer", shape, low, high, low, high)


@dataclass(frozen=True)
class _JointSpec:
    """The specs of every possible agent stacked along a leading axis (all share kind and shape)."""

    kind: str
    shape: tuple[int, ...]
    low: np.ndarray
    high: np.ndarray


class MarketEnv(ParallelEnv[AgentID, np.ndarray, np.ndarray]):
    """Base class of every market in the suite (a PettingZoo ``ParallelEnv``).

    Args:
        max_cycles: horizon; the episode is truncated (not terminated) after this many rounds.
            PettingZoo's test-suite sets ``env.max_cycles`` directly, so the horizon is read from
            this attribute at every step.
        render_mode: ``None``, ``"human"`` (prints the round summary), ``"ansi"`` (returns it)
            or ``"rgb_array"`` (an image: the market's own plot where it has one, else a bar
            chart of the last rewards, :meth:`_render_rgb`). Every market accepts
            ``"rgb_array"``, so Gymnasium-style callers (Stable-Baselines3 makes its envs with
            ``render_mode="rgb_array"`` to record videos) work unchanged.
        action_policy: ``"raise"`` (default) rejects out-of-bounds actions with
            :class:`InvalidActionError`; ``"clip"`` clips them into the space. Malformed actions
            (wrong keys, types or shape, NaN or inf) are rejected under both policies.
        possible_agents: the agent ids (or set ``self.possible_agents`` before this call).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["human", "ansi"],
        "name": "market_v0",
        "is_parallelizable": True,
        "render_fps": 4,
    }
    #: ``True``: ``_step_market`` receives the validated joint action as one array
    #: ``[len(self.agents), *shape]`` instead of a dict (see the module docstring).
    joint_action_array: ClassVar[bool] = False
    #: ``"shallow"`` (attributes and generator restored after a failed reset) or ``"deep"``.
    reset_snapshot: ClassVar[str] = "shallow"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        modes = list(cls.metadata.get("render_modes", []))
        if "rgb_array" not in modes:  # the base class draws one for every market
            cls.metadata = {**cls.metadata, "render_modes": [*modes, "rgb_array"]}

    def __init__(
        self,
        *,
        max_cycles: int,
        render_mode: str | None = None,
        action_policy: str = "raise",
        possible_agents: Sequence[AgentID] | None = None,
    ) -> None:
        if not isinstance(max_cycles, (int, np.integer)) or isinstance(max_cycles, bool) \
                or max_cycles < 1:
            raise InvalidArgumentError("max_cycles", max_cycles, "a positive integer")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise InvalidArgumentError(
                "render_mode", render_mode, f"None or one of {self.metadata['render_modes']}"
            )
        if not isinstance(action_policy, str) or action_policy not in ACTION_POLICIES:
            raise InvalidArgumentError("action_policy", action_policy, f"one of {ACTION_POLICIES}")
        if self.reset_snapshot not in RESET_SNAPSHOTS:
            raise TypeError(f"{type(self).__name__}.reset_snapshot must be one of {RESET_SNAPSHOTS}")
        if possible_agents is not None:
            self.possible_agents = [str(agent) for agent in possible_agents]
        if not getattr(self, "possible_agents", None):
            raise TypeError(f"{type(self).__name__} must set possible_agents before MarketEnv.__init__")
        self.max_cycles = int(max_cycles)
        self.render_mode = render_mode
        self.action_policy = action_policy
        self.agents: list[AgentID] = []
        self.num_cycles = 0
        self.np_random = np.random.default_rng()
        self.np_random_seed: int | None = None

    # ------------------------------------------------------------------ spaces
    def _set_spaces(
        self,
        observation_spaces: Mapping[AgentID, spaces.Space],
        action_spaces: Mapping[AgentID, spaces.Space],
        state_space: spaces.Space,
        action_bounds: Mapping[AgentID, tuple[Any, Any]] | None = None,
    ) -> None:
        """Store the spaces once; ``observation_space(agent)`` returns the same object forever.

        ``action_bounds``: the documented float64 ``(low, high)`` of Box action spaces whose
        float32 bounds round them (agents left out use their Box's bounds); accepted actions are
        clipped into them. The validation bounds are cached here, stacked over the agents when
        they all share one kind and shape of action space.
        """
        if set(observation_spaces) != set(self.possible_agents) \
                or set(action_spaces) != set(self.possible_agents):
            raise TypeError("spaces must be given for exactly the possible agents")
        action_bounds = dict(action_bounds or {})
        if not set(action_bounds) <= set(self.possible_agents):
            raise TypeError("action_bounds must be keyed by possible agents")
        self.observation_spaces = dict(observation_spaces)
        self.action_spaces = dict(action_spaces)
        self.state_space = state_space
        self._action_specs = {
            agent: _action_spec(self.action_spaces[agent], action_bounds.get(agent))
            for agent in self.possible_agents
        }
        specs = [self._action_specs[agent] for agent in self.possible_agents]
        first = specs[0]
        self._joint_spec: _JointSpec | None = None
        if first.kind != "unsupported" and all(
                spec.kind == first.kind and spec.shape == first.shape for spec in specs):
            self._joint_spec = _JointSpec(first.kind, first.shape,
                                          np.stack([spec.low for spec in specs]),
                                          np.stack([spec.high for spec in specs]))
        self._agent_rows = {agent: i for i, agent in enumerate(self.possible_agents)}
        if self.joint_action_array and self._joint_spec is None:
            raise TypeError(f"{type(self).__name__}.joint_action_array needs every agent to have "
                            "an action space of the same kind and shape")

    def observation_space(self, agent: AgentID) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: AgentID) -> spaces.Space:
        return self.action_spaces[agent]

    def reward_scale(self, agent: AgentID) -> float:
        """The natural unit of ``agent``'s per-step reward, documented in the market's Rewards
        section: what ``auction_envs.wrappers.normalize.NormalizeMarket`` divides rewards by.
        1 unless the market documents another (rewards already of order 1)."""
        if agent not in self.possible_agents:
            raise InvalidArgumentError("agent", agent, f"one of {self.possible_agents[:4]}...")
        return 1.0

    def action_bounds(self, agent: AgentID) -> tuple[np.ndarray, np.ndarray]:
        """The documented float64 ``(low, high)`` of ``agent``'s action (copies): values
        accepted by ``step`` are clipped into them (see "Float32 bounds" in the module doc)."""
        spec = self._action_specs[agent]
        return spec.low.copy(), spec.high.copy()

    # ------------------------------------------------------------------ API
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[AgentID, np.ndarray], dict[AgentID, dict[str, Any]]]:
        """Start a new episode; ``seed`` reseeds the env's single generator ``self.np_random``.

        A failed call (bad ``seed`` or ``options``, or any error while building the episode)
        raises and leaves the env exactly as it was, generator included.
        """
        seed = check_seed(seed)
        options = self._checked_options(options)
        generator = self.np_random
        generator_state = generator.bit_generator.state
        snapshot = (copy.deepcopy(self.__dict__) if self.reset_snapshot == "deep"
                    else self.__dict__.copy())
        try:
            if seed is not None:
                self.np_random = np.random.default_rng(seed)
                self.np_random_seed = seed
            self.agents = list(self.possible_agents)
            self.num_cycles = 0
            self._last_rewards: dict[AgentID, float] = {}
            infos = self._reset_market(options)
            self._has_reset = True
            observations = self._observations()
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(snapshot)
            if self.np_random is generator:  # with "deep", the snapshot holds its own copy
                generator.bit_generator.state = generator_state
            raise
        if self.render_mode == "human":
            self.render()
        return observations, infos

    def _checked_options(self, options: Any) -> dict[str, Any]:
        if options is None:
            return {}
        if not isinstance(options, Mapping) or not all(isinstance(key, str) for key in options):
            raise InvalidArgumentError("options", options, "None or a dict keyed by option name")
        options = dict(options)
        self._check_reset_options(options)
        return options

    def step(self, actions: Mapping[AgentID, Any]) -> tuple[
        dict[AgentID, np.ndarray],
        dict[AgentID, float],
        dict[AgentID, bool],
        dict[AgentID, bool],
        dict[AgentID, dict[str, Any]],
    ]:
        """Play one round. Invalid input raises :class:`InvalidActionError` and changes nothing."""
        if not self.agents:
            raise EpisodeOverError(
                "step() called with no live agents: the episode is over (or reset() was never "
                "called); call reset() first"
            )
        if type(self).validate_actions is MarketEnv.validate_actions:
            validated = self._validate(actions, as_array=self.joint_action_array)
        else:  # a subclass's own validate_actions (it returns the dict) is honoured
            validated = self.validate_actions(actions)
            if self.joint_action_array:
                validated = np.stack([validated[agent] for agent in self.agents])
        rewards, infos, terminated = self._step_market(validated)
        self.num_cycles += 1
        terminated = bool(terminated)
        truncated = self.num_cycles >= self.max_cycles and not terminated
        observations = self._observations()
        agents = self.agents
        terminations = dict.fromkeys(agents, terminated)
        truncations = dict.fromkeys(agents, truncated)
        if isinstance(rewards, Mapping):
            rewards = {agent: float(rewards[agent]) for agent in agents}
        else:  # aligned with self.agents: one conversion for all
            values = rewards if type(rewards) is list and set(map(type, rewards)) <= _FLOAT_ONLY \
                else np.asarray(rewards, dtype=np.float64).tolist()
            if len(values) != len(agents):
                raise TypeError(f"_step_market returned {len(values)} rewards for "
                                f"{len(agents)} agents")
            rewards = dict(zip(agents, values))
        if terminated or truncated:
            self.agents = []
        if self.render_mode == "rgb_array":
            self._last_rewards = rewards
        if self.render_mode == "human":
            self.render()
        return observations, rewards, terminations, truncations, infos

    # ------------------------------------------------------------------ validation
    def validate_actions(self, actions: Mapping[AgentID, Any]) -> dict[AgentID, np.ndarray]:
        """Check an action dict against the live agents' spaces; return float64/int64 copies.

        Raises :class:`InvalidActionError` naming the agent, the expected space and the value for:
        a non-mapping, a missing or an extra agent, a value that is not a real number (see the
        module docstring), the wrong shape, NaN or inf, an out-of-bounds value (unless
        ``action_policy="clip"``), a non-integer for a discrete space.
        """
        return self._validate(actions, as_array=False)

    def validate_joint_action(self, actions: Mapping[AgentID, Any]) -> np.ndarray:
        """Like :meth:`validate_actions`, as one array ``[len(self.agents), *shape]`` (rows in
        the order of ``self.agents``; needs one kind and shape of action space for all)."""
        if self._joint_spec is None:
            raise TypeError(f"{type(self).__name__}: the agents' action spaces differ in kind or "
                            "shape; use validate_actions")
        return self._validate(actions, as_array=True)

    def _validate(self, actions: Any, as_array: bool) -> Any:
        agents = self.agents
        joint = self._joint_spec
        if joint is not None and (type(actions) is dict or isinstance(actions, Mapping)) \
                and len(actions) == len(agents):
            try:
                values = [actions[agent] for agent in agents]
            except Exception:  # a missing key, or an exotic Mapping: the slow path says which
                values = None
            if values is not None:
                array = self._fast_joint(values, agents, joint)
                if array is not None:
                    return array if as_array else dict(zip(agents, array))
        validated = self._validate_each(actions)
        if not as_array:
            return validated
        return np.stack([validated[agent] for agent in agents])

    def _fast_joint(self, values: list[Any], agents: list[AgentID],
                    joint: _JointSpec) -> np.ndarray | None:
        """The joint action as one checked array, or ``None`` when anything is unusual (the
        per-agent walk then raises the precise error, or clips)."""
        types = set(map(type, values))
        if types == _NDARRAY_ONLY:  # the common case: numeric arrays, checked by dtype kind
            if not all(dtype.kind in _REAL_KINDS for dtype in {value.dtype for value in values}):
                return None
        elif not all_plain_real(values):
            return None
        try:
            array = np.array(values, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            return None
        expected = (len(values), *joint.shape)
        if array.shape != expected:
            if array.size != len(values) or int(np.prod(joint.shape)) != 1:
                return None
            array = array.reshape(expected)
        if agents == self.possible_agents:
            low, high = joint.low, joint.high
        else:
            rows = [self._agent_rows[agent] for agent in agents]
            low, high = joint.low[rows], joint.high[rows]
        # NaN fails both comparisons; inf lies beyond every (finite) cached bound.
        if not (np.greater_equal(array, low).all() and np.less_equal(array, high).all()):
            return None
        if joint.kind == "integer":
            if not (array == np.floor(array)).all():
                return None
            return array.astype(np.int64)
        return array

    def _validate_each(self, actions: Any) -> dict[AgentID, np.ndarray]:
        """The per-agent walk: keys first, then each agent's value in the order of ``agents``."""
        if not isinstance(actions, Mapping):
            raise InvalidActionError(
                f"actions must be a dict keyed by agent id for {self.agents}", value=actions
            )
        live = set(self.agents)
        extra = [agent for agent in actions if agent not in live]
        if extra:
            raise InvalidActionError(
                f"no live agent {extra[0]!r} (live agents: {self.agents})",
                agent=str(extra[0]), value=actions[extra[0]],
            )
        missing = [agent for agent in self.agents if agent not in actions]
        if missing:
            raise InvalidActionError(
                "missing from the action dict (every live agent must act each round)",
                agent=missing[0], space=self.action_space(missing[0]), value=None,
            )
        return {agent: self._validate_one(agent, actions[agent]) for agent in self.agents}

    def _validate_one(self, agent: AgentID, value: Any) -> np.ndarray:
        spec = self._action_specs[agent]
        space = spec.space
        if spec.kind == "unsupported":
            raise TypeError(f"unsupported action space {space!r}")
        array = _real_array(value, agent, space)
        shape = spec.shape
        if array.shape != shape:
            if array.size == 1 and int(np.prod(shape)) == 1:
                array = array.reshape(shape)
            else:
                raise InvalidActionError(f"shape {array.shape} instead of {shape}", agent=agent,
                                         space=space, value=value)
        if not np.all(np.isfinite(array)):
            raise InvalidActionError("NaN or infinite entry", agent=agent, space=space, value=value)
        if spec.kind == "integer":
            if not np.all(array == np.round(array)):
                raise InvalidActionError("non-integer entry for a discrete space", agent=agent,
                                         space=space, value=value)
            if np.any(array < spec.low) or np.any(array > spec.high):
                raise InvalidActionError("out of range", agent=agent, space=space, value=value)
            return array.astype(np.int64)
        if np.any(array < spec.accept_low) or np.any(array > spec.accept_high):
            if self.action_policy != "clip":
                raise InvalidActionError(
                    "out of bounds (pass action_policy='clip' to clip instead)",
                    agent=agent, space=space, value=value,
                )
        # float32 rounding of the documented bounds, or the clip policy: into the documented box
        return np.clip(array, spec.low, spec.high)

    # ------------------------------------------------------------------ rendering and entry points
    def render(self) -> str | np.ndarray | None:
        """``"ansi"``: the round summary as text; ``"human"``: print it; ``"rgb_array"``: a plot."""
        if self.render_mode is None:
            return None
        if self.render_mode == "rgb_array":
            return self._render_rgb()
        text = self._render_text()
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def close(self) -> None:
        """Nothing to release by default (no windows, no files)."""

    def equilibrium(self) -> Any:
        """The market's reference solution (an equilibrium or optimum), where it has one."""
        raise NotImplementedError(f"{type(self).__name__} has no reference solution")

    def _require_reset(self, what: str) -> None:
        """The convention before the first ``reset()``: the env holds no market yet, so ``state()``,
        ``metrics()`` (and ``equilibrium()`` where it depends on the drawn market) raise
        :class:`ResetNeededError` instead of returning placeholders. Call at the top of those."""
        if not getattr(self, "_has_reset", False):
            raise ResetNeededError(f"{type(self).__name__}.{what}() before the first reset(): "
                                   "call reset() first")

    # ------------------------------------------------------------------ hooks
    def _check_reset_options(self, options: dict[str, Any]) -> None:
        """Raise :class:`InvalidArgumentError` for bad ``reset`` options, before anything
        changes (called after the base checked that ``options`` is a dict keyed by strings)."""

    def _reset_market(self, options: dict[str, Any]) -> dict[AgentID, dict[str, Any]]:
        raise NotImplementedError

    def _step_market(
        self, actions: Any
    ) -> tuple[Mapping[AgentID, float] | Sequence[float] | np.ndarray,
               dict[AgentID, dict[str, Any]], bool]:
        """One round: ``actions`` is ``{agent: array}``, or ``[len(agents), *shape]`` with
        ``joint_action_array``; returns rewards (dict, or aligned with ``self.agents``), infos
        and whether the episode terminated."""
        raise NotImplementedError

    def _observations(self) -> dict[AgentID, np.ndarray]:
        raise NotImplementedError

    def state(self) -> np.ndarray:
        raise NotImplementedError

    def metrics(self) -> dict[str, Any]:
        """The market's metrics for the episode so far (scalars and per-agent arrays)."""
        raise NotImplementedError

    def _render_text(self) -> str:
        raise NotImplementedError

    def _render_rgb(self) -> np.ndarray:
        """A ``[240, W, 3]`` uint8 bar chart of the last step's rewards, one bar per agent.

        Bars rise (green) or fall (red) from the middle line, scaled by the largest absolute
        reward of that step; agents without a reward that step (not live, or before the first
        step) have no bar. Markets with a plot of their own override this.
        """
        height, bar, gap = 240, 12, 4
        agents = list(self.possible_agents)
        width = max(240, len(agents) * (bar + gap) + gap)
        image = np.full((height, width, 3), 255, dtype=np.uint8)
        middle = height // 2
        image[middle, :] = 128
        rewards = getattr(self, "_last_rewards", None) or {}
        values = np.array([rewards.get(agent, 0.0) for agent in agents], dtype=np.float64)
        scale = float(np.max(np.abs(values))) if values.size else 0.0
        if scale > 0 and np.isfinite(scale):
            extent = np.rint(values / scale * (middle - 4)).astype(int)
            for index, length in enumerate(extent):
                left = gap + index * (bar + gap)
                if length > 0:
                    image[middle - length:middle, left:left + bar] = (46, 139, 87)
                elif length < 0:
                    image[middle + 1:middle + 1 - length, left:left + bar] = (200, 60, 60)
        return image


# ---------------------------------------------------------------------------- strict real numbers
def _is_real_leaf(leaf: Any) -> bool:
    return type(leaf) in _PLAIN_REAL_TYPES or (
        isinstance(leaf, numbers.Real) and not isinstance(leaf, (bool, np.bool_)))


def _real_array(value: Any, agent: AgentID, space: spaces.Space) -> np.ndarray:
    """``value`` as a float64 array, or :class:`InvalidActionError` for anything but real numbers
    (whatever the input: no other exception type escapes)."""

    def rejected(reason: str) -> InvalidActionError:
        return InvalidActionError(f"not numeric ({reason})", agent=agent, space=space, value=value)

    if isinstance(value, (bool, np.bool_)):
        raise rejected("a boolean is not a real number")
    if isinstance(value, (str, bytes, bytearray)):
        raise rejected(f"a {type(value).__name__} is not a real number")
    if isinstance(value, numbers.Real) and not isinstance(value, np.generic):
        try:
            return np.asarray(float(value))
        except (OverflowError, TypeError, ValueError) as exc:
            raise rejected(f"{type(exc).__name__}: {exc}") from None
    if isinstance(value, (list, tuple)):
        try:
            leaves = np.array(value, dtype=object)
        except Exception as exc:  # any failure is a malformed action
            raise rejected(f"{type(exc).__name__}: {exc}") from None
        for leaf in leaves.flat:  # bounded by the size of the input itself
            if not _is_real_leaf(leaf):
                raise rejected(f"entry {leaf!r} is not a real number")
        try:
            return np.array(leaves, dtype=np.float64)
        except Exception as exc:  # e.g. OverflowError for 10**400
            raise rejected(f"{type(exc).__name__}: {exc}") from None
    try:
        array = np.asarray(value)
    except Exception as exc:  # e.g. a torch tensor that requires grad
        raise rejected(f"{type(exc).__name__}: {exc}") from None
    if array.dtype.kind not in _REAL_KINDS:
        raise rejected(f"{_KIND_NAMES.get(array.dtype.kind, array.dtype)} are not real numbers")
    with np.errstate(over="ignore"):  # a longdouble beyond float64 becomes inf: rejected later
        return array.astype(np.float64)
