"""Scripted (non-learning) V2X vehicles: a congestion-aware backoff policy and two probes of the
reward ("never offload" and "admitted, then late"), all reading observation fields by name.

Every policy is a joint :class:`agents.base.Learner` that learns nothing, vectorized over vehicles:
``act`` stacks the observation dict and reads fields through the env's layout (``layout``; by
default the layout of the registered V2X id whose observation size matches).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.base import ScriptedPolicy
from agents.baselines.passive_v2x import registered_v2x_layout


class _ScriptedV2X(ScriptedPolicy):
    """Shared plumbing: layout look-up, dict <-> array, the no-op learner methods."""

    def __init__(self, layout: Any = None) -> None:
        self.layout = layout

    def _layout_for(self, size: int) -> Any:
        if self.layout is None or self.layout.size != size:
            self.layout = registered_v2x_layout(size)
        return self.layout

    def actions(self, observations: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def act(self, observations: dict[str, np.ndarray], explore: bool = True) -> dict[str, np.ndarray]:
        if not observations:
            return {}
        stacked = np.stack(list(observations.values()))
        self._layout_for(stacked.shape[-1])
        return dict(zip(observations, self.actions(stacked).astype(np.float32)))



class ScriptedBackoffV2XPolicy(_ScriptedV2X):
    """Hold the requests that can wait while their auction is congested; bid for the urgent ones.

    Per vehicle, on its most urgent pending request (``request0``, earliest deadline), with
    ``slack = time_left - steps_per_work x work`` (the policy's own estimate of the steps the
    request still needs; 1.25 steps per time-resource unit is the synthetic edge's pace):

    * *congested*: ``beta`` (``system_utilization``, the ACA's view) >= ``beta_hold``, or the last
      auction of the request's service type rejected bids (``last_bid_count`` >
      ``last_admitted_count``);
    * congested and ``slack > min_slack``: ``alpha = 0`` (held ``max_backoff`` steps): the slots go
      to requests that cannot wait, and a rejected request keeps its rebid for later;
    * otherwise submit (``alpha = 1``) at ``urgent_fraction`` of the budget when
      ``slack <= urgent_slack``, else at ``patient_fraction``: second-price admission then orders
      requests by urgency instead of first in, first out.

    Every pending request of the vehicle takes that action (the env's action is per vehicle).
    Defaults come from a small search at capacity 60, MP 1 (seed 0 only, 1200 steps, about ten
    settings); they are not tuned per capacity, and evaluations use other seeds.
    """

    def __init__(self, beta_hold: float = 0.9, min_slack: float = 25.0,
                 urgent_slack: float = 40.0, steps_per_work: float = 1.25,
                 urgent_fraction: float = 0.5, patient_fraction: float = 0.1,
                 layout: Any = None) -> None:
        for name, value in (("beta_hold", beta_hold), ("urgent_fraction", urgent_fraction),
                            ("patient_fraction", patient_fraction)):
            if not (np.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be in [0, 1]; got {value!r}")
        for name, value in (("min_slack", min_slack), ("urgent_slack", urgent_slack),
                            ("steps_per_work", steps_per_work)):
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
        super().__init__(layout)
        self.beta_hold = float(beta_hold)
        self.min_slack = float(min_slack)
        self.urgent_slack = float(urgent_slack)
        self.steps_per_work = float(steps_per_work)
        self.urgent_fraction = float(urgent_fraction)
        self.patient_fraction = float(patient_fraction)

    def actions(self, observations: np.ndarray) -> np.ndarray:
        fields = self._layout_for(observations.shape[-1]).unpack(observations)
        slack = fields["request0_time_left"] - self.steps_per_work * fields["request0_work"]
        one_hot = fields["request0_type"]
        bids = (one_hot * fields["last_bid_count"]).sum(axis=-1)
        admitted = (one_hot * fields["last_admitted_count"]).sum(axis=-1)
        congested = (fields["system_utilization"] >= self.beta_hold) | (bids > admitted + 0.5)
        alpha = np.where(congested & (slack > self.min_slack), 0.0, 1.0)
        price = np.where(slack <= self.urgent_slack, self.urgent_fraction, self.patient_fraction)
        return np.stack([alpha, price], axis=-1)

    def state_dict(self) -> dict[str, Any]:
        return {"beta_hold": self.beta_hold, "min_slack": self.min_slack,
                "urgent_slack": self.urgent_slack, "steps_per_work": self.steps_per_work,
                "urgent_fraction": self.urgent_fraction, "patient_fraction": self.patient_fraction}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, float(value))


class FixedActionV2XPolicy(_ScriptedV2X):
    """The same action ``(alpha, fraction)`` for every vehicle at every step: a grid of these
    shows where a constant backoff and price put the OFR and the reward (``alpha = 1``: never hold;
    ``fraction``: the bid as a share of the vehicle's own budget)."""

    def __init__(self, alpha: float = 1.0, fraction: float = 0.375, layout: Any = None) -> None:
        for name, value in (("alpha", alpha), ("fraction", fraction)):
            if not (np.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be in [0, 1]; got {value!r}")
        super().__init__(layout)
        self.alpha, self.fraction = float(alpha), float(fraction)

    def actions(self, observations: np.ndarray) -> np.ndarray:
        out = np.empty((*observations.shape[:-1], 2))
        out[..., 0], out[..., 1] = self.alpha, self.fraction
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "fraction": self.fraction}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.alpha, self.fraction = float(state["alpha"]), float(state["fraction"])


class NeverOffloadV2XPolicy(_ScriptedV2X):
    """``alpha = 0`` always: every request is held until it is dropped (OFR 1). A reward probe: a
    reward that ranks this above submitting disagrees with the OFR."""

    def actions(self, observations: np.ndarray) -> np.ndarray:
        return np.zeros((*observations.shape[:-1], 2))


class LateSubmitV2XPolicy(_ScriptedV2X):
    """Hold every request until fewer than ``window`` steps are left, then bid the whole budget:
    requests are admitted when they can no longer finish ("admitted, then late"). A reward probe:
    under a utility that charges nothing for a failure after admission this out-earns rejection."""

    def __init__(self, window: float = 30.0, layout: Any = None) -> None:
        if not (np.isfinite(window) and window > 0):
            raise ValueError(f"window must be a finite number > 0; got {window!r}")
        super().__init__(layout)
        self.window = float(window)

    def actions(self, observations: np.ndarray) -> np.ndarray:
        time_left = self._layout_for(observations.shape[-1]).get(observations, "request0_time_left")
        late = time_left < self.window
        return np.stack([np.where(late, 1.0, 0.0), np.where(late, 1.0, 0.0)], axis=-1)

    def state_dict(self) -> dict[str, Any]:
        return {"window": self.window}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.window = float(state["window"])


__all__ = ["FixedActionV2XPolicy", "LateSubmitV2XPolicy", "NeverOffloadV2XPolicy", "ScriptedBackoffV2XPolicy"]
