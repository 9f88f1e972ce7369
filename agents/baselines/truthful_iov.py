"""Scripted IoV bidders that report their utility at the welfare optimum (paper 002's truthful bid)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from agents.base import ScriptedPolicy


class TruthfulIoVBidders(ScriptedPolicy):
    """Every VSP bids ``scale · u_i(s*_i)``, read each round from ``env.unwrapped.equilibrium()``.

    ``scale = 1`` is the truthful bid; another scale is the common shading of the incentive
    experiments. Acts for the bidding agents (Box action spaces) only. Learns nothing.
    """

    def __init__(self, env: Any, scale: float = 1.0) -> None:
        if not (np.isfinite(scale) and scale >= 0):
            raise ValueError(f"scale must be a finite number >= 0; got {scale!r}")
        self.env = env
        self.scale = float(scale)
        self.bidders = [agent for agent in env.possible_agents
                        if isinstance(env.action_space(agent), spaces.Box)]

    def act(self, observations: dict[str, np.ndarray], explore: bool = True) -> dict[str, np.ndarray]:
        bids = np.asarray(self.env.unwrapped.equilibrium()["bids"], dtype=np.float64) * self.scale
        actions = {}
        for index, agent in enumerate(self.bidders):
            if agent in observations:
                space = self.env.action_space(agent)
                actions[agent] = np.clip(np.array([bids[index]]), space.low, space.high).astype(
                    space.dtype)
        return actions

