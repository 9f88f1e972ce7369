"""Scripted (non-learning) pricing policies for the providers of the cloud double auction.

Each policy is a joint :class:`agents.base.Learner` (dict in, dict out) that learns nothing; it
reads observation fields by name through the env's layout (``env.unwrapped.layout``, given to
``for_env``) and returns one adjustment multiplier per buyer slot, inside
``[multiplier_low, multiplier_high]`` (default ``[0, 1]``). Entries for empty slots are ignored by
the env; the policies set them to the low bound. Under CDARA and ICAA the env prices with the
baselines' own markup and ignores the multipliers (``baseline_markup``, see the env docstring).

* :class:`FixedMarkupPricing` -- the same multiplier for every buyer (one per provider optional):
  the "fixed pricing" used by the paper's comparison with CDARA and ICAA.
* :class:`RandomMarkupPricing` -- i.i.d. uniform multipliers (seeded).
* :class:`UtilizationPricing` -- ``base + slope * U_ij`` with ``U_ij`` the provider's predicted
  utilization with the buyer admitted: scarce capacity is priced up.
* :class:`BudgetShadingPricing` -- asks a fixed fraction of each buyer's budget
  (``(1 + act) * base cost = fraction * budget``, ignoring the env's utilization term).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.base import ScriptedPolicy, restore_rng, rng_state
from auction_envs.core.layout import ObservationLayout


class _ScriptedPricing(ScriptedPolicy):
    """Shared plumbing: fields by name, clipping to the action bounds, no-op learning.

    Args:
        layout: the env's observation layout (``env.unwrapped.layout``).
        low, high: the action bounds.
    """

    def __init__(self, layout: ObservationLayout, low: float = 0.0, high: float = 1.0) -> None:
        if not isinstance(layout, ObservationLayout) or "present" not in layout:
            raise ValueError(f"need the cloud env's observation layout; got {layout!r}")
        if not (np.isfinite(low) and np.isfinite(high) and low <= high):
            raise ValueError(f"need finite low <= high; got {low}, {high}")
        self.layout = layout
        self.max_buyers = layout.field("present").size
        self.low = float(low)
        self.high = float(high)

    @classmethod
    def for_env(cls, env: Any, **kwargs: Any) -> _ScriptedPricing:
        """A policy for ``env``: its layout and its first agent's action bounds."""
        space = env.action_space(env.possible_agents[0])
        return cls(layout=env.unwrapped.layout, low=float(space.low[0]), high=float(space.high[0]),
                   **kwargs)

    def field(self, observation: np.ndarray, name: str) -> np.ndarray:
        """Observation field ``name`` in natural units (one entry per buyer slot for slot fields)."""
        return self.layout.get(observation, name)

    def multipliers(self, agent: str, observation: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def act(self, observations: dict[str, np.ndarray], explore: bool = True) -> dict[str, np.ndarray]:
        actions = {}
        for agent, observation in observations.items():
            values = self.multipliers(agent, observation)
            present = self.field(observation, "present") > 0
            values = np.where(present, values, self.low)
            actions[agent] = np.clip(values, self.low, self.high).astype(np.float32)
        return actions

    def state_dict(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.low, self.high = state["low"], state["high"]



class FixedMarkupPricing(_ScriptedPricing):
    """Multiplier ``markup`` for every buyer; ``markup`` may be a dict agent -> markup."""

    def __init__(self, markup: float | dict[str, float] = 0.2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.markup = markup

    def multipliers(self, agent: str, observation: np.ndarray) -> np.ndarray:
        value = self.markup[agent] if isinstance(self.markup, dict) else self.markup
        return np.full(self.max_buyers, float(value))

    def state_dict(self) -> dict[str, Any]:
        markup = dict(self.markup) if isinstance(self.markup, dict) else float(self.markup)
        return {**super().state_dict(), "markup": markup}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.markup = state["markup"]


class RandomMarkupPricing(_ScriptedPricing):
    """I.i.d. multipliers uniform in ``[low, high]`` of the action space, from a seeded generator."""

    def __init__(self, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rng = np.random.default_rng(seed)

    def multipliers(self, agent: str, observation: np.ndarray) -> np.ndarray:
        return self.rng.uniform(self.low, self.high, self.max_buyers)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rng": rng_state(self.rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.rng = restore_rng(state["rng"])


class UtilizationPricing(_ScriptedPricing):
    """``act_ij = base + slope * U_ij``: price rises with the predicted utilization."""

    def __init__(self, base: float = 0.1, slope: float = 0.8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base, self.slope = float(base), float(slope)

    def multipliers(self, agent: str, observation: np.ndarray) -> np.ndarray:
        return self.base + self.slope * self.field(observation, "predicted_utilization")

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "base": self.base, "slope": self.slope}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.base, self.slope = state["base"], state["slope"]


class BudgetShadingPricing(_ScriptedPricing):
    """Ask ``fraction`` of each buyer's budget: ``act = fraction / reserve_ratio - 1``."""

    def __init__(self, fraction: float = 0.6, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1]; got {fraction!r}")
        self.fraction = float(fraction)

    def multipliers(self, agent: str, observation: np.ndarray) -> np.ndarray:
        ratio = self.field(observation, "reserve_ratio")
        with np.errstate(divide="ignore"):
            return np.where(ratio > 0, self.fraction / np.maximum(ratio, 1e-12) - 1.0, self.high)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "fraction": self.fraction}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.fraction = state["fraction"]


CLOUD_PRICING_POLICIES = {
    "fixed": FixedMarkupPricing,
    "random": RandomMarkupPricing,
    "utilization": UtilizationPricing,
    "budget": BudgetShadingPricing,
}
