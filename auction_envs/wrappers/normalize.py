"""Actions in ``[-1, 1]`` and rewards in the market's documented unit, for any market.

Every market takes actions and pays rewards on its own raw scale (bids of hundreds, provider
utilities of thousands, CE losses of order 1). :class:`NormalizeMarket` gives learners one scale:

* **actions** (``actions=True``): each Box agent acts in ``Box(-1, 1)`` of its action's shape, mapped
  affinely onto the market's documented float64 bounds (``env.unwrapped.action_bounds(agent)``):
  ``-1`` is the lower bound, ``1`` the upper one; values outside ``[-1, 1]`` are rejected with the
  market's :class:`~auction_envs.core.errors.InvalidActionError` (agent, space, value), before the
  market sees any action. Discrete agents (the IoV slicers) keep their space.
* **rewards** (``rewards=True``): each agent's reward divided by
  ``env.unwrapped.reward_scale(agent)``, documented per market in its Rewards section (Kelly:
  ``max |payoff|``, so scaled payoffs lie in ``[-1, 1]``; cloud: the largest buyer budget; IoV:
  ``beta_high`` per VSP, ``N beta_high`` per slicer; V2X: the high budget; exchange: 1).

The market, its ``metrics()`` and its reference solution stay on the raw scale
(``env.unwrapped``).

    from auction_envs.wrappers.normalize import NormalizeMarket
    env = NormalizeMarket(auction_envs.make("auction_envs/CloudDoubleAuction-v1"))
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from auction_envs.core.checks import check_bool
from auction_envs.core.errors import InvalidActionError, InvalidArgumentError
from auction_envs.wrappers.base import MarketWrapper


class NormalizeMarket(MarketWrapper):
    """``env`` with actions in ``[-1, 1]`` and rewards divided by the documented scale."""

    def __init__(self, env: ParallelEnv, actions: bool = True, rewards: bool = True) -> None:
        self.normalize_actions = check_bool("actions", actions)
        self.normalize_rewards = check_bool("rewards", rewards)
        super().__init__(env)
        market = env.unwrapped
        self._bounds: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._spaces: dict[str, spaces.Space] = {}
        for agent in self.possible_agents:
            space = env.action_space(agent)
            if not (self.normalize_actions and isinstance(space, spaces.Box)):
                self._spaces[agent] = space
                continue
            low, high = (np.asarray(b, dtype=np.float64) for b in market.action_bounds(agent))
            if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
                raise InvalidArgumentError("env", type(market).__name__,
                                           f"finite action bounds to normalize; {agent} has {space}")
            self._bounds[agent] = (np.broadcast_to(low, space.shape), np.broadcast_to(high, space.shape))
            self._spaces[agent] = spaces.Box(-1.0, 1.0, space.shape, np.float32)
        self._scales = {agent: float(market.reward_scale(agent)) for agent in self.possible_agents}

    def action_space(self, agent: str) -> spaces.Space:
        return self._spaces[agent]

    def reward_scale(self, agent: str) -> float:
        """What ``agent``'s rewards are divided by (1 with ``rewards=False``)."""
        return self._scales[agent] if self.normalize_rewards else 1.0

    def _to_market(self, agent: str, action: Any) -> Any:
        if agent not in self._bounds:
            return action
        space = self._spaces[agent]
        try:
            unit = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError):
            unit = None
        if (unit is None or np.asarray(action).dtype.kind not in "iuf" or unit.shape != space.shape
                or not np.all(np.isfinite(unit)) or np.any(np.abs(unit) > 1.0)):
            raise InvalidActionError("a real array in [-1, 1] of the space's shape", agent=agent,
                                     space=space, value=action)
        low, high = self._bounds[agent]
        return np.clip(low + (unit + 1.0) / 2.0 * (high - low), low, high)

    def _rewards(self, rewards: dict[str, float]) -> dict[str, float]:
        if not self.normalize_rewards:
            return rewards
        return {agent: reward / self._scales[agent] for agent, reward in rewards.items()}
