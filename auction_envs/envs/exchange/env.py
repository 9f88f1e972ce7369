"""The traders' view of the exchange economy: a repeated trading post with bandit feedback, a
thin shell over :class:`~auction_envs.envs.exchange.core.ExchangeCore`."""

from __future__ import annotations

from typing import Any

import numpy as np

from auction_envs.core.checks import check_bool
from auction_envs.core.layout import Field, ObservationLayout, float32_box
from auction_envs.envs.exchange.base import ExchangeBaseEnv, check_sizes


def trader_layout(n_goods: int) -> ObservationLayout:
    """A trader's observation fields, in order."""
    m = n_goods
    return ObservationLayout([
        Field("split", m, 0.0, 1.0, description="her budget shares s_i"),
        Field("allocation", m, 0.0, 1.0, description="her bundle x_i"),
        Field("prices", m, 0.0, 1.0, description="prices p"),
        Field("budget", 1, 0.0, 1.0, description="next budget p . e_i"),
        Field("noisy_utility", 1, description="her noisy utility (the reward)"),
        Field("endowment", m, 0.0, 1.0, description="her endowment e_i"),
        Field("theta", m, 0.0, np.inf, description="her preferences theta_i (zeros if hidden)"),
    ])


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
    ``Box(float32, shape=(5 n_goods + 2,))`` per trader, the round just played; fields by name in
    ``env.unwrapped.layout`` (``layout.unpack(obs)["allocation"]``):

    | entries | field | bounds | meaning |
    |---|---|---|---|
    | 0 – m−1 | `split` | [0, 1] | her budget shares s_i |
    | m – 2m−1 | `allocation` | [0, 1] | her bundle x_i |
    | 2m – 3m−1 | `prices` | [0, 1] | prices p |
    | 3m | `budget` | [0, 1] | next budget p . e_i |
    | 3m+1 | `noisy_utility` | [−∞, ∞] | her noisy utility (the reward) |
    | 3m+2 – 4m+1 | `endowment` | [0, 1] | her endowment e_i |
    | 4m+2 – 5m+1 | `theta` | [0, ∞] | her preferences theta_i (zeros if `reveal_preferences=False`) |

    After ``reset``: split, allocation and utility are 0, prices uniform.

    ## Rewards
    The noisy utility ``y_i = u_i(x_i) + noise_std * N(0, 1)``, of order 1 (shares in [0, 1],
    ``theta`` in ``theta_range``): ``reward_scale(agent)`` is 1.

    ## Infos
    After each step, per trader: ``split``, ``spending``, ``allocation``, ``prices``, ``budget``
    (next round's), ``noisy_utility``, ``endowment``. After ``reset`` the same keys (zeros for
    ``split``, ``spending``, ``allocation``, ``noisy_utility``), so wrappers (TorchRL) can build
    their specs from them. Every array is a copy (changing it changes neither ``state()`` nor ``metrics()``).

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
    * ``n_agents`` (5, at most ``core.checks.MAX_AGENTS``), ``n_goods`` (3, at most 1000);
      ``family`` (``"ces"``; or ``"linear"``, ``"amdahl"``),
      ``rho`` (None: 0.5, CES only),
      ``F`` (None: 0.8, Amdahl only: scalar, ``(m,)`` or ``(n, m)``) [decision: the paper gives no
      values]; ``theta``, ``endowments`` (fixed economy, else drawn per episode);
      ``theta_range`` ((0.1, 1); ``0 < lo <= hi <= 1e9``); ``noise_std`` (0.05, at most 1e9)
      [decision]; ``reveal_preferences`` (True);
      ``max_cycles`` (1000), ``render_mode``, ``action_policy``.

    ## Version History
    * v0: initial release. Later changes within v0 (seeded trajectories differ in the last bits
      only): the CE is polished by a batched Newton on the closed-form demand; the CE
      verification is relative to each agent's own budget and best utility; ``family="linear"``
      is reported as ``"linear"``; a parameter of the other family (``F`` for CES, ``rho`` for
      Amdahl) and a non-boolean ``reveal_preferences`` are rejected; ``endowments`` attribute
      (exact values); infos are copies (they were views of the env's state); sizes and
      scales have upper bounds (``n_agents=10**18`` allocated until out of memory,
      ``noise_std=1e300`` gave inf observations), a non-numeric ``theta`` / ``endowments`` is an
      ``InvalidArgumentError`` naming it (issue 19); reset and step infos carry the same keys
      (issue 18).
    """

    joint_action_array = True  # _step_market gets the (n, m) spending weights as one array

    def __init__(self, n_agents: int = 5, n_goods: int = 3, family: str = "ces",
                 rho: float | None = None, F: Any = None, theta: Any = None,
                 endowments: Any = None, theta_range: Any = (0.1, 1.0), noise_std: float = 0.05,
                 reveal_preferences: bool = True, max_cycles: int = 1000,
                 render_mode: str | None = None, action_policy: str = "raise") -> None:
        n_agents, n_goods = check_sizes(n_agents, n_goods)
        self.reveal_preferences = check_bool("reveal_preferences", reveal_preferences)
        super().__init__(possible_agents=[f"trader_{i}" for i in range(n_agents)],
                         n_agents=n_agents, n_goods=n_goods, family=family, rho=rho, F=F,
                         theta=theta, endowments=endowments, theta_range=theta_range,
                         noise_std=noise_std, max_cycles=max_cycles, render_mode=render_mode,
                         action_policy=action_policy)
        m = self.n_goods
        self.layout = trader_layout(m)
        self._unit_scales = all(field.scale == 1.0 for field in self.layout.fields)
        observation_space = self.layout.space()
        action_space = float32_box(0.0, 1.0, (m,))
        self._set_spaces(
            observation_spaces=dict.fromkeys(self.possible_agents, observation_space),
            action_spaces=dict.fromkeys(self.possible_agents, action_space),
            state_space=float32_box(0.0, 1.0, (m + self.n_agents * m + 1,)),
        )

    # ------------------------------------------------------------------ market hooks
    def _reset_market(self, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
        m = self.n_goods
        core = self._new_core(prices=np.full(m, 1.0 / m))
        zeros = np.zeros((self.n_agents, m))
        return self._infos(zeros, zeros, zeros, core.prices,
                           core.economy.endowments @ core.prices, np.zeros(self.n_agents))

    def _infos(self, split: np.ndarray, spending: np.ndarray, allocation: np.ndarray,
               prices: np.ndarray, budgets: np.ndarray, noisy: np.ndarray
               ) -> dict[str, dict[str, Any]]:
        """Per trader: the same keys and types at reset (zeros) and at every step; copies."""
        endowments = self.core.economy.endowments
        return {
            agent: {"split": split[i].copy(), "spending": spending[i].copy(),
                    "allocation": allocation[i].copy(), "prices": prices.copy(),
                    "budget": float(budgets[i]), "noisy_utility": float(noisy[i]),
                    "endowment": endowments[i].copy()}
            for i, agent in enumerate(self.possible_agents)
        }

    def _step_market(self, actions: np.ndarray
                     ) -> tuple[dict[str, float], dict[str, dict[str, Any]], bool]:
        weights = actions  # (n, m): the joint array, rows in trader order
        outcome = self.core.step_traders(weights)
        noisy = self.core.noisy_utilities
        infos = self._infos(outcome.split, outcome.spending, outcome.allocation, outcome.prices,
                            outcome.next_budgets, noisy)
        return dict(zip(self.possible_agents, noisy.tolist())), infos, False

    def _observations(self) -> dict[str, np.ndarray]:
        core = self.core
        e = core.economy.endowments
        budgets = e @ core.prices
        theta = core.economy.theta if self.reveal_preferences else np.zeros_like(e)
        rows = [i for i, agent in enumerate(self.possible_agents) if agent in self.agents]
        n = len(rows)
        if n == self.n_agents and self._unit_scales:
            # every trader (the whole episode): the layout's fields side by side in one
            # concatenate (every scale is 1: what layout.pack stores, bit for bit)
            packed = np.concatenate([
                np.clip(core.split, 0.0, 1.0), np.clip(core.allocation, 0.0, 1.0),
                np.broadcast_to(np.clip(core.prices, 0.0, 1.0), (n, self.n_goods)),
                np.clip(budgets, 0.0, 1.0)[:, None], core.noisy_utilities[:, None], e, theta],
                axis=1, dtype=np.float64).astype(np.float32)
            return dict(zip(self.possible_agents, packed))
        packed = self.layout.pack({
            "split": np.clip(core.split[rows], 0.0, 1.0),
            "allocation": np.clip(core.allocation[rows], 0.0, 1.0),
            "prices": np.broadcast_to(np.clip(core.prices, 0.0, 1.0), (n, self.n_goods)),
            "budget": np.clip(budgets[rows], 0.0, 1.0), "noisy_utility": core.noisy_utilities[rows],
            "endowment": e[rows], "theta": theta[rows]}, batch_shape=(n,))
        return {self.possible_agents[i]: packed[k] for k, i in enumerate(rows)}

    # ------------------------------------------------------------------ reference and metrics
    def state(self) -> np.ndarray:
        self._require_reset("state")
        core = self.core
        progress = min(self.num_cycles / self.max_cycles, 1.0)
        return np.clip(np.concatenate([core.prices, core.allocation.ravel(), [progress]]),
                       0.0, 1.0).astype(np.float32)

    def _render_text(self) -> str:
        lines = [f"ExchangeEconomy ({self.family_name}) round {self.num_cycles}/{self.max_cycles}"]
        if self.core is None:
            return lines[0]
        lines.append(f"  prices {np.array2string(self.core.prices, precision=4)}  CE prices "
                     f"{np.array2string(self.core.ce_prices, precision=4)}")
        if self.core.rounds:
            m = self.metrics()
            lines.append(f"  CE loss {m['ce_loss']:.4e}  SI loss {m['sharing_incentive_loss']:.4e}"
                         f"  |p - p*|_1 {m['price_distance']:.3e}")
        return "\n".join(lines)
