"""The exchange economy (traders' view) as a native vector env: ``B`` trading posts stepped as
arrays ``[B, n, m]`` by the core's batchable round rule (:func:`~.core.trade`).

Env ``b`` draws its economy at reset from its own generator (``sample_economy``, as the dict env
does) and its utility noise every round (:class:`~auction_envs.vector.RowGenerators`), so the
vector env equals ``B`` ``ExchangeEconomyEnv`` stepped with the same seeds and spending weights
(tested). The competitive equilibrium (a solve per economy) and the CE loss of a round feed no
observation or reward: the vector env computes them only when asked (:meth:`equilibrium`,
:meth:`metrics`). The mechanism's view (one agent acting for the market) has no vector shell.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from auction_envs.envs.exchange.core import trade
from auction_envs.envs.exchange.economy import Economy, sample_economy
from auction_envs.envs.exchange.env import ExchangeEconomyEnv
from auction_envs.vector import RowGenerators, VectorMarketEnv, register_vector


class ExchangeVectorEnv(VectorMarketEnv):
    """``num_envs`` exchange economies, traders' view (see :mod:`auction_envs.vector`).

    Observations ``[B, n, 5m + 2]`` (the trader layout), rewards ``[B, n]`` (noisy utilities),
    infos ``split``, ``spending``, ``allocation`` ``[B, n, m]``, ``budget``, ``noisy_utility``
    ``[B, n]`` and ``prices`` ``[B, m]``: the dict env's infos as arrays.
    """

    def __init__(self, template: ExchangeEconomyEnv, num_envs: int) -> None:
        super().__init__(template, num_envs)
        n, m = template.n_agents, template.n_goods
        self.n_goods = m
        self.family = template.family
        self.layout = template.layout
        self.reveal_preferences = template.reveal_preferences
        self.generators = RowGenerators(num_envs)
        self.economies: list[Economy | None] = [None] * num_envs
        self.theta = np.zeros((num_envs, n, m))
        self.endowments = np.zeros((num_envs, n, m))
        self.prices = np.full((num_envs, m), 1.0 / m)
        self.split = np.zeros((num_envs, n, m))
        self.allocation = np.zeros((num_envs, n, m))
        self.noisy_utilities = np.zeros((num_envs, n))

    # ------------------------------------------------------------------ market hooks
    def _seed_rows(self, rows: np.ndarray, seeds: Any) -> None:
        self.generators.seed(rows, seeds)

    def _reset_rows(self, rows: np.ndarray) -> None:
        t = self.template
        for row in rows.tolist():
            economy = sample_economy(self.generators.generators[row], t.family, t.n_agents,
                                     t.n_goods, t.theta_range, t.fixed_theta, t.fixed_endowments)
            self.economies[row] = economy
            self.theta[row], self.endowments[row] = economy.theta, economy.endowments
        self.prices[rows] = 1.0 / self.n_goods
        self.split[rows] = 0.0
        self.allocation[rows] = 0.0
        self.noisy_utilities[rows] = 0.0

    def _step_rows(self, actions: np.ndarray, rows: np.ndarray
                   ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        theta = self.theta[rows]
        outcome = trade(self.endowments[rows], self.prices[rows], actions)
        utilities = self.family.utility(outcome.allocation, theta)
        noise = self.generators.select(rows).standard_normal(utilities.shape)
        noisy = utilities + self.template.noise_std * noise  # ExchangeCore._noisy
        self.split[rows], self.allocation[rows] = outcome.split, outcome.allocation
        self.prices[rows], self.noisy_utilities[rows] = outcome.prices, noisy
        return noisy, {"split": outcome.split, "spending": outcome.spending,
                       "allocation": outcome.allocation, "prices": outcome.prices,
                       "budget": outcome.next_budgets, "noisy_utility": noisy}

    def _observations(self) -> np.ndarray:
        """The dict env's packing (``ExchangeEconomyEnv._observations``) for every env."""
        budgets = np.matmul(self.endowments, self.prices[..., None])[..., 0]
        batch = (self.num_envs, self.n_agents)
        theta = self.theta if self.reveal_preferences else np.zeros_like(self.theta)
        return self.layout.pack({
            "split": np.clip(self.split, 0.0, 1.0),
            "allocation": np.clip(self.allocation, 0.0, 1.0),
            "prices": np.broadcast_to(np.clip(self.prices, 0.0, 1.0)[:, None], self.split.shape),
            "budget": np.clip(budgets, 0.0, 1.0), "noisy_utility": self.noisy_utilities,
            "endowment": self.endowments, "theta": theta}, batch_shape=batch)

    # ------------------------------------------------------------------ views
    def equilibrium(self) -> tuple[np.ndarray, np.ndarray]:
        """The verified competitive equilibria ``(allocation [B, n, m], prices [B, m])`` (each
        economy solved once, then cached by it)."""
        self._require_reset("equilibrium")
        solved = [economy.equilibrium() for economy in self.economies]  # type: ignore[union-attr]
        return np.stack([x for x, _ in solved]), np.stack([p for _, p in solved])

    def metrics(self) -> dict[str, np.ndarray]:
        """Per env ``[B]``: the last round's CE loss and ``price_distance`` ``||p - p*||_1``
        (the dict env's ``metrics()`` fields of the same names)."""
        self._require_reset("metrics")
        _, ce_prices = self.equilibrium()
        losses = [economy.ce_loss(self.allocation[b], self.prices[b])  # type: ignore[union-attr]
                  for b, economy in enumerate(self.economies)]
        return {"ce_loss": np.array(losses),
                "price_distance": np.abs(self.prices - ce_prices).sum(axis=-1)}


register_vector(ExchangeEconomyEnv, ExchangeVectorEnv)
