"""What the two exchange-economy views share: arguments, the economy drawn at reset, noise."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from auction_envs.core import InvalidArgumentError, MarketEnv
from auction_envs.envs.exchange.economy import (
    Economy,
    check_counts,
    check_fixed,
    check_theta_range,
    family_from_args,
    sample_economy,
)


class ExchangeBaseEnv(MarketEnv):
    """Base of :class:`ExchangeEconomyEnv` (traders) and :class:`ExchangeMechanismEnv`."""

    metadata: ClassVar[dict[str, Any]] = {**MarketEnv.metadata, "name": "exchange_economy_v0"}

    def __init__(self, *, n_agents: int, n_goods: int, family: str, rho: float, F: Any,
                 theta: Any, endowments: Any, theta_range: Any, noise_std: float,
                 max_cycles: int, render_mode: str | None, action_policy: str) -> None:
        check_counts(n_agents, n_goods)
        self.n_agents = int(n_agents)
        self.n_goods = int(n_goods)
        self.family = family_from_args(family, rho, F, self.n_agents, self.n_goods)
        self.family_name = family
        self.theta_range = check_theta_range(theta_range)
        shape = (self.n_agents, self.n_goods)
        self.fixed_theta = check_fixed("theta", theta, shape, columns_sum_to_one=False)
        self.fixed_endowments = check_fixed("endowments", endowments, shape, columns_sum_to_one=True)
        if not (np.isscalar(noise_std) and np.isfinite(noise_std) and noise_std >= 0):
            raise InvalidArgumentError("noise_std", noise_std, "a finite number >= 0")
        self.noise_std = float(noise_std)
        super().__init__(max_cycles=max_cycles, render_mode=render_mode,
                         action_policy=action_policy)
        self.economy: Economy | None = None  # drawn by _reset_market

    def _draw_economy(self, rng: np.random.Generator) -> Economy:
        return sample_economy(rng, self.family, self.n_agents, self.n_goods, self.theta_range,
                              self.fixed_theta, self.fixed_endowments)

    def _new_episode_economy(self) -> None:
        self.economy = self._draw_economy(self.np_random)
        self._ce_allocation, self._ce_prices = self.economy.equilibrium()
        self._ce_utilities = self.economy.utilities(self._ce_allocation)

    def _noisy(self, utilities: np.ndarray) -> np.ndarray:
        return utilities + self.noise_std * self.np_random.standard_normal(utilities.shape)

    @property
    def endowments(self) -> np.ndarray:
        """This episode's endowments ``(n, m)``, exact (float64 copy; the observation holds them
        rounded to float32). Known to every agent and to the mechanism."""
        self._require_reset("endowments")
        return self.economy.endowments.copy()

    def equilibrium(self) -> tuple[np.ndarray, np.ndarray]:
        """The verified competitive equilibrium ``(allocation (n, m), prices (m,))`` of this
        episode's economy (``auction_envs.oracles.competitive_equilibrium``)."""
        return self._ce_allocation.copy(), self._ce_prices.copy()

    def metrics(self) -> dict[str, Any]:
        """CE loss (last round, mean, cumulative), SI loss, distance to the CE prices and allocation,
        and the utilities of the last round beside the CE utilities."""
        rounds = self.num_cycles
        if rounds == 0:
            return {"round": 0}
        return {
            "round": rounds,
            "ce_loss": self._last_ce_loss,
            "mean_ce_loss": self._ce_loss_sum / rounds,
            "cumulative_ce_loss": self._ce_loss_sum,
            "sharing_incentive_loss": self.economy.sharing_incentive_loss(self._allocation),
            "price_distance": float(np.abs(self._prices - self._ce_prices).sum()),
            "allocation_distance": float(np.abs(self._allocation - self._ce_allocation).max()),
            "utilities": self.economy.utilities(self._allocation),
            "ce_utilities": self._ce_utilities.copy(),
        }

    @property
    def family_params(self) -> dict[str, Any]:
        """The family's known parameters (``phi`` and ``f`` are known to the mechanism)."""
        if self.family.is_linear:
            return {"family": "linear"}
        if self.family.name == "ces":
            return {"family": "ces", "rho": self.family.rho}
        return {"family": "amdahl", "F": self.family.F}
