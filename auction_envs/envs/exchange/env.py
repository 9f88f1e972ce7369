"""The traders' view of the exchange economy: a repeated trading post with bandit feedback."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from auction_envs.envs.exchange.base import ExchangeBaseEnv
from auction_envs.envs.exchange.economy import check_counts
from auction_envs.mechanisms.trading_post import trading_post


class ExchangeEconomyEnv(ExchangeBaseEnv):
    """Exchange economy played as a repeated trading post (paper 003, traders' view [decision]).

    ## Description
    ``n_agents`` traders own endowments ``e_i`` of ``n_goods`` divisible goods (supply 1 each) and
    have utilities ``u_i(x) = f(theta_i^T phi(x))`` (CES or Amdahl). Every round each trader splits
    her budget ``B_i = p . e_i`` (``p``: last round's prices, uniform at the start) over the goods;
    the trading post sets prices to total spending and shares goods in proportion to spending.
    Traders receive their *noisy* utility (bandit feedback). When every trader plays proportional
    response (``agents.exchange.ProportionalResponse``) the market follows PRD to the competitive
    equilibrium.

    ## Mechanism
    Trading post (``auction_envs.mechanisms.trading_post``): ``p_j = sum_i b_ij``,
    ``x_ij = b_ij / p_j``. Money is conserved: prices always sum to 1. A good nobody spends on has
    price 0 and is allocated to nobody.

    ## Action Space
    ``Box(0, 1, shape=(n_goods,), float32)`` per trader: non-negative spending *weights*. [decision]
    The split is the weights normalized explicitly, ``s_ij = w_ij / sum_k w_ik`` (no softmax; an
    all-zero action splits uniformly); spending is ``b_ij = B_i s_ij``.

    ## Observation Space
    ``Box(float32, shape=(5 n_goods + 2,))`` per trader, the round just played:
    ``[split s_i (m), allocation x_i (m), prices p (m), next budget p . e_i (1), noisy utility (1),
    endowment e_i (m), theta_i (m)]``. ``theta_i`` (her own preferences, which a trader knows) is
    zeros with ``reveal_preferences=False``. After ``reset``: split, allocation and utility are 0,
    prices uniform.

    ## Rewards
    The noisy utility ``y_i = u_i(x_i) + noise_std * N(0, 1)``.

    ## Infos
    After each step, per trader: ``split``, ``spending``, ``allocation``, ``prices``, ``budget``
    (next round's), ``noisy_utility``. After ``reset``: ``prices``, ``budget``, ``endowment``.

    ## Starting State
    At every ``reset`` a new economy is drawn from the seed (``theta_ij ~ U(theta_range)``,
    endowment columns ``~ Dirichlet(1)``) unless ``theta`` / ``endowments`` are given; prices
    start uniform.

    ## Episode End
    Truncation after ``max_cycles`` rounds; never terminates.

    ## Reference solution
    ``equilibrium()`` returns the verified CE ``(allocation, prices)``; ``metrics()`` reports the
    CE loss of the last round's ``(allocation, prices)`` (exact demand, paper eq. (2)), its running
    mean, the sharing-incentive loss, ``price_distance`` ``||p - p*||_1``, utilities and CE
    utilities.

    ## Arguments
    * ``n_agents`` (5), ``n_goods`` (3); ``family`` (``"ces"``; or ``"linear"``, ``"amdahl"``),
      ``rho`` (0.5, CES), ``F`` (0.8, Amdahl: scalar or ``(n, m)``) [decision: the paper gives no
      values]; ``theta``, ``endowments`` (fixed economy, else drawn per episode);
      ``theta_range`` ((0.1, 1)); ``noise_std`` (0.05) [decision]; ``reveal_preferences`` (True);
      ``max_cycles`` (1000), ``render_mode``, ``action_policy``.

    ## Version History
    * v0: initial release.
    """

    def __init__(self, n_agents: int = 5, n_goods: int = 3, family: str = "ces", rho: float = 0.5,
                 F: Any = 0.8, theta: Any = None, endowments: Any = None,
                 theta_range: Any = (0.1, 1.0), noise_std: float = 0.05,
                 reveal_preferences: bool = True, max_cycles: int = 1000,
                 render_mode: str | None = None, action_policy: str = "raise") -> None:
        check_counts(n_agents, n_goods)
        self.possible_agents = [f"trader_{i}" for i in range(n_agents)]
        super().__init__(n_agents=n_agents, n_goods=n_goods, family=family, rho=rho, F=F,
                         theta=theta, endowments=endowments, theta_range=theta_range,
                         noise_std=noise_std, max_cycles=max_cycles, render_mode=render_mode,
                         action_policy=action_policy)
        self.reveal_preferences = bool(reveal_preferences)
        m = self.n_goods
        low = np.zeros(5 * m + 2, dtype=np.float32)
        high = np.ones(5 * m + 2, dtype=np.float32)
        low[3 * m + 1] = -np.inf
        high[3 * m + 1] = np.inf
        high[4 * m + 2:] = np.inf
        observation_space = spaces.Box(low, high, dtype=np.float32)
        action_space = spaces.Box(0.0, 1.0, shape=(m,), dtype=np.float32)
        self._set_spaces(
            observation_spaces=dict.fromkeys(self.possible_agents, observation_space),
            action_spaces=dict.fromkeys(self.possible_agents, action_space),
            state_space=spaces.Box(0.0, 1.0, shape=(m + self.n_agents * m + 1,), dtype=np.float32),
        )
        self._reset_market({})

    # ------------------------------------------------------------------ market hooks
    def _reset_market(self, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
        self._new_episode_economy()
        n, m = self.n_agents, self.n_goods
        self._prices = np.full(m, 1.0 / m)
        self._split = np.zeros((n, m))
        self._allocation = np.zeros((n, m))
        self._noisy_utility = np.zeros(n)
        self._ce_loss_sum = 0.0
        self._last_ce_loss = float("nan")
        budgets = self.economy.endowments @ self._prices
        return {agent: {"prices": self._prices.copy(), "budget": float(budgets[i]),
                        "endowment": self.economy.endowments[i].copy()}
                for i, agent in enumerate(self.possible_agents)}

    def _step_market(self, actions: dict[str, np.ndarray]
                     ) -> tuple[dict[str, float], dict[str, dict[str, Any]], bool]:
        weights = np.stack([actions[agent] for agent in self.possible_agents])
        totals = weights.sum(axis=1, keepdims=True)
        split = np.where(totals > 0, weights / np.where(totals > 0, totals, 1.0),
                         1.0 / self.n_goods)
        budgets = self.economy.endowments @ self._prices
        spending = budgets[:, None] * split
        allocation, prices = trading_post(spending)
        utilities = self.economy.utilities(allocation)
        noisy = self._noisy(utilities)
        self._last_ce_loss = self.economy.ce_loss(allocation, prices)
        self._ce_loss_sum += self._last_ce_loss
        self._split, self._allocation, self._prices = split, allocation, prices
        self._noisy_utility = noisy
        next_budgets = self.economy.endowments @ prices
        infos = {
            agent: {"split": split[i], "spending": spending[i], "allocation": allocation[i],
                    "prices": prices.copy(), "budget": float(next_budgets[i]),
                    "noisy_utility": float(noisy[i])}
            for i, agent in enumerate(self.possible_agents)
        }
        return dict(zip(self.possible_agents, noisy.tolist())), infos, False

    def _observations(self) -> dict[str, np.ndarray]:
        m = self.n_goods
        e = self.economy.endowments
        budgets = e @ self._prices
        out = {}
        for i, agent in enumerate(self.agents):
            observation = np.empty(5 * m + 2)
            observation[:m] = self._split[i]
            observation[m:2 * m] = self._allocation[i]
            observation[2 * m:3 * m] = self._prices
            observation[3 * m] = budgets[i]
            observation[3 * m + 1] = self._noisy_utility[i]
            observation[3 * m + 2:4 * m + 2] = e[i]
            observation[4 * m + 2:] = self.economy.theta[i] if self.reveal_preferences else 0.0
            observation[:3 * m + 1] = np.clip(observation[:3 * m + 1], 0.0, 1.0)
            out[agent] = observation.astype(np.float32)
        return out

    # ------------------------------------------------------------------ reference and metrics
    def state(self) -> np.ndarray:
        progress = min(self.num_cycles / self.max_cycles, 1.0)
        return np.clip(np.concatenate([self._prices, self._allocation.ravel(), [progress]]),
                       0.0, 1.0).astype(np.float32)

    def _render_text(self) -> str:
        lines = [f"ExchangeEconomy ({self.family_name}) round {self.num_cycles}/{self.max_cycles}"]
        lines.append(f"  prices {np.array2string(self._prices, precision=4)}  CE prices "
                     f"{np.array2string(self._ce_prices, precision=4)}")
        if self.num_cycles:
            m = self.metrics()
            lines.append(f"  CE loss {m['ce_loss']:.4e}  SI loss {m['sharing_incentive_loss']:.4e}"
                         f"  |p - p*|_1 {m['price_distance']:.3e}")
        return "\n".join(lines)
