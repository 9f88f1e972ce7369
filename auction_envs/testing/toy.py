"""``ToyMarket``: the smallest complete :class:`~auction_envs.core.MarketEnv`, for tests.

The base class's guarantees (strict action validation, float32 bounds, transactional reset, the
joint action as an array) are tested on it, and the conformance suite's "checks can fail" tests
break it in one way at a time: it depends on no market of the suite, so a market's refactor
cannot change what those tests mean. It is not registered.

Each round every agent names a price vector in ``[low, high]^dim``; the episode's target price
is drawn from ``self.np_random`` at reset; the reward is minus the squared distance to the target
plus Gaussian noise of standard deviation ``noise`` (drawn from the same generator, so seeding
matters). ``low``/``high`` default to 0.1 and 0.7, which float32 cannot hold: the action Box rounds
them to nearest and the documented bounds go to ``_set_spaces(action_bounds=...)``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from auction_envs.core.checks import MAX_SCALE, check_int, check_real
from auction_envs.core.errors import InvalidArgumentError
from auction_envs.core.layout import Field, ObservationLayout, float32_box
from auction_envs.core.market_env import MarketEnv

__all__ = ["ArrayToyMarket", "ToyMarket"]


class ToyMarket(MarketEnv):
    """Agents guess a target price; reward ``-||a_i - target||^2 + noise``.

    Arguments: ``n_agents`` (3), ``dim`` (1), ``low`` (0.1), ``high`` (0.7), ``noise`` (0.1),
    ``max_cycles`` (50), ``render_mode``, ``action_policy``. Reset option ``"target"``: a fixed
    target in ``[low, high]`` instead of the drawn one. Infos: ``error`` (the squared distance of
    the agent's last action, 0 at reset).
    """

    metadata: ClassVar[dict[str, Any]] = {**MarketEnv.metadata, "name": "toy_market_v0"}

    def __init__(self, n_agents: int = 3, dim: int = 1, low: float = 0.1, high: float = 0.7,
                 noise: float = 0.1, max_cycles: int = 50, render_mode: str | None = None,
                 action_policy: str = "raise") -> None:
        self.n_agents = check_int("n_agents", n_agents, low=1, high=10_000)
        self.dim = check_int("dim", dim, low=1, high=10_000)
        self.low = check_real("low", low, low=-MAX_SCALE, high=MAX_SCALE)
        self.high = check_real("high", high, low=-MAX_SCALE, high=MAX_SCALE)
        if self.high <= self.low:
            raise InvalidArgumentError("high", high, f"> low={low}")
        self.noise = check_real("noise", noise, low=0.0, high=MAX_SCALE)
        super().__init__(max_cycles=max_cycles, render_mode=render_mode,
                         action_policy=action_policy,
                         possible_agents=[f"trader_{i}" for i in range(self.n_agents)])
        self.layout = ObservationLayout([
            Field("target", size=self.dim, low=self.low, high=self.high),
            Field("last_action", size=self.dim, low=self.low, high=self.high),
            Field("error", high=0.0 + (self.high - self.low) ** 2 * self.dim, low=0.0),
        ])
        observation_space = self.layout.space()
        action_space = spaces.Box(self.low, self.high, shape=(self.dim,), dtype=np.float32)
        self._set_spaces(
            observation_spaces=dict.fromkeys(self.possible_agents, observation_space),
            action_spaces=dict.fromkeys(self.possible_agents, action_space),
            state_space=float32_box(self.low, self.high, ((self.n_agents + 1) * self.dim,)),
            action_bounds=dict.fromkeys(self.possible_agents, (self.low, self.high)),
        )

    def _check_reset_options(self, options: dict[str, Any]) -> None:
        if "target" in options:
            check_real("options['target']", options["target"], low=self.low, high=self.high)

    def _reset_market(self, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
        self._target = self.np_random.uniform(self.low, self.high, size=self.dim)
        if "target" in options:
            self._target = np.full(self.dim, float(options["target"]))
        self._last = np.full((self.n_agents, self.dim), self.low)
        self._error = np.zeros(self.n_agents)
        self._error_sum = np.zeros(self.n_agents)
        return {agent: {"error": 0.0} for agent in self.agents}

    def _step_market(self, actions: Any) -> tuple[Any, dict[str, dict[str, Any]], bool]:
        return self._play(np.stack([actions[agent] for agent in self.agents]))

    def _play(self, joint: np.ndarray) -> tuple[np.ndarray, dict[str, dict[str, Any]], bool]:
        error = ((joint - self._target) ** 2).sum(axis=1)
        rewards = -error + self.noise * self.np_random.normal(size=self.n_agents)
        self._last = joint
        self._error = error
        self._error_sum += error
        infos = {agent: {"error": value} for agent, value in zip(self.agents, error.tolist())}
        return rewards, infos, False

    def _observations(self) -> dict[str, np.ndarray]:
        rows = self.layout.pack({"target": np.broadcast_to(self._target, self._last.shape),
                                 "last_action": self._last, "error": self._error},
                                batch_shape=(self.n_agents,))
        return dict(zip(self.agents, rows))

    def state(self) -> np.ndarray:
        self._require_reset("state")
        return np.concatenate([self._target, self._last.ravel()]).astype(np.float32)

    def metrics(self) -> dict[str, Any]:
        self._require_reset("metrics")
        return {"round": self.num_cycles,
                "mean_error": self._error_sum / max(self.num_cycles, 1)}

    def _render_text(self) -> str:
        return f"ToyMarket round {self.num_cycles}/{self.max_cycles}: errors {self._error}"


class ArrayToyMarket(ToyMarket):
    """:class:`ToyMarket` stepping on the joint action array (``joint_action_array = True``)."""

    joint_action_array: ClassVar[bool] = True

    def _step_market(self, actions: Any) -> tuple[Any, dict[str, dict[str, Any]], bool]:
        return self._play(actions)
