"""A discrete-action view of any market: each Box action entry on a documented grid of levels.

DQN-, QMIX- or VDN-style learners need discrete actions; every market here takes Box actions
(bids, prices, splits). :class:`DiscreteActions` replaces each Box agent's space with
``Discrete(levels)`` (one entry) or ``MultiDiscrete([levels] * d)`` and maps level ``k`` of entry
``j`` to ``low_j + (high_j - low_j) * k / (levels - 1)``, the market's documented float64 bounds
(``env.unwrapped.action_bounds(agent)``), so both bounds are on the grid; agents whose space is
already discrete (the IoV slicers) pass through unchanged. :meth:`DiscreteActions.grid` returns an
agent's grid, :meth:`DiscreteActions.to_market` the market action of a discrete one.

    from auction_envs.wrappers.discrete import DiscreteActions
    env = DiscreteActions(auction_envs.make("auction_envs/KellyGame-v0"), levels=41)
    env.action_space("bidder_0")             # Discrete(41): bids 1, 10.975, ..., 400

An infinite bound has no grid (a clear error names the agent). Invalid discrete actions raise the
market's own :class:`~auction_envs.core.errors.InvalidActionError` naming agent, space and value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from auction_envs.core.checks import check_int
from auction_envs.core.errors import InvalidActionError, InvalidArgumentError
from auction_envs.wrappers.base import MarketWrapper


class DiscreteActions(MarketWrapper):
    """``env`` with every Box action on a grid of ``levels`` values per entry (see module doc)."""

    def __init__(self, env: ParallelEnv, levels: int = 11) -> None:
        levels = check_int("levels", levels, low=2, high=1_000_000)
        super().__init__(env)
        self.levels = levels
        market = env.unwrapped
        self._grids: dict[str, np.ndarray] = {}
        self._spaces: dict[str, spaces.Space] = {}
        for agent in self.possible_agents:
            space = env.action_space(agent)
            if not isinstance(space, spaces.Box):
                self._spaces[agent] = space
                continue
            low, high = (market.action_bounds(agent) if hasattr(market, "action_bounds")
                         else (space.low.astype(np.float64), space.high.astype(np.float64)))
            low, high = np.ravel(low), np.ravel(high)
            if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
                raise InvalidArgumentError("env", type(market).__name__,
                                           f"finite action bounds for a grid; {agent} has {space}")
            steps = np.arange(self.levels) / (self.levels - 1)
            self._grids[agent] = low[:, None] + (high - low)[:, None] * steps[None, :]
            self._grids[agent][:, -1] = high  # the upper bound exactly, not a rounded sum
            self._spaces[agent] = (spaces.Discrete(self.levels) if low.size == 1
                                   else spaces.MultiDiscrete([self.levels] * low.size))
        self._shapes = {agent: env.action_space(agent).shape for agent in self._grids}

    # ------------------------------------------------------------------ the grid
    def grid(self, agent: str) -> np.ndarray:
        """``[d, levels]``: the market value of each level of each action entry of ``agent``."""
        return self._grids[agent].copy()

    def to_market(self, agent: str, action: Any) -> Any:
        """The market action of ``agent``'s discrete ``action`` (unchanged for discrete agents)."""
        if agent not in self._grids:
            return action
        space = self._spaces[agent]
        index = np.asarray(action)
        if index.dtype.kind not in "iu" and not (
                index.dtype.kind == "f" and np.all(np.isfinite(index)) and np.all(index == np.round(index))):
            raise InvalidActionError("not an integer level", agent=agent, space=space, value=action)
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        if index.size != self._grids[agent].shape[0] or not space.contains(
                index[0] if isinstance(space, spaces.Discrete) else index):
            raise InvalidActionError(f"a level in 0..{self.levels - 1} per entry", agent=agent,
                                     space=space, value=action)
        values = self._grids[agent][np.arange(index.size), index]
        return values.reshape(self._shapes[agent]).astype(np.float64)

    # ------------------------------------------------------------------ the wrapper's hooks
    def action_space(self, agent: str) -> spaces.Space:
        return self._spaces[agent]

    def _to_market(self, agent: str, action: Any) -> Any:
        return self.to_market(agent, action)
