"""The cloud double auction of paper 004 (RTRM), with its CDARA and ICAA baselines."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from auction_envs.core import InvalidArgumentError, MarketEnv
from auction_envs.envs.cloud.trace import TaskEvents, load_task_events, sample_path
from auction_envs.mechanisms.double_auction import (
    CSF_FORMS,
    SINGLE_FEASIBLE_RULES,
    bundle_cost,
    cdara_payment,
    contest_success,
    earliest_start,
    gsp_payment,
    icaa_demand_factor,
    jain_index,
    offered_prices,
    saw_preference,
    select_winner,
    under_quota,
    utilization_term,
)

#: Table 1 of paper 004: processing (MIPS), memory (MB), storage (MB), bandwidth.
PROVIDER_TABLE = np.array([
    [6950, 12032, 26000, 8000],
    [3450, 6144, 84000, 2650],
    [4700, 7168, 48000, 1750],
    [7500, 3840, 30000, 4000],
    [6100, 10752, 60000, 4700],
    [4900, 8704, 47000, 3600],
    [3700, 6144, 36000, 3200],
], dtype=np.float64)
PROVIDER_NAMES = tuple(f"d{i}" for i in range(1, 8))
RESOURCES = ("cpu", "memory", "storage")
MECHANISMS = ("rtrm", "cdara", "icaa")
MATCHING_ORDERS = ("strength", "arrival")
SLOT_FIELDS = (
    "present", "cpu_share", "memory_share", "storage_share", "length", "max_wait", "budget",
    "strength", "reserve_ratio", "can_schedule", "predicted_utilization",
)
PROVIDER_FIELDS = (
    "utilization_cpu", "utilization_memory", "utilization_storage",
    "booked_cpu", "booked_memory", "booked_storage",
    "base_price_cpu", "base_price_memory", "base_price_storage",
    "win_share", "last_reward", "batch_fill", "progress", "under_quota",
)


@lru_cache(maxsize=8)
def _load_trace(path: str) -> TaskEvents:
    return load_task_events(path)


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

    ``mechanism="cdara"`` (Samimi et al. 2016, paper's "simple allocation") [details decision]: fixed
    prices, ask ``sum_r R_j^r bp_i^r (1 + act_ij)`` (no utilization term); feasible = capacity in time
    and ``ask <= bid``; the lowest ask wins; the buyer pays ``(bid + ask) / 2``.

    ``mechanism="icaa"`` (Kong et al. 2015, paper's "dynamic allocation") [details decision]:
    demand-based prices, ask ``sum_r R_j^r bp_i^r (1 + act_ij) (1 + icaa_elasticity * rho/(1 + rho))``
    with ``rho_i^r = (batch demand of r) / (n * free capacity of provider i now)``; the lowest feasible
    ask wins and the buyer pays the ask.

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

    **Buyer drops** [decision, paper §5.1 with "episode" made precise]: a buyer is a trace ``user``.
    A buyer's *auction episode* is one step in which she has at least one request in the batch; she
    loses it when none of those requests is matched and wins it otherwise. After ``drop_after`` (5)
    consecutive lost auction episodes she leaves the market for the rest of the env episode: her later
    requests are skipped (``dropped_requests``). Everyone returns at ``reset``.

    **Deadlines**: a matched job starts at its earliest feasible start ``<= w_j`` and runs ``s_j`` steps,
    so it must finish by ``arrival + w_j + s_j``; the env checks every finished job and counts any
    later finish as a ``deadline_failure`` (the scheduler never produces one).

    ## Action Space
    ``Box(multiplier_low, multiplier_high, shape=(max_buyers,), float32)`` per provider (default
    ``[0, 1]``): the adjustment multiplier ``act_ij`` for each buyer slot of the batch. Entries of
    empty slots are ignored (their ``present`` flag is 0 in the observation).

    ## Observation Space
    ``Box(float32, shape=(max_buyers * 11 + 14,))`` per provider. Per slot ``j`` (11 fields, slot-major):
    ``present`` (0/1), the request as a share of this provider's capacity (cpu, memory, storage),
    ``s_j / 24``, ``w_j / 12``, ``bid_j / 500`` (divided by the budget range's upper end), the relative
    contest strength ``m * eta_j``, ``reserve_ratio`` (own base cost of the bundle / budget),
    ``can_schedule`` (0/1: capacity for it within its wait), ``predicted_utilization`` ``U_ij``. Then
    14 provider fields: utilization now (3 resources), mean booked share over the next
    ``utilization_horizon`` steps (3), own base prices over their ranges' upper ends (3), share of
    the episode's wins, last reward, batch size / ``max_buyers``, episode progress, under-quota flag.

    ## Rewards
    Per provider and step: ``sum over its matched buyers of (payment - base cost of the bundle)``
    (paper eq. 15 per step; the episodic sum is the paper's provider utility).

    ## Infos
    Per provider after each step: ``offers`` (bundle price offered per slot, 0 for empty slots),
    ``won`` (1.0 per slot it won), ``payments`` (per slot), ``revenue``, ``base_cost``, ``wins``
    (episode total), ``under_quota``. Empty dicts after ``reset``. ``env.unwrapped.last_matches`` holds
    the step's match records, ``env.unwrapped.jobs`` every matched job of the episode.

    ## Starting State
    Empty providers, fresh base prices, buyer counters at zero; the first batch is in the
    observation returned by ``reset``.

    ## Episode End
    Truncation after ``max_cycles`` steps (100 in the paper's fairness experiment). Never terminates.

    ## Reference solution
    None (``equilibrium()`` raises); ``metrics()`` gives per-provider utility, buyer utility, wins per
    provider and their Jain index, buyer drops, utilization, unmatched demand and deadline failures.

    ## Arguments
    * ``mechanism`` (``"rtrm"``), ``fairness`` (False), ``fair_share`` (0.5), ``fair_min_wins`` (1).
    * ``csf_form`` (``"exclusive"``), ``sigma`` (0.5), ``csf_weight`` (1.0), ``utilization_horizon``
      (12), ``icaa_elasticity`` (1.0), ``single_feasible_payment`` (``"own"``),
      ``matching_order`` (``"strength"``).
    * ``trace_path`` (None = packaged synthetic sample), ``step_seconds`` (1.0), ``start_window``
      (None = random), ``max_buyers`` (24), ``budget_range`` ((150, 500)), ``length_range`` ((1, 24)),
      ``wait_range`` ((1, 12)), ``base_price_ranges`` (((120, 150), (10, 70), (40, 100))),
      ``reference_capacity`` (None), ``price_units`` ((1000, 1024, 1024)), ``providers`` (Table 1).
    * ``multiplier_low`` (0.0), ``multiplier_high`` (1.0), ``drop_after`` (5).
    * ``max_cycles`` (100), ``render_mode``, ``action_policy`` (see ``MarketEnv``).

    ## Version History
    * v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {**MarketEnv.metadata, "name": "cloud_double_auction_v0"}

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
        _choice("mechanism", mechanism, MECHANISMS)
        _choice("csf_form", csf_form, CSF_FORMS)
        _choice("single_feasible_payment", single_feasible_payment, SINGLE_FEASIBLE_RULES)
        _choice("matching_order", matching_order, MATCHING_ORDERS)
        if not isinstance(fairness, (bool, np.bool_)):
            raise InvalidArgumentError("fairness", fairness, "True or False")
        _number("fair_share", fair_share, 0.0, 1.0)
        _integer("fair_min_wins", fair_min_wins, 0)
        _number("sigma", sigma, 0.0, 1.0, low_open=True)
        _number("csf_weight", csf_weight, 0.0, np.inf)
        _integer("utilization_horizon", utilization_horizon, 1)
        _number("icaa_elasticity", icaa_elasticity, 0.0, np.inf)
        _number("step_seconds", step_seconds, 0.0, np.inf, low_open=True)
        _integer("max_buyers", max_buyers, 1)
        _integer("drop_after", drop_after, 1)
        if start_window is not None:
            _integer("start_window", start_window, 0)
        self.budget_range = _range("budget_range", budget_range, positive=True)
        self.length_range = _range("length_range", length_range, integer=True, minimum=1)
        self.wait_range = _range("wait_range", wait_range, integer=True, minimum=0)
        try:
            ranges = np.array(base_price_ranges, dtype=np.float64)
        except (TypeError, ValueError):
            ranges = np.zeros(0)
        if ranges.shape != (3, 2) or not np.all(np.isfinite(ranges)) or np.any(ranges[:, 0] <= 0) \
                or np.any(ranges[:, 1] < ranges[:, 0]):
            raise InvalidArgumentError("base_price_ranges", base_price_ranges,
                                       "three (low, high) pairs with 0 < low <= high")
        self.base_price_ranges = ranges
        table = PROVIDER_TABLE if providers is None else np.asarray(providers, dtype=np.float64)
        if table.ndim != 2 or table.shape[1] < 3 or table.shape[0] < 1 \
                or not np.all(np.isfinite(table)) or np.any(table[:, :3] <= 0):
            raise InvalidArgumentError("providers", providers,
                                       "an (n, >=3) array of positive MIPS, memory MB, storage MB")
        self.providers = table.copy()
        units = np.asarray(price_units, dtype=np.float64)
        if units.shape != (3,) or np.any(~np.isfinite(units)) or np.any(units <= 0):
            raise InvalidArgumentError("price_units", price_units, "three positive numbers")
        reference = table[:, :3].max(axis=0) if reference_capacity is None \
            else np.asarray(reference_capacity, dtype=np.float64)
        if reference.shape != (3,) or np.any(~np.isfinite(reference)) or np.any(reference <= 0):
            raise InvalidArgumentError("reference_capacity", reference_capacity,
                                       "None or three positive numbers")
        _number("multiplier_low", multiplier_low, -1.0, np.inf, low_open=True)
        _number("multiplier_high", multiplier_high, float(multiplier_low), np.inf)

        self.mechanism = mechanism
        self.fairness = bool(fairness)
        self.fair_share = float(fair_share)
        self.fair_min_wins = int(fair_min_wins)
        self.csf_form = csf_form
        self.sigma = float(sigma)
        self.csf_weight = float(csf_weight)
        self.utilization_horizon = int(utilization_horizon)
        self.icaa_elasticity = float(icaa_elasticity)
        self.single_feasible_payment = single_feasible_payment
        self.matching_order = matching_order
        self.step_seconds = float(step_seconds)
        self.start_window = start_window
        self.max_buyers = int(max_buyers)
        self.drop_after = int(drop_after)
        self.multiplier_low = float(multiplier_low)
        self.multiplier_high = float(multiplier_high)
        self.price_units = units
        self.reference_capacity = reference
        self.capacity = table[:, :3] / units  # (n, 3) in price units
        self.n_providers = table.shape[0]
        self.horizon = int(self.wait_range[1] + self.length_range[1])
        if self.utilization_horizon > self.horizon:
            raise InvalidArgumentError("utilization_horizon", utilization_horizon,
                                       f"at most max wait + max length = {self.horizon}")

        path = os.fspath(sample_path() if trace_path is None else trace_path)
        try:
            self.trace = _load_trace(os.path.abspath(path))
        except (FileNotFoundError, ValueError) as error:
            raise InvalidArgumentError("trace_path", trace_path,
                                       f"readable task-event files ({error})") from None
        self.trace_path = path
        step_us = self.step_seconds * 1e6
        window = ((self.trace.timestamp - self.trace.timestamp[0]) // step_us).astype(np.int64)
        self.n_windows = int(window[-1]) + 1
        self._window_start = np.searchsorted(window, np.arange(self.n_windows + 1))
        self._trace_requests = self.trace.requests * self.reference_capacity / units

        names = PROVIDER_NAMES if self.n_providers == len(PROVIDER_NAMES) \
            else tuple(f"d{i}" for i in range(1, self.n_providers + 1))
        self.possible_agents = [f"provider_{name}" for name in names]
        super().__init__(max_cycles=max_cycles, render_mode=render_mode, action_policy=action_policy)

        m = self.max_buyers
        obs_size = m * len(SLOT_FIELDS) + len(PROVIDER_FIELDS)
        low = np.zeros(obs_size, dtype=np.float32)
        high = np.full(obs_size, np.inf, dtype=np.float32)
        slot_high = np.array([1, np.inf, np.inf, np.inf, 1, 1, 1, np.inf, np.inf, 1, np.inf],
                             dtype=np.float32)
        high[: m * len(SLOT_FIELDS)] = np.tile(slot_high, m)
        provider_high = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, np.inf, 1, 1, 1], dtype=np.float32)
        high[m * len(SLOT_FIELDS):] = provider_high
        low[m * len(SLOT_FIELDS) + PROVIDER_FIELDS.index("last_reward")] = -np.inf
        n = self.n_providers
        state_size = m * 8 + n * 10 + 1
        self._set_spaces(
            observation_spaces={a: spaces.Box(low, high, dtype=np.float32)
                                for a in self.possible_agents},
            action_spaces={a: spaces.Box(np.float32(self.multiplier_low),
                                         np.float32(self.multiplier_high), shape=(m,),
                                         dtype=np.float32) for a in self.possible_agents},
            state_space=spaces.Box(np.zeros(state_size, np.float32),
                                   np.full(state_size, np.inf, np.float32), dtype=np.float32),
        )
        self._reset_state()

    # ------------------------------------------------------------------ episode state
    def _reset_state(self) -> None:
        n, m = self.n_providers, self.max_buyers
        self.base_prices = self.base_price_ranges.mean(axis=1)[None, :].repeat(n, axis=0)
        self.booked = np.zeros((n, self.horizon, 3))
        self.window = 0
        self.batch = _empty_batch()
        self.loss_streak = np.zeros(len(self.trace.users), dtype=np.int64)
        self.dropped = np.zeros(len(self.trace.users), dtype=bool)
        self.wins = np.zeros(n, dtype=np.int64)
        self.provider_utility = np.zeros(n)
        self.revenue = np.zeros(n)
        self.last_reward = np.zeros(n)
        self.last_matches: list[dict[str, Any]] = []
        self.jobs: list[dict[str, Any]] = []
        self._running: dict[int, list[dict[str, Any]]] = {}  # finish step -> jobs
        self.counters = dict.fromkeys(
            ("arrived", "auctioned", "matched", "overflow_requests", "dropped_requests",
             "buyer_drops", "deadline_failures", "completed", "single_feasible"), 0)
        self.buyer_utility = 0.0
        self.payments = 0.0
        self.unmatched_demand = np.zeros(3)
        self.requested_demand = np.zeros(3)
        self.utilization_sum = np.zeros((n, 3))
        self.utilization_steps = 0
        self._slot_obs = np.zeros((m, len(SLOT_FIELDS)))

    def _reset_market(self, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
        self._reset_state()
        low, high = self.base_price_ranges[:, 0], self.base_price_ranges[:, 1]
        self.base_prices = self.np_random.uniform(low, high, size=(self.n_providers, 3))
        self.window = int(self.np_random.integers(self.n_windows)) if self.start_window is None \
            else self.start_window % self.n_windows
        self._next_batch()
        return {agent: {} for agent in self.possible_agents}

    def _next_batch(self) -> None:
        """Read the current window's SUBMIT events into the batch (skipping dropped buyers)."""
        first, last = self._window_start[self.window], self._window_start[self.window + 1]
        rows = np.arange(first, last)
        self.counters["arrived"] += rows.size
        active = rows[~self.dropped[self.trace.user[rows]]]
        self.counters["dropped_requests"] += rows.size - active.size
        self.counters["overflow_requests"] += max(active.size - self.max_buyers, 0)
        rows = active[: self.max_buyers]
        k = rows.size
        rng = self.np_random
        self.batch = {
            "row": rows,
            "user": self.trace.user[rows],
            "request": self._trace_requests[rows],
            "bid": rng.uniform(*self.budget_range, size=k),
            "length": rng.integers(self.length_range[0], self.length_range[1] + 1, size=k),
            "wait": rng.integers(self.wait_range[0], self.wait_range[1] + 1, size=k),
        }
        self._prepare_prices()

    def _prepare_prices(self) -> None:
        """Quantities fixed for the whole step: CSF, Gamma, starts, predicted utilization."""
        batch, n = self.batch, self.n_providers
        k = batch["bid"].size
        free = self.capacity[:, None, :] - self.booked
        # the CSF needs w > 0: a zero maximum wait counts as one step in the strength
        strength_waits = np.maximum(batch["wait"], 1).astype(np.float64)
        eta = contest_success(batch["bid"], strength_waits, self.sigma, self.csf_form)
        horizon = self.utilization_horizon
        booked_share = (self.booked[:, :horizon, :] / self.capacity[:, None, :]).sum(axis=1)
        base_util = booked_share.mean(axis=-1) / horizon  # (n,)
        share = batch["request"][None, :, :] / self.capacity[:, None, :]  # (n, k, 3)
        added = np.minimum(batch["length"], horizon)[None, :] / horizon * share.mean(axis=-1)
        self._predicted = base_util[:, None] + added  # (n, k)
        self._eta = eta
        self._gamma = utilization_term(eta, self._predicted, self.csf_weight)
        self._starts = earliest_start(free, batch["request"], batch["length"], batch["wait"])
        self._reserve = bundle_cost(batch["request"], self.base_prices)  # (n, k)
        if self.mechanism == "icaa":
            demand = batch["request"].sum(axis=0)
            self._icaa = icaa_demand_factor(demand, free[:, 0, :], self.icaa_elasticity)
        # the slot part of the observation, per provider: (n, m, fields)
        slots = np.zeros((n, self.max_buyers, len(SLOT_FIELDS)))
        if k:
            slots[:, :k, 0] = 1.0
            slots[:, :k, 1:4] = share
            slots[:, :k, 4] = batch["length"] / self.length_range[1]
            slots[:, :k, 5] = batch["wait"] / max(self.wait_range[1], 1)
            slots[:, :k, 6] = batch["bid"] / self.budget_range[1]
            slots[:, :k, 7] = k * eta
            slots[:, :k, 8] = self._reserve / batch["bid"]
            slots[:, :k, 9] = self._starts >= 0
            slots[:, :k, 10] = self._predicted
        self._slot_obs = slots

    def bundle_reserve(self) -> np.ndarray:
        """Base cost of every buyer's bundle at every provider for the current batch, ``(n, k)``."""
        return self._reserve.copy()

    # ------------------------------------------------------------------ one step
    def _offers(self, multipliers: np.ndarray) -> np.ndarray:
        """Bundle price offered by every provider to every buyer of the batch, ``(n, k)``."""
        batch = self.batch
        if self.mechanism == "rtrm":
            prices = offered_prices(self.base_prices, multipliers, self._gamma)
        elif self.mechanism == "cdara":
            prices = offered_prices(self.base_prices, multipliers)
        else:
            prices = offered_prices(self.base_prices * self._icaa, multipliers)
        return bundle_cost(batch["request"], prices)

    def _step_market(self, actions: dict[str, np.ndarray]
                     ) -> tuple[dict[str, float], dict[str, dict[str, Any]], bool]:
        batch, n = self.batch, self.n_providers
        k = batch["bid"].size
        multipliers = np.stack([actions[a][:k] for a in self.possible_agents])  # (n, k)
        offers = self._offers(multipliers)
        won = np.zeros((n, self.max_buyers))
        paid = np.zeros((n, self.max_buyers))
        padded = np.zeros((n, self.max_buyers))
        padded[:, :k] = offers
        revenue = np.zeros(n)
        base_cost = np.zeros(n)
        self.last_matches = []
        if self.matching_order == "strength":
            strength = batch["bid"] / np.maximum(batch["wait"], 1) ** self.sigma
            order = np.lexsort((np.arange(k), -strength))
        else:
            order = np.arange(k)
        matched = np.zeros(k, dtype=bool)
        for j in order:
            record = self._match_one(int(j), offers[:, j])
            self.last_matches.append(record)
            p = record["provider"]
            if p < 0:
                continue
            matched[j] = True
            won[p, j] = 1.0
            paid[p, j] = record["payment"]
            revenue[p] += record["payment"]
            base_cost[p] += record["reserve"]
        rewards = revenue - base_cost
        self._update_buyers(matched)
        self._account(matched, rewards, revenue)
        self._advance()
        infos = {
            agent: {
                "offers": padded[i],
                "won": won[i], "payments": paid[i], "revenue": float(revenue[i]),
                "base_cost": float(base_cost[i]), "wins": int(self.wins[i]),
                "under_quota": bool(self._under_quota()[i]),
            }
            for i, agent in enumerate(self.possible_agents)
        }
        return dict(zip(self.possible_agents, rewards.tolist())), infos, False

    def _under_quota(self) -> np.ndarray:
        if not self.fairness:
            return np.zeros(self.n_providers, dtype=bool)
        return under_quota(self.wins, self.fair_share, self.fair_min_wins)

    def _match_one(self, j: int, offers: np.ndarray) -> dict[str, Any]:
        batch = self.batch
        bid, length, wait = float(batch["bid"][j]), int(batch["length"][j]), int(batch["wait"][j])
        request = batch["request"][j]
        free = self.capacity[:, None, :] - self.booked
        starts = earliest_start(free, request[None, :], np.array([length]), np.array([wait]))[:, 0]
        feasible = (starts >= 0) & (offers <= bid)
        if self.mechanism == "rtrm":
            utilization = (self.booked[:, 0, :] / self.capacity).mean(axis=-1)
            waits = np.where(starts >= 0, starts, self.horizon).astype(np.float64)
            quality = np.column_stack([offers, utilization, waits])
            scores = saw_preference(quality, [False, True, False], bid)
        else:
            scores = -offers
        priority = self._under_quota() if self.fairness else None
        winner, runner_up = select_winner(scores, feasible, priority)
        record = {
            "slot": j, "user": int(batch["user"][j]), "bid": bid, "length": length, "wait": wait,
            "arrival": self.num_cycles, "provider": winner, "runner_up": runner_up,
            "n_feasible": int(feasible.sum()), "payment": 0.0, "reserve": 0.0, "offer": 0.0,
            "start": -1, "finish": -1, "deadline": self.num_cycles + wait + length,
            "request": request.copy(),
        }
        if winner < 0:
            return record
        reserve = float(self._reserve[winner, j])
        if self.mechanism == "rtrm":
            payment = gsp_payment(offers, winner, runner_up, bid, reserve,
                                  self.single_feasible_payment)
        elif self.mechanism == "cdara":
            payment = cdara_payment(bid, offers[winner])
        else:
            payment = float(offers[winner])
        start = int(starts[winner])
        self.booked[winner, start:start + length, :] += request
        self.wins[winner] += 1
        self.counters["single_feasible"] += int(runner_up < 0)
        record.update(payment=payment, reserve=reserve, offer=float(offers[winner]),
                      start=self.num_cycles + start, finish=self.num_cycles + start + length)
        self.jobs.append(dict(record))
        self._running.setdefault(record["finish"], []).append(self.jobs[-1])
        return record

    def _update_buyers(self, matched: np.ndarray) -> None:
        users = self.batch["user"]
        if users.size == 0:
            return
        present = np.unique(users)
        winners = np.unique(users[matched])
        losers = np.setdiff1d(present, winners)
        self.loss_streak[winners] = 0
        self.loss_streak[losers] += 1
        leaving = losers[self.loss_streak[losers] >= self.drop_after]
        self.dropped[leaving] = True
        self.counters["buyer_drops"] += int(leaving.size)

    def _account(self, matched: np.ndarray, rewards: np.ndarray, revenue: np.ndarray) -> None:
        batch = self.batch
        k = matched.size
        payments = np.array([r["payment"] for r in self.last_matches if r["provider"] >= 0])
        bids = np.array([r["bid"] for r in self.last_matches if r["provider"] >= 0])
        self.counters["auctioned"] += k
        self.counters["matched"] += int(matched.sum())
        self.buyer_utility += float(np.sum(bids - payments)) if payments.size else 0.0
        self.payments += float(payments.sum()) if payments.size else 0.0
        self.requested_demand += batch["request"].sum(axis=0)
        self.unmatched_demand += batch["request"][~matched].sum(axis=0)
        self.provider_utility += rewards
        self.revenue += revenue
        self.last_reward = rewards
        self.utilization_sum += self.booked[:, 0, :] / self.capacity
        self.utilization_steps += 1

    def _advance(self) -> None:
        """Move time one step: running jobs progress, finished ones are checked, next batch."""
        now = self.num_cycles + 1
        for job in self._running.pop(now, []):
            self.counters["completed"] += 1
            self.counters["deadline_failures"] += int(job["finish"] > job["deadline"])
        self.booked = np.concatenate([self.booked[:, 1:], np.zeros_like(self.booked[:, :1])],
                                     axis=1)
        self.window = (self.window + 1) % self.n_windows
        self._next_batch()

    # ------------------------------------------------------------------ observations and state
    def _provider_features(self) -> np.ndarray:
        n = self.n_providers
        features = np.zeros((n, len(PROVIDER_FIELDS)))
        features[:, 0:3] = self.booked[:, 0, :] / self.capacity
        horizon = self.utilization_horizon
        features[:, 3:6] = self.booked[:, :horizon, :].mean(axis=1) / self.capacity
        features[:, 6:9] = self.base_prices / self.base_price_ranges[:, 1]
        features[:, 9] = self.wins / max(int(self.wins.sum()), 1)
        features[:, 10] = self.last_reward
        features[:, 11] = self.batch["bid"].size / self.max_buyers
        features[:, 12] = min(self.num_cycles / self.max_cycles, 1.0)
        features[:, 13] = self._under_quota()
        np.clip(features[:, :6], 0.0, 1.0, out=features[:, :6])
        return features

    def _observations(self) -> dict[str, np.ndarray]:
        n = self.n_providers
        provider = self._provider_features()
        obs = np.concatenate([self._slot_obs.reshape(n, -1), provider], axis=1).astype(np.float32)
        return {agent: obs[i] for i, agent in enumerate(self.agents)}

    def state(self) -> np.ndarray:
        """Global state: per slot ``[present, request/reference (3), s/24, w/12, bid/500, m*eta]``,
        then per provider utilization now (3), booked over the horizon (3), base prices (3), win
        share (1), and the episode progress."""
        m = self.max_buyers
        k = self.batch["bid"].size
        slots = np.zeros((m, 8))
        if k:
            slots[:k, 0] = 1.0
            slots[:k, 1:4] = self.batch["request"] * self.price_units / self.reference_capacity
            slots[:k, 4:8] = self._slot_obs[0, :k, 4:8]
        provider = self._provider_features()
        progress = min(self.num_cycles / self.max_cycles, 1.0)
        return np.concatenate([slots.ravel(), provider[:, :10].ravel(), [progress]]
                              ).astype(np.float32)

    # ------------------------------------------------------------------ metrics and rendering
    def metrics(self) -> dict[str, Any]:
        """Metrics of the episode so far.

        ``provider_utility`` (per provider, sum of payments minus base costs), ``revenue``,
        ``wins`` (per provider), ``jain_wins`` (Jain's index of wins), ``providers_without_win``,
        ``buyer_utility`` (sum over matched requests of budget minus payment) and
        ``mean_buyer_utility`` (per auctioned request, 0 for unmatched ones), ``buyer_drops``,
        ``dropped_requests``, ``utilization`` (per provider, mean over steps and resources of the
        used share of capacity) and ``mean_utilization``, ``unmatched_demand`` (share of requested
        resource units, per resource, that was not matched), ``unmatched_requests`` (count),
        ``match_rate``, ``deadline_failures``, ``single_feasible`` (matches with one feasible
        provider), ``arrived``, ``auctioned``, ``matched``, ``overflow_requests``, ``completed``.
        """
        c = self.counters
        steps = max(self.utilization_steps, 1)
        utilization = (self.utilization_sum / steps).mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            unmatched = np.where(self.requested_demand > 0,
                                 self.unmatched_demand / self.requested_demand, 0.0)
        return {
            "steps": self.num_cycles,
            "provider_utility": self.provider_utility.copy(),
            "total_provider_utility": float(self.provider_utility.sum()),
            "revenue": self.revenue.copy(),
            "wins": self.wins.copy(),
            "jain_wins": jain_index(self.wins),
            "providers_without_win": int(np.sum(self.wins == 0)),
            "buyer_utility": self.buyer_utility,
            "mean_buyer_utility": self.buyer_utility / max(c["auctioned"], 1),
            "payments": self.payments,
            "buyer_drops": c["buyer_drops"],
            "dropped_requests": c["dropped_requests"],
            "utilization": utilization,
            "mean_utilization": float(utilization.mean()),
            "unmatched_demand": unmatched,
            "unmatched_requests": c["auctioned"] - c["matched"],
            "match_rate": c["matched"] / max(c["auctioned"], 1),
            "deadline_failures": c["deadline_failures"],
            "single_feasible": c["single_feasible"],
            "arrived": c["arrived"], "auctioned": c["auctioned"], "matched": c["matched"],
            "overflow_requests": c["overflow_requests"], "completed": c["completed"],
        }

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
                             f"{self.provider_utility[i]:10.1f}  util {m['utilization'][i]:.2f}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------- argument checks
def _empty_batch() -> dict[str, np.ndarray]:
    return {"row": np.zeros(0, np.int64), "user": np.zeros(0, np.int64),
            "request": np.zeros((0, 3)), "bid": np.zeros(0), "length": np.zeros(0, np.int64),
            "wait": np.zeros(0, np.int64)}


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidArgumentError(name, value, f"one of {allowed}")


def _number(name: str, value: Any, low: float, high: float, low_open: bool = False) -> None:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and np.isfinite(value) and (value > low if low_open else value >= low) and value <= high
    if not ok:
        raise InvalidArgumentError(name, value, f"a finite number in {'(' if low_open else '['}"
                                                f"{low}, {high}]")


def _integer(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise InvalidArgumentError(name, value, f"an integer >= {minimum}")


def _range(name: str, value: Any, positive: bool = False, integer: bool = False,
           minimum: float | None = None) -> tuple:
    try:
        low, high = value
    except (TypeError, ValueError):
        raise InvalidArgumentError(name, value, "a (low, high) pair") from None
    numbers = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    ok = all(isinstance(v, numbers) and not isinstance(v, bool) and np.isfinite(v)
             for v in (low, high)) and low <= high
    if ok and positive:
        ok = low > 0
    if ok and minimum is not None:
        ok = low >= minimum
    if not ok:
        kind = "integers" if integer else "numbers"
        bound = f" >= {minimum}" if minimum is not None else (" > 0" if positive else "")
        raise InvalidArgumentError(name, value, f"a (low, high) pair of finite {kind}{bound}, "
                                                f"low <= high")
    return (int(low), int(high)) if integer else (float(low), float(high))
