"""Uniform random actions in every agent's space: the floor of every normalized score."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from agents.base import ScriptedPolicy, restore_rng, rng_state
from auction_envs.testing.golden import sample_action

#: stand-in bound for an infinite side of a Box (uniform sampling needs finite bounds)
UNBOUNDED_SIDE = 1e3


class RandomPolicy(ScriptedPolicy):
    """Acts uniformly at random in each agent's action space, from one seeded generator.

    Box bounds that are infinite are replaced by ``±UNBOUNDED_SIDE``; Discrete and MultiDiscrete
    spaces draw each choice uniformly. Learns nothing; a joint :class:`agents.base.Learner`.
    """

    def __init__(self, env: Any, seed: int | None = None) -> None:
        self.spaces = {agent: env.action_space(agent) for agent in env.possible_agents}
        self.rng = np.random.default_rng(seed)

    def _sample(self, space: spaces.Space) -> np.ndarray:
        return sample_action(space, self.rng, unbounded=UNBOUNDED_SIDE)

    def act(self, observations: dict[str, np.ndarray], explore: bool = True) -> dict[str, np.ndarray]:
        return {agent: self._sample(self.spaces[agent]) for agent in observations}

    def state_dict(self) -> dict[str, Any]:
        return {"rng": rng_state(self.rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng = restore_rng(state["rng"])

