"""Proportional response traders for ``auction_envs/ExchangeEconomy-v0`` (the traders' view).

Each trader re-splits her budget in proportion to what every good contributed to her utility in
the round just played: ``w_ij ∝ theta_ij x_ij phi'(x_ij)`` (CES: ``theta_ij x_ij^rho``), the rule
under which the trading post follows proportional response dynamics to the competitive
equilibrium. [decision] A trader knows her own preferences: ``theta_i`` is read from her
observation. With ``reveal_preferences=False`` (zeros there) she estimates ``theta_i`` from her own
bandit feedback (GLM quasi-likelihood on ``(phi(x_i), y_i)``, as Algorithm 1 does), starting from
uniform weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.base import AgentTransition, Independent, restore_rng, rng_state
from agents.exchange.glm import quasi_likelihood_estimate
from auction_envs.oracles.exchange import make_family


class ProportionalResponseTrader:
    """One trader's proportional response (an :class:`agents.base.AgentLearner`).

    Args:
        n_goods: number of goods; family/rho/F: her utility family (known ``phi``).
        agent_index: her row in an ``(n, m)`` Amdahl ``F``.
        exploration: with ``explore=True``, the weights are multiplied by
            ``exp(exploration * N(0, 1))`` (0 by default: pure proportional response).
        seed: seeds that noise.
    """

    def __init__(self, n_goods: int, family: str = "ces", *, rho: float | None = None,
                 F: Any = None, agent_index: int = 0, exploration: float = 0.0,
                 seed: int | None = None, layout: Any = None) -> None:
        self.m = int(n_goods)
        #: the env's observation layout (``env.unwrapped.layout``): fields are read by name
        self.layout = layout
        F_arr = None if F is None else np.asarray(F, dtype=np.float64)
        if F_arr is not None and F_arr.ndim == 2:
            F_arr = F_arr[agent_index]
        self.family = make_family(family, rho=rho, F=F_arr)
        self.exploration = float(exploration)
        self.rng = np.random.default_rng(seed)
        self.features: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.theta_estimate = np.ones(self.m)

    def _theta(self, fields: dict[str, np.ndarray]) -> np.ndarray:
        theta = fields["theta"]
        if np.any(theta > 0):
            return theta
        return np.maximum(self.theta_estimate, 1e-6)

    def act(self, observation: np.ndarray, explore: bool = True) -> np.ndarray:
        fields = self.layout.unpack(observation)
        m = self.m
        allocation = fields["allocation"]
        theta = self._theta(fields)
        if not np.any(allocation > 0):  # first round: spend in proportion to theta
            weights = theta.copy()
        else:
            weights = self.family.prd_contribution(theta)(allocation)
            if not np.any(weights > 0):
                weights = theta.copy()
        if explore and self.exploration > 0:
            weights = weights * np.exp(self.exploration * self.rng.standard_normal(m))
        return (weights / weights.max()).astype(np.float32)

    def observe(self, transition: AgentTransition) -> None:
        m = self.m
        fields = self.layout.unpack(transition.next_observation)
        if np.any(fields["theta"] > 0):
            return  # preferences known: nothing to estimate
        allocation = np.asarray(transition.info.get("allocation", fields["allocation"]))
        self.features.append(self.family.phi(allocation))
        self.rewards.append(float(transition.reward))
        if len(self.features) >= m:
            self.theta_estimate = quasi_likelihood_estimate(
                np.array(self.features), np.array(self.rewards), self.family, self.theta_estimate,
                ridge=1e-6)

    def update(self) -> dict[str, float]:
        return {}

    def end_episode(self) -> None:
        self.features, self.rewards = [], []
        self.theta_estimate = np.ones(self.m)

    def state_dict(self) -> dict[str, Any]:
        return {"features": np.array(self.features).reshape(-1, self.m),
                "rewards": np.array(self.rewards, dtype=np.float64),
                "theta_estimate": self.theta_estimate.copy(), "exploration": self.exploration,
                "rng": rng_state(self.rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.features = list(np.asarray(state["features"], dtype=np.float64))
        self.rewards = [float(r) for r in np.asarray(state["rewards"])]
        self.theta_estimate = np.asarray(state["theta_estimate"], dtype=np.float64)
        self.exploration = float(state["exploration"])
        self.rng = restore_rng(state["rng"])


def proportional_response_traders(env: Any, seed: int | None = None, exploration: float = 0.0
                                  ) -> Independent:
    """Proportional response for every trader of a traders' env (``Independent`` of traders)."""
    market = env.unwrapped
    params = dict(market.family_params)
    family = params.pop("family")
    seeds = np.random.SeedSequence(seed).spawn(len(market.possible_agents))
    return Independent({
        agent: ProportionalResponseTrader(market.n_goods, family, agent_index=i,
                                          exploration=exploration, layout=market.layout,
                                          seed=int(seeds[i].generate_state(1)[0]), **params)
        for i, agent in enumerate(market.possible_agents)
    })
