"""The passive "RIAL only" vehicles of paper 000: submit at once, at a constant price."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from agents.base import Transition

BUDGET_SCALE = 2000.0  # the V2X observation carries budget / 2000 at index 1


class PassiveV2XPolicy:
    """Non-learning V2X vehicles: ``alpha = 1`` (never back off) and one constant price.

    With ``price`` (default 750, in currency) every vehicle bids that same amount, so bids tie and
    the ACA's order is random among equal bids (first in, first out across steps: a request is
    auctioned in the step it arrives): the paper's passive agents whose priority "is simply constant
    ... resulting in first-in, first-out processing order". ``fraction`` instead bids a constant
    share ``b`` of each vehicle's own budget (high-budget vehicles then outbid low-budget ones).

    A joint :class:`agents.base.Learner` (dict in, dict out) that learns nothing; it reads the
    vehicle's budget from observation index 1 (``budget / 2000``).
    """

    def __init__(self, price: float | None = 750.0, fraction: float | None = None) -> None:
        if (price is None) == (fraction is None):
            raise ValueError("give exactly one of price (currency) or fraction (of the budget)")
        if price is not None and not (np.isfinite(price) and price >= 0):
            raise ValueError(f"price must be a finite number >= 0; got {price!r}")
        if fraction is not None and not (0.0 <= fraction <= 1.0):
            raise ValueError(f"fraction must be in [0, 1]; got {fraction!r}")
        self.price = price
        self.fraction = fraction

    def action(self, observation: np.ndarray) -> np.ndarray:
        if self.fraction is not None:
            b = self.fraction
        else:
            budget = float(observation[1]) * BUDGET_SCALE
            b = min(1.0, self.price / budget) if budget > 0 else 0.0
        return np.array([1.0, b], dtype=np.float32)

    def act(self, observations: dict[str, np.ndarray], explore: bool = True) -> dict[str, np.ndarray]:
        return {agent: self.action(obs) for agent, obs in observations.items()}

    def observe(self, transition: Transition) -> None:
        """Nothing to learn."""

    def update(self) -> dict[str, float]:
        return {}

    def end_episode(self) -> None:
        """Nothing to reset."""

    def save(self, path: str | os.PathLike[str]) -> None:
        from agents.base import save_state

        save_state(path, self.state_dict())

    def load(self, path: str | os.PathLike[str]) -> None:
        from agents.base import load_state

        self.load_state_dict(load_state(path))

    def state_dict(self) -> dict[str, Any]:
        return {"price": self.price, "fraction": self.fraction}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.price = state["price"]
        self.fraction = state["fraction"]
