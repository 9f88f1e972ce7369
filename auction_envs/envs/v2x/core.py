"""The core of the V2X offloading market: a discrete-event simulator over plain numpy state.

:class:`V2XCore` knows nothing of agent ids, dicts, spaces or rewards. ``step(actions, rng)`` takes
the joint action as one array ``[n_vehicles, 2]`` of ``(alpha, b)`` and returns the step's
:class:`~auction_envs.envs.v2x.events.StepEvents` (requests held, bids and their outcome, requests
closed); the reward function (``rewards.py``) and the metrics (``metrics.py``) read those events.
The order of one step and the resource model are documented in ``V2XOffloadingEnv``'s docstring.

Steps 4-5 and the per-vehicle counts have a compiled twin in ``kernels.py`` (numba, optional);
the numpy versions here run without numba and are kept equal to it bit for bit. This file is
above 400 lines because of those numpy twins and the hand-fused auction loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auction_envs.envs.v2x.arrivals import bid_values
from auction_envs.envs.v2x.decisions import backoff_thresholds, batch_prices
from auction_envs.envs.v2x.events import (
    DEADLINE_MISS,
    HOLD_DROP,
    REJECTED,
    SUCCESS,
    BidEvents,
    ClosedLog,
    HeldEvents,
    StepEvents,
)
from auction_envs.envs.v2x.kernels import (
    _compiled_advance,
    _compiled_auction,
    _compiled_bid_events,
    _compiled_counts,
    _compiled_decide,
    _compiled_spawn,
    _compiled_start,
    _compiled_transit,
)
from auction_envs.envs.v2x.population import Population, draw_budgets
from auction_envs.envs.v2x.requests import (
    DECIDE,
    HELD,
    QUEUED,
    RUNNING,
    TRANSIT,
    OpenRequests,
    RequestTable,
)
from auction_envs.envs.v2x.sites import DelayedView, SiteProfile, rial_choice
from auction_envs.mechanisms.second_price import second_price_ranking

_NO_KEYS = np.empty(0)  # the compiled auction's tie keys under tie_break="fifo" (none drawn)
_NO_DATA = np.zeros(0)  # the compiled appends' data sizes when a population gives none
# the columns of new requests the compiled appends write (others: the numpy path)
_SPAWN_COLUMNS = frozenset(("vehicle", "stype", "relative_deadline", "data_up", "data_down"))
_SPAWN_INTEGER_COLUMNS = ("vehicle", "stype", "relative_deadline")


def _compiled_spawn_takes(columns: dict, count: int) -> bool:
    """Whether the compiled appends can write these new requests' columns (it indexes without
    bounds checks): the known columns only, the integer ones int64 arrays of ``count`` entries,
    the data sizes both given as float64 arrays of ``count`` entries, or neither."""
    if not columns.keys() <= _SPAWN_COLUMNS:
        return False
    for name in _SPAWN_INTEGER_COLUMNS:
        value = columns.get(name)
        if type(value) is not np.ndarray or value.dtype != np.int64 or value.shape != (count,):
            return False
    data = [columns[name] for name in ("data_up", "data_down") if name in columns]
    return not data or (len(data) == 2 and all(
        type(value) is np.ndarray and value.dtype == np.float64 and value.shape == (count,)
        for value in data))


# Scripted arrivals: {step: [(vehicle, service type, relative deadline), ...]}.
Script = dict[int, list[tuple[int, int, int]]]


@dataclass(frozen=True)
class CoreConfig:
    """The simulator's fixed parameters (already validated by the env shell)."""

    n_vehicles: int
    capacity: float
    sites: tuple[SiteProfile, SiteProfile]
    chain_tasks: np.ndarray
    task_work: np.ndarray
    reference_deadline: float = 50.0
    max_rebids: int = 1
    duration_noise_std: float = 0.22
    budget_mode: str = "per_step"
    type_order: str = "random"
    tie_break: str = "random"
    backoff_threshold: tuple[float, float] = (0.6, 0.3)
    max_backoff: int = 10
    max_hold: int = 250
    max_held: int = 50
    arrival_window: int = 100  # steps of the arrival-rate estimate (the MMPP's period)


class V2XCore:
    """Sites, the ACA's auctions and the live requests of one episode (see the module docstring)."""

    def __init__(self, config: CoreConfig, population: Population) -> None:
        self.config = config
        self.population = population
        self.n_vehicles = config.n_vehicles
        self.sites = config.sites
        self.n_types = len(config.chain_tasks)
        self.site_capacity = np.array([s.share for s in self.sites]) * config.capacity
        slots = [s.slot(config.chain_tasks, config.task_work) for s in self.sites]
        self.slot_amount = np.array([a for a, _ in slots])  # (sites, types)
        self.slot_duration = np.array([d for _, d in slots])  # (sites, types), nominal steps
        self.slot_cost = self.slot_amount * self.slot_duration
        self.chain_length = (config.chain_tasks >= 0).sum(axis=1)
        self.site_latency = np.array([s.latency for s in self.sites], dtype=np.int64)
        self._exact_view = [s.info_delay == 0 and s.info_delay_std == 0 and s.info_noise_std == 0
                            for s in self.sites]
        self._views = [DelayedView(s.info_delay, s.info_delay_std, s.info_noise_std)
                       for s in self.sites]
        # python lists for the per-winner RIAL loop
        self._capacity_list = self.site_capacity.tolist()
        self._amount_lists = [self.slot_amount[:, k].tolist() for k in range(self.n_types)]
        self._cost_lists = [self.slot_cost[:, k].tolist() for k in range(self.n_types)]
        self.total_capacity = float(self.site_capacity.sum())  # (site_capacity.sum())
        self._fixed_order = np.arange(self.n_types)  # type_order="fixed"

    # ------------------------------------------------------------------ episode set-up
    def reset(self, rng: np.random.Generator, budgets: np.ndarray | None = None,
              script: Script | None = None) -> StepEvents:
        """A new episode: budgets (drawn, then replaced by ``budgets`` if given), the population,
        empty sites, and the arrivals of step 0 (returned as the events of the reset)."""
        n = self.n_vehicles
        self.budget = draw_budgets(n, rng)
        if budgets is not None:
            self.budget = np.array(budgets, dtype=np.float64)
        self.script = script
        self.population.reset(rng, self.budget)
        self.requests = RequestTable()
        self.t = 0
        self._next_uid = 0
        self.committed = np.zeros(len(self.sites))  # running + queued amounts (what sites report)
        self.running = np.zeros(len(self.sites))
        for view in self._views:
            view.reset(0.0)
        self.view_utilization = np.zeros(len(self.sites))
        self.last_price = np.zeros(self.n_types)
        self.last_bid_count = np.zeros(self.n_types, dtype=np.int64)
        self.last_admitted_count = np.zeros(self.n_types, dtype=np.int64)
        self.arrival_rate = np.zeros(n)  # per vehicle, requests per step (moving average)
        self._counts = self._transit_count = None
        return StepEvents(created=self._spawn(0, rng))

    @property
    def present(self) -> np.ndarray:
        return self.population.present

    def open_requests(self) -> OpenRequests:
        """The open requests as columns (views; see ``RequestTable.open_view``)."""
        self._counts = self._transit_count = None  # the caller may write to them
        return self.requests.open_view()

    # ------------------------------------------------------------------ one step
    def step(self, actions: np.ndarray, rng: np.random.Generator) -> StepEvents:
        """Advance one step under the joint action ``[n_vehicles, 2]`` = ``(alpha, b)`` rows."""
        t = self.t
        R = self.requests  # no compaction before the arrivals: row indices hold all step
        state = R.state
        alpha, fraction = actions[:, 0], actions[:, 1]
        closed = ClosedLog()
        events = StepEvents()
        self._counts = self._transit_count = None

        # 1. decisions
        deciding = (state == DECIDE).nonzero()[0]
        submitted = deciding[:0]
        if deciding.size:
            submitted, prices = self._decide(deciding, alpha, fraction, t, rng, events)
        # 2.-3. the ACA reads its view of the sites (every step, so beta and the remote
        # utilization observed stay current even when nobody bids), auctions and assigns
        used = self._view_used(rng)
        self.last_bid_count[:] = 0
        self.last_admitted_count[:] = 0
        if submitted.size:
            events.bids = self._auction(t, submitted, prices, used, rng, closed)

        now = t + 1
        kernel = _compiled_advance()
        if kernel is not None:  # steps 4 and 5 up to the runs' starts in one compiled pass
            groups = kernel(state, R.held, R.deadline, R.decide_at, R.attempts, R.vehicle,
                            R.return_latency, R.finish_at, R.ready_at, R.nominal, now,
                            self.config.max_hold, self.config.max_held, self.n_vehicles)
            drop, extra, late, late_outcome, overrun, done, hopeless, running, queued = groups
            for rows, outcome, admitted in ((drop, HOLD_DROP, False), (extra, HOLD_DROP, False),
                                            (late, late_outcome, False),
                                            (overrun, DEADLINE_MISS, True), (done, SUCCESS, True),
                                            (hopeless, DEADLINE_MISS, True)):
                closed.close(R, rows, outcome, admitted=admitted)
            self._start_runs(now, rng, running, queued)
        else:
            self._advance_held(now, closed)  # 4. held requests
            self._advance_sites(now, rng, closed)  # 5. sites

        # 6. mobility and the arrivals of the next step
        left = self.population.move(now, rng, self.budget)
        if left.size:
            gone = (np.isin(R.vehicle, left) & ((state == DECIDE) | (state == HELD))).nonzero()[0]
            events.left_coverage = int(gone.size)
            closed.close(R, gone, HOLD_DROP, admitted=False)
        events.closed = closed.events(R)  # before the arrivals, which may compact the table
        events.created = self._spawn(now, rng)
        self.t = now
        events.utilization = self.running / self.site_capacity
        events.view_utilization = self.view_utilization.copy()
        return events

    def _decide(self, deciding: np.ndarray, alpha: np.ndarray, fraction: np.ndarray, t: int,
                rng: np.random.Generator, events: StepEvents) -> tuple[np.ndarray, np.ndarray]:
        """Backoff draws: hold the requests below their threshold, price the others."""
        R = self.requests
        kernel = _compiled_decide()
        if kernel is not None:  # the rest of this method in one compiled pass
            thresholds = self._thresholds(deciding.size, rng)
            events.decided, submitted, prices, hv, hold, held_alpha, batch, relative, age, \
                budget = kernel(deciding, R.state, R.vehicle, R.relative_deadline, R.created,
                                R.decide_at, alpha, fraction, thresholds, self.budget, t,
                                self.config.max_backoff, self.n_vehicles,
                                self.config.budget_mode == "per_step")
            if hv.size:
                events.held = HeldEvents(vehicle=hv, hold=hold, alpha=held_alpha, batch=batch,
                                         relative_deadline=relative, age=age, budget=budget)
            return submitted, prices
        vehicle = R.vehicle[deciding]
        events.decided = vehicle
        decision_alpha = alpha[vehicle]
        submit = decision_alpha >= self._thresholds(deciding.size, rng)
        if np.count_nonzero(submit) < submit.size:
            hold_mask = ~submit
            held = deciding[hold_mask]
            hv = vehicle[hold_mask]
            held_alpha = decision_alpha[hold_mask]
            hold = np.maximum(1, np.ceil((1.0 - held_alpha) * self.config.max_backoff)
                              ).astype(np.int64)
            R.state[held] = HELD
            R.decide_at[held] = t + hold
            batch = np.bincount(vehicle, minlength=self.n_vehicles)[hv]
            events.held = HeldEvents(vehicle=hv, hold=hold, alpha=held_alpha, batch=batch,
                                     relative_deadline=R.relative_deadline[held],
                                     age=t + 1 - R.created[held], budget=self.budget[hv])
        submitted = deciding[submit]
        prices = self._prices(vehicle[submit], fraction)
        return submitted, prices

    def _thresholds(self, size: int, rng: np.random.Generator) -> np.ndarray:
        return backoff_thresholds(*self.config.backoff_threshold, size, rng)

    def _prices(self, vehicle: np.ndarray, fraction: np.ndarray) -> np.ndarray:
        return batch_prices(vehicle, fraction, self.budget, self.config.budget_mode)

    def _view_used(self, rng: np.random.Generator) -> np.ndarray:
        """Resource units in use per site as the ACA sees them (reads the delayed views)."""
        used = np.empty(len(self.sites))
        R = self.requests
        kernel = _compiled_transit()
        if kernel is not None:  # the requests in transit, counted and summed in one pass
            transit_sums, self._transit_before_auction = kernel(R.state, R.site, R.amount,
                                                                len(self.sites))
            for s, view in enumerate(self._views):
                used[s] = self.committed[s] + transit_sums[s] if self._exact_view[s] \
                    else view.read(rng) * self.site_capacity[s]
            self.view_utilization = np.minimum(np.maximum(used / self.site_capacity, 0.0), 1.0)
            return used
        transit = (R.state == TRANSIT).nonzero()[0]
        self._transit_before_auction = transit.size
        for s, view in enumerate(self._views):
            if self._exact_view[s]:
                # exact: the site's committed load plus the requests on their way to it
                used[s] = self.committed[s] + float(np.add.reduce(
                    R.amount[transit[R.site[transit] == s]]))
            else:
                used[s] = view.read(rng) * self.site_capacity[s]
        self.view_utilization = np.clip(used / self.site_capacity, 0.0, 1.0)
        return used

    def _auction(self, t: int, submitted: np.ndarray, prices: np.ndarray, used: np.ndarray,
                 rng: np.random.Generator, closed: ClosedLog) -> BidEvents:
        """One k-slot second-price auction per service type, then RIAL assignment of the winners.

        A step has a few bids (about 8 at the default load) in up to four auctions, so the
        auctions run in plain Python over lists (``second_price_ranking``: the ranking and the
        tie-break draws of ``second_price``), and the table is written once for all winners.
        """
        R = self.requests
        beta = float(min(1.0, np.add.reduce(used) / self.total_capacity))  # used.sum()
        random_order = self.config.type_order == "random"
        fifo = self.config.tie_break == "fifo"
        kernel = _compiled_auction()
        events_kernel = _compiled_bid_events()
        if kernel is not None and events_kernel is not None:  # the loop below in one compiled pass
            type_order = rng.permutation(self.n_types) if random_order else self._fixed_order
            # the tie keys of the auctions one after the other: one draw of them all
            keys = _NO_KEYS if fifo else rng.random(prices.size)
            won_array, paid_array, order, admitted, admitted_site, admitted_type, batch_sizes, \
                failed = kernel(type_order, R.stype[submitted], prices, keys, fifo,
                                self.site_capacity, used, self.slot_amount, self.slot_cost,
                                self.last_price, self.last_bid_count, self.last_admitted_count)
            if failed >= 0:  # cannot happen: n_slots counts the room site by site
                raise AssertionError("RIAL found no room for an admitted request")
            if admitted.size:
                self._admit(submitted[admitted], admitted_site, admitted_type,
                            batch_sizes.tolist())
            # the attempts counted, the events in auction order, the losers out of rebids
            vehicle, price, value, won, paid, rebid, budget, out = events_kernel(
                submitted, order, prices, won_array, paid_array, R.attempts, R.vehicle, R.value,
                self.budget, self.config.max_rebids)
            if out.size:
                closed.close(R, out, REJECTED, admitted=False)
            return BidEvents(vehicle=vehicle, price=price, value=value, won=won, paid=paid,
                             rebid=rebid, beta=beta, budget=budget, submission_index=order)
        attempts = R.attempts[submitted] + 1
        R.attempts[submitted] = attempts
        won_array, paid_array, order = self._auction_loop(submitted, prices, used, rng,
                                                          random_order, fifo)
        return self._auction_events(submitted, attempts, prices, beta, won_array, paid_array,
                                    order, closed)

    def _auction_loop(self, submitted: np.ndarray, prices: np.ndarray, used: np.ndarray,
                      rng: np.random.Generator, random_order: bool, fifo: bool
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The auctions and the assignment in plain Python (the twin of ``_auction_kernel``);
        returns won and paid per submission and the submissions auction by auction."""
        R = self.requests
        types = rng.permutation(self.n_types).tolist() if random_order else range(self.n_types)
        capacity = self._capacity_list
        used = used.tolist()
        bid_list = prices.tolist()
        members_of_type: list[list[int]] = [[] for _ in range(self.n_types)]
        for position, k in enumerate(R.stype[submitted].tolist()):
            members_of_type[k].append(position)  # positions among the submissions, table order
        n_bids = len(bid_list)
        won = [False] * n_bids
        paid = [0.0] * n_bids
        auction_order: list[int] = []  # the submissions auction by auction (the events' order)
        admitted: list[int] = []  # positions of the winners, auction by auction, highest bid first
        admitted_site: list[int] = []
        admitted_type: list[int] = []
        batch_sizes: list[int] = []
        for k in types:
            members = members_of_type[k]
            if not members:
                continue
            bids = [bid_list[p] for p in members]
            amount = self._amount_lists[k]
            n_slots = 0
            for c, u, a in zip(capacity, used, amount):
                n_slots += int(max(c - u, 0.0) / a + 1e-9)
            # members are in table order, i.e. arrival order: fifo ties need no sort
            ranking, price = second_price_ranking(bids, n_slots, None if fifo else rng)
            winners = ranking[:n_slots]
            auction_order.extend(members)
            self.last_bid_count[k] = len(members)
            self.last_admitted_count[k] = len(winners)
            if not winners:  # the price to beat is the highest bid when there was no slot
                self.last_price[k] = prices[members].max() if n_slots == 0 else 0.0
                continue
            self.last_price[k] = price
            for j in winners:
                won[members[j]] = True
                paid[members[j]] = price
            cost = self._cost_lists[k]
            # highest bid first, equal bids in table order
            for j in sorted(winners, key=lambda j: (-bids[j], j)):
                s = rial_choice(used, capacity, amount, cost)
                if s < 0:  # cannot happen: n_slots counts the room site by site
                    raise AssertionError("RIAL found no room for an admitted request")
                used[s] += amount[s]
                admitted.append(members[j])
                admitted_site.append(s)
            admitted_type += [k] * len(winners)
            batch_sizes.append(len(winners))
        if admitted:
            self._admit(submitted[admitted], np.array(admitted_site), np.array(admitted_type),
                        batch_sizes)
        return np.array(won), np.array(paid), np.array(auction_order)

    def _auction_events(self, submitted: np.ndarray, attempts: np.ndarray, prices: np.ndarray,
                        beta: float, won_array: np.ndarray, paid_array: np.ndarray,
                        order: np.ndarray, closed: ClosedLog) -> BidEvents:
        """The bids' events in auction order; the losers out of rebids close (rejected)."""
        R = self.requests
        index = submitted[order]
        vehicle = R.vehicle[index]
        events = BidEvents(vehicle=vehicle, price=prices[order], value=R.value[index],
                           won=won_array[order], paid=paid_array[order],
                           rebid=attempts[order] > 1, beta=beta, budget=self.budget[vehicle],
                           submission_index=order)
        # losers: rebid next step if they may (they stay DECIDE), else fail (rejected)
        out = (~won_array & (attempts > self.config.max_rebids)).nonzero()[0]
        if out.size:
            closed.close(R, submitted[out], REJECTED, admitted=False)
        return events

    def _admit(self, index: np.ndarray, site: np.ndarray, stype: np.ndarray,
               batch_sizes: list[int]) -> None:
        """Send the winners to their sites; ``batch_sizes``: the winners of each auction, in
        order (the uplink of a batch is shared by the requests in transfer once it is admitted)."""
        R = self.requests
        in_transit = self._transit_before_auction  # (read with the view, no change since)
        R.state[index] = TRANSIT
        R.site[index] = site
        R.amount[index] = self.slot_amount[site, stype]
        R.nominal[index] = self.slot_duration[site, stype]
        sharing = []  # the requests in transfer once each winner's auction admitted its batch
        for size in batch_sizes:
            in_transit += size
            sharing += [in_transit] * size
        up, down = self.population.transfer_latency(R.vehicle[index], R.data_up[index],
                                                    R.data_down[index], self.site_latency[site],
                                                    np.array(sharing))
        R.ready_at[index] = self.t + up
        R.return_latency[index] = down

    def _advance_held(self, now: int, closed: ClosedLog) -> None:
        """Step 4: held requests age; drops for the hold limit, the deadline and ``max_held``;
        the backoffs that end; requests back that can no longer be auctioned in time."""
        R = self.requests
        state = R.state
        held = (state == HELD).nonzero()[0]
        held_steps = R.held[held] + 1  # one more step held
        R.held[held] = held_steps
        drop = (held_steps > self.config.max_hold) | (R.deadline[held] <= now)
        if np.count_nonzero(drop):
            closed.close(R, held[drop], HOLD_DROP, admitted=False)
            held = held[~drop]
        held = self._drop_beyond_max_held(held, closed)
        state[held[R.decide_at[held] <= now]] = DECIDE  # the backoff is over
        # requests back for a decision that can no longer be auctioned before their deadline
        late = ((state == DECIDE) & (R.deadline <= now)).nonzero()[0]
        if late.size:
            closed.close(R, late, np.where(R.attempts[late] > 0, REJECTED, HOLD_DROP),
                         admitted=False)

    def _drop_beyond_max_held(self, held: np.ndarray, closed: ClosedLog) -> np.ndarray:
        """A vehicle holding more than ``max_held`` requests drops its newest ones; returns the
        rows still held (``held``: the held rows, table order = creation order)."""
        R = self.requests
        max_held = self.config.max_held
        vehicle = R.vehicle[held]
        over = (np.bincount(vehicle, minlength=self.n_vehicles) > max_held).nonzero()[0]
        if not over.size:
            return held
        keep = np.ones(held.size, dtype=bool)
        for v in over.tolist():
            newest = (vehicle == v).nonzero()[0][max_held:]
            closed.close(R, held[newest], HOLD_DROP, admitted=False)
            keep[newest] = False
        return held[keep]

    def _advance_sites(self, now: int, rng: np.random.Generator, closed: ClosedLog) -> None:
        """Step 5: finish, drop, start and queue requests at the sites; record what they report."""
        R = self.requests
        state = R.state
        running = (state == RUNNING).nonzero()[0]
        # a result is on time when it is back by the deadline: finish_at + return latency <= deadline
        overrun = now + R.return_latency[running] > R.deadline[running]
        done = ~overrun & (R.finish_at[running] <= now)
        if np.count_nonzero(overrun):
            closed.close(R, running[overrun], DEADLINE_MISS, admitted=True)
        if np.count_nonzero(done):
            closed.close(R, running[done], SUCCESS, admitted=True)
        running = running[~(overrun | done)]
        transit = (state == TRANSIT).nonzero()[0]
        state[transit[R.ready_at[transit] <= now]] = QUEUED
        queued = (state == QUEUED).nonzero()[0]
        if queued.size:
            hopeless = now + np.ceil(R.nominal[queued] - 1e-9) + R.return_latency[queued] \
                > R.deadline[queued]
            if np.count_nonzero(hopeless):
                closed.close(R, queued[hopeless], DEADLINE_MISS, admitted=True)
                queued = queued[~hopeless]
        self._start_runs(now, rng, running, queued)

    def _start_runs(self, now: int, rng: np.random.Generator, running: np.ndarray,
                    queued: np.ndarray) -> None:
        """Start the queued requests that fit, site by site, first in first out; record the
        sites' loads (``running``, ``queued``: the rows in each state, table order)."""
        R = self.requests
        state = R.state
        noise_std = self.config.duration_noise_std
        kernel = _compiled_start()
        if kernel is not None:  # the site loop below in one compiled pass, then the draws
            start, self.running, self.committed = kernel(R.site, R.amount, running, queued,
                                                         self.site_capacity)
            if start.size:  # the sites' draws in site order: one draw of them all
                noise = 1.0 + noise_std * rng.standard_normal(start.size) \
                    if noise_std > 0 else 1.0
                duration = np.maximum(1, np.round(R.nominal[start] * noise)).astype(np.int64)
                state[start] = RUNNING
                R.finish_at[start] = now + duration
            for view, load in zip(self._views, (self.committed / self.site_capacity).tolist()):
                view.record(load)
            return
        queued_site = R.site[queued]
        running_site = R.site[running]
        for s in range(len(self.sites)):
            in_use = float(np.add.reduce(R.amount[running[running_site == s]]))
            mine = queued[queued_site == s]  # table order = arrival order (first in, first out)
            waiting = mine
            if mine.size:
                fits = np.cumsum(R.amount[mine]) <= self.site_capacity[s] - in_use + 1e-9
                first_misfit = int(np.argmin(fits))  # 0 also when all fit
                start = mine[: mine.size if fits[first_misfit] else first_misfit]
                if start.size:
                    noise = 1.0 + noise_std * rng.standard_normal(start.size) \
                        if noise_std > 0 else 1.0
                    duration = np.maximum(1, np.round(R.nominal[start] * noise)).astype(np.int64)
                    state[start] = RUNNING
                    R.finish_at[start] = now + duration
                    in_use += float(np.add.reduce(R.amount[start]))
                    waiting = mine[start.size:]
            self.running[s] = in_use
            self.committed[s] = in_use + float(np.add.reduce(R.amount[waiting]))
            self._views[s].record(self.committed[s] / self.site_capacity[s])

    def _spawn(self, now: int, rng: np.random.Generator) -> np.ndarray:
        """Append the requests created in step ``now``; return their vehicles."""
        if self.script is not None:
            rows = self.script.get(now, [])
            stype = np.array([r[1] for r in rows], dtype=np.int64)
            columns = {"vehicle": np.array([r[0] for r in rows], dtype=np.int64), "stype": stype,
                       "relative_deadline": np.array([r[2] for r in rows], dtype=np.int64)}
            columns["data_up"], columns["data_down"] = self.population.request_data(stype)
        else:
            columns = self.population.new_requests(now, rng)
        vehicle = columns["vehicle"]
        count = len(vehicle)
        weight = 1.0 / self.config.arrival_window
        self.arrival_rate *= 1.0 - weight
        if count == 0:
            return vehicle
        kernel = _compiled_spawn()
        if kernel is not None and _compiled_spawn_takes(columns, count):
            # the rest of this method in one compiled pass
            R = self.requests
            data_up, data_down = columns.get("data_up", _NO_DATA), columns.get("data_down", _NO_DATA)
            if kernel(R.reserve(count), vehicle, columns["stype"], columns["relative_deadline"],
                      data_up, data_down, self._next_uid, now, self.budget, self.chain_length,
                      float(self.config.reference_deadline), self.arrival_rate, weight, R.uid,
                      R.vehicle, R.stype, R.relative_deadline, R.created, R.deadline, R.value,
                      R.state, R.decide_at, R.site, R.data_up, R.data_down):
                self._next_uid += count
                return vehicle
            R.size -= count  # nothing written: the numpy path below raises its own error
        self.arrival_rate += weight * np.bincount(vehicle, minlength=self.n_vehicles)
        stype = columns["stype"]
        relative = columns["relative_deadline"]
        columns["uid"] = np.arange(self._next_uid, self._next_uid + count)
        self._next_uid += count
        columns["created"] = now
        columns["deadline"] = now + relative
        columns["value"] = bid_values(self.budget[vehicle], relative, self.chain_length[stype],
                                      self.config.reference_deadline)
        columns["state"] = DECIDE
        columns["decide_at"] = now
        columns["site"] = -1
        self.requests.append(columns, count)
        return vehicle

    # ------------------------------------------------------------------ read-outs
    def counts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per vehicle: requests waiting for a decision, held, and in service (computed once
        per step: the infos, the observations and ``state()`` all read them)."""
        if self._counts is None:
            R = self.requests
            n = self.n_vehicles
            state = R.state
            kernel = _compiled_counts()
            if kernel is not None:
                counts, self._transit_count = kernel(state, R.vehicle, n)
                self._counts = (counts[:, 0], counts[:, 1], counts[:, 2])
                return self._counts
            # one count over (vehicle, DECIDE / HELD / in service); closed rows go to bin 3n
            key = R.vehicle * 3 + np.minimum(state, TRANSIT)
            key[state < 0] = 3 * n
            counts = np.bincount(key, minlength=3 * n + 1)[: 3 * n].reshape(n, 3)
            self._counts = (counts[:, 0], counts[:, 1], counts[:, 2])
        return self._counts

    def needs_action(self) -> np.ndarray:
        return (self.counts()[0] > 0) & self.present

    def transit_count(self) -> int:
        """Requests in transit now (counted with ``counts()`` when compiled)."""
        if self._counts is not None and self._transit_count is not None:
            return self._transit_count
        return int(np.count_nonzero(self.requests.state == TRANSIT))


__all__ = ["CoreConfig", "Script", "V2XCore"]
