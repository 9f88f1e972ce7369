"""The passive "RIAL only" vehicles of paper 000: submit at once, at a constant price."""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.base import ScriptedPolicy

V2X_IDS = ("auction_envs/V2XOffloading-v1", "auction_envs/V2XOffloadingIntersection-v1")


def registered_v2x_layout(size: int) -> Any:
    """The observation layout of the registered V2X ids whose observations have ``size`` entries
    (the synthetic and the junction ids differ in their number of service types)."""
    import auction_envs

    for env_id in V2X_IDS:
        layout = auction_envs.make(env_id, max_cycles=1).unwrapped.layout
        if layout.size == size:
            return layout
    raise ValueError(f"no registered V2X id has observations of size {size}: "
                     "pass layout=env.unwrapped.layout")


class PassiveV2XPolicy(ScriptedPolicy):
    """Non-learning V2X vehicles: ``alpha = 1`` (never back off) and one constant price.

    With ``price`` (default 750, in currency) every vehicle bids that same amount, so bids tie and
    the ACA's order is random among equal bids (first in, first out across steps: a request is
    auctioned in the step it arrives): the paper's passive agents whose priority "is simply constant
    ... resulting in first-in, first-out processing order". ``fraction`` instead bids a constant
    share ``b`` of each vehicle's own budget (high-budget vehicles then outbid low-budget ones).

    A joint :class:`agents.base.Learner` (dict in, dict out) that learns nothing; it reads the
    vehicle's budget by name through the env's observation layout (``layout``, default: the layout
    of the registered V2X ids; pass ``env.unwrapped.layout`` for other settings).
    """

    def __init__(self, price: float | None = 750.0, fraction: float | None = None,
                 layout: Any = None) -> None:
        if (price is None) == (fraction is None):
            raise ValueError("give exactly one of price (currency) or fraction (of the budget)")
        if price is not None and not (np.isfinite(price) and price >= 0):
            raise ValueError(f"price must be a finite number >= 0; got {price!r}")
        if fraction is not None and not (0.0 <= fraction <= 1.0):
            raise ValueError(f"fraction must be in [0, 1]; got {fraction!r}")
        self.price = price
        self.fraction = fraction
        self._layout = layout
        self._explicit_layout = layout is not None
        self.layout = layout

    def actions(self, observations: np.ndarray) -> np.ndarray:
        """Actions ``[n, 2]`` for observations ``[n, obs_size]``."""
        observations = np.asarray(observations)
        if self._layout is None or self._layout.size != observations.shape[-1]:
            if self._layout is not None and self._explicit_layout:
                raise ValueError(f"observations of size {observations.shape[-1]}, the layout has "
                                 f"{self._layout.size}")
            self._layout = registered_v2x_layout(observations.shape[-1])
        self.layout = self._layout
        out = np.ones((*observations.shape[:-1], 2), dtype=np.float32)
        if self.fraction is not None:
            out[..., 1] = self.fraction
        else:
            budget = self.layout.get(observations, "budget")
            safe = np.where(budget > 0, budget, 1.0)
            out[..., 1] = np.where(budget > 0, np.minimum(1.0, self.price / safe), 0.0)
        return out

    def action(self, observation: np.ndarray) -> np.ndarray:
        return self.actions(observation)

    def act(self, observations: dict[str, np.ndarray], explore: bool = True) -> dict[str, np.ndarray]:
        if not observations:
            return {}
        return dict(zip(observations, self.actions(np.stack(list(observations.values())))))

    def state_dict(self) -> dict[str, Any]:
        return {"price": self.price, "fraction": self.fraction}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.price = state["price"]
        self.fraction = state["fraction"]
