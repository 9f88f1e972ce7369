"""The economy behind both exchange-economy views: utilities, endowments, noise, reference CE.

An :class:`Economy` is one instance (``theta``, endowments, utility family); :func:`sample_economy`
draws one from a generator [decision]: ``theta_ij ~ U(theta_range)`` i.i.d.; every good's endowment
column ``~ Dirichlet(1, ..., 1)`` over the agents (so ``sum_i e_ij = 1``). The paper does not state
its instance distribution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auction_envs.core import InvalidArgumentError
from auction_envs.core.checks import MAX_SCALE, check_array
from auction_envs.oracles.exchange import (
    UtilityFamily,
    _best_bundles,
    _indirect_utilities,
    _summed_terms,
    competitive_equilibrium,
)


@dataclass
class Economy:
    """One exchange economy: ``theta`` and ``endowments`` of shape ``(n, m)`` and a family."""

    theta: np.ndarray
    endowments: np.ndarray
    family: UtilityFamily
    _equilibrium: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _endowment_utilities: np.ndarray | None = field(default=None, init=False, repr=False)

    @property
    def n_agents(self) -> int:
        return self.theta.shape[0]

    @property
    def n_goods(self) -> int:
        return self.theta.shape[1]

    def utilities(self, allocation: np.ndarray) -> np.ndarray:
        return self.family.utility(allocation, self.theta)

    def equilibrium(self) -> tuple[np.ndarray, np.ndarray]:
        """The verified CE ``(allocation, prices)`` (computed once, then cached)."""
        if self._equilibrium is None:
            self._equilibrium = competitive_equilibrium(self.theta, self.endowments, self.family)
        x, p = self._equilibrium
        return x.copy(), p.copy()

    def ce_loss(self, allocation: np.ndarray, prices: np.ndarray,
                utilities: np.ndarray | None = None) -> float:
        """``oracles.exchange.ce_loss`` of a float64 ``allocation`` at finite non-negative
        ``prices`` (the oracle's arithmetic, without its argument checks); ``utilities``: the
        allocation's, when the caller has them."""
        prices = np.asarray(prices, dtype=np.float64)
        if utilities is None:
            utilities = self.utilities(allocation)
        best = _indirect_utilities(self.family, prices, self.endowments @ prices, self.theta, 1.0)
        return _summed_terms(best - utilities, clip=True, per_agent=False)

    def utilities_and_ce_loss(self, allocation: np.ndarray, prices: np.ndarray
                              ) -> tuple[np.ndarray, float]:
        """``(utilities(allocation), ce_loss(allocation, prices))``: the same numbers, with the
        allocation's and the best bundles' utilities evaluated together (one pass over both)."""
        prices = np.asarray(prices, dtype=np.float64)
        best = _best_bundles(self.family, prices, self.endowments @ prices, self.theta, 1.0)
        utilities, best_utilities = self.utilities(np.stack([allocation, best]))
        return utilities, _summed_terms(best_utilities - utilities, clip=True, per_agent=False)

    def sharing_incentive_loss(self, allocation: np.ndarray,
                               utilities: np.ndarray | None = None) -> float:
        """``oracles.exchange.sharing_incentive_loss`` (the endowments' utilities computed once
        per economy); ``utilities``: the allocation's, when the caller has them."""
        if utilities is None:
            utilities = self.utilities(allocation)
        if self._endowment_utilities is None:
            self._endowment_utilities = self.utilities(self.endowments)
        return _summed_terms(self._endowment_utilities - utilities, clip=True, per_agent=False)


def check_fixed(name: str, value: Any, shape: tuple[int, int], columns_sum_to_one: bool
                ) -> np.ndarray | None:
    if value is None:
        return None
    array = check_array(name, value, shape=shape, high=MAX_SCALE)
    if columns_sum_to_one:
        if np.any(array < 0) or not np.allclose(array.sum(axis=0), 1.0, atol=1e-9):
            raise InvalidArgumentError(name, value, "non-negative with every column summing to 1")
    elif np.any(array <= 0):
        raise InvalidArgumentError(name, value, "positive")
    return array


def sample_economy(rng: np.random.Generator, family: UtilityFamily, n_agents: int, n_goods: int,
                   theta_range: tuple[float, float] = (0.1, 1.0), theta: np.ndarray | None = None,
                   endowments: np.ndarray | None = None) -> Economy:
    """Draw an economy (fixed ``theta`` / ``endowments`` are used as given)."""
    low, high = theta_range
    drawn_theta = rng.uniform(low, high, size=(n_agents, n_goods))
    drawn_endowments = rng.dirichlet(np.ones(n_agents), size=n_goods).T
    theta = drawn_theta if theta is None else np.array(theta, dtype=np.float64)
    endowments = drawn_endowments if endowments is None else np.array(endowments, dtype=np.float64)
    endowments = endowments / endowments.sum(axis=0, keepdims=True)
    return Economy(theta, endowments, family)
