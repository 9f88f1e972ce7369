"""The V2X computation-offloading market of paper 000 (DRACO): the PettingZoo shell.

The simulation lives in ``core.py`` (plain numpy, one joint action array per step, emitting
request events), the reward in ``rewards.py`` (eqs. (1)-(3) from the events), the metrics in
``metrics.py`` (counters fed by the events), the observation layout in ``observations.py`` and who
is in the market in ``population.py``. This file is the shell: docstring, arguments, spaces, dict
conversion, infos, metrics and rendering. It is above 400 lines only because of the docstring.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from auction_envs.core import InvalidArgumentError, MarketEnv
from auction_envs.core.checks import (
    MAX_AGENTS,
    MAX_SCALE,
    MIN_SCALE,
    check_choice,
    check_int,
    check_real,
)
from auction_envs.core.layout import float32_box
from auction_envs.envs.v2x.arrivals import CHAIN_TASKS, SERVICE_NAMES, TASK_WORK
from auction_envs.envs.v2x.core import CoreConfig, Script, V2XCore
from auction_envs.envs.v2x.events import StepEvents
from auction_envs.envs.v2x.metrics import StepCounts, V2XCounters
from auction_envs.envs.v2x.observations import MAX_BUDGET, V2XObserver, build_layout, stack_layout
from auction_envs.envs.v2x.population import BUDGETS, Population, SyntheticPopulation
from auction_envs.envs.v2x.render import render_rgb, render_text
from auction_envs.envs.v2x.rewards import BACKOFF_COSTS, V2XReward
from auction_envs.envs.v2x.sites import SiteProfile, default_sites

#: The most requests (``obs_requests``) and frames (``history``) an observation holds.
MAX_OBSERVED = 100
#: The longest ``remote_latency`` / ``info_delay`` in steps (larger ones overflow the step clock).
MAX_DELAY = 1_000_000
RADIUS = 65.0  # m: the junction's coverage radius (the distance field's scale)


class V2XOffloadingEnv(MarketEnv):
    """Vehicles bid in a k-slot second-price auction for edge and remote computing slots.

    ## Description
    Paper 000 (DRACO), synthetic setup (§IV-A, MARKETS §2). ``n_vehicles`` vehicles (always
    present, speed 0) generate service requests; a road-side admission-control-and-assignment unit
    (ACA) runs, every step, one sealed-bid k-slot second-price auction per service type, admits the
    winners and assigns each to the edge site or the remote site by RIAL load balancing. Sites
    execute admitted requests and drop those that cannot finish before their deadline. One step is
    one time unit (the paper's deadlines of 50 and 300 are steps).

    Service types, the auction's commodities, are the four chain kinds F1, F2, F1-F2 and F2-F1
    [decision: a deadline does not change what a request needs, so F1/50 and F1/300 compete for
    the same slots]. Request mix, deadlines (50 or 300 steps), values and MMPP rates: MARKETS §2
    (``arrivals.py``).

    Each step, in this order (``core.V2XCore.step``):

    1. **Decisions.** Every request waiting for a decision (new, back from a backoff, or rejected
       with rebids left) takes its vehicle's action ``(alpha, b)``. A threshold
       ``r ~ N(0.6, 0.3)`` truncated to ``[0, 1]`` is drawn per request; the request is submitted
       if ``alpha >= r`` and otherwise held for ``ceil((1 - alpha) * 10)`` steps (the paper's
       direction; the authors' code compares the other way). The price of a submitted request is
       ``b * B``, capped by what remains of the budget ``B`` after the vehicle's earlier bids of
       the same step (``budget_mode="per_step"``, the default [decision]) or by ``B`` alone
       (``"per_request"``).
    2. **Auction** (``auction_envs.mechanisms.second_price``). Per service type ``k`` the ACA
       computes its free slots ``n_k = sum_s floor(free_s / amount_{s,k})`` from its *view* of the
       free capacity (edge: exact, including requests on their way; remote: the site's report,
       ``info_delay`` +- ``info_delay_std`` steps old, with ``N(0, info_noise_std)`` noise; plus
       what it admitted earlier in this step), admits the ``n_k`` highest bids (ties at random) and
       charges each winner the ``(n_k + 1)``-th highest bid (0 if not contended). Service types are
       auctioned one after the other in a random order each step (``type_order="random"``
       [decision]; ``"fixed"``: F1, F2, F1-F2, F2-F1), each seeing the capacity the previous ones
       left. A rejected request returns to its vehicle for a new decision next step, at most
       ``max_rebids`` (MP) times and only before its deadline; then it fails (rejected).
    3. **Assignment** (RIAL, ``sites.rial_choice``). Each winner, highest bid first, goes to the
       site with the lowest price ``0.8 x predicted utilization x resource cost`` among the sites
       with room in the view (predicted utilization = (viewed use + the request's amount) / site
       capacity; resource cost = amount x nominal duration at that site).
    4. **Execution.** A request reaches its site after the site's ``latency``, queues first in
       first out (no overtaking), starts when its amount fits, and runs for its nominal duration
       times ``1 + N(0, duration_noise_std)`` (rounded, at least 1 step). Its result travels back
       with the same latency. The site drops a queued request as soon as it can no longer finish in
       time with its nominal duration, and a running one as soon as its deadline (less the return
       latency) passes: both are deadline misses.
    5. **Arrivals** for the next step (two-state MMPP per vehicle, ``arrivals.MMPP``); new
       requests wait for a decision.

    Held requests are dropped when their cumulative hold exceeds ``max_hold`` (250) steps, when
    their deadline passes while held, or when their vehicle holds more than ``max_held`` (50)
    (the newest are dropped).

    ## Resource model [decision, the calibration]
    Tasks F1 and F2 need 3 and 30 time-resource units (the paper). A site serves a task of ``w``
    units with ``amount`` resource units for ``w / (amount * work_rate)`` steps; a chain holds the
    largest amount of its tasks for the whole chain (that pair is the site's *slot* of the service
    type). Defaults (``default_sites``): capacity split ``edge_share = 0.5``; the edge holds
    ``slot_size`` units per task at ``work_rate = edge_speed / slot_size``, so a task of ``w``
    units takes ``w / edge_speed`` steps (``edge_speed = 0.8``: an F1-F2 chain takes 41 steps, F2
    alone 37.5, against deadlines of 50 and 300); the remote site serves F1 like the edge but at
    full speed and runs F2 on twice the resources in half the time (15 steps), is
    ``remote_latency = 2`` steps away (each way) and reports its committed load
    ``info_delay = 10 +- 2`` steps late with noise 0.02. The actual duration of a run is the
    nominal one times ``1 + N(0, duration_noise_std = 0.22)`` (the paper's "small, normally
    distributed noise" on the actual resource need).

    Two parameters set the passive (RIAL only) failure curve, and nothing in the auction is bent
    for it: ``slot_size = 0.27`` sets the offered load (about 9.3 requests per step under the MMPP,
    about 21.4 time-resource units each, so roughly ``9.3 x 21.4 x 0.27 / 0.8`` ~ 60-65 resource
    units at the edge's pace): capacity 60 is high contention, above ~100 low contention;
    ``duration_noise_std`` sets the floor: with ample capacity a few tight-deadline chains run at
    the edge overrun their 50-step deadline. With the passive policy (MP 1, seeds 0 and 1, 4000
    steps) OFR is 0.20 at capacity 60 and 0.019 at capacity 230: the paper's RIAL curve (~20% and
    ~2%); ``benchmarks/v2x_capacity_sweep.py`` prints the whole sweep.

    ## Mechanism
    k-slot uniform second-price auction per service type, every step (``second_price``).

    ## Action Space
    ``Box(0, 1, shape=(2,), float32)`` per vehicle: ``(alpha, b)``, the backoff decision and the
    price as a fraction of the budget. One action applies to every request of the vehicle that
    waits for a decision in that step; it is ignored when ``needs_action == 0``.

    ## Observation Space
    ``Box(float32, shape=(75 * history,))`` with the default ``obs_requests = 4``, laid out by
    ``self.layout`` (``auction_envs.core.layout``): read fields by name, e.g.
    ``env.unwrapped.layout.get(obs, "needs_action")``; ``layout.unpack(obs)`` gives every field in
    natural units (the *scale* column: the stored entry is value / scale). One frame
    (``self.frame_layout``):

    LAYOUT_TABLE

    The last clearing price of a service type is the price its winners paid, the highest bid when
    no slot was free, 0 when uncontended; it is kept from the last step with bids of that type.
    The bid and winner counts are those of the last step (0 for a type nobody bid for): the ACA
    publishes how many bids it received, not their values. Utilizations and ``beta`` are the
    ACA's view read in the last step (refreshed every step). The arrival rates are exponential
    moving averages (weight 1/100 per step) of the requests created per step, the vehicle's own
    and the total: an estimate of the MMPP rate lambda. The ``obs_requests`` request blocks
    describe the requests waiting for a decision with the earliest deadlines (ties in arrival
    order); empty blocks are 0; ``type`` is one-hot over the service types, so F1-F2 and F2-F1
    differ. Hidden on purpose: the other vehicles' budgets, bids and requests, the sites' true
    remote load (only the ACA's delayed view), the MMPP state.

    ``history = nu`` stacks the last ``nu`` frames newest first (``obs.reshape(nu, frame size)``);
    the newest frame keeps the field names, older ones are prefixed ``lag1_``, ``lag2_``, ...;
    frames before the episode's first are 0.

    ## Rewards
    ``rewards.V2XReward``, per vehicle and step, the sum over its requests decided or auctioned in
    that step, with ``W = 0.1 B`` and ``beta`` the system utilization the ACA sees when the
    auction starts: admitted with payment ``p > 0``: ``v - p + W (1 - beta)``; admitted with
    ``p = 0``: ``W (1 - beta)``; rejected: ``-c + W (1 - beta)`` with ``c = lost_bid_penalty * v``
    (1, the authors' ``c = v``); backed off: ``-q`` with ``q = (B / n_batch) / Q * hold / 10``
    (``n_batch`` = the vehicle's requests decided this step) and, by default
    (``backoff_cost="age_plus_hold"``, the authors' code, MARKETS §2), ``delay = t + 1 - created +
    (1 - alpha) * max_backoff``, the request's age plus the hold (``backoff_cost="hold"``: the hold
    ``ceil((1 - alpha) * 10)`` alone, v0). A request admitted and then failed (dropped by its site
    or back after its deadline) costs ``failure_penalty * v`` (2 [decision]) when it fails, and a
    request dropped while held or waiting for a decision costs ``hold_drop_penalty * v`` (1
    [decision]): then "admitted, then late" nets ``-v - p + W (1 - beta)`` and a drop ``-v``, no
    better than a rejection, so reward and OFR point the same way (both 0: the paper's utility,
    under which "admitted then late" and "never offload" out-earn rejection;
    ``rewards.py`` explains). Values ``v = B (0.75 + 0.25 (50 / Q) (L / 2))``, budgets 2000 or
    1500. ``reward_scale(agent)`` is the high budget, 2000.

    ## Infos
    Per vehicle after each step: ``needs_action``, ``admitted``, ``rejected``, ``backed_off``,
    ``failed`` (requests of the vehicle that failed this step), ``payment`` (sum paid this step),
    ``budget``. After ``reset`` the same keys (zero counts), so wrappers (TorchRL) can build
    their specs from them. ``env.last_events`` holds the
    step's request events (``events.StepEvents``: held, bids with their outcome, closed with
    outcome and whether admitted), e.g. to evaluate another reward rule on the same trajectory.

    ## Starting State
    Empty sites and queues; MMPP rates and states, budgets (50/50 high/low) drawn from the seed;
    first arrivals in step 0. ``reset(options=...)`` accepts ``"budgets"`` (one per vehicle) and
    ``"arrivals"`` (a list of ``(step, vehicle, service type, relative deadline)`` replacing the
    random arrivals of the episode: scripted scenarios). Options are checked before anything
    changes.

    ## Episode End
    Truncation after ``max_cycles`` steps (8000). Never terminates. Requests still open then are
    left out of the metrics' rates.

    ## Reference solution
    None (no equilibrium is computed); the paper's passive "RIAL only" curve is the reference for
    the passive policy ``agents.baselines.PassiveV2XPolicy``.

    ## Metrics
    ``metrics()``: ``ofr`` (failed / finished requests) and its parts ``ofr_rejected``,
    ``ofr_dropped_on_hold``, ``ofr_deadline_miss``; ``utilization`` (per site, mean effective
    utilization) and ``utilization_std``; ``rebidding_overhead`` (rebids per finished request,
    averaged over vehicles: between 0 and MP, the paper's Fig. 4c) and ``rebids_per_vehicle``
    (counts); ``vehicle_ofr`` (per vehicle); ``backoff_by_budget`` and ``price_by_budget``
    (``{"high", "low"}``: mean hold steps per decision, mean submitted price).

    ## Arguments
    * ``n_vehicles`` (30), ``capacity`` (100 resource units, both sites together), ``max_rebids``
      (MP, 1), ``max_cycles`` (8000).
    * ``slot_size`` (0.27), ``edge_share`` (0.5), ``edge_speed`` (0.8), ``remote_latency`` (2),
      ``info_delay`` (10), ``info_delay_std`` (2), ``info_noise_std`` (0.02),
      ``duration_noise_std`` (0.22): the resource model above; ``sites`` (a pair of
      ``SiteProfile``) replaces it entirely.
    * ``budget_mode`` (``"per_step"``), ``type_order`` (``"random"``), ``lost_bid_penalty`` (1),
      ``failure_penalty`` (2), ``hold_drop_penalty`` (1), ``backoff_cost``
      (``"age_plus_hold"`` or ``"hold"``), ``utility_weight`` (0.1, ``W = weight x B``),
      ``tie_break`` (``"random"`` or ``"fifo"``: equal bids in arrival order).
    * ``backoff_threshold`` (``(0.6, 0.3)``: mean and std of ``r``; drawn by rejection, then by
      the inverse CDF after 50 rounds, so a far-off mean cannot loop forever), ``max_backoff``
      (10), ``max_hold`` (250), ``max_held`` (50), ``obs_requests`` (4), ``history`` (1: frames
      stacked in each observation); both at most ``MAX_OBSERVED`` (100).
    * Limits: ``n_vehicles`` at most ``core.checks.MAX_AGENTS``; capacities, speeds, noise
      levels, penalties and ``utility_weight`` at most ``core.checks.MAX_SCALE`` (1e9);
      ``capacity``, ``slot_size`` and ``edge_speed`` at least ``core.checks.MIN_SCALE`` (1e-9);
      ``remote_latency`` and ``info_delay`` at most ``MAX_DELAY`` (10^6 steps).
    * ``population``: who is in the market (``population.Population``; default the synthetic
      ``SyntheticPopulation(n_vehicles)``; the junction variant passes its own).
    * ``render_mode`` (``"ansi"``, ``"human"``, ``"rgb_array"``: site utilization over time),
      ``action_policy``.

    ## Version History
    * v1: (1) backoff cost = age plus hold (the authors' code) by default, ``backoff_cost="hold"``
      for v0's; (2) ``failure_penalty`` (now 2) charges only failures after admission, the new
      ``hold_drop_penalty`` (1) drops while held or pending (v0: one ``failure_penalty``, 0, for
      both); (3) the ACA reads its view of the sites every step, so ``remote_utilization`` and
      ``system_utilization`` (beta) no longer freeze while nobody bids (this draws the view's
      noise every step: seeded trajectories change); (4) a result back at deadline + 1 is a
      deadline miss (v0 counted it a success when the run ended within the deadline but the
      return latency pushed it past); (5) observation fields ``arrival_rate``,
      ``system_arrival_rate``, ``last_bid_count``, ``last_admitted_count`` and a one-hot request
      ``type``, and the ``history`` argument; (6) the backoff threshold draw is bounded.
    * v1 (issue 18, no trajectory change): ``reset`` returns the step's info keys with zero
      counts (it returned ``needs_action`` and ``budget`` only).
    * v1 (issue 19, no trajectory change): sizes and scales have upper bounds
      (``utility_weight = 1e300`` gave inf observations; ``n_vehicles``, ``obs_requests`` or
      ``history = 10**18`` ran out of memory or time at construction).
    * v1 (issue 11, no trajectory change): a faster step (the auctions over Python lists of the
      step's few bids, a preallocated request table compacted when full, and, with numba, one
      compiled pass each for the observation frames, the held and site phases and the counts;
      the numpy paths stay and give the same trajectories bit for bit); ``env.requests`` gives
      the open requests as column views (valid until the next step).
    * v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {
        **MarketEnv.metadata,
        "name": "v2x_offloading_v1",
        "render_modes": ["human", "ansi", "rgb_array"],
    }

    #: ``_step_market`` takes the joint action as one array (the base class validates it)
    joint_action_array: ClassVar[bool] = True

    service_names: tuple[str, ...] = SERVICE_NAMES
    chain_tasks: np.ndarray = CHAIN_TASKS
    task_work: np.ndarray = TASK_WORK
    reference_deadline: float = 50.0  # the Q of v = B (0.75 + 0.25 (Q_ref / Q) (L / 2))
    radius: float = RADIUS

    def __init__(
        self,
        n_vehicles: int = 30,
        capacity: float = 100.0,
        max_rebids: int = 1,
        max_cycles: int = 8000,
        slot_size: float = 0.27,
        edge_share: float = 0.5,
        remote_latency: int = 2,
        info_delay: int = 10,
        info_delay_std: float = 2.0,
        info_noise_std: float = 0.02,
        duration_noise_std: float = 0.22,
        edge_speed: float = 0.8,
        sites: tuple[SiteProfile, SiteProfile] | None = None,
        budget_mode: str = "per_step",
        type_order: str = "random",
        tie_break: str = "random",
        lost_bid_penalty: float = 1.0,
        failure_penalty: float = 2.0,
        hold_drop_penalty: float = 1.0,
        backoff_cost: str = "age_plus_hold",
        utility_weight: float = 0.1,
        backoff_threshold: tuple[float, float] = (0.6, 0.3),
        max_backoff: int = 10,
        max_hold: int = 250,
        max_held: int = 50,
        obs_requests: int = 4,
        history: int = 1,
        population: Population | None = None,
        render_mode: str | None = None,
        action_policy: str = "raise",
    ) -> None:
        n_vehicles = check_int("n_vehicles", n_vehicles, low=1, high=MAX_AGENTS)
        capacity = check_real("capacity", capacity, low=MIN_SCALE, high=MAX_SCALE)
        for name, value in (("max_backoff", max_backoff), ("max_hold", max_hold),
                            ("max_held", max_held)):
            check_int(name, value, low=1)
        for name, value in (("obs_requests", obs_requests), ("history", history)):
            check_int(name, value, low=1, high=MAX_OBSERVED)  # sizes of every observation
        check_int("max_rebids", max_rebids, low=0)
        for name, value in (("remote_latency", remote_latency), ("info_delay", info_delay)):
            check_int(name, value, low=0, high=MAX_DELAY)
        for name, value in (("slot_size", slot_size), ("edge_speed", edge_speed)):
            check_real(name, value, low=MIN_SCALE, high=MAX_SCALE)
        for name, value in (("info_delay_std", info_delay_std), ("info_noise_std", info_noise_std),
                            ("duration_noise_std", duration_noise_std),
                            ("lost_bid_penalty", lost_bid_penalty),
                            ("failure_penalty", failure_penalty),
                            ("hold_drop_penalty", hold_drop_penalty),
                            ("utility_weight", utility_weight)):
            check_real(name, value, low=0.0, high=MAX_SCALE)
        check_real("edge_share", edge_share, low=0.0, high=1.0, low_open=True, high_open=True)
        check_choice("budget_mode", budget_mode, ("per_step", "per_request"))
        check_choice("type_order", type_order, ("random", "fixed"))
        check_choice("tie_break", tie_break, ("random", "fifo"))
        check_choice("backoff_cost", backoff_cost, BACKOFF_COSTS)
        threshold = _check_threshold(backoff_threshold)
        if sites is None:
            sites = default_sites(slot_size, edge_share, remote_latency, info_delay,
                                  info_delay_std, info_noise_std, edge_speed)
        if not (isinstance(sites, (tuple, list)) and len(sites) == 2
                and all(isinstance(s, SiteProfile) for s in sites)):
            raise InvalidArgumentError("sites", sites, "a pair of SiteProfile (edge, remote)")
        if population is None:
            population = SyntheticPopulation(n_vehicles)
        if getattr(population, "n_vehicles", None) != n_vehicles:
            raise InvalidArgumentError("population", population,
                                       f"a Population of {n_vehicles} vehicles")
        super().__init__(max_cycles=max_cycles, render_mode=render_mode, action_policy=action_policy,
                         possible_agents=[f"vehicle_{i}" for i in range(n_vehicles)])
        self.n_vehicles = n_vehicles
        self.capacity = capacity
        self.max_rebids = int(max_rebids)
        self.sites = tuple(sites)
        self.config = CoreConfig(
            n_vehicles=n_vehicles, capacity=capacity, sites=self.sites,
            chain_tasks=self.chain_tasks, task_work=self.task_work,
            reference_deadline=self.reference_deadline, max_rebids=self.max_rebids,
            duration_noise_std=float(duration_noise_std), budget_mode=budget_mode,
            type_order=type_order, tie_break=tie_break, backoff_threshold=threshold,
            max_backoff=int(max_backoff), max_hold=int(max_hold), max_held=int(max_held))
        self.reward_function = V2XReward(lost_bid_penalty=float(lost_bid_penalty),
                                         utility_weight=float(utility_weight),
                                         failure_penalty=float(failure_penalty),
                                         hold_drop_penalty=float(hold_drop_penalty),
                                         backoff_cost=backoff_cost, max_backoff=int(max_backoff))
        self.core = V2XCore(self.config, population)
        self.population = population
        self.n_types = len(self.service_names)
        type_work = np.array([self.task_work[row[row >= 0]].sum() for row in self.chain_tasks])
        type_has = np.array([[np.any(row == f) for f in range(len(self.task_work))]
                             for row in self.chain_tasks], dtype=np.float64)
        self.history = int(history)
        self.frame_layout = build_layout(self.service_names, int(obs_requests), int(max_held),
                                         float(type_work.max()), self.max_rebids, self.radius)
        self.layout = stack_layout(self.frame_layout, self.history)
        self.observer = V2XObserver(self.frame_layout, self.core, type_work, type_has,
                                    int(obs_requests))
        observation_space = self.layout.space()
        action_space = spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
        state_size = 6 + self.n_types + 3 * n_vehicles
        self._set_spaces(
            observation_spaces=dict.fromkeys(self.possible_agents, observation_space),
            action_spaces=dict.fromkeys(self.possible_agents, action_space),
            state_space=float32_box(-np.inf, np.inf, (state_size,)),
        )

    # ------------------------------------------------------------------ episode set-up
    def _reset_market(self, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
        budgets = self._check_budgets(options.get("budgets"))
        script = self._parse_script(options.get("arrivals"))
        events = self.core.reset(self.np_random, budgets, script)
        self.counters = V2XCounters(self.n_vehicles, len(self.sites))
        counts = self.counters.add(events, record_sites=False)
        self.last_reward = np.zeros(self.n_vehicles)
        self._frames = np.zeros((self.n_vehicles, self.history, self.frame_layout.size),
                                dtype=np.float32)
        # the step's info keys (zeros: nothing was bid or closed yet), one function for both
        return self._step_infos(events, counts)

    def reward_scale(self, agent: str) -> float:
        """The high budget (2000): request values are of order the budget."""
        super().reward_scale(agent)
        return MAX_BUDGET

    def _check_budgets(self, budgets: Any) -> np.ndarray | None:
        if budgets is None:
            return None
        try:
            array = np.asarray(budgets, dtype=np.float64)
        except (TypeError, ValueError):
            array = np.zeros(0)
        if array.shape != (self.n_vehicles,) or not np.all(np.isfinite(array)) \
                or np.any(array <= 0):
            raise InvalidArgumentError("options['budgets']", budgets,
                                       f"{self.n_vehicles} finite positive budgets")
        return array

    def _parse_script(self, script: Any) -> Script | None:
        """``options["arrivals"]``: scripted requests replacing the random arrivals of the episode.

        A list of ``(step, vehicle, service type, relative deadline)`` with the service type given
        by name (``"F1-F2"``) or index; used by the tests to build hand-computed scenarios.
        """
        if script is None:
            return None
        parsed: Script = {}
        for entry in script:
            try:
                step, vehicle, stype, deadline = entry
                if isinstance(stype, str):
                    stype = self.service_names.index(stype)
                step, vehicle, stype, deadline = int(step), int(vehicle), int(stype), int(deadline)
            except (TypeError, ValueError):
                raise InvalidArgumentError("options['arrivals']", entry,
                                           "(step, vehicle, service type, deadline)") from None
            if not (0 <= vehicle < self.n_vehicles and 0 <= stype < self.n_types and deadline > 0
                    and step >= 0):
                raise InvalidArgumentError("options['arrivals']", entry,
                                           "a valid vehicle, service type, deadline > 0, step >= 0")
            parsed.setdefault(step, []).append((vehicle, stype, deadline))
        return parsed

    # ------------------------------------------------------------------ one step
    def _step_market(self, actions: np.ndarray
                     ) -> tuple[list[float], dict[str, dict[str, Any]], bool]:
        # ``joint_action_array``: the validated joint action [n_vehicles, 2], vehicle slot order
        events = self.core.step(actions, self.np_random)
        tallied = self.counters.tally(events, self.reward_function)  # one compiled pass
        if tallied is None:
            reward = self.reward_function(events, self.n_vehicles)
            counts = self.counters.add(events)
        else:
            reward, counts = tallied
        self.last_events = events  # the step's request events (analysis: other reward rules)
        self.last_reward = reward
        # aligned with self.agents (every vehicle slot lives the whole episode): one tolist()
        return reward.tolist(), self._step_infos(events, counts), False

    def _step_infos(self, events: StepEvents, counts: StepCounts) -> dict[str, dict[str, Any]]:
        # one dict display per vehicle over zipped lists (no indexing, no per-agent numpy call)
        return {agent: {"needs_action": needs, "admitted": admitted, "rejected": rejected,
                        "backed_off": backed_off, "failed": failed, "payment": payment,
                        "budget": budget}
                for agent, needs, admitted, rejected, backed_off, failed, payment, budget
                in zip(self.possible_agents, self.core.needs_action().tolist(),
                       counts.admitted.tolist(), counts.rejected.tolist(),
                       counts.backed_off.tolist(), counts.failed.tolist(),
                       counts.payment.tolist(), self.core.budget.tolist())}

    def _observations(self) -> dict[str, np.ndarray]:
        frame = self.observer(self.last_reward, self.num_cycles)
        if self.history == 1:
            return dict(zip(self.agents, frame))
        self._frames[:, 1:] = self._frames[:, :-1]
        self._frames[:, 0] = frame
        return dict(zip(self.agents, self._frames.reshape(self.n_vehicles, -1).copy()))

    # ------------------------------------------------------------------ state, metrics, render
    def state(self) -> np.ndarray:
        self._require_reset("state")
        core = self.core
        n_deciding, n_held, _ = core.counts()
        capacity = core.site_capacity
        head = [min(self.num_cycles / self.max_cycles, 1.0), *(core.running / capacity),
                *(core.committed / capacity), float(core.view_utilization[1])]
        return np.concatenate([
            head, core.last_price / MAX_BUDGET, n_deciding / 10.0,
            n_held / float(self.config.max_held), core.present.astype(np.float64),
        ]).astype(np.float32)

    def metrics(self) -> dict[str, Any]:
        """Offloading metrics of the episode so far (see the class docstring, Metrics)."""
        self._require_reset("metrics")
        return self.counters.summary(self.num_cycles, self.core.budget,
                                     [s.name for s in self.sites],
                                     dict(zip(self.service_names, self.core.last_price.tolist())))

    def _render_text(self) -> str:
        return render_text(self)

    def _render_rgb(self) -> np.ndarray:
        return render_rgb(self)

    # ------------------------------------------------------------------ read-only views
    @property
    def requests(self):
        """The open requests of the core simulator, one column each (views into its table,
        valid until the next step: tests, analysis)."""
        return self.core.open_requests()

    @property
    def present(self) -> np.ndarray:
        return self.core.present

    @property
    def budget(self) -> np.ndarray:
        return self.core.budget

    @property
    def last_price(self) -> np.ndarray:
        return self.core.last_price


def _with_layout_table(doc: str, layout_table: str) -> str:
    """The docstring with its ``LAYOUT_TABLE`` line replaced by the layout's field table."""
    indent = "    "
    return doc.replace(f"{indent}LAYOUT_TABLE", "\n".join(indent + row for row in layout_table.split("\n")))


def default_layout_table() -> str:
    """The observation table of one frame of the default synthetic env (the docstring's)."""
    return build_layout(SERVICE_NAMES, 4, 50, float(TASK_WORK.sum()), 1, RADIUS).table()


V2XOffloadingEnv.__doc__ = _with_layout_table(V2XOffloadingEnv.__doc__ or "", default_layout_table())


def _check_threshold(value: Any) -> tuple[float, float]:
    """``backoff_threshold = (mean, std)``: finite, ``std >= 0``."""
    try:
        mean, std = value
        mean, std = check_real("backoff_threshold", mean), check_real("backoff_threshold", std,
                                                                         low=0.0)
    except (TypeError, ValueError, InvalidArgumentError):
        raise InvalidArgumentError("backoff_threshold", value, "(mean, std) with std >= 0") from None
    return mean, std


__all__ = ["BUDGETS", "V2XOffloadingEnv", "default_sites"]
