"""The mechanism's view of the exchange economy (the paper's setting)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from auction_envs.envs.exchange.base import ExchangeBaseEnv
from auction_envs.envs.exchange.economy import check_counts

MECHANISM = "mechanism"


def decode_action(action: np.ndarray, n_agents: int, n_goods: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(allocation (n, m), prices (m,))`` from a mechanism action (see the env's Action Space)."""
    action = np.asarray(action, dtype=np.float64)
    weights = action[:n_agents * n_goods].reshape(n_agents, n_goods)
    totals = weights.sum(axis=0, keepdims=True)
    allocation = np.where(totals > 0, weights / np.where(totals > 0, totals, 1.0), 1.0 / n_agents)
    price_weights = action[n_agents * n_goods:]
    total = price_weights.sum()
    prices = price_weights / total if total > 0 else np.full(n_goods, 1.0 / n_goods)
    return allocation, prices


def encode_action(allocation: np.ndarray, prices: np.ndarray) -> np.ndarray:
    """The action that :func:`decode_action` maps back to ``(allocation, prices)`` (a feasible
    allocation with full columns and prices on the simplex are encoded exactly, as float64)."""
    allocation = np.clip(np.asarray(allocation, dtype=np.float64), 0.0, 1.0)
    prices = np.clip(np.asarray(prices, dtype=np.float64), 0.0, 1.0)
    return np.concatenate([allocation.ravel(), prices])


class ExchangeMechanismEnv(ExchangeBaseEnv):
    """Learning a competitive equilibrium with bandit feedback: the mechanism's view (paper 003).

    ## Description
    One agent, ``"mechanism"``, runs an exchange economy of ``n_agents`` agents and ``n_goods``
    goods whose utilities ``u_i(x) = f(theta_i^T phi(x))`` it does not know (``phi`` and ``f`` are
    known: ``family_params``). Every round it chooses an allocation and prices; every agent
    reports her noisy utility of her bundle. Its goal is to imitate the CE in the long run
    (sublinear cumulative CE loss; Algorithm 1 of the paper is ``agents.exchange.BanditCE``).

    ## Mechanism
    None beyond the mechanism's own choice: the allocation is applied as chosen.

    ## Action Space
    ``Box(0, 1, shape=(n m + m,), float32)``: ``n m`` allocation weights (row-major, agent ``i``
    good ``j``) then ``m`` price weights. [decision] Softmax-free, normalized explicitly: allocation
    columns ``x_ij = a_ij / sum_k a_kj`` (every good fully allocated; an all-zero column is split
    equally), prices ``p = w / sum(w)`` (all-zero: uniform). A feasible allocation with full
    columns and prices on the simplex are their own encoding (``encode_action``).

    ## Observation Space
    ``Box(float32, shape=(2 n m + m + n + 1,))``: ``[allocation (n m), prices (m), noisy reports
    (n), endowments (n m), progress t/T (1)]``; allocation, prices and reports are 0 after reset.

    ## Rewards
    Minus the CE loss of the chosen ``(allocation, prices)`` under the true utilities (paper eq.
    (2), per-agent terms clipped at 0, demand solved exactly).

    ## Infos
    ``infos["mechanism"]``: ``reports`` (n noisy utilities, the bandit feedback), ``allocation``,
    ``prices``, ``ce_loss``, ``sharing_incentive_loss``. After ``reset``: ``endowments`` and the
    family's known parameters (``family``, ``rho`` or ``F``).

    ## Starting State
    A new economy per ``reset`` drawn from the seed (as the traders' view) unless ``theta`` /
    ``endowments`` are fixed.

    ## Episode End
    Truncation after ``max_cycles`` rounds (the horizon ``T``); never terminates.

    ## Reference solution
    ``equilibrium()``: the verified CE; ``metrics()``: last and cumulative CE loss, SI loss,
    ``price_distance``, ``allocation_distance``.

    ## Arguments
    As :class:`ExchangeEconomyEnv` (without ``reveal_preferences``); ``max_cycles`` (1000).

    ## Version History
    * v0: initial release.
    """

    def __init__(self, n_agents: int = 5, n_goods: int = 3, family: str = "ces", rho: float = 0.5,
                 F: Any = 0.8, theta: Any = None, endowments: Any = None,
                 theta_range: Any = (0.1, 1.0), noise_std: float = 0.05, max_cycles: int = 1000,
                 render_mode: str | None = None, action_policy: str = "raise") -> None:
        check_counts(n_agents, n_goods)
        self.possible_agents = [MECHANISM]
        super().__init__(n_agents=n_agents, n_goods=n_goods, family=family, rho=rho, F=F,
                         theta=theta, endowments=endowments, theta_range=theta_range,
                         noise_std=noise_std, max_cycles=max_cycles, render_mode=render_mode,
                         action_policy=action_policy)
        n, m = self.n_agents, self.n_goods
        size = 2 * n * m + m + n + 1
        low = np.zeros(size, dtype=np.float32)
        high = np.ones(size, dtype=np.float32)
        low[n * m + m:n * m + m + n] = -np.inf
        high[n * m + m:n * m + m + n] = np.inf
        self._set_spaces(
            observation_spaces={MECHANISM: spaces.Box(low, high, dtype=np.float32)},
            action_spaces={MECHANISM: spaces.Box(0.0, 1.0, shape=(n * m + m,), dtype=np.float32)},
            state_space=spaces.Box(low, high, dtype=np.float32),
        )
        self._reset_market({})

    def _reset_market(self, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
        self._new_episode_economy()
        n, m = self.n_agents, self.n_goods
        self._allocation = np.zeros((n, m))
        self._prices = np.zeros(m)
        self._reports = np.zeros(n)
        self._ce_loss_sum = 0.0
        self._last_ce_loss = float("nan")
        return {MECHANISM: {"endowments": self.economy.endowments.copy(), **self.family_params}}

    def _step_market(self, actions: dict[str, np.ndarray]
                     ) -> tuple[dict[str, float], dict[str, dict[str, Any]], bool]:
        allocation, prices = decode_action(actions[MECHANISM], self.n_agents, self.n_goods)
        reports = self._noisy(self.economy.utilities(allocation))
        loss = self.economy.ce_loss(allocation, prices)
        self._allocation, self._prices, self._reports = allocation, prices, reports
        self._last_ce_loss = loss
        self._ce_loss_sum += loss
        info = {"reports": reports.copy(), "allocation": allocation.copy(),
                "prices": prices.copy(), "ce_loss": loss,
                "sharing_incentive_loss": self.economy.sharing_incentive_loss(allocation)}
        return {MECHANISM: -loss}, {MECHANISM: info}, False

    def _observations(self) -> dict[str, np.ndarray]:
        if not self.agents:
            return {}
        return {MECHANISM: self.state()}

    def state(self) -> np.ndarray:
        progress = min(self.num_cycles / self.max_cycles, 1.0)
        return np.concatenate([self._allocation.ravel(), self._prices, self._reports,
                               self.economy.endowments.ravel(), [progress]]).astype(np.float32)

    def _render_text(self) -> str:
        lines = [f"ExchangeEconomyMechanism ({self.family_name}) round "
                 f"{self.num_cycles}/{self.max_cycles}"]
        if self.num_cycles:
            m = self.metrics()
            lines.append(f"  CE loss {m['ce_loss']:.4e}  mean {m['mean_ce_loss']:.4e}  "
                         f"|p - p*|_1 {m['price_distance']:.3e}")
        return "\n".join(lines)
