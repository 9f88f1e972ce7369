"""The repeated Kelly (proportional allocation) game of paper 001: the PettingZoo shell."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from auction_envs.core import Field, InvalidArgumentError, MarketEnv, ObservationLayout, float32_box
from auction_envs.core.checks import (
    MAX_AGENTS,
    MAX_SCALE,
    check_int,
    check_optional,
    check_per_agent,
    check_real,
)
from auction_envs.envs.kelly.core import FEEDBACK_ROWS, PAYOFF, KellyCore
from auction_envs.mechanisms import proportional_allocation
from auction_envs.oracles.kelly import (
    bid_grid,
    kelly_gradient,
    kelly_payoff_range,
    kelly_valuations,
)

#: What every bidder observes: the previous round as she saw it, then her own constants.
LAYOUT = ObservationLayout([
    Field("bid", low=0.0, description="her bid z_i last round (0 after reset)"),
    Field("others_bid", low=0.0, description="s_i = sum_{j != i} z_j + delta last round (0 after reset)"),
    Field("allocation", low=0.0, high=1.0, description="her share x_i last round (0 after reset)"),
    Field("payoff", description="her payoff phi_i last round (0 after reset)"),
    Field("gradient", low=-1.0, description="d phi_i / d z_i at last round's bids (0 after reset)"),
    Field("valuation", low=0.0, description="her valuation scale a_i"),
    Field("budget", low=0.0, description="her budget c_i (the largest bid)"),
    Field("min_bid", low=0.0, description="the minimum bid eps"),
])
#: The layout fields that change every round (the others are the bidder's constants).
ROUND_FIELDS = ("bid", "others_bid", "allocation", "payoff", "gradient")
#: The per-round feedback keys of the infos: the round's fields and the best response.
INFO_KEYS = (*ROUND_FIELDS, "best_response")
assert INFO_KEYS == FEEDBACK_ROWS  # the core's feedback rows are the infos, in order


class KellyGameEnv(MarketEnv):
    """Repeated proportional-allocation (Kelly) auction with a reservation bid.

    ## Description
    ``n_agents`` bidders share one divisible resource every round. Each bids ``z_i`` in
    ``[eps, c_i]`` and receives the share ``x_i = z_i / (sum_j z_j + delta)``; the seller keeps
    ``delta / (sum_j z_j + delta)``. Payment equals the bid. Paper 001 ("Learning in Proportional
    Allocation Auctions Games") studies no-regret dynamics in this game; its Table I counts the
    rounds each dynamic needs to reach the unique Nash equilibrium.

    The market itself is :class:`~auction_envs.envs.kelly.core.KellyCore` (``self.core``), plain
    numpy over a batch axis; this class converts dicts, builds spaces, observations and infos.

    ## Mechanism
    Proportional allocation (``auction_envs.mechanisms.proportional_allocation``), pay-your-bid;
    the round is ``auction_envs.oracles.kelly.kelly_round``.

    ## Action Space
    ``Box(eps, c_i, shape=(1,), float32)`` per agent: the bid, in currency units. The float32
    bounds are ``eps`` and ``c_i`` rounded outward (``auction_envs.core.float32_box``), so a bid at
    a documented bound is always accepted; a bid in the rounding gap is clipped to
    ``[eps, c_i]`` (float64, ``action_bounds(agent)``).

    ## Observation Space
    ``Box(float32, shape=(8,))``, the fields of ``self.layout`` (read them by name:
    ``env.unwrapped.layout.unpack(obs)["others_bid"]``):

    {observation_table}

    ## Rewards
    ``phi_i = V_i(x_i) - z_i`` with ``V_i(x) = a_i log x`` (``alpha = 1``, the paper) or the
    alpha-fair ``a_i x^(1 - alpha) / (1 - alpha)``. ``reward_scale(agent)`` is
    ``max(|phi_min|, |phi_max|)`` (scaled payoffs lie in ``[-1, 1]``).

    ## Infos
    After each step, per agent (full-information feedback of the paper): ``bid``, ``others_bid``
    (``s_i``), ``allocation``, ``payoff``, ``gradient`` (``d phi_i / d z_i`` at the played bids),
    ``best_response`` (the best bid against this round's ``s_i``). After ``reset`` the same keys
    with the value 0 (and the grid with zero payoffs), so wrappers can build info specs from them.
    With ``counterfactual_grid=K`` also ``counterfactual_bids`` (the ``K`` bids
    ``eps + (c_i - eps) k / (K - 1)``, ``auction_envs.oracles.kelly.bid_grid``) and
    ``counterfactual_payoffs`` (the payoff each of them would have earned against this round's
    ``s_i``): the full-information feedback of Hedge-type learners.

    Every payoff lies in ``payoff_range(agent) = (phi_min, phi_max)`` (the authors'
    normalization, MARKETS.md §1); learners that rescale payoffs read it there.

    ## Starting State
    No bids yet; the game is deterministic given the bids (the seed only affects nothing here but
    is honoured for uniformity).

    ## Episode End
    Truncation after ``max_cycles`` rounds (3000 in the paper). Never terminates.

    ## Reference solution
    ``equilibrium()`` returns the unique Nash equilibrium bids
    (``auction_envs.oracles.kelly_nash_equilibrium``); ``metrics()`` reports the fixed-point
    residual ``||BR(z) - z||`` (converged below 1e-5), NashConv, normalized payoffs
    ``(phi - phi_min) / (phi_max - phi_min)`` (1 when ``phi_min = phi_max``, e.g. ``eps = c``),
    welfare and price of anarchy of the last round's bids.

    ## Arguments
    * ``n_agents`` (10): number of bidders, at most ``core.checks.MAX_AGENTS``.
    * ``a`` (100): valuation scale ``> 0``, a scalar (heterogeneity then from ``gamma``) or one
      per agent.
    * ``gamma`` (0, ``>= 0``): ``a_i = max(a - (i - 1) gamma, a_min)`` for a scalar ``a``.
    * ``a_min`` (1, ``> 0``): floor of the heterogeneous valuations.
    * ``c`` (400): budget, a scalar or one per agent, each ``>= eps``; scales (``a``,
      ``a_min``, ``gamma``, ``c``, ``eps``, ``delta``) at most ``core.checks.MAX_SCALE`` (1e9);
      ``eps`` (1, ``> 0``): minimum bid; ``delta`` (0.1, ``> 0``): reservation bid; ``alpha``
      (1): alpha-fair exponent ``>= 0``, small enough that payoffs and gradients fit float32
      (an ``alpha`` for which ``|phi|`` or ``|g|`` at the minimum bid exceeds 3.4e38 is
      rejected; e.g. ``alpha = 20`` in the paper's game).
    * ``counterfactual_grid`` (None): a number ``2 <= K <= 100000`` of grid bids whose
      counterfactual payoffs the infos carry (see Infos); off by default.
    * ``max_cycles`` (3000), ``render_mode``, ``action_policy`` (see ``MarketEnv``).

    ## Version History
    * v0: initial release.
    * v0 (issue 11, no trajectory change): the market moved to ``KellyCore``; ``state()`` and
      ``metrics()`` before the first ``reset()`` raise ``ResetNeededError``.
    * v0 (issue 12): the action Box contains its float64 bounds (it rounded ``eps = 0.1`` up and
      ``c = 0.7`` down, rejecting the env's own ``equilibrium()``), bids are clipped into
      ``[eps, c_i]``; with ``eps = c`` the normalized payoff is 1 instead of NaN; documented
      ``payoff_range(agent)`` and ``action_bounds(agent)``. Seeded trajectories of the
      registered ids are unchanged (their bounds are exact in float32).
    * v0 (issue 18): ``reset`` returns the step's info keys with neutral values (it returned
      empty infos); steps, observations and rewards are unchanged.
    * v0 (issue 19): ``a <= 0`` is rejected (a scalar was silently floored to ``a_min``), as is
      an ``alpha`` whose observations overflow float32; every argument is checked with
      ``auction_envs.core.checks``.
    * v0 (issue 19, no trajectory change): sizes and scales have upper bounds
      (``n_agents <= MAX_AGENTS``; ``a``, ``a_min``, ``gamma``, ``c``, ``eps``, ``delta`` at most
      ``MAX_SCALE = 1e9``: ``delta = 1e300`` gave inf observations, ``n_agents = 10**18`` a
      ``MemoryError``).
    * v0 (issue 11, no trajectory change): a step plays the round in place
      (``KellyCore.step_single``: two numba loops around numpy's ``log`` where numba is
      installed, the buffered numpy round otherwise), bit-identical to ``kelly_round``.
    """

    metadata: ClassVar[dict[str, Any]] = {
        **MarketEnv.metadata, "name": "kelly_game_v0",
    }
    layout = LAYOUT
    joint_action_array = True  # the base class hands _step_market one [n, 1] bid array

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
        n_agents = check_int("n_agents", n_agents, low=1, high=MAX_AGENTS)
        counterfactual_grid = check_optional("counterfactual_grid", counterfactual_grid, check_int,
                                             low=2, high=100_000)
        scale = {"low": 0.0, "low_open": True, "high": MAX_SCALE}
        self.eps = check_real("eps", eps, **scale)
        self.delta = check_real("delta", delta, **scale)
        self.alpha = check_real("alpha", alpha, low=0.0)
        gamma = check_real("gamma", gamma, low=0.0, high=MAX_SCALE)
        a_min = check_real("a_min", a_min, **scale)
        if np.ndim(a) == 0:
            self.valuations = kelly_valuations(n_agents, check_real("a", a, **scale), gamma, a_min)
        elif gamma != 0:
            raise InvalidArgumentError("gamma", gamma, "0 when 'a' is given per agent")
        else:
            self.valuations = check_per_agent("a", a, n_agents, **scale)
        self.budgets = check_per_agent("c", c, n_agents, high=MAX_SCALE)
        if np.any(self.budgets < self.eps):
            raise InvalidArgumentError("c", c, f"budgets >= 'eps' = {self.eps:g}")
        self.n_agents = n_agents
        self._check_float32_scale()
        super().__init__(max_cycles=max_cycles, render_mode=render_mode,
                         action_policy=action_policy,
                         possible_agents=[f"bidder_{i}" for i in range(n_agents)])
        self.counterfactual_grid = counterfactual_grid
        grid = None if counterfactual_grid is None else bid_grid(
            np.full(n_agents, self.eps), self.budgets, counterfactual_grid)
        self.core = KellyCore(self.valuations, self.budgets, self.eps, self.delta, self.alpha, grid)
        observation_space = self.layout.space()
        self._set_spaces(
            observation_spaces=dict.fromkeys(self.possible_agents, observation_space),
            action_spaces={
                agent: float32_box(self.eps, self.budgets[i], (1,))
                for i, agent in enumerate(self.possible_agents)
            },
            state_space=float32_box(np.zeros(2 * self.n_agents + 1),
                                    np.concatenate([self.budgets, np.ones(self.n_agents + 1)])),
            # the base class clips accepted bids into [eps, c_i] (the Box rounds them outward)
            action_bounds={agent: (self.eps, self.budgets[i])
                           for i, agent in enumerate(self.possible_agents)},
        )
        zeros = np.zeros(n_agents)
        self._first_observation = self.layout.pack(
            {**dict.fromkeys(ROUND_FIELDS, zeros), "valuation": self.valuations,
             "budget": self.budgets, "min_bid": self.eps}, batch_shape=(n_agents,))
        self._round_columns = [(name, self.layout.slice(name).start, self.layout.field(name).scale)
                               for name in ROUND_FIELDS]
        # unscaled, the round's fields are the core's feedback rows as they are: the core writes
        # them into the observation's columns itself
        unscaled = all(scale == 1.0 for _, _, scale in self._round_columns)
        self._unscaled_columns = np.array([column for _, column, _ in self._round_columns]) \
            if unscaled else None
        self._core_fills_observation = unscaled and counterfactual_grid is None
        #: this round's feedback, rows in the order of INFO_KEYS (None before the first round)
        self._rows: np.ndarray | None = None
        #: this round's observations, one row per bidder (None before the first round)
        self._observation: np.ndarray | None = None

    def _check_float32_scale(self) -> None:
        """Reject an ``alpha`` whose payoffs or gradients overflow float32 observations.

        For ``alpha > 1`` the value ``a x^(1 - alpha) / (1 - alpha)`` explodes at the smallest
        share ``x = eps / (eps + (n - 1) c + delta)`` (``alpha = 20`` with the paper's game gives
        about 1e70): every bound of the payoff (``kelly_payoff_range``) and the gradient at the
        minimum bid against the smallest and the largest aggregate must stay below 3.4e38.
        """
        n, eps, c = self.n_agents, self.eps, self.budgets
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            extremes = list(kelly_payoff_range(self.valuations, c, eps, self.delta, self.alpha))
            for s in ((n - 1) * eps + self.delta, (n - 1) * c.max() + self.delta):
                extremes.extend(kelly_gradient(np.full(n, eps), s, self.valuations, self.alpha))
        largest = float(np.max(np.abs(extremes)))
        if not largest < float(np.finfo(np.float32).max):
            raise InvalidArgumentError(
                "alpha", self.alpha, f"small enough that payoffs and gradients fit float32 "
                f"observations (|value| < 3.4e38) for these 'a', 'c', 'eps', 'delta'; it reaches "
                f"{largest:.3g} here")

    # ------------------------------------------------------------------ market hooks
    @property
    def _bids(self) -> np.ndarray:
        """The last round's bids, shape ``(n,)`` (zeros before the first round)."""
        return self.core.bids[0]

    @_bids.setter
    def _bids(self, bids: np.ndarray) -> None:
        self.core.bids = np.asarray(bids, dtype=np.float64).reshape(1, -1)

    def _reset_market(self, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
        self.core.reset(1)
        self._rows = self._observation = None
        # the step's keys with neutral values: wrappers (TorchRL) build their specs from these
        infos = {agent: dict.fromkeys(INFO_KEYS, 0.0) for agent in self.possible_agents}
        if self.core.counterfactual_bids is not None:
            for agent, grid in zip(self.possible_agents, self.core.counterfactual_bids.copy()):
                infos[agent]["counterfactual_bids"] = grid
                infos[agent]["counterfactual_payoffs"] = np.zeros_like(grid)
        return infos

    def _step_market(self, actions: np.ndarray
                     ) -> tuple[np.ndarray, dict[str, dict[str, Any]], bool]:
        # rows in the order of self.agents (every bidder, always alive), already in [eps, c_i]
        observation = self._first_observation.copy()  # constants packed once, at construction
        grids = None
        if self._core_fills_observation:  # the core's buffer, read before the next step
            rows = self.core.step_single(actions.ravel(), observation,  # a view: C order
                                         self._unscaled_columns)
        else:
            grids = self.core.counterfactual_bids
            if grids is None:
                rows = self.core.step_single(actions.reshape(-1))
            else:  # the grid's payoffs come with the batched round
                feedback = self.core.step(actions.reshape(1, -1))
                rows = np.concatenate([feedback[key] for key in INFO_KEYS])  # [len(INFO_KEYS), n]
            for row, (_, column, scale) in zip(rows, self._round_columns):  # fields by name
                observation[:, column] = row if scale == 1.0 else row / scale
        self._rows, self._observation = rows, observation
        values = rows.tolist()
        # one dict per bidder from Python floats: a dict display per bidder is the cheapest build
        infos = {agent: {"bid": bid, "others_bid": others, "allocation": allocation,
                         "payoff": payoff, "gradient": gradient, "best_response": best}
                 for agent, bid, others, allocation, payoff, gradient, best
                 in zip(self.possible_agents, *values)}
        if grids is not None:
            grids = grids.copy()  # one copy; each agent gets a row of it
            for agent, grid, payoffs in zip(self.possible_agents, grids,
                                            feedback["counterfactual_payoffs"][0]):
                infos[agent]["counterfactual_bids"] = grid
                infos[agent]["counterfactual_payoffs"] = payoffs
        return rows[PAYOFF], infos, False  # float64: MarketEnv converts it with one tolist()

    def _observations(self) -> dict[str, np.ndarray]:
        observation = self._first_observation.copy() if self._observation is None \
            else self._observation  # made by this step (a new array every step)
        return dict(zip(self.agents, observation))

    # ------------------------------------------------------------------ documented scales
    def _index(self, agent: str) -> int:
        try:
            return self.possible_agents.index(agent)
        except ValueError:
            raise KeyError(f"no agent {agent!r}; agents: {self.possible_agents}") from None

    def action_bounds(self, agent: str) -> tuple[float, float]:
        """``(eps, c_i)``: the documented float64 bid bounds of ``agent`` (the float32 action Box
        contains them, rounded outward; bids between the two are clipped to these)."""
        return self.eps, float(self.budgets[self._index(agent)])

    def reward_scale(self, agent: str) -> float:
        """``max(|phi_min|, |phi_max|)`` of :meth:`payoff_range` (1 when both are 0): every payoff
        divided by it lies in ``[-1, 1]``."""
        low, high = self.payoff_range(agent)
        return float(max(abs(low), abs(high))) or 1.0

    def payoff_range(self, agent: str) -> tuple[float, float]:
        """``(phi_min, phi_max)``: bounds of every payoff ``agent`` can earn (the authors'
        normalization, ``auction_envs.oracles.kelly.kelly_payoff_range``; the same for every
        agent). ``metrics()`` normalizes with it, and learners that rescale payoffs (Hedge, EXP3)
        read it through ``env.unwrapped.payoff_range(agent)``. Equal ends when every payoff is
        the same (``eps = c``)."""
        self._index(agent)
        return self.core.payoff_range

    # ------------------------------------------------------------------ reference and metrics
    def equilibrium(self) -> np.ndarray:
        """The unique Nash equilibrium bids, shape ``(n_agents,)``."""
        return self.core.equilibrium()

    def state(self) -> np.ndarray:
        self._require_reset("state")
        allocation = proportional_allocation(self._bids, self.delta)
        progress = min(self.num_cycles / self.max_cycles, 1.0)
        return np.concatenate([self._bids, allocation, [progress]]).astype(np.float32)

    def metrics(self) -> dict[str, Any]:
        """Metrics of the last round's bids, and time averages over the episode so far.

        ``residual`` and ``nash_conv`` are 0 at the equilibrium; ``normalized_payoff`` (per agent,
        last round) and ``mean_normalized_payoff`` (per agent, time average) use the authors'
        normalization; ``price_of_anarchy`` is ``>= 1`` (see ``KellyCore.price_of_anarchy``).
        """
        self._require_reset("metrics")
        rounds = self.num_cycles
        if rounds == 0:
            return {"round": 0}
        metrics = self.core.metrics()
        welfare = float(metrics["welfare"][0])
        return {
            "round": rounds,
            "residual": float(metrics["residual"][0]),
            "nash_conv": float(metrics["nash_conv"][0]),
            "distance_to_equilibrium": float(metrics["distance_to_equilibrium"][0]),
            "normalized_payoff": metrics["normalized_payoff"][0],
            "mean_normalized_payoff": metrics["mean_normalized_payoff"][0],
            "mean_payoff": metrics["mean_payoff"][0],
            "welfare": welfare,
            "optimal_welfare": self.core.welfare_optimum(),
            "price_of_anarchy": float(self.core.price_of_anarchy(welfare)),
        }

    def _render_text(self) -> str:
        lines = [f"KellyGame round {self.num_cycles}/{self.max_cycles}"]
        if self.num_cycles:
            m = self.metrics()
            lines.append(f"  residual {m['residual']:.3e}  NashConv {m['nash_conv']:.3e}  "
                         f"welfare {m['welfare']:.4g}  PoA {m['price_of_anarchy']:.4f}")
            last = dict(zip(INFO_KEYS, self._rows))
            equilibrium = self.equilibrium()
            for i, agent in enumerate(self.possible_agents):
                lines.append(f"  {agent:>10}  bid {last['bid'][i]:9.4f}  (NE {equilibrium[i]:9.4f})"
                             f"  share {last['allocation'][i]:.4f}  payoff {last['payoff'][i]:10.4f}")
        return "\n".join(lines)


KellyGameEnv.__doc__ = KellyGameEnv.__doc__.replace(
    "{observation_table}", LAYOUT.table().replace("\n", "\n    "))
