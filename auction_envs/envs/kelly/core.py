"""The Kelly market as a plain numpy simulator: no agent ids, no dicts, no spaces.

:class:`KellyCore` holds one game (valuations, budgets, minimum bid, reserve, alpha, optional
counterfactual bid grid) and the state of ``B`` independent copies of the repeated game, and plays
one round over a joint bid array of shape ``[B, n]`` (:meth:`KellyCore.step`). ``KellyGameEnv`` is a
thin PettingZoo shell over it with ``B = 1``; the batched dynamics of ``agents.no_regret.kelly``
drive the same object (``env.unwrapped.core``) with ``B`` runs; a vector env is another shell.

Every formula is an oracle function (``auction_envs.oracles.kelly``): the round itself is
:func:`~auction_envs.oracles.kelly.kelly_round`, the normalization
:func:`~auction_envs.oracles.kelly.kelly_payoff_range`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from auction_envs.mechanisms import proportional_allocation
from auction_envs.oracles.kelly import (
    alpha_fair_value,
    kelly_nash_conv,
    kelly_nash_equilibrium,
    kelly_payoff_range,
    kelly_residual,
    kelly_round,
    kelly_welfare_optimum,
    normalized_payoff,
)


class KellyCore:
    """One Kelly game and ``B`` copies of its repeated play.

    Args:
        valuations: ``a_i > 0``, shape ``(n,)``.
        budgets: ``c_i >= eps``, shape ``(n,)``.
        eps: the minimum bid; ``delta``: the reservation bid; ``alpha``: the alpha-fair exponent.
        counterfactual_bids: optional ``(n, K)`` grid whose payoffs :meth:`round` also returns.

    Arguments are trusted (the shell checks them). Attributes after :meth:`reset`: ``bids``
    (``[B, n]``, the last round's), ``payoff_sum`` and ``normalized_payoff_sum`` (``[B, n]``),
    ``rounds`` (rounds played since the reset).
    """

    def __init__(self, valuations: np.ndarray, budgets: np.ndarray, eps: float, delta: float,
                 alpha: float = 1.0, counterfactual_bids: np.ndarray | None = None) -> None:
        self.valuations = np.asarray(valuations, dtype=np.float64)
        self.budgets = np.asarray(budgets, dtype=np.float64)
        self.eps, self.delta, self.alpha = float(eps), float(delta), float(alpha)
        self.counterfactual_bids = counterfactual_bids
        self.n = self.valuations.size
        self._equilibrium: np.ndarray | None = None
        #: ``(phi_min, phi_max)`` of the normalized payoff (the same for every player)
        self.payoff_range = kelly_payoff_range(self.valuations, self.budgets, self.eps, self.delta,
                                               self.alpha)
        self.reset(1)

    def subgame(self, players: Sequence[int]) -> KellyCore:
        """The game among ``players`` only (as if the others did not bid): same eps, delta, alpha."""
        index = np.asarray(players, dtype=np.int64)
        grid = None if self.counterfactual_bids is None else self.counterfactual_bids[index]
        return KellyCore(self.valuations[index], self.budgets[index], self.eps, self.delta,
                         self.alpha, grid)

    def equilibrium(self) -> np.ndarray:
        """The unique Nash equilibrium bids, shape ``(n,)`` (exact solve, not dynamics)."""
        if self._equilibrium is None:  # solved once, on first use
            self._equilibrium = kelly_nash_equilibrium(self.valuations, self.budgets, self.eps,
                                                       self.delta, self.alpha)
        return self._equilibrium.copy()

    # ------------------------------------------------------------------ play
    def round(self, bids: np.ndarray) -> dict[str, np.ndarray]:
        """The feedback of one round for bids ``[..., n]`` (see ``kelly_round``); no state change."""
        return kelly_round(bids, self.valuations, self.eps, self.budgets, self.delta, self.alpha,
                           self.counterfactual_bids)

    def reset(self, batch: int) -> None:
        """Start ``batch`` copies of the repeated game: no bids yet."""
        self.bids = np.zeros((int(batch), self.n))
        self.payoff_sum = np.zeros_like(self.bids)
        self.normalized_payoff_sum = np.zeros_like(self.bids)
        self.rounds = 0

    def step(self, bids: np.ndarray) -> dict[str, np.ndarray]:
        """Play one round of every copy with bids ``[B, n]`` (already inside ``[eps, c_i]``)."""
        feedback = self.round(bids)
        self.bids = feedback["bid"]
        self.payoff_sum = self.payoff_sum + feedback["payoff"]
        self.normalized_payoff_sum = self.normalized_payoff_sum + self.normalize(feedback["payoff"])
        self.rounds += 1
        return feedback

    def normalize(self, payoff: np.ndarray) -> np.ndarray:
        """Payoffs rescaled by :attr:`payoff_range` to ``[0, 1]``."""
        return normalized_payoff(payoff, *self.payoff_range)

    # ------------------------------------------------------------------ metrics
    def metrics(self) -> dict[str, np.ndarray]:
        """Metrics of the last round's bids per copy (``[B]`` or ``[B, n]``) and time averages."""
        bids = self.bids
        allocation = proportional_allocation(bids, self.delta)
        value = alpha_fair_value(allocation, self.valuations, self.alpha)
        rounds = max(self.rounds, 1)
        return {
            "residual": kelly_residual(bids, self.valuations, self.eps, self.budgets, self.delta,
                                       self.alpha),
            "nash_conv": kelly_nash_conv(bids, self.valuations, self.eps, self.budgets, self.delta,
                                         self.alpha),
            "distance_to_equilibrium": np.linalg.norm(bids - self.equilibrium(), axis=-1),
            "normalized_payoff": self.normalize(value - bids),
            "mean_normalized_payoff": self.normalized_payoff_sum / rounds,
            "mean_payoff": self.payoff_sum / rounds,
            "welfare": value.sum(axis=-1),
        }

    def welfare_optimum(self) -> float:
        """The largest welfare ``sum_i V_i(x_i)`` over allocations (``x_i`` proportional to
        ``a_i^(1/alpha)``)."""
        return kelly_welfare_optimum(self.valuations, self.alpha)[1]

    def price_of_anarchy(self, welfare: np.ndarray) -> np.ndarray:
        """Optimal over achieved welfare, made meaningful for valuations that can be negative.

        For alpha < 1 values are positive: ``W* / W`` (inf for ``W <= 0``). For alpha > 1 they are
        negative: ``W / W*``. For log values (alpha = 1) the ratio of the a-weighted geometric
        means of the allocations, ``exp((W* - W) / sum a_i)``. All are >= 1, 1 at the optimum.
        """
        optimum = self.welfare_optimum()
        welfare = np.asarray(welfare, dtype=np.float64)
        if self.alpha == 1.0:
            return np.exp((optimum - welfare) / self.valuations.sum())
        if self.alpha < 1.0:
            return np.where(welfare > 0, optimum / np.where(welfare > 0, welfare, 1.0), np.inf)
        return welfare / optimum
