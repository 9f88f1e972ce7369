"""The cloud double auction of paper 004 (RTRM), with its CDARA and ICAA baselines: the shell.

The market itself (state and step over the joint action array) is
:class:`auction_envs.envs.cloud.core.CloudMarket`; the mechanisms are the rule objects of
:mod:`auction_envs.mechanisms.double_auction`. This file holds the docstring, the argument checks,
spaces, dict conversion and infos; the provider table, argument checks and trace loader are in
``arguments.py``, the observation layout, its writer and the global state in ``observations.py``,
the episode metrics in ``metrics.py``. Above 400 lines only because of the class docstring (the
env's documentation with its observation table, about 230 lines); the code is about 300 lines.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from auction_envs.core import InvalidArgumentError, MarketEnv
from auction_envs.core.checks import (
    MAX_AGENTS,
    MAX_SCALE,
    check_array,
    check_bool,
    check_choice,
    check_int,
    check_optional,
    check_range_pair,
    check_real,
)
from auction_envs.envs.cloud.arguments import (
    MIN_STEP_SECONDS,
    PROVIDER_TABLE,
    int_range,
    load_trace,
    positive_triple,
    price_ranges,
)
from auction_envs.envs.cloud.core import CloudMarket, MarketSettings
from auction_envs.envs.cloud.metrics import episode_metrics
from auction_envs.envs.cloud.observations import (
    PROVIDER_FIELDS,
    SLOT_FIELDS,
    ObservationWriter,
    global_state,
    observation_layout,
    provider_values,
)
from auction_envs.envs.cloud.trace import sample_path
from auction_envs.mechanisms.double_auction import (
    CSF_FORMS,
    MECHANISM_RULES,
    SINGLE_FEASIBLE_RULES,
    CDARARules,
    ICAARules,
    RTRMRules,
)

PROVIDER_NAMES = tuple(f"d{i}" for i in range(1, 8))
RESOURCES = ("cpu", "memory", "storage")
MECHANISMS = tuple(MECHANISM_RULES)
MATCHING_ORDERS = ("strength", "arrival")
#: re-exported: the provider table and the observation layout live in sibling modules
__all__ = ["MECHANISMS", "MIN_STEP_SECONDS", "PROVIDER_FIELDS", "PROVIDER_TABLE", "SLOT_FIELDS",
           "CloudDoubleAuctionEnv", "observation_layout"]


class CloudDoubleAuctionEnv(MarketEnv):
    """Cloud double auction: provider pricing agents, trace-driven buyers, multi-preference matching.

    ## Description
    Seven cloud providers (the types ``d1``-``d7`` of paper 004, Table 1) sell CPU, memory and
    storage to buyers who arrive every step with a request bundle ``R_j``, an execution length
    ``s_j``, a maximum wait ``w_j`` and a budget ``bid_j``. One pricing agent per provider sets an
    adjustment multiplier for every buyer of the step's batch; the broker turns multipliers into
    offered prices and matches each buyer to at most one provider. Matched jobs occupy the provider's
    capacity for ``s_j`` steps. Paper 004 ("Reinforcement Learning-based Real-time Fair Online
    Resource Matching") trains the pricing agents with a MADDPG-style actor-critic.

    ## Mechanism
    ``mechanism="rtrm"`` (the paper):
    1. Offered unit prices ``op_ij^r = bp_i^r (1 + act_ij) Gamma_ij`` (paper eq. 1) with
       ``Gamma_ij = 1 + csf_weight * (m * eta_j) * U_ij`` [decision, our reading of the garbled eq. 2]:
       ``eta_j`` the contest success function of buyer ``j`` in the batch of ``m`` buyers (eq. 3,
       ``x_j = bid_j / w_j**sigma``; ``csf_form="exclusive"``: ``x_j / sum_{b != j} x_b`` as printed in
       the paper, ``"inclusive"``: ``x_j / sum_b x_b``; ``eta = 1`` for a lone buyer in the exclusive
       form), ``m * eta_j`` its strength relative to the batch mean, and ``U_ij`` provider ``i``'s
       mean utilization (over resources and the next ``utilization_horizon`` steps) if ``j``'s job
       were started now.
    2. Buyers are matched one at a time (``matching_order="strength"``: by decreasing
       ``bid_j / w_j**sigma``, ties by slot; ``"arrival"``: slot order) [decision]. Provider ``p`` is
       *feasible* for buyer ``b`` when it can start the job within ``w_b`` steps with enough free
       capacity of every resource during all ``s_b`` steps (the earliest such start is used), and the
       offered bundle price is within the budget. Preference ``v(p, b) = mean_q N_q(p) / sqrt(bid_b)``
       (eq. 11) over three quality parameters normalized by simple additive weighting over all
       providers (eq. 12, best = 1, worst = 0): offered bundle price (lower is better), current
       utilization (higher is better, as the paper states) and the buyer's predicted waiting time at
       that provider (its earliest start, lower is better) [decision]. Winner = the feasible provider
       with the highest ``v`` (eq. 13, ties to the lowest index).
    3. Generalized second price (eq. 14): the buyer pays her bundle at the offered prices of the
       second-best feasible provider. **Only one feasible provider** [decision,
       ``single_feasible_payment``]: ``"own"`` (default) pays the winner's own offer (first price),
       ``"reserve"`` the winner's base cost. The payment is then floored at the winner's base cost
       (base prices are minimum selling prices, paper §2) and capped at the budget, so no payment
       ever exceeds the buyer's budget.

    **Payment behaviour** (documented, not a bug): the runner-up is second by *preference* ``v``,
    which mixes price with utilization and waiting time, not by price. So the runner-up's offer is
    often above the winner's own: with every provider at markup 0.2 on the default market about 55%
    of RTRM payments exceed the winner's own ask (``metrics()["payments_above_ask"]`` counts them);
    the budget cap keeps every payment at most the budget. RTRM is therefore not a price-ranked
    second-price auction and not truthful in the asks.

    ``mechanism="cdara"`` (Samimi et al. 2016, paper's "simple allocation") [details decision]: fixed
    prices, ask ``sum_r R_j^r bp_i^r (1 + mu)`` (no utilization term); feasible = capacity in time
    and ``ask <= bid``; the lowest ask wins; the buyer pays ``(bid + ask) / 2``.

    ``mechanism="icaa"`` (Kong et al. 2015, paper's "dynamic allocation") [details decision]:
    demand-based prices, ask ``sum_r R_j^r bp_i^r (1 + mu) (1 + icaa_elasticity * rho/(1 + rho))``
    with ``rho_i^r = (batch demand of r) / (n * free capacity of provider i now)``; the lowest feasible
    ask wins and the buyer pays the ask.

    The baselines price with **their own rule**: ``mu = baseline_markup`` (default 0: the fixed
    price is the base price, ICAA's dynamic price rises from it with demand) for every buyer, and the
    agents' multipliers are ignored (the action space stays the same, so one learner interface runs
    every mechanism). ``baseline_markup=None`` uses the agents' multipliers as ``mu`` (v0).

    **Fairness** (``fairness=True``, ``auction_envs/CloudDoubleAuctionFair-v0``) [decision; the paper
    shows only the effect]: before each buyer is matched, provider ``p`` is *under quota* when its wins
    so far in the episode are below ``max(fair_min_wins, floor(fair_share * W / n))`` (``W`` all wins
    so far, ``n = 7``). If any under-quota provider is feasible for the buyer, the winner is the best
    of those (by ``v``, or lowest ask for the baselines); otherwise the usual winner. The payment rule
    is unchanged (the GSP runner-up is the best feasible provider other than the winner). Hence every
    provider that is feasible for some buyer while it has no win wins at least once per episode.

    ## Buyers and trace
    Arrivals come from Google cluster trace ``task_events`` (2011 schema; see
    ``auction_envs.envs.cloud.trace``): the SUBMIT events with timestamps in step ``t``'s window of
    ``step_seconds`` seconds form the batch, in timestamp order, at most ``max_buyers`` (24) of them
    (the rest are counted as ``overflow_requests`` and not auctioned). ``trace_path=None`` uses the
    packaged **synthetic** sample (in the trace schema, not real data). An episode starts at a random
    window (``start_window=None``) or a fixed one and wraps around the trace. Normalized requests map
    to provider units by ``reference_capacity`` (default: the largest provider per resource, 7500
    MIPS, 12032 MB, 84000 MB, as the trace normalizes by the largest machine); prices are per
    ``price_units`` (default 1000 MIPS, 1024 MB, 1024 MB) [decision]. Bandwidth is in the table but
    not requested (the trace has no bandwidth column). Per request the env draws the budget
    ``U[150, 500]``, the execution length ``U{1..24}`` and the maximum wait ``U{1..12}`` steps
    (paper §5.1). Base prices per unit are drawn at every reset from U[120, 150] (CPU), U[10, 70]
    (memory), U[40, 100] (storage) and are private to each provider.

    **Buyer population and drops** [paper §5.1; "buyer" made precise, decision]: a buyer is a trace
    ``user``. The population **persists across episodes**: a buyer takes part in an env episode when
    at least one of her requests is auctioned in it; she loses the episode when none of them is
    matched and wins it otherwise. After ``drop_after`` (5) lost episodes in a row she leaves: her
    requests in later episodes are skipped (``dropped_requests``). The episode is counted at its
    last step (an episode cut short by ``reset`` does not count). ``reset(options={"new_population":
    True})`` brings every buyer back with no lost episodes (a fresh env starts that way). Hence a
    seeded ``reset`` reproduces an episode exactly only with the same population (a fresh env, or
    ``new_population``).

    **Deadlines**: a matched job starts at its earliest feasible start ``<= w_j`` and runs ``s_j`` steps,
    so it must finish by ``arrival + w_j + s_j``; the env checks every finished job and counts any
    later finish as a ``deadline_failure`` (the scheduler never produces one).

    ## Action Space
    ``Box(multiplier_low, multiplier_high, shape=(max_buyers,), float32)`` per provider (default
    ``[0, 1]``): the adjustment multiplier ``act_ij`` for each buyer slot of the batch. Entries of
    empty slots are ignored (their ``present`` flag is 0 in the observation).

    ## Observation Space
    ``Box(float32, shape=(11 * max_buyers + 14,))`` per provider, described by the named layout
    ``env.unwrapped.layout`` (:class:`~auction_envs.core.layout.ObservationLayout`): read fields by
    name, ``layout.unpack(obs)["budget"]`` gives budgets in natural units. Field-major: each slot
    field holds one entry per buyer slot (0 for empty slots). Defaults (``max_buyers = 24``):

    | entries | field | scale | bounds | meaning |
    |---|---|---|---|---|
    | 0–23 | `present` | 1 | [0, 1] | 1 for a buyer in the slot, 0 for an empty slot |
    | 24–47 | `cpu_share` | 1 | [0, ∞] | CPU request / this provider's CPU capacity |
    | 48–71 | `memory_share` | 1 | [0, ∞] | memory request / own memory capacity |
    | 72–95 | `storage_share` | 1 | [0, ∞] | storage request / own storage capacity |
    | 96–119 | `length` | 24 | [0, 1] | execution length s_j (steps) |
    | 120–143 | `max_wait` | 12 | [0, 1] | maximum wait w_j (steps) |
    | 144–167 | `budget` | 500 | [0, 1] | budget bid_j |
    | 168–191 | `strength` | 1 | [0, ∞] | contest strength m * eta_j (eq. 3) |
    | 192–215 | `reserve_ratio` | 1 | [0, ∞] | own base cost of the bundle / budget |
    | 216–239 | `can_schedule` | 1 | [0, 1] | 1 if it fits within its wait here |
    | 240–263 | `predicted_utilization` | 1 | [0, ∞] | U_ij with the job admitted |
    | 264–266 | `utilization` | 1 | [0, 1] | used share of capacity now (cpu, mem, sto) |
    | 267–269 | `booked` | 1 | [0, 1] | mean booked share over the utilization horizon |
    | 270 | `base_price_cpu` | 150 | [0, 1] | own CPU base price |
    | 271 | `base_price_memory` | 70 | [0, 1] | own memory base price |
    | 272 | `base_price_storage` | 100 | [0, 1] | own storage base price |
    | 273 | `win_share` | 1 | [0, 1] | share of the episode's wins so far |
    | 274 | `last_reward` | 1 | [−∞, ∞] | reward of the previous step |
    | 275 | `batch_size` | 24 | [0, 1] | buyers in this step's batch |
    | 276 | `progress` | 1 | [0, 1] | steps so far / max_cycles |
    | 277 | `under_quota` | 1 | [0, 1] | 1 if under its fairness quota |

    (Scales follow the arguments: ``length`` by ``length_range[1]``, ``max_wait`` by
    ``wait_range[1]``, ``budget`` by ``budget_range[1]``, base prices by their ranges' upper ends,
    ``batch_size`` by ``max_buyers``.)

    ## Rewards
    Per provider and step: ``sum over its matched buyers of (payment - base cost of the bundle)``
    (paper eq. 15 per step; the episodic sum is the paper's provider utility).
    ``reward_scale(agent)`` is the largest buyer budget, ``budget_range[1]``.

    ## Infos
    Per provider after each step: ``offers`` (bundle price offered per slot, 0 for empty slots),
    ``won`` (1.0 per slot it won), ``payments`` (per slot), ``revenue``, ``base_cost``, ``wins``
    (episode total), ``under_quota``. After ``reset`` the same keys with zeros (and the current
    ``wins``, ``under_quota``), so wrappers (TorchRL) can build their specs from them.
    ``env.unwrapped.last_matches`` holds the step's match records, ``env.unwrapped.jobs`` every
    matched job of the episode.

    ## Starting State
    Empty providers, fresh base prices, buyer counters at zero; the first batch is in the
    observation returned by ``reset``.

    ## Episode End
    Truncation after ``max_cycles`` steps (100 in the paper's fairness experiment). Never terminates.

    ## Reference solution
    None (``equilibrium()`` raises). **Surplus bound**: in every match buyer utility + provider
    utility = budget - the winner's base cost of the bundle, whatever the prices; so an episode's
    total ``metrics()["surplus"]`` (buyer utility + total provider utility) is at most
    ``metrics()["surplus_bound"]`` = the sum over auctioned requests of
    ``max(0, bid_j - min_i base cost_ij)`` (the batches of an episode do not depend on the actions).
    A mechanism that gives providers more than CDARA and ICAA *and* buyers 1.4 x more needs
    ``sum_i max(U_i^CDARA, U_i^ICAA) + 1.4 max(B^CDARA, B^ICAA)`` to fit under it
    (``benchmarks.cloud_comparison --best-response`` checks this).

    **Where fairness matters**: on the default market (trace seconds per step ``step_seconds=1``,
    about 7 matches per step) every provider wins every episode without the fairness mechanism. At
    low load (``step_seconds=0.1``, about one buyer per step; registered as
    ``CloudDoubleAuctionLowLoad-v1`` / ``CloudDoubleAuctionLowLoadFair-v1``) the best-scoring
    providers take most buyers and some providers win nothing in an episode; fairness fixes that.

    ## Arguments
    * ``mechanism`` (``"rtrm"``), ``fairness`` (False), ``fair_share`` (0.5), ``fair_min_wins`` (1),
      ``baseline_markup`` (0.0; None = the agents' multipliers price the baselines).
    * ``csf_form`` (``"exclusive"``), ``sigma`` (0.5), ``csf_weight`` (1.0), ``utilization_horizon``
      (12), ``icaa_elasticity`` (1.0), ``single_feasible_payment`` (``"own"``),
      ``matching_order`` (``"strength"``).
    * ``trace_path`` (None = packaged synthetic sample), ``step_seconds`` (1.0), ``start_window``
      (None = random), ``max_buyers`` (24), ``budget_range`` ((150, 500)), ``length_range`` ((1, 24)),
      ``wait_range`` ((1, 12)), ``base_price_ranges`` (((120, 150), (10, 70), (40, 100))),
      ``reference_capacity`` (None), ``price_units`` ((1000, 1024, 1024)), ``providers`` (Table 1).
    * ``multiplier_low`` (0.0), ``multiplier_high`` (1.0), ``drop_after`` (5).
    * Sizes at most ``core.checks.MAX_AGENTS`` (``max_buyers``, rows of ``providers``), prices,
      capacities and multipliers at most ``core.checks.MAX_SCALE`` (1e9); ``step_seconds`` in
      ``[1e-6, 1e9]``.
    * ``max_cycles`` (100), ``render_mode``, ``action_policy`` (see ``MarketEnv``).

    ## Version History
    * v1: (1) CDARA and ICAA price with their own rule (``baseline_markup``, default 0) instead of
      the agents' multipliers; (2) the buyer population persists across episodes and a drop is 5
      lost *episodes* in a row (v0: 5 lost steps, reset every episode, so drops never mattered;
      ``reset(options={"new_population": True})`` starts afresh); (3) the observation is described
      by the named layout ``env.unwrapped.layout`` and is field-major (v0: slot-major; the
      provider's base prices, ``batch_size`` and ``max_wait`` scales as in the table); (4)
      ``metrics()`` adds ``surplus``, ``surplus_bound``, ``payments_above_ask``,
      ``population_drops``, ``population_episodes``, ``active_buyers``; ``buyer_drops`` counts
      the buyers who left at the end of this episode; (5) ``state()`` and ``metrics()`` before the
      first ``reset()`` raise ``ResetNeededError``; (6) low-load variants registered. Matching,
      pricing and payments of RTRM are unchanged.
    * v1 (issue 18, no trajectory change): ``reset`` returns the step's info keys with zeros
      (it returned empty dicts); infos are copies.
    * v1 (issue 19, no trajectory change): a ``trace_path`` that is not a path, non-numeric
      ``providers`` and ``max_buyers = 10**18`` are ``InvalidArgumentError``s naming the argument
      (they were a raw ``TypeError``, ``ValueError`` and ``MemoryError``).
    * v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {**MarketEnv.metadata, "name": "cloud_double_auction_v1"}
    joint_action_array = True  # _step_market gets the (n, max_buyers) multipliers as one array

    def __init__(
        self,
        mechanism: str = "rtrm",
        fairness: bool = False,
        fair_share: float = 0.5,
        fair_min_wins: int = 1,
        csf_form: str = "exclusive",
        sigma: float = 0.5,
        csf_weight: float = 1.0,
        utilization_horizon: int = 12,
        icaa_elasticity: float = 1.0,
        single_feasible_payment: str = "own",
        matching_order: str = "strength",
        baseline_markup: float | None = 0.0,
        trace_path: str | os.PathLike[str] | None = None,
        step_seconds: float = 1.0,
        start_window: int | None = None,
        max_buyers: int = 24,
        budget_range: tuple[float, float] = (150.0, 500.0),
        length_range: tuple[int, int] = (1, 24),
        wait_range: tuple[int, int] = (1, 12),
        base_price_ranges: tuple[tuple[float, float], ...] = ((120.0, 150.0), (10.0, 70.0),
                                                               (40.0, 100.0)),
        reference_capacity: tuple[float, float, float] | None = None,
        price_units: tuple[float, float, float] = (1000.0, 1024.0, 1024.0),
        providers: np.ndarray | None = None,
        multiplier_low: float = 0.0,
        multiplier_high: float = 1.0,
        drop_after: int = 5,
        max_cycles: int = 100,
        render_mode: str | None = None,
        action_policy: str = "raise",
    ) -> None:
        self.mechanism = check_choice("mechanism", mechanism, MECHANISMS)
        self.csf_form = check_choice("csf_form", csf_form, CSF_FORMS)
        self.single_feasible_payment = check_choice("single_feasible_payment",
                                                    single_feasible_payment, SINGLE_FEASIBLE_RULES)
        self.matching_order = check_choice("matching_order", matching_order, MATCHING_ORDERS)
        self.baseline_markup = check_optional("baseline_markup", baseline_markup, check_real,
                                              low=-1.0, low_open=True)
        self.fairness = check_bool("fairness", fairness)
        self.fair_share = check_real("fair_share", fair_share, low=0.0, high=1.0)
        self.fair_min_wins = check_int("fair_min_wins", fair_min_wins, low=0)
        self.sigma = check_real("sigma", sigma, low=0.0, high=1.0, low_open=True)
        self.csf_weight = check_real("csf_weight", csf_weight, low=0.0)
        self.utilization_horizon = check_int("utilization_horizon", utilization_horizon, low=1)
        self.icaa_elasticity = check_real("icaa_elasticity", icaa_elasticity, low=0.0)
        self.step_seconds = check_real("step_seconds", step_seconds, low=MIN_STEP_SECONDS,
                                       high=MAX_SCALE)
        self.max_buyers = check_int("max_buyers", max_buyers, low=1, high=MAX_AGENTS)
        self.drop_after = check_int("drop_after", drop_after, low=1)
        self.start_window = check_optional("start_window", start_window, check_int, low=0)
        self.budget_range = check_range_pair("budget_range", budget_range)
        if self.budget_range[0] <= 0:
            raise InvalidArgumentError("budget_range", budget_range, "a pair (lo, hi), 0 < lo <= hi")
        self.length_range = int_range("length_range", length_range, 1)
        self.wait_range = int_range("wait_range", wait_range, 0)
        self.base_price_ranges = price_ranges(base_price_ranges)
        table = PROVIDER_TABLE if providers is None else check_array(
            "providers", providers, ndim=2, high=MAX_SCALE)
        if table.shape[1] < 3 or not 1 <= table.shape[0] <= MAX_AGENTS \
                or np.any(table[:, :3] <= 0):
            raise InvalidArgumentError("providers", providers,
                                       f"an (n, >=3) array of positive MIPS, memory MB, storage MB "
                                       f"(1 <= n <= {MAX_AGENTS})")
        self.providers = table.copy()
        self.price_units = positive_triple("price_units", price_units)
        self.reference_capacity = table[:, :3].max(axis=0) if reference_capacity is None \
            else positive_triple("reference_capacity", reference_capacity)
        self.multiplier_low = check_real("multiplier_low", multiplier_low, low=-1.0, low_open=True)
        self.multiplier_high = check_real("multiplier_high", multiplier_high, high=MAX_SCALE)
        if self.multiplier_high < self.multiplier_low:
            raise InvalidArgumentError("multiplier_high", multiplier_high,
                                       f">= multiplier_low = {self.multiplier_low:g}")
        self.capacity = table[:, :3] / self.price_units  # (n, 3) in price units
        self.n_providers = table.shape[0]
        self.horizon = int(self.wait_range[1] + self.length_range[1])
        if self.utilization_horizon > self.horizon:
            raise InvalidArgumentError("utilization_horizon", utilization_horizon,
                                       f"at most max wait + max length = {self.horizon}")
        if trace_path is not None and not isinstance(trace_path, (str, os.PathLike)):
            raise InvalidArgumentError("trace_path", trace_path,
                                       "None or a path (str or os.PathLike)")
        path = os.fspath(sample_path() if trace_path is None else trace_path)
        try:
            self.trace = load_trace(os.path.abspath(path))
        except (FileNotFoundError, ValueError) as error:
            raise InvalidArgumentError("trace_path", trace_path,
                                       f"readable task-event files ({error})") from None
        self.trace_path = path

        names = PROVIDER_NAMES if self.n_providers == len(PROVIDER_NAMES) \
            else tuple(f"d{i}" for i in range(1, self.n_providers + 1))
        super().__init__(max_cycles=max_cycles, render_mode=render_mode,
                         action_policy=action_policy,
                         possible_agents=[f"provider_{name}" for name in names])
        self.market = CloudMarket(self._settings())
        self.n_windows = self.market.settings.n_windows
        self._set_spaces(*self._spaces())

    def _settings(self) -> MarketSettings:
        rules: Any = {"rtrm": lambda: RTRMRules(self.single_feasible_payment),
                      "cdara": lambda: CDARARules(self.baseline_markup),
                      "icaa": lambda: ICAARules(self.icaa_elasticity, self.baseline_markup),
                      }[self.mechanism]()
        step_us = self.step_seconds * 1e6
        window = ((self.trace.timestamp - self.trace.timestamp[0]) // step_us).astype(np.int64)
        return MarketSettings(
            rules=rules, capacity=self.capacity, trace=self.trace,
            trace_requests=self.trace.requests * self.reference_capacity / self.price_units,
            window_start=np.searchsorted(window, np.arange(int(window[-1]) + 2)),
            max_buyers=self.max_buyers, budget_range=self.budget_range,
            length_range=self.length_range, wait_range=self.wait_range,
            base_price_ranges=self.base_price_ranges, sigma=self.sigma, csf_form=self.csf_form,
            csf_weight=self.csf_weight, utilization_horizon=self.utilization_horizon,
            matching_order=self.matching_order, fairness=self.fairness,
            fair_share=self.fair_share, fair_min_wins=self.fair_min_wins,
            drop_after=self.drop_after)

    def _spaces(self) -> tuple[dict, dict, spaces.Box]:
        m, n = self.max_buyers, self.n_providers
        self.layout = observation_layout(m, self.length_range[1], self.wait_range[1],
                                         self.budget_range[1], self.base_price_ranges[:, 1])
        self._writer = ObservationWriter(self.layout, n, m)
        observation = self.layout.space()
        state_size = m * 8 + n * 10 + 1
        action = spaces.Box(np.float32(self.multiplier_low), np.float32(self.multiplier_high),
                            shape=(m,), dtype=np.float32)
        return ({a: observation for a in self.possible_agents},
                {a: action for a in self.possible_agents},
                spaces.Box(np.zeros(state_size, np.float32), np.full(state_size, np.inf, np.float32),
                           dtype=np.float32))

    # ------------------------------------------------------------------ the core's state
    @property
    def batch(self) -> dict[str, np.ndarray]:
        """The buyers of the coming step: ``row``, ``user``, ``request`` (price units), ``bid``,
        ``length``, ``wait``."""
        return self.market.batch

    @property
    def booked(self) -> np.ndarray:
        """Booked capacity ``(n, horizon, 3)`` in price units, slot 0 = now."""
        return self.market.booked

    @property
    def base_prices(self) -> np.ndarray:
        return self.market.base_prices

    @property
    def wins(self) -> np.ndarray:
        return self.market.wins

    @property
    def last_matches(self) -> list[dict[str, Any]]:
        return self.market.last_matches

    @property
    def jobs(self) -> list[dict[str, Any]]:
        return self.market.jobs

    def bundle_reserve(self) -> np.ndarray:
        """Base cost of every buyer's bundle at every provider for the current batch, ``(n, k)``."""
        return self.market.reserve.copy()

    # ------------------------------------------------------------------ hooks
    def reward_scale(self, agent: str) -> float:
        """The largest buyer budget (``budget_range[1]``): the most one matched buyer pays."""
        super().reward_scale(agent)
        return float(self.budget_range[1])

    def _reset_market(self, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
        # other option keys are ignored (the PettingZoo API test passes arbitrary ones)
        fresh = check_bool("options['new_population']", options.get("new_population", False))
        self.market.reset(self.np_random, self.start_window, new_population=fresh)
        slots = np.zeros((len(self.possible_agents), self.max_buyers))
        zeros = [0.0] * len(self.possible_agents)
        return self._infos(slots, slots, slots, zeros, zeros)

    def _infos(self, offers: np.ndarray, won: np.ndarray, payments: np.ndarray,
               revenue: list[float], base_cost: list[float]) -> dict[str, dict[str, Any]]:
        """Per provider: the same keys and types at reset (zeros) and at every step."""
        wins = self.market.wins.tolist()
        under = self.market.under_quota().tolist()
        return {
            agent: {"offers": offers[i].copy(), "won": won[i].copy(),
                    "payments": payments[i].copy(), "revenue": float(revenue[i]),
                    "base_cost": float(base_cost[i]), "wins": int(wins[i]),
                    "under_quota": bool(under[i])}
            for i, agent in enumerate(self.possible_agents)
        }

    def _step_market(self, actions: np.ndarray
                     ) -> tuple[dict[str, float], dict[str, dict[str, Any]], bool]:
        multipliers = actions  # (n, max_buyers): the joint array, rows in provider order
        outcome = self.market.step(multipliers, self.np_random)
        if self.num_cycles + 1 >= self.max_cycles:  # the last step: the buyers' episode ends
            self.market.end_episode()
        infos = self._infos(np.asarray(outcome.offers, dtype=np.float64),
                            np.asarray(outcome.won, dtype=np.float64),
                            np.asarray(outcome.payments, dtype=np.float64),
                            outcome.revenue.tolist(), outcome.base_cost.tolist())
        return dict(zip(self.possible_agents, outcome.rewards.tolist())), infos, False

    # ------------------------------------------------------------------ observations and state
    def _observations(self) -> dict[str, np.ndarray]:
        obs = self._writer.observations(self.market, self.capacity, self.utilization_horizon,
                                        min(self.num_cycles / self.max_cycles, 1.0))
        return dict(zip(self.agents, obs))

    def state(self) -> np.ndarray:
        """Global state: per slot ``[present, request/reference (3), s/24, w/12, bid/500, m*eta]``,
        then per provider utilization now (3), booked over the horizon (3), base prices over their
        ranges' upper ends (3), win share (1), and the episode progress."""
        self._require_reset("state")
        scales = (self.length_range[1], max(self.wait_range[1], 1), self.budget_range[1])
        own = provider_values(self.market, self.capacity, self.utilization_horizon,
                              min(self.num_cycles / self.max_cycles, 1.0))
        return global_state(self.market, own, self.max_buyers,
                            self.price_units, self.reference_capacity, scales,
                            self.base_price_ranges[:, 1],
                            min(self.num_cycles / self.max_cycles, 1.0))

    # ------------------------------------------------------------------ metrics and rendering
    def metrics(self) -> dict[str, Any]:
        """Metrics of the episode so far.

        ``provider_utility`` (per provider, sum of payments minus base costs), ``revenue``,
        ``wins`` (per provider), ``jain_wins`` (Jain's index of wins), ``providers_without_win``,
        ``buyer_utility`` (sum over matched requests of budget minus payment) and
        ``mean_buyer_utility`` (per auctioned request, 0 for unmatched ones), ``surplus`` (buyer +
        provider utility) and its bound ``surplus_bound`` (see Reference solution),
        ``payments_above_ask`` (matches paying more than the winner's own ask), ``buyer_drops``
        (buyers who left at the end of this episode), ``population_drops`` and
        ``population_episodes`` (since the population started), ``active_buyers``,
        ``dropped_requests``, ``utilization`` (per provider, mean over steps and resources of the
        used share of capacity) and ``mean_utilization``, ``unmatched_demand`` (share of requested
        resource units, per resource, that was not matched), ``unmatched_requests`` (count),
        ``match_rate``, ``deadline_failures``, ``single_feasible`` (matches with one feasible
        provider), ``arrived``, ``auctioned``, ``matched``, ``overflow_requests``, ``completed``.
        """
        self._require_reset("metrics")
        return episode_metrics(self.market, self.num_cycles)

    def _render_text(self) -> str:
        fair = "+fairness" if self.fairness else ""
        lines = [f"CloudDoubleAuction [{self.mechanism}{fair}] step {self.num_cycles}/"
                 f"{self.max_cycles}  next batch {self.batch['bid'].size} buyers"]
        if self.num_cycles:
            m = self.metrics()
            lines.append(f"  matched {m['matched']}/{m['auctioned']}  buyer utility "
                         f"{m['buyer_utility']:.1f}  drops {m['buyer_drops']}  Jain(wins) "
                         f"{m['jain_wins']:.3f}")
            for i, agent in enumerate(self.possible_agents):
                lines.append(f"  {agent:>12}  wins {self.wins[i]:4d}  utility "
                             f"{m['provider_utility'][i]:10.1f}  util {m['utilization'][i]:.2f}")
        return "\n".join(lines)


