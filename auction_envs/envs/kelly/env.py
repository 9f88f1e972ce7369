"""The repeated Kelly (proportional allocation) game of paper 001."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from auction_envs.core import InvalidArgumentError, MarketEnv
from auction_envs.mechanisms import proportional_allocation
from auction_envs.oracles.kelly import (
    alpha_fair_value,
    kelly_best_response,
    kelly_gradient,
    kelly_nash_conv,
    kelly_nash_equilibrium,
    kelly_payoff,
    kelly_residual,
    kelly_welfare_optimum,
    others_bid,
)

OBSERVATION_FIELDS = (
    "bid", "others_bid", "allocation", "payoff", "gradient", "valuation", "budget", "min_bid",
)


class KellyGameEnv(MarketEnv):
    """Repeated proportional-allocation (Kelly) auction with a reservation bid.

    ## Description
    ``n_agents`` bidders share one divisible resource every round. Each bids ``z_i`` in
    ``[eps, c_i]`` and receives the share ``x_i = z_i / (sum_j z_j + delta)``; the seller keeps
    ``delta / (sum_j z_j + delta)``. Payment equals the bid. Paper 001 ("Learning in Proportional
    Allocation Auctions Games") studies no-regret dynamics in this game; its Table I counts the
    rounds each dynamic needs to reach the unique Nash equilibrium.

    ## Mechanism
    Proportional allocation (``auction_envs.mechanisms.proportional_allocation``), pay-your-bid.

    ## Action Space
    ``Box(eps, c_i, shape=(1,), float32)`` per agent: the bid, in currency units.

    ## Observation Space
    ``Box(float32, shape=(8,))``: the previous round as seen by the agent
    ``[bid, others_bid, allocation, payoff, gradient, valuation a_i, budget c_i, min_bid eps]``
    where ``others_bid = sum_{j != i} z_j + delta``. The first five entries are 0 after ``reset``.

    ## Rewards
    ``phi_i = V_i(x_i) - z_i`` with ``V_i(x) = a_i log x`` (``alpha = 1``, the paper) or the
    alpha-fair ``a_i x^(1 - alpha) / (1 - alpha)``.

    ## Infos
    After each step, per agent (full-information feedback of the paper): ``bid``, ``others_bid``
    (``s_i``), ``allocation``, ``payoff``, ``gradient`` (``d phi_i / d z_i`` at the played bids),
    ``best_response`` (the best bid against this round's ``s_i``). Empty after ``reset``.
    With ``counterfactual_grid=K`` also ``counterfactual_bids`` (the ``K`` bids
    ``eps + (c_i - eps) k / (K - 1)``) and ``counterfactual_payoffs`` (the payoff each of them would
    have earned against this round's ``s_i``): the full-information feedback of Hedge-type learners.

    ## Starting State
    No bids yet; the game is deterministic given the bids (the seed only affects nothing here but
    is honoured for uniformity).

    ## Episode End
    Truncation after ``max_cycles`` rounds (3000 in the paper). Never terminates.

    ## Reference solution
    ``equilibrium()`` returns the unique Nash equilibrium bids
    (``auction_envs.oracles.kelly_nash_equilibrium``); ``metrics()`` reports the fixed-point
    residual ``||BR(z) - z||`` (converged below 1e-5), NashConv, normalized payoffs, welfare and
    price of anarchy of the last round's bids.

    ## Arguments
    * ``n_agents`` (10): number of bidders.
    * ``a`` (100): valuation scale, a scalar (heterogeneity then from ``gamma``) or one per agent.
    * ``gamma`` (0): ``a_i = max(a - (i - 1) gamma, a_min)`` for a scalar ``a``.
    * ``a_min`` (1): floor of the heterogeneous valuations.
    * ``c`` (400): budget, a scalar or one per agent; ``eps`` (1): minimum bid;
      ``delta`` (0.1): reservation bid; ``alpha`` (1): alpha-fair exponent (>= 0).
    * ``counterfactual_grid`` (None): a number ``K >= 2`` of grid bids whose counterfactual
      payoffs the infos carry (see Infos); off by default.
    * ``max_cycles`` (3000), ``render_mode``, ``action_policy`` (see ``MarketEnv``).

    ## Version History
    * v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {
        **MarketEnv.metadata, "name": "kelly_game_v0",
    }

    def __init__(
        self,
        n_agents: int = 10,
        a: float | np.ndarray = 100.0,
        gamma: float = 0.0,
        a_min: float = 1.0,
        c: float | np.ndarray = 400.0,
        eps: float = 1.0,
        delta: float = 0.1,
        alpha: float = 1.0,
        max_cycles: int = 3000,
        render_mode: str | None = None,
        action_policy: str = "raise",
        counterfactual_grid: int | None = None,
    ) -> None:
        if counterfactual_grid is not None and (
                not isinstance(counterfactual_grid, (int, np.integer))
                or isinstance(counterfactual_grid, bool) or counterfactual_grid < 2):
            raise InvalidArgumentError("counterfactual_grid", counterfactual_grid,
                                       "None or an integer >= 2")
        if not isinstance(n_agents, (int, np.integer)) or isinstance(n_agents, bool) \
                or n_agents < 1:
            raise InvalidArgumentError("n_agents", n_agents, "a positive integer")
        for name, value in (("eps", eps), ("delta", delta), ("a_min", a_min)):
            if not (np.isscalar(value) and np.isfinite(value) and value > 0):
                raise InvalidArgumentError(name, value, "a finite number > 0")
        if not (np.isscalar(alpha) and np.isfinite(alpha) and alpha >= 0):
            raise InvalidArgumentError("alpha", alpha, "a finite number >= 0")
        if not (np.isscalar(gamma) and np.isfinite(gamma) and gamma >= 0):
            raise InvalidArgumentError("gamma", gamma, "a finite number >= 0")
        self.valuations = self._per_agent("a", a, n_agents)
        if np.ndim(a) == 0:
            self.valuations = np.maximum(self.valuations - np.arange(n_agents) * gamma, a_min)
        elif gamma != 0:
            raise InvalidArgumentError("gamma", gamma, "0 when a is given per agent")
        if np.any(self.valuations <= 0):
            raise InvalidArgumentError("a", a, "positive")
        self.budgets = self._per_agent("c", c, n_agents)
        if np.any(self.budgets < eps):
            raise InvalidArgumentError("c", c, f"at least eps={eps} for every agent")
        self.n_agents = int(n_agents)
        self.eps = float(eps)
        self.delta = float(delta)
        self.alpha = float(alpha)
        self.possible_agents = [f"bidder_{i}" for i in range(self.n_agents)]
        super().__init__(max_cycles=max_cycles, render_mode=render_mode,
                         action_policy=action_policy)

        observation_low = np.array([0, 0, 0, -np.inf, -1, 0, 0, 0], dtype=np.float32)
        observation_high = np.full(len(OBSERVATION_FIELDS), np.inf, dtype=np.float32)
        observation_high[2] = 1.0
        self._set_spaces(
            observation_spaces={
                agent: spaces.Box(observation_low, observation_high, dtype=np.float32)
                for agent in self.possible_agents
            },
            action_spaces={
                agent: spaces.Box(np.float32(self.eps), np.float32(self.budgets[i]), shape=(1,),
                                  dtype=np.float32)
                for i, agent in enumerate(self.possible_agents)
            },
            state_space=spaces.Box(
                low=np.zeros(2 * self.n_agents + 1, dtype=np.float32),
                high=np.concatenate([self.budgets, np.ones(self.n_agents + 1)]).astype(np.float32),
                dtype=np.float32,
            ),
        )
        self._equilibrium = kelly_nash_equilibrium(self.valuations, self.budgets, self.eps,
                                                   self.delta, self.alpha)
        self._payoff_range = self._normalization_range()
        self._counterfactual_bids = None
        if counterfactual_grid is not None:
            fractions = np.linspace(0.0, 1.0, int(counterfactual_grid))
            self._counterfactual_bids = self.eps + (self.budgets - self.eps)[:, None] * fractions
        self._bids = np.zeros(self.n_agents)

    @staticmethod
    def _per_agent(name: str, value: float | np.ndarray, n_agents: int) -> np.ndarray:
        array = np.asarray(value, dtype=np.float64)
        if array.ndim == 0:
            array = np.full(n_agents, float(array))
        if array.shape != (n_agents,) or not np.all(np.isfinite(array)):
            raise InvalidArgumentError(name, value, f"a finite scalar or an array of shape "
                                                    f"({n_agents},)")
        return array

    def _normalization_range(self) -> tuple[float, float]:
        """``(phi_min, phi_max)`` of the normalized payoff (the authors' definition).

        ``phi_min`` is the worst of bidding eps or the budget against the largest possible
        aggregate ``s_max = (n - 1) c + delta``; ``phi_max`` the best payoff of a best response
        against the smallest aggregate ``s_min = (n - 1) eps + delta``.
        """
        n, a, c = self.n_agents, self.valuations, self.budgets
        s_max = (n - 1) * c.max() + self.delta
        s_min = (n - 1) * self.eps + self.delta
        low = np.minimum(kelly_payoff(np.full(n, self.eps), s_max, a, self.alpha),
                         kelly_payoff(c, s_max, a, self.alpha)).min()
        best = kelly_best_response(np.full(n, s_min), a, self.eps, c, self.alpha)
        high = kelly_payoff(best, s_min, a, self.alpha).max()
        return float(low), float(high)

    # ------------------------------------------------------------------ market hooks
    def _reset_market(self, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
        self._bids = np.zeros(self.n_agents)
        self._observation = np.zeros((self.n_agents, len(OBSERVATION_FIELDS)))
        self._observation[:, 5] = self.valuations
        self._observation[:, 6] = self.budgets
        self._observation[:, 7] = self.eps
        self._normalized_payoff_sum = np.zeros(self.n_agents)
        self._payoff_sum = np.zeros(self.n_agents)
        return {agent: {} for agent in self.possible_agents}

    def _step_market(self, actions: dict[str, np.ndarray]
                     ) -> tuple[dict[str, float], dict[str, dict[str, Any]], bool]:
        bids = np.array([actions[agent][0] for agent in self.possible_agents])
        others = others_bid(bids, self.delta)
        allocation = proportional_allocation(bids, self.delta)
        payoff = alpha_fair_value(allocation, self.valuations, self.alpha) - bids
        gradient = kelly_gradient(bids, others, self.valuations, self.alpha)
        best = kelly_best_response(others, self.valuations, self.eps, self.budgets, self.alpha)
        self._bids = bids
        self._observation[:, :5] = np.column_stack([bids, others, allocation, payoff, gradient])
        self._payoff_sum += payoff
        self._normalized_payoff_sum += self._normalize(payoff)
        infos = {
            agent: {
                "bid": bids[i], "others_bid": others[i], "allocation": allocation[i],
                "payoff": payoff[i], "gradient": gradient[i], "best_response": best[i],
            }
            for i, agent in enumerate(self.possible_agents)
        }
        if self._counterfactual_bids is not None:
            counterfactual = kelly_payoff(self._counterfactual_bids, others[:, None],
                                          self.valuations[:, None], self.alpha)
            for i, agent in enumerate(self.possible_agents):
                infos[agent]["counterfactual_bids"] = self._counterfactual_bids[i].copy()
                infos[agent]["counterfactual_payoffs"] = counterfactual[i]
        return dict(zip(self.possible_agents, payoff.tolist())), infos, False

    def _observations(self) -> dict[str, np.ndarray]:
        observation = self._observation.astype(np.float32)
        return {agent: observation[i] for i, agent in enumerate(self.agents)}

    def _normalize(self, payoff: np.ndarray) -> np.ndarray:
        low, high = self._payoff_range
        return (payoff - low) / (high - low)

    # ------------------------------------------------------------------ reference and metrics
    def equilibrium(self) -> np.ndarray:
        """The unique Nash equilibrium bids, shape ``(n_agents,)``."""
        return self._equilibrium.copy()

    def state(self) -> np.ndarray:
        allocation = proportional_allocation(self._bids, self.delta)
        progress = min(self.num_cycles / self.max_cycles, 1.0)
        return np.concatenate([self._bids, allocation, [progress]]).astype(np.float32)

    def metrics(self) -> dict[str, Any]:
        """Metrics of the last round's bids, and time averages over the episode so far.

        ``residual`` and ``nash_conv`` are 0 at the equilibrium; ``normalized_payoff`` (per agent,
        last round) and ``mean_normalized_payoff`` (per agent, time average) use the authors'
        normalization; ``price_of_anarchy`` is ``>= 1`` (see ``_price_of_anarchy``).
        """
        rounds = self.num_cycles
        if rounds == 0:
            return {"round": 0}
        bids = self._bids
        allocation = proportional_allocation(bids, self.delta)
        payoff = alpha_fair_value(allocation, self.valuations, self.alpha) - bids
        welfare = float(alpha_fair_value(allocation, self.valuations, self.alpha).sum())
        _, optimal_welfare = kelly_welfare_optimum(self.valuations, self.alpha)
        return {
            "round": rounds,
            "residual": float(kelly_residual(bids, self.valuations, self.eps, self.budgets,
                                             self.delta, self.alpha)),
            "nash_conv": float(kelly_nash_conv(bids, self.valuations, self.eps, self.budgets,
                                               self.delta, self.alpha)),
            "distance_to_equilibrium": float(np.linalg.norm(bids - self._equilibrium)),
            "normalized_payoff": self._normalize(payoff),
            "mean_normalized_payoff": self._normalized_payoff_sum / rounds,
            "mean_payoff": self._payoff_sum / rounds,
            "welfare": welfare,
            "optimal_welfare": optimal_welfare,
            "price_of_anarchy": self._price_of_anarchy(welfare, optimal_welfare),
        }

    def _price_of_anarchy(self, welfare: float, optimal_welfare: float) -> float:
        """Optimal over achieved welfare, made meaningful for valuations that can be negative.

        For alpha < 1 values are positive: ``W* / W``. For alpha > 1 they are negative:
        ``W / W*``. For log values (alpha = 1) the ratio of the a-weighted geometric means of
        the allocations, ``exp((W* - W) / sum a_i)``. All are >= 1 and equal 1 at the optimum.
        """
        if self.alpha == 1.0:
            return float(np.exp((optimal_welfare - welfare) / self.valuations.sum()))
        if self.alpha < 1.0:
            return optimal_welfare / welfare if welfare > 0 else float("inf")
        return welfare / optimal_welfare

    def _render_text(self) -> str:
        lines = [f"KellyGame round {self.num_cycles}/{self.max_cycles}"]
        if self.num_cycles:
            m = self.metrics()
            lines.append(f"  residual {m['residual']:.3e}  NashConv {m['nash_conv']:.3e}  "
                         f"welfare {m['welfare']:.4g}  PoA {m['price_of_anarchy']:.4f}")
            for i, agent in enumerate(self.possible_agents):
                bid, _, share, payoff = self._observation[i, :4]
                lines.append(f"  {agent:>10}  bid {bid:9.4f}  (NE {self._equilibrium[i]:9.4f})"
                             f"  share {share:.4f}  payoff {payoff:10.4f}")
        return "\n".join(lines)
