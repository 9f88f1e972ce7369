"""``MarketEnv``: the env contract of the suite implemented once.

Every market subclasses :class:`MarketEnv` and supplies the market itself through a handful of hooks;
the base class owns what must behave identically everywhere: cached spaces, seeding through one
``np.random.Generator``, strict action validation that never corrupts state, truncation at the
horizon, rendering and the ``metrics()`` / ``state()`` / ``equilibrium()`` entry points.

Subclass checklist (see ``auction_envs/envs/kelly/env.py`` for a complete example):

* in ``__init__``: validate arguments (raise :class:`InvalidArgumentError`), set
  ``self.possible_agents``, then call ``super().__init__(...)`` and ``self._set_spaces(...)``;
* ``_reset_market(options) -> infos``: rebuild the market for a new episode from ``self.np_random``;
* ``_step_market(actions) -> (rewards, infos, terminated)``: one round with already-validated
  float64 (or int64) actions;
* ``_observations() -> dict``: float32 observations, inside their spaces;
* ``state()``, ``metrics()``, ``_render_text()`` (and ``_render_rgb()`` for ``"rgb_array"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


class MarketEnv(ParallelEnv[AgentID, np.ndarray, np.ndarray]):
    """Base class of every market in the suite (a PettingZoo ``ParallelEnv``).

    Args:
        max_cycles: horizon; the episode is truncated (not terminated) after this many rounds.
            PettingZoo's test-suite sets ``env.max_cycles`` directly, so the horizon is read from
            this attribute at every step.
        render_mode: ``None``, ``"human"`` (prints the round summary), ``"ansi"`` (returns it)
            or ``"rgb_array"`` where the market has a plot.
        action_policy: ``"raise"`` (default) rejects out-of-bounds actions with
            :class:`InvalidActionError`; ``"clip"`` clips them into the space. Malformed actions
            (wrong keys, shape, NaN or inf) are rejected under both policies.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["human", "ansi"],
        "name": "market_v0",
        "is_parallelizable": True,
        "render_fps": 4,
    }

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
        if action_policy not in ACTION_POLICIES:
            raise InvalidArgumentError("action_policy", action_policy, f"one of {ACTION_POLICIES}")
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
    ) -> None:
        """Store the spaces once; ``observation_space(agent)`` returns the same object forever."""
        if set(observation_spaces) != set(self.possible_agents) \
                or set(action_spaces) != set(self.possible_agents):
            raise TypeError("spaces must be given for exactly the possible agents")
        self.observation_spaces = dict(observation_spaces)
        self.action_spaces = dict(action_spaces)
        self.state_space = state_space

    def observation_space(self, agent: AgentID) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: AgentID) -> spaces.Space:
        return self.action_spaces[agent]

    # ------------------------------------------------------------------ API
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[AgentID, np.ndarray], dict[AgentID, dict[str, Any]]]:
        """Start a new episode; ``seed`` reseeds the env's single generator ``self.np_random``."""
        seed = check_seed(seed)
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
            self.np_random_seed = seed
        self.agents = list(self.possible_agents)
        self.num_cycles = 0
        infos = self._reset_market(options or {})
        self._has_reset = True
        observations = self._observations()
        if self.render_mode == "human":
            self.render()
        return observations, infos

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
        validated = self.validate_actions(actions)
        rewards, infos, terminated = self._step_market(validated)
        self.num_cycles += 1
        truncated = self.num_cycles >= self.max_cycles and not terminated
        observations = self._observations()
        terminations = dict.fromkeys(self.agents, bool(terminated))
        truncations = dict.fromkeys(self.agents, bool(truncated))
        rewards = {agent: float(rewards[agent]) for agent in self.agents}
        if terminated or truncated:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return observations, rewards, terminations, truncations, infos

    def validate_actions(self, actions: Mapping[AgentID, Any]) -> dict[AgentID, np.ndarray]:
        """Check an action dict against the live agents' spaces; return float64/int64 copies.

        Raises :class:`InvalidActionError` naming the agent, the expected space and the value for:
        a non-mapping, a missing or an extra agent, a value that is not numeric, the wrong shape,
        NaN or inf, an out-of-bounds value (unless ``action_policy="clip"``), a non-integer for a
        discrete space.
        """
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
        space = self.action_space(agent)
        discrete = isinstance(space, (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary))
        try:
            array = np.array(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidActionError(f"not numeric ({exc})", agent=agent, space=space,
                                     value=value) from None
        shape = space.shape or ()
        if array.shape != shape:
            if array.size == 1 and int(np.prod(shape)) == 1:
                array = array.reshape(shape)
            else:
                raise InvalidActionError(f"shape {array.shape} instead of {shape}", agent=agent,
                                         space=space, value=value)
        if not np.all(np.isfinite(array)):
            raise InvalidActionError("NaN or infinite entry", agent=agent, space=space, value=value)
        if discrete:
            if not np.all(array == np.round(array)):
                raise InvalidActionError("non-integer entry for a discrete space", agent=agent,
                                         space=space, value=value)
            integer = array.astype(np.int64)
            if not space.contains(integer.astype(space.dtype)):
                raise InvalidActionError("out of range", agent=agent, space=space, value=value)
            return integer
        if isinstance(space, spaces.Box):
            low = space.low.astype(np.float64)
            high = space.high.astype(np.float64)
            if np.any(array < low) or np.any(array > high):
                if self.action_policy != "clip":
                    raise InvalidActionError(
                        "out of bounds (pass action_policy='clip' to clip instead)",
                        agent=agent, space=space, value=value,
                    )
                array = np.clip(array, low, high)
            return array
        raise TypeError(f"unsupported action space {space!r}")

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
    def _reset_market(self, options: dict[str, Any]) -> dict[AgentID, dict[str, Any]]:
        raise NotImplementedError

    def _step_market(
        self, actions: dict[AgentID, np.ndarray]
    ) -> tuple[dict[AgentID, float], dict[AgentID, dict[str, Any]], bool]:
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
        raise NotImplementedError
