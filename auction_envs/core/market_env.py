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
  space when the float32 Box cannot hold them exactly (see "Float32 bounds" in
  :mod:`auction_envs.core.actions`).
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
  an override (a market with extra rules may need one), which must then keep every guarantee of
  :mod:`auction_envs.core.actions`; the conformance suite (``auction_envs.testing.conformance``)
  checks them for every id.

Action validation (``step`` / :meth:`validate_actions`) and the float32 bounds of action
Boxes: see :mod:`auction_envs.core.actions` (the joint action is checked once, as one array
against bounds cached at ``_set_spaces``; every rejection is an :class:`InvalidActionError`
and changes nothing).

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
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from auction_envs.core.actions import (
    JointSpec,
    action_spec,
    all_plain_real,
    checked_action,
    checked_joint_array,
)
from auction_envs.core.checks import check_seed
from auction_envs.core.errors import (
    EpisodeOverError,
    InvalidActionError,
    InvalidArgumentError,
    ResetNeededError,
)
from auction_envs.core.render import reward_bars

AgentID = str
ACTION_POLICIES = ("raise", "clip")
RESET_SNAPSHOTS = ("shallow", "deep")
_FLOAT_ONLY = {float}
_FLOAT64 = np.dtype(np.float64)  # the native one: ``array.dtype is _FLOAT64``
__all__ = ["ACTION_POLICIES", "RESET_SNAPSHOTS", "MarketEnv", "all_plain_real"]

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

    #: whether ``validate_actions`` is the base class's (else ``step`` honours the subclass's)
    _base_validation: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._base_validation = cls.validate_actions is MarketEnv.validate_actions
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
        self._flag_agents: list[AgentID] = []  # see reset()
        self._live_flags: tuple[dict[AgentID, bool], dict[AgentID, bool]] = ({}, {})
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
            agent: action_spec(self.action_spaces[agent], action_bounds.get(agent))
            for agent in self.possible_agents
        }
        specs = [self._action_specs[agent] for agent in self.possible_agents]
        first = specs[0]
        self._joint_spec: JointSpec | None = None
        if first.kind != "unsupported" and all(
                spec.kind == first.kind and spec.shape == first.shape for spec in specs):
            self._joint_spec = JointSpec(first.kind, first.shape,
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
            # step's termination and truncation dicts, copied while these agents are all live
            self._flag_agents = list(self.agents)
            self._live_flags = (dict.fromkeys(self.agents, False), dict.fromkeys(self.agents, True))
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
        if self._base_validation:
            validated = self._validate(actions, self.joint_action_array)
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
        # copies of dicts made at reset while every agent of the episode is live (a tenth of a
        # fromkeys each); once agents leave, new ones
        if agents == self._flag_agents:
            flags = self._live_flags
            terminations = flags[terminated].copy()
            truncations = flags[truncated].copy()
        else:
            terminations = dict.fromkeys(agents, terminated)
            truncations = dict.fromkeys(agents, truncated)
        if type(rewards) is np.ndarray and rewards.dtype is _FLOAT64:  # the cheapest form
            values = rewards.tolist()  # Python floats: nothing to check
        elif type(rewards) is not list and isinstance(rewards, Mapping):
            values = None
            rewards = {agent: float(rewards[agent]) for agent in agents}
        else:  # aligned with self.agents: one conversion for all
            values = rewards if type(rewards) is list and set(map(type, rewards)) <= _FLOAT_ONLY \
                else np.asarray(rewards, dtype=np.float64).tolist()
        if values is not None:
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
                rows = None if agents == self.possible_agents \
                    else [self._agent_rows[agent] for agent in agents]
                array = checked_joint_array(values, joint, rows)
                if array is not None:
                    return array if as_array else dict(zip(agents, array))
        validated = self._validate_each(actions)
        if not as_array:
            return validated
        return np.stack([validated[agent] for agent in agents])

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
        return checked_action(self._action_specs[agent], agent, value, self.action_policy)

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
        ``joint_action_array``; returns rewards (dict, or aligned with ``self.agents``: a float64
        array is the cheapest form), infos and whether the episode terminated."""
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
        return reward_bars(getattr(self, "_last_rewards", None) or {}, self.possible_agents)
