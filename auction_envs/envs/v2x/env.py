"""The V2X computation-offloading market of paper 000 (DRACO), as a discrete-event simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from auction_envs.core import InvalidArgumentError, MarketEnv
from auction_envs.envs.v2x.arrivals import (
    CHAIN_TASKS,
    MMPP,
    SERVICE_NAMES,
    TASK_WORK,
    bid_values,
    draw_services,
)
from auction_envs.envs.v2x.requests import DECIDE, HELD, QUEUED, RUNNING, TRANSIT, RequestTable
from auction_envs.envs.v2x.sites import DelayedView, SiteProfile, rial_choice
from auction_envs.mechanisms.second_price import second_price

BUDGETS = (2000.0, 1500.0)  # high, low
MAX_BUDGET = 2000.0
REQUEST_FEATURES = ("present", "work", "has_F1", "has_F2", "deadline", "time_left", "value",
                    "attempts")
HEADER_FIELDS = (
    "needs_action", "budget", "n_deciding", "n_held", "n_in_service", "edge_utilization",
    "remote_utilization", "system_utilization", "active_vehicles", "present", "distance",
    "uplink_share", "last_reward",
)
# Outcome codes of finished requests (metrics).
SUCCESS, REJECTED, HOLD_DROP, DEADLINE_MISS = 0, 1, 2, 3


def default_sites(slot_size: float = 0.27, edge_share: float = 0.5, remote_latency: int = 2,
                  info_delay: int = 10, info_delay_std: float = 2.0, info_noise_std: float = 0.02,
                  edge_speed: float = 0.8) -> tuple[SiteProfile, SiteProfile]:
    """The synthetic setup's two sites (edge, remote); see ``V2XOffloadingEnv`` (Resource model)."""
    edge = SiteProfile("edge", edge_share, amount=(slot_size, slot_size),
                       work_rate=edge_speed / slot_size)
    remote = SiteProfile("remote", 1.0 - edge_share, amount=(slot_size, 2 * slot_size),
                         work_rate=1.0 / slot_size, latency=remote_latency, info_delay=info_delay,
                         info_delay_std=info_delay_std, info_noise_std=info_noise_std)
    return edge, remote


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

    Each step, in this order:

    1. **Decisions.** Every request waiting for a decision (new, back from a backoff, or rejected
       with rebids left) takes its vehicle's action ``(alpha, b)``. A threshold
       ``r ~ N(0.6, 0.3)`` truncated to ``[0, 1]`` is drawn per request; the request is submitted
       if ``alpha >= r`` and otherwise held for ``ceil((1 - alpha) * 10)`` steps (the paper's
       direction; the authors' code compares the other way) at a cost
       ``q = (B / n_batch) / Q * hold / 10`` (``n_batch`` = the vehicle's requests decided this
       step). The price of a submitted request is ``b * B``, capped by what remains of the budget
       ``B`` after the vehicle's earlier bids of the same step (``budget_mode="per_step"``, the
       default [decision]) or by ``B`` alone (``"per_request"``).
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
    3. **Assignment** (RIAL). Each winner, highest bid first, goes to the site with the lowest
       price ``0.8 x predicted utilization x resource cost`` among the sites with room in the
       view (predicted utilization = (viewed use + the request's amount) / site capacity;
       resource cost = amount x nominal duration at that site).
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
    ``Box(float32, shape=(13 + 4 + 4 * 8,))`` = 49 (``obs_requests = 4``). Header (``HEADER_FIELDS``):
    ``needs_action`` (1 if a request waits for a decision), ``budget / 2000``, requests waiting
    for a decision ``/ 10``, held ``/ 50``, in service (transit, queued, running) ``/ 10``, edge
    utilization, remote utilization *as the ACA sees it* (delayed, noisy), system utilization
    ``beta`` as the ACA sees it, fraction of vehicles present, ``present`` (1 unless the vehicle is
    outside the junction, intersection variant), distance to the ACA ``/ 65 m``, uplink share
    ``/ 1690 Mbps`` (0 in the synthetic setup), last reward ``/ budget``. Then the last clearing
    price per service type ``/ budget`` (``n_service_types`` entries, 4 here: the price the
    winners paid, the highest bid when no slot was free, 0 when uncontended; kept from the last
    step with bids of that type). Then, for the
    ``obs_requests`` requests waiting for a decision with the earliest deadlines,
    ``REQUEST_FEATURES``: present, work ``/ 33``, has F1, has F2, relative deadline ``/ 300``,
    time left ``/ 300``, bid value ``/ budget``, submissions so far ``/ (max_rebids + 1)``.

    ## Rewards
    Per vehicle and step, the sum over its requests decided or auctioned in that step, with
    ``W = 0.1 B`` and ``beta`` the system utilization the ACA sees when the auction starts:
    admitted with payment ``p > 0``: ``v - p + W (1 - beta)``; admitted with ``p = 0``:
    ``W (1 - beta)``; rejected: ``-c + W (1 - beta)`` with ``c = lost_bid_penalty * v``
    (1, the authors' ``c = v``); backed off: ``-q``. Failures after admission (deadline misses)
    and hold drops cost ``failure_penalty * v`` (0 by default [decision]: the paper's utility has
    no such term). Values ``v = B (0.75 + 0.25 (50 / Q) (L / 2))``, budgets 2000 or 1500.

    ## Infos
    Per vehicle after each step: ``needs_action``, ``admitted``, ``rejected``, ``backed_off``,
    ``failed`` (requests of the vehicle that failed this step), ``payment`` (sum paid this step),
    ``budget``. After ``reset`` only ``needs_action`` and ``budget``.

    ## Starting State
    Empty sites and queues; MMPP rates and states, budgets (50/50 high/low) drawn from the seed;
    first arrivals in step 0. ``reset(options=...)`` accepts ``"budgets"`` (one per vehicle) and
    ``"arrivals"`` (a list of ``(step, vehicle, service type, relative deadline)`` replacing the
    random arrivals of the episode: scripted scenarios).

    ## Episode End
    Truncation after ``max_cycles`` steps (8000). Never terminates. Requests still open then are
    left out of the metrics' rates.

    ## Reference solution
    None (no equilibrium is computed); the paper's passive "RIAL only" curve is the reference for
    the passive policy ``agents.baselines.PassiveV2XPolicy``.

    ## Metrics
    ``metrics()``: ``ofr`` (failed / finished requests) and its parts ``ofr_rejected``,
    ``ofr_dropped_on_hold``, ``ofr_deadline_miss``; ``utilization`` (per site, mean effective
    utilization) and ``utilization_std``; ``rebidding_overhead`` (rebids per finished request, averaged over
    vehicles: between 0 and MP, the paper's Fig. 4c) and ``rebids_per_vehicle`` (counts);
    ``vehicle_ofr`` (per vehicle); ``backoff_by_budget`` and ``price_by_budget``
    (``{"high", "low"}``: mean hold steps per decision, mean submitted price).

    ## Arguments
    * ``n_vehicles`` (30), ``capacity`` (100 resource units, both sites together), ``max_rebids``
      (MP, 1), ``max_cycles`` (8000).
    * ``slot_size`` (0.27), ``edge_share`` (0.5), ``edge_speed`` (0.8), ``remote_latency`` (2),
      ``info_delay`` (10), ``info_delay_std`` (2), ``info_noise_std`` (0.02),
      ``duration_noise_std`` (0.22): the resource model above; ``sites`` (a pair of
      ``SiteProfile``) replaces it entirely.
    * ``budget_mode`` (``"per_step"``), ``type_order`` (``"random"``), ``lost_bid_penalty`` (1),
      ``failure_penalty`` (0), ``utility_weight`` (0.1, ``W = weight x B``), ``tie_break``
      (``"random"`` or ``"fifo"``: equal bids in arrival order).
    * ``backoff_threshold`` (``(0.6, 0.3)``: mean and std of ``r``), ``max_backoff`` (10),
      ``max_hold`` (250), ``max_held`` (50), ``obs_requests`` (4).
    * ``render_mode`` (``"ansi"``, ``"human"``, ``"rgb_array"``: site utilization over time),
      ``action_policy``.

    ## Version History
    * v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {
        **MarketEnv.metadata,
        "name": "v2x_offloading_v0",
        "render_modes": ["human", "ansi", "rgb_array"],
    }

    service_names: tuple[str, ...] = SERVICE_NAMES
    chain_tasks: np.ndarray = CHAIN_TASKS
    task_work: np.ndarray = TASK_WORK
    reference_deadline: float = 50.0  # the Q of v = B (0.75 + 0.25 (Q_ref / Q) (L / 2))

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
        failure_penalty: float = 0.0,
        utility_weight: float = 0.1,
        backoff_threshold: tuple[float, float] = (0.6, 0.3),
        max_backoff: int = 10,
        max_hold: int = 250,
        max_held: int = 50,
        obs_requests: int = 4,
        render_mode: str | None = None,
        action_policy: str = "raise",
    ) -> None:
        _positive_int("n_vehicles", n_vehicles)
        _nonnegative_int("max_rebids", max_rebids)
        _positive_int("max_backoff", max_backoff)
        _positive_int("max_hold", max_hold)
        _positive_int("max_held", max_held)
        _positive_int("obs_requests", obs_requests)
        _nonnegative_int("remote_latency", remote_latency)
        _nonnegative_int("info_delay", info_delay)
        for name, value in (("capacity", capacity), ("slot_size", slot_size),
                            ("edge_speed", edge_speed)):
            if not (np.isscalar(value) and np.isfinite(value) and value > 0):
                raise InvalidArgumentError(name, value, "a finite number > 0")
        for name, value in (("info_delay_std", info_delay_std), ("info_noise_std", info_noise_std),
                            ("duration_noise_std", duration_noise_std),
                            ("lost_bid_penalty", lost_bid_penalty),
                            ("failure_penalty", failure_penalty), ("utility_weight", utility_weight)):
            if not (np.isscalar(value) and np.isfinite(value) and value >= 0):
                raise InvalidArgumentError(name, value, "a finite number >= 0")
        if not (np.isscalar(edge_share) and 0 < edge_share < 1):
            raise InvalidArgumentError("edge_share", edge_share, "a number in (0, 1)")
        if budget_mode not in ("per_step", "per_request"):
            raise InvalidArgumentError("budget_mode", budget_mode, "'per_step' or 'per_request'")
        if type_order not in ("random", "fixed"):
            raise InvalidArgumentError("type_order", type_order, "'random' or 'fixed'")
        if tie_break not in ("random", "fifo"):
            raise InvalidArgumentError("tie_break", tie_break, "'random' or 'fifo'")
        if (len(backoff_threshold) != 2 or not np.all(np.isfinite(backoff_threshold))
                or backoff_threshold[1] < 0):
            raise InvalidArgumentError("backoff_threshold", backoff_threshold,
                                       "(mean, std) with std >= 0")
        if sites is None:
            sites = default_sites(slot_size, edge_share, remote_latency, info_delay,
                                  info_delay_std, info_noise_std, edge_speed)
        if len(sites) != 2 or not all(isinstance(s, SiteProfile) for s in sites):
            raise InvalidArgumentError("sites", sites, "a pair of SiteProfile (edge, remote)")
        self.n_vehicles = int(n_vehicles)
        self.capacity = float(capacity)
        self.max_rebids = int(max_rebids)
        self.sites = tuple(sites)
        self.duration_noise_std = float(duration_noise_std)
        self.budget_mode = budget_mode
        self.type_order = type_order
        self.tie_break = tie_break
        self.lost_bid_penalty = float(lost_bid_penalty)
        self.failure_penalty = float(failure_penalty)
        self.utility_weight = float(utility_weight)
        self.backoff_threshold = (float(backoff_threshold[0]), float(backoff_threshold[1]))
        self.max_backoff = int(max_backoff)
        self.max_hold = int(max_hold)
        self.max_held = int(max_held)
        self.obs_requests = int(obs_requests)

        self.site_capacity = np.array([s.share for s in self.sites]) * self.capacity
        slots = [s.slot(self.chain_tasks, self.task_work) for s in self.sites]
        self.slot_amount = np.array([a for a, _ in slots])  # (sites, types)
        self.slot_duration = np.array([d for _, d in slots])  # (sites, types), nominal steps
        self.slot_cost = self.slot_amount * self.slot_duration
        self.chain_length = (self.chain_tasks >= 0).sum(axis=1)
        self.type_work = np.array([self.task_work[row[row >= 0]].sum() for row in self.chain_tasks])
        self.type_has = np.array([[np.any(row == f) for f in range(len(self.task_work))]
                                  for row in self.chain_tasks], dtype=np.float64)
        self.max_work = float(self.type_work.max())
        self.n_types = len(self.service_names)
        self.site_latency = np.array([s.latency for s in self.sites], dtype=np.int64)

        self.possible_agents = [f"vehicle_{i}" for i in range(self.n_vehicles)]
        super().__init__(max_cycles=max_cycles, render_mode=render_mode, action_policy=action_policy)
        self.observation_size = len(HEADER_FIELDS) + self.n_types \
            + self.obs_requests * len(REQUEST_FEATURES)
        low = np.zeros(self.observation_size, dtype=np.float32)
        high = np.full(self.observation_size, np.inf, dtype=np.float32)
        low[HEADER_FIELDS.index("last_reward")] = -np.inf
        for name in ("needs_action", "present", "edge_utilization", "remote_utilization",
                     "system_utilization", "active_vehicles"):
            high[HEADER_FIELDS.index(name)] = 1.0
        base = len(HEADER_FIELDS) + self.n_types
        for j in range(self.obs_requests):
            for name in ("present", "has_F1", "has_F2", "work", "deadline", "attempts"):
                high[base + j * len(REQUEST_FEATURES) + REQUEST_FEATURES.index(name)] = 1.0
        observation_space = spaces.Box(low, high, dtype=np.float32)
        action_space = spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
        state_size = 6 + self.n_types + 3 * self.n_vehicles
        self._set_spaces(
            observation_spaces=dict.fromkeys(self.possible_agents, observation_space),
            action_spaces=dict.fromkeys(self.possible_agents, action_space),
            state_space=spaces.Box(-np.inf, np.inf, shape=(state_size,), dtype=np.float32),
        )
        self._views = [DelayedView(s.info_delay, s.info_delay_std, s.info_noise_std)
                       for s in self.sites]
        self._initialized = False

    # ------------------------------------------------------------------ episode set-up
    def _reset_market(self, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
        rng = self.np_random
        n = self.n_vehicles
        self.budget = np.where(rng.random(n) < 0.5, BUDGETS[0], BUDGETS[1])
        if "budgets" in options:
            budgets = np.asarray(options["budgets"], dtype=np.float64)
            if budgets.shape != (n,) or not np.all(np.isfinite(budgets)) or np.any(budgets <= 0):
                raise InvalidArgumentError("options['budgets']", options["budgets"],
                                           f"{n} finite positive budgets")
            self.budget = budgets.copy()
        self._script = self._parse_script(options.get("arrivals"))
        self._reset_population(rng)
        self.requests = RequestTable()
        self._next_uid = 0
        self.committed = np.zeros(len(self.sites))  # running + queued amounts (what sites report)
        self.running = np.zeros(len(self.sites))
        for view in self._views:
            view.reset(0.0)
        self.view_utilization = np.zeros(len(self.sites))
        self.last_price = np.zeros(self.n_types)
        self.last_reward = np.zeros(n)
        self.utilization_history: list[np.ndarray] = []
        self.view_history: list[np.ndarray] = []
        # episode counters
        self.created = np.zeros(n, dtype=np.int64)
        self.outcomes = np.zeros((n, 4), dtype=np.int64)  # SUCCESS, REJECTED, HOLD_DROP, MISS
        self.rebids = np.zeros(n, dtype=np.int64)
        self.submissions = np.zeros(n, dtype=np.int64)
        self.backoff_sum = np.zeros(n)
        self.decisions = np.zeros(n, dtype=np.int64)
        self.price_sum = np.zeros(n)
        self.payment_sum = np.zeros(n)
        self.admitted_count = np.zeros(n, dtype=np.int64)
        self._spawn(0)
        self._initialized = True
        needs = self._needs_action()
        return {agent: {"needs_action": bool(needs[i]), "budget": float(self.budget[i])}
                for i, agent in enumerate(self.possible_agents)}

    def _reset_population(self, rng: np.random.Generator) -> None:
        """Vehicles and their arrival processes (the intersection variant overrides this)."""
        self.mmpp = MMPP(self.n_vehicles)
        self.mmpp.reset(rng)
        self.present = np.ones(self.n_vehicles, dtype=bool)

    def _parse_script(self, script: Any) -> dict[int, list[tuple[int, int, int]]] | None:
        """``options["arrivals"]``: scripted requests replacing the random arrivals of the episode.

        A list of ``(step, vehicle, service type, relative deadline)`` with the service type given
        by name (``"F1-F2"``) or index; used by the tests to build hand-computed scenarios.
        """
        if script is None:
            return None
        parsed: dict[int, list[tuple[int, int, int]]] = {}
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

    def _new_request_columns(self, now: int) -> dict[str, np.ndarray]:
        """Requests created at step ``now``: vehicle, type, deadline and value columns."""
        rng = self.np_random
        if self._script is not None:
            rows = self._script.get(now, [])
            return {"vehicle": np.array([r[0] for r in rows], dtype=np.int64),
                    "stype": np.array([r[1] for r in rows], dtype=np.int64),
                    "relative_deadline": np.array([r[2] for r in rows], dtype=np.int64)}
        counts = self.mmpp.arrivals(now, rng)
        total = int(counts.sum())
        vehicle = np.repeat(np.arange(self.n_vehicles), counts)
        stype, deadline = draw_services(total, rng)
        return {"vehicle": vehicle, "stype": stype, "relative_deadline": deadline}

    def _spawn(self, now: int) -> None:
        columns = self._new_request_columns(now)
        vehicle = columns["vehicle"]
        count = len(vehicle)
        if count == 0:
            return
        stype = columns["stype"]
        relative = columns["relative_deadline"]
        columns["uid"] = np.arange(self._next_uid, self._next_uid + count)
        self._next_uid += count
        columns["created"] = np.full(count, now)
        columns["deadline"] = now + relative
        columns["value"] = bid_values(self.budget[vehicle], relative, self.chain_length[stype],
                                      self.reference_deadline)
        columns["state"] = np.full(count, DECIDE)
        columns["decide_at"] = np.full(count, now)
        columns["site"] = np.full(count, -1)
        self.requests.append(columns)
        self.created += np.bincount(vehicle, minlength=self.n_vehicles)

    # ------------------------------------------------------------------ one step
    def validate_actions(self, actions: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Fast path of :meth:`MarketEnv.validate_actions` for the common case (a dict of every
        live agent's in-bounds ``(alpha, b)``), checked on one stacked array; anything else goes
        through the base class, which raises the documented errors (or clips)."""
        if isinstance(actions, Mapping) and len(actions) == len(self.agents):
            try:
                array = np.asarray([actions[agent] for agent in self.agents], dtype=np.float64)
            except (KeyError, TypeError, ValueError):
                return super().validate_actions(actions)
            if array.shape == (len(self.agents), 2) and np.isfinite(array).all() \
                    and array.min() >= 0.0 and array.max() <= 1.0:
                return dict(zip(self.agents, array))
        return super().validate_actions(actions)

    def _step_market(self, actions: dict[str, np.ndarray]
                     ) -> tuple[dict[str, float], dict[str, dict[str, Any]], bool]:
        t = self.num_cycles
        n = self.n_vehicles
        rng = self.np_random
        act = np.array([actions[a] for a in self.possible_agents], dtype=np.float64).reshape(n, 2)
        alpha, fraction = act[:, 0], act[:, 1]
        R = self.requests
        reward = np.zeros(n)
        self._step_counts = np.zeros((n, 4), dtype=np.int64)  # admitted, rejected, backed, failed
        self._step_payment = np.zeros(n)
        self._failed_now = np.zeros(n, dtype=np.int64)
        self._failed_value = np.zeros(n)

        # 1. decisions ---------------------------------------------------------------
        deciding = np.flatnonzero(R.state == DECIDE)
        submitted = np.zeros(0, dtype=np.int64)
        prices = np.zeros(0)
        if deciding.size:
            vehicle = R.vehicle[deciding]
            batch = np.bincount(vehicle, minlength=n)[vehicle]
            threshold = self._thresholds(deciding.size, rng)
            submit = alpha[vehicle] >= threshold
            held = deciding[~submit]
            if held.size:
                hv = vehicle[~submit]
                hold = np.maximum(1, np.ceil((1.0 - alpha[hv]) * self.max_backoff)).astype(np.int64)
                R.state[held] = HELD
                R.decide_at[held] = t + hold
                cost = (self.budget[hv] / batch[~submit]) / R.relative_deadline[held] * hold / 10.0
                reward -= np.bincount(hv, weights=cost, minlength=n)
                self.backoff_sum += np.bincount(hv, weights=hold, minlength=n)
                self._step_counts[:, 2] += np.bincount(hv, minlength=n)
            self.decisions += np.bincount(vehicle, minlength=n)
            submitted = deciding[submit]
            prices = self._prices(R.vehicle[submitted], fraction)
            self.price_sum += np.bincount(R.vehicle[submitted], weights=prices, minlength=n)
            rebid = R.attempts[submitted] > 0
            self.rebids += np.bincount(R.vehicle[submitted][rebid], minlength=n)
            self.submissions += np.bincount(R.vehicle[submitted], minlength=n)
            R.attempts[submitted] += 1

        # 2.-3. auction and assignment ------------------------------------------------
        if submitted.size:
            reward += self._auction(t, submitted, prices, rng)

        # 4. held requests: time, deadline and count limits ------------------------------
        now = t + 1
        held_mask = R.state == HELD
        R.held[held_mask] += 1
        drop = held_mask & ((R.held > self.max_hold) | (R.deadline <= now))
        self._finish(drop, HOLD_DROP)
        held_mask &= ~drop
        counts = np.bincount(R.vehicle[held_mask], minlength=n)
        if np.any(counts > self.max_held):
            for v in np.flatnonzero(counts > self.max_held):
                mine = np.flatnonzero(held_mask & (R.vehicle == v))
                newest = mine[np.argsort(R.uid[mine])][self.max_held:]
                extra = np.zeros(len(R), dtype=bool)
                extra[newest] = True
                self._finish(extra, HOLD_DROP)
                held_mask &= ~extra
        wake = held_mask & (R.decide_at <= now)
        R.state[wake] = DECIDE
        # rejected requests that can no longer rebid before their deadline
        late = (R.state == DECIDE) & (R.deadline <= now)
        self._finish(late, np.where(R.attempts[late] > 0, REJECTED, HOLD_DROP))

        # 5. sites ---------------------------------------------------------------------
        self._advance_sites(now, rng)
        self._compact()

        # 6. arrivals for the next step ------------------------------------------------
        self._before_spawn(now)
        self._spawn(now)

        if self.failure_penalty > 0:
            reward -= self.failure_penalty * self._failed_value
        self.last_reward = reward
        needs = self._needs_action()
        infos = {
            agent: {
                "needs_action": bool(needs[i]),
                "admitted": int(self._step_counts[i, 0]),
                "rejected": int(self._step_counts[i, 1]),
                "backed_off": int(self._step_counts[i, 2]),
                "failed": int(self._failed_now[i]),
                "payment": float(self._step_payment[i]),
                "budget": float(self.budget[i]),
            }
            for i, agent in enumerate(self.possible_agents)
        }
        return dict(zip(self.possible_agents, reward.tolist())), infos, False

    def _thresholds(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """Backoff thresholds ``r ~ N(mean, std)`` truncated to ``[0, 1]`` (by rejection)."""
        mean, std = self.backoff_threshold
        if std == 0:
            return np.full(size, min(max(mean, 0.0), 1.0))
        out = rng.normal(mean, std, size)
        bad = (out < 0) | (out > 1)
        while bad.any():
            out[bad] = rng.normal(mean, std, int(bad.sum()))
            bad = (out < 0) | (out > 1)
        return out

    def _prices(self, vehicle: np.ndarray, fraction: np.ndarray) -> np.ndarray:
        """``b * B`` per submitted request, capped by the budget left in the vehicle's batch."""
        raw = fraction[vehicle] * self.budget[vehicle]
        if self.budget_mode == "per_request" or raw.size == 0:
            return np.minimum(raw, self.budget[vehicle])
        order = np.argsort(vehicle, kind="stable")
        sorted_vehicle = vehicle[order]
        sorted_raw = raw[order]
        spent_before = np.cumsum(sorted_raw) - sorted_raw
        start = np.r_[0, np.flatnonzero(np.diff(sorted_vehicle)) + 1]
        group_offset = np.repeat(spent_before[start], np.diff(np.r_[start, len(order)]))
        spent_in_batch = spent_before - group_offset
        capped = np.clip(np.minimum(sorted_raw, self.budget[sorted_vehicle] - spent_in_batch), 0, None)
        prices = np.empty_like(capped)
        prices[order] = capped
        return prices

    def _view_used(self, rng: np.random.Generator) -> np.ndarray:
        """Resource units in use per site as the ACA sees them at auction time."""
        used = np.empty(len(self.sites))
        for s, view in enumerate(self._views):
            if self.sites[s].info_delay == 0 and view.delay_std == 0 and view.noise_std == 0:
                # exact: the site's committed load plus the requests on their way to it
                used[s] = self.committed[s] + self._in_transit(s)
            else:
                used[s] = view.read(rng) * self.site_capacity[s]
        self.view_utilization = np.clip(used / self.site_capacity, 0.0, 1.0)
        return used

    def _in_transit(self, s: int) -> float:
        R = self.requests
        mask = (R.state == TRANSIT) & (R.site == s)
        return float(R.amount[mask].sum())

    def _auction(self, t: int, submitted: np.ndarray, prices: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
        R = self.requests
        n = self.n_vehicles
        used = self._view_used(rng)
        beta = float(min(1.0, used.sum() / self.site_capacity.sum()))
        types = rng.permutation(self.n_types) if self.type_order == "random" \
            else np.arange(self.n_types)
        stypes = R.stype[submitted]
        capacity = self.site_capacity.tolist()
        all_idx, all_won, all_paid = [], [], []
        for k in types.tolist():
            members = np.flatnonzero(stypes == k)
            if members.size == 0:
                continue
            idx = submitted[members]
            bids = prices[members]
            amount = self.slot_amount[:, k].tolist()
            n_slots = sum(int(max(c - u, 0.0) / a + 1e-9) for c, u, a in zip(capacity, used, amount))
            if self.tie_break == "fifo":
                order = np.argsort(R.uid[idx], kind="stable")
                idx, bids = idx[order], bids[order]
                won, paid = second_price(bids, n_slots, None)
            else:
                won, paid = second_price(bids, n_slots, rng)
            winners = idx[won]
            if winners.size:
                self.last_price[k] = paid[won][0]
                # assignment (RIAL), highest bid first
                winners = winners[np.argsort(-bids[won], kind="stable")]
                cost = self.slot_cost[:, k].tolist()
                view = list(used)
                chosen = []
                for _ in range(winners.size):
                    s = rial_choice(view, capacity, amount, cost)
                    if s < 0:  # cannot happen: n_slots counts the room site by site
                        raise AssertionError("RIAL found no room for an admitted request")
                    view[s] += amount[s]
                    chosen.append(s)
                used = view
                self._admit(winners, np.array(chosen, dtype=np.int64), k, t)
            else:  # no winner: the price to beat is the highest bid when there was no slot
                self.last_price[k] = bids.max() if n_slots == 0 else 0.0
            all_idx.append(idx)
            all_won.append(won)
            all_paid.append(paid)
        idx = np.concatenate(all_idx)
        won = np.concatenate(all_won)
        paid = np.concatenate(all_paid)
        vehicle = R.vehicle[idx]
        bonus = self.utility_weight * self.budget[vehicle] * (1.0 - beta)
        value = R.value[idx]
        utility = np.where(won, np.where(paid > 0, value - paid, 0.0) + bonus,
                           -self.lost_bid_penalty * value + bonus)
        reward = np.bincount(vehicle, weights=utility, minlength=n)
        admitted = np.bincount(vehicle[won], minlength=n)
        payment = np.bincount(vehicle, weights=paid, minlength=n)
        self._step_counts[:, 0] += admitted
        self._step_counts[:, 1] += np.bincount(vehicle[~won], minlength=n)
        self._step_payment += payment
        self.payment_sum += payment
        self.admitted_count += admitted
        # losers: rebid next step if they may, else fail (rejected)
        losers = idx[~won]
        out = R.attempts[losers] > self.max_rebids
        if out.any():
            fail = np.zeros(len(R), dtype=bool)
            fail[losers[out]] = True
            self._finish(fail, REJECTED)
        R.state[losers[~out]] = DECIDE
        return reward

    def _admit(self, index: np.ndarray, site: np.ndarray, k: int, t: int) -> None:
        R = self.requests
        R.state[index] = TRANSIT
        R.site[index] = site
        R.amount[index] = self.slot_amount[site, k]
        R.nominal[index] = self.slot_duration[site, k]
        up, down = self._transfer_latency(index, site, t)
        R.ready_at[index] = t + up
        R.return_latency[index] = down

    def _transfer_latency(self, index: np.ndarray, site: np.ndarray, t: int
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Steps to ship the requests ``index`` to their sites and their results back.

        Synthetic setup: the site's fixed latency both ways (the paper's uplink latency is 0).
        """
        latency = self.site_latency[site]
        return latency, latency

    def _advance_sites(self, now: int, rng: np.random.Generator) -> None:
        R = self.requests
        running = R.state == RUNNING
        done = running & (R.finish_at <= now)
        self._finish(done, SUCCESS)
        overrun = running & ~done & (now + R.return_latency > R.deadline)
        self._finish(overrun, DEADLINE_MISS)
        arrive = (R.state == TRANSIT) & (R.ready_at <= now)
        R.state[arrive] = QUEUED
        queued = R.state == QUEUED
        hopeless = queued & (now + np.ceil(R.nominal - 1e-9) + R.return_latency > R.deadline)
        self._finish(hopeless, DEADLINE_MISS)
        queued &= ~hopeless
        for s in range(len(self.sites)):
            in_use = float(R.amount[(R.state == RUNNING) & (R.site == s)].sum())
            mine = np.flatnonzero(queued & (R.site == s))
            if mine.size:
                mine = mine[np.argsort(R.uid[mine], kind="stable")]
                fits = np.cumsum(R.amount[mine]) <= self.site_capacity[s] - in_use + 1e-9
                start = mine[: int(np.argmin(fits)) if not fits.all() else mine.size]
                if start.size:
                    noise = 1.0 + self.duration_noise_std * rng.standard_normal(start.size) \
                        if self.duration_noise_std > 0 else 1.0
                    duration = np.maximum(1, np.round(R.nominal[start] * noise)).astype(np.int64)
                    R.state[start] = RUNNING
                    R.finish_at[start] = now + duration
                    in_use += float(R.amount[start].sum())
            self.running[s] = in_use
            self.committed[s] = in_use + float(R.amount[(R.state == QUEUED) & (R.site == s)].sum())
            self._views[s].record(self.committed[s] / self.site_capacity[s])
        self.utilization_history.append(self.running / self.site_capacity)
        self.view_history.append(self.view_utilization.copy())

    def _finish(self, mask: np.ndarray, outcome: int | np.ndarray) -> None:
        """Close the requests in ``mask`` with ``outcome`` (scalar or one per masked request)."""
        if not mask.any():
            return
        R = self.requests
        vehicle = R.vehicle[mask]
        outcome = np.broadcast_to(np.asarray(outcome), vehicle.shape)
        np.add.at(self.outcomes, (vehicle, outcome), 1)
        failed = outcome != SUCCESS
        self._failed_now += np.bincount(vehicle[failed], minlength=self.n_vehicles)
        if self.failure_penalty > 0:
            self._failed_value += np.bincount(vehicle[failed & (outcome != REJECTED)],
                                              weights=R.value[mask][failed & (outcome != REJECTED)],
                                              minlength=self.n_vehicles)
        R.state[mask] = -1

    def _compact(self) -> None:
        self.requests.keep(self.requests.state >= 0)

    def _before_spawn(self, now: int) -> None:
        """Hook run before the arrivals of step ``now`` (mobility in the intersection variant)."""

    def _needs_action(self) -> np.ndarray:
        R = self.requests
        deciding = R.vehicle[R.state == DECIDE]
        return (np.bincount(deciding, minlength=self.n_vehicles) > 0) & self.present

    # ------------------------------------------------------------------ observations
    def _observations(self) -> dict[str, np.ndarray]:
        n = self.n_vehicles
        R = self.requests
        obs = np.zeros((n, self.observation_size), dtype=np.float64)
        deciding = R.state == DECIDE
        n_deciding = np.bincount(R.vehicle[deciding], minlength=n)
        obs[:, 0] = (n_deciding > 0) & self.present
        obs[:, 1] = self.budget / MAX_BUDGET
        obs[:, 2] = n_deciding / 10.0
        obs[:, 3] = np.bincount(R.vehicle[R.state == HELD], minlength=n) / float(self.max_held)
        obs[:, 4] = np.bincount(R.vehicle[R.state >= TRANSIT], minlength=n) / 10.0
        obs[:, 5] = min(1.0, self.committed[0] / self.site_capacity[0])
        obs[:, 6] = self._observed_remote()
        obs[:, 7] = min(1.0, float(self.view_utilization @ self.site_capacity)
                        / self.site_capacity.sum())
        obs[:, 8] = self.present.mean()
        obs[:, 9] = self.present
        obs[:, 10:12] = self._radio_features()
        obs[:, 12] = self.last_reward / self.budget
        base = len(HEADER_FIELDS)
        obs[:, base:base + self.n_types] = self.last_price[None, :] / self.budget[:, None]
        base += self.n_types
        if deciding.any():
            idx = np.flatnonzero(deciding)
            order = np.lexsort((R.uid[idx], R.deadline[idx], R.vehicle[idx]))
            idx = idx[order]
            vehicle = R.vehicle[idx]
            start = np.searchsorted(vehicle, vehicle, side="left")
            rank = np.arange(idx.size) - start
            keep = rank < self.obs_requests
            idx, vehicle, rank = idx[keep], vehicle[keep], rank[keep]
            stype = R.stype[idx]
            features = np.column_stack([
                np.ones(idx.size),
                self.type_work[stype] / self.max_work,
                self.type_has[stype, 0],
                self.type_has[stype, 1],
                R.relative_deadline[idx] / 300.0,
                np.maximum(R.deadline[idx] - self.num_cycles, 0) / 300.0,
                R.value[idx] / self.budget[vehicle],
                R.attempts[idx] / (self.max_rebids + 1.0),
            ])
            width = len(REQUEST_FEATURES)
            columns = base + rank[:, None] * width + np.arange(width)[None, :]
            obs[vehicle[:, None], columns] = features
        obs = obs.astype(np.float32)
        return {agent: obs[i] for i, agent in enumerate(self.agents)}

    def _observed_remote(self) -> float:
        return float(self.view_utilization[1])

    def _radio_features(self) -> np.ndarray:
        return np.zeros((self.n_vehicles, 2))

    # ------------------------------------------------------------------ state, metrics, render
    def state(self) -> np.ndarray:
        if not self._initialized:
            return np.zeros(self.state_space.shape, dtype=np.float32)
        R = self.requests
        n = self.n_vehicles
        progress = min(self.num_cycles / self.max_cycles, 1.0)
        head = [progress, *(self.running / self.site_capacity),
                *(self.committed / self.site_capacity), float(self.view_utilization[1])]
        return np.concatenate([
            head, self.last_price / MAX_BUDGET,
            np.bincount(R.vehicle[R.state == DECIDE], minlength=n) / 10.0,
            np.bincount(R.vehicle[R.state == HELD], minlength=n) / float(self.max_held),
            self.present.astype(np.float64),
        ]).astype(np.float32)

    def metrics(self) -> dict[str, Any]:
        """Offloading metrics of the episode so far (see the class docstring, Metrics)."""
        ended = self.outcomes.sum(axis=1)
        total = max(int(ended.sum()), 1)
        failures = self.outcomes[:, 1:].sum(axis=1)
        util = np.array(self.utilization_history) if self.utilization_history \
            else np.zeros((1, len(self.sites)))
        high = self.budget == BUDGETS[0]
        groups = {"high": high, "low": ~high}

        def ratio(num: np.ndarray, den: np.ndarray) -> float:
            d = float(den.sum())
            return float(num.sum()) / d if d > 0 else 0.0

        return {
            "steps": int(self.num_cycles),
            "requests": int(self.created.sum()),
            "finished": int(ended.sum()),
            "ofr": float(failures.sum()) / total,
            "ofr_rejected": float(self.outcomes[:, REJECTED].sum()) / total,
            "ofr_dropped_on_hold": float(self.outcomes[:, HOLD_DROP].sum()) / total,
            "ofr_deadline_miss": float(self.outcomes[:, DEADLINE_MISS].sum()) / total,
            "utilization": {s.name: float(util[:, j].mean()) for j, s in enumerate(self.sites)},
            "utilization_std": {s.name: float(util[:, j].std()) for j, s in enumerate(self.sites)},
            "rebidding_overhead": float(np.mean(self.rebids / np.maximum(ended, 1))),
            "rebids_per_vehicle": self.rebids.copy(),
            "vehicle_ofr": np.where(ended > 0, failures / np.maximum(ended, 1), np.nan),
            "backoff_by_budget": {g: ratio(self.backoff_sum[m], self.decisions[m])
                                  for g, m in groups.items()},
            "price_by_budget": {g: ratio(self.price_sum[m], self.submissions[m])
                                for g, m in groups.items()},
            "payment_by_budget": {g: ratio(self.payment_sum[m], self.admitted_count[m])
                                  for g, m in groups.items()},
            "last_price": dict(zip(self.service_names, self.last_price.tolist())),
        }

    def _render_text(self) -> str:
        lines = [f"V2XOffloading step {self.num_cycles}/{self.max_cycles}  capacity "
                 f"{self.capacity:g}  MP {self.max_rebids}"]
        if getattr(self, "_initialized", False):
            m = self.metrics()
            util = ", ".join(f"{s.name} {self.running[j] / self.site_capacity[j]:.2f}"
                             for j, s in enumerate(self.sites))
            lines.append(f"  utilization {util}  (ACA view of remote {self.view_utilization[1]:.2f})")
            lines.append(f"  requests {m['requests']}  finished {m['finished']}  OFR {m['ofr']:.3f} "
                         f"(rejected {m['ofr_rejected']:.3f}, hold {m['ofr_dropped_on_hold']:.3f}, "
                         f"deadline {m['ofr_deadline_miss']:.3f})")
            prices = ", ".join(f"{k} {p:.0f}" for k, p in m["last_price"].items())
            lines.append(f"  last clearing prices: {prices}")
        return "\n".join(lines)

    def _render_rgb(self) -> np.ndarray:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure

        figure = Figure(figsize=(6.4, 3.6), dpi=100)
        axes = figure.add_subplot(1, 1, 1)
        if getattr(self, "_initialized", False) and self.utilization_history:
            util = np.array(self.utilization_history)
            view = np.array(self.view_history)
            steps = np.arange(1, len(util) + 1)
            for j, s in enumerate(self.sites):
                axes.plot(steps, util[:, j], label=f"{s.name} utilization", linewidth=0.8)
            axes.plot(steps, view[:, 1], label="remote, ACA's view", linewidth=0.6,
                      linestyle=":")
        axes.set_xlabel("step")
        axes.set_ylabel("utilization")
        axes.set_ylim(0, 1.05)
        axes.set_title(f"V2X offloading, capacity {self.capacity:g}, MP {self.max_rebids}")
        axes.legend(loc="lower right", fontsize=7)
        figure.tight_layout()
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _positive_int(name: str, value: Any) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise InvalidArgumentError(name, value, "a positive integer")


def _nonnegative_int(name: str, value: Any) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
        raise InvalidArgumentError(name, value, "an integer >= 0")


__all__ = ["HEADER_FIELDS", "REQUEST_FEATURES", "V2XOffloadingEnv", "default_sites"]
