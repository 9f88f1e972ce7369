"""The core of the V2X offloading market: a discrete-event simulator over plain numpy state.

:class:`V2XCore` knows nothing of agent ids, dicts, spaces or rewards. ``step(actions, rng)`` takes
the joint action as one array ``[n_vehicles, 2]`` of ``(alpha, b)`` and returns the step's
:class:`~auction_envs.envs.v2x.events.StepEvents` (requests held, bids and their outcome, requests
closed); the reward function (``rewards.py``) and the metrics (``metrics.py``) read those events.
The order of one step and the resource model are documented in ``V2XOffloadingEnv``'s docstring.
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
from auction_envs.envs.v2x.population import Population, draw_budgets
from auction_envs.envs.v2x.requests import DECIDE, HELD, QUEUED, RUNNING, TRANSIT, RequestTable
from auction_envs.envs.v2x.sites import DelayedView, SiteProfile, rial_choice
from auction_envs.mechanisms.second_price import second_price

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
        return StepEvents(created=self._spawn(0, rng))

    @property
    def present(self) -> np.ndarray:
        return self.population.present

    # ------------------------------------------------------------------ one step
    def step(self, actions: np.ndarray, rng: np.random.Generator) -> StepEvents:
        """Advance one step under the joint action ``[n_vehicles, 2]`` = ``(alpha, b)`` rows."""
        t = self.t
        R = self.requests
        alpha, fraction = actions[:, 0], actions[:, 1]
        closed = ClosedLog()
        events = StepEvents()

        # 1. decisions
        deciding = np.flatnonzero(R.state == DECIDE)
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

        # 4. held requests: time, deadline and count limits
        now = t + 1
        held = R.state == HELD
        R.held[held] += 1
        drop = held & ((R.held > self.config.max_hold) | (R.deadline <= now))
        self._close(drop, HOLD_DROP, closed)
        held &= ~drop
        self._drop_beyond_max_held(held, closed)
        wake = held & (R.decide_at <= now)
        R.state[wake] = DECIDE
        # requests back for a decision that can no longer be auctioned before their deadline
        late = (R.state == DECIDE) & (R.deadline <= now)
        self._close(late, np.where(R.attempts[late] > 0, REJECTED, HOLD_DROP), closed)

        # 5. sites
        self._advance_sites(now, rng, closed)
        R.keep(R.state >= 0)

        # 6. mobility and the arrivals of the next step
        left = self.population.move(now, rng, self.budget)
        if left.size:
            gone = np.isin(R.vehicle, left) & ((R.state == DECIDE) | (R.state == HELD))
            events.left_coverage = int(gone.sum())
            self._close(gone, HOLD_DROP, closed)
            R.keep(R.state >= 0)
        events.created = self._spawn(now, rng)
        self.t = now
        events.closed = closed.events()
        events.utilization = self.running / self.site_capacity
        events.view_utilization = self.view_utilization.copy()
        return events

    def _decide(self, deciding: np.ndarray, alpha: np.ndarray, fraction: np.ndarray, t: int,
                rng: np.random.Generator, events: StepEvents) -> tuple[np.ndarray, np.ndarray]:
        """Backoff draws: hold the requests below their threshold, price the others."""
        R = self.requests
        vehicle = R.vehicle[deciding]
        events.decided = vehicle
        batch = np.bincount(vehicle, minlength=self.n_vehicles)[vehicle]
        submit = alpha[vehicle] >= self._thresholds(deciding.size, rng)
        if not submit.all():
            held = deciding[~submit]
            hv = vehicle[~submit]
            hold = np.maximum(1, np.ceil((1.0 - alpha[hv]) * self.config.max_backoff)
                              ).astype(np.int64)
            R.state[held] = HELD
            R.decide_at[held] = t + hold
            events.held = HeldEvents(vehicle=hv, hold=hold, alpha=alpha[hv], batch=batch[~submit],
                                     relative_deadline=R.relative_deadline[held],
                                     age=t + 1 - R.created[held], budget=self.budget[hv])
        submitted = deciding[submit]
        prices = self._prices(R.vehicle[submitted], fraction)
        return submitted, prices

    def _thresholds(self, size: int, rng: np.random.Generator) -> np.ndarray:
        return backoff_thresholds(*self.config.backoff_threshold, size, rng)

    def _prices(self, vehicle: np.ndarray, fraction: np.ndarray) -> np.ndarray:
        return batch_prices(vehicle, fraction, self.budget, self.config.budget_mode)

    def _view_used(self, rng: np.random.Generator) -> np.ndarray:
        """Resource units in use per site as the ACA sees them (reads the delayed views)."""
        used = np.empty(len(self.sites))
        for s, view in enumerate(self._views):
            if self._exact_view[s]:
                # exact: the site's committed load plus the requests on their way to it
                R = self.requests
                used[s] = self.committed[s] + float(R.amount[(R.state == TRANSIT) & (R.site == s)].sum())
            else:
                used[s] = view.read(rng) * self.site_capacity[s]
        self.view_utilization = np.clip(used / self.site_capacity, 0.0, 1.0)
        return used

    def _auction(self, t: int, submitted: np.ndarray, prices: np.ndarray, used: np.ndarray,
                 rng: np.random.Generator, closed: ClosedLog) -> BidEvents:
        """One k-slot second-price auction per service type, then RIAL assignment of the winners."""
        R = self.requests
        R.attempts[submitted] += 1
        rebid = R.attempts[submitted] > 1
        beta = float(min(1.0, used.sum() / self.site_capacity.sum()))
        types = rng.permutation(self.n_types) if self.config.type_order == "random" \
            else np.arange(self.n_types)
        stypes = R.stype[submitted]
        capacity = self._capacity_list
        used = used.tolist()
        parts = []
        for k in types.tolist():
            members = np.flatnonzero(stypes == k)
            if members.size == 0:
                continue
            idx = submitted[members]
            bids = prices[members]
            amount = self._amount_lists[k]
            n_slots = sum(int(max(c - u, 0.0) / a + 1e-9) for c, u, a in zip(capacity, used, amount))
            if self.config.tie_break == "fifo":
                order = np.argsort(R.uid[idx], kind="stable")
                idx, bids, members = idx[order], bids[order], members[order]
                won, paid = second_price(bids, n_slots, None)
            else:
                won, paid = second_price(bids, n_slots, rng)
            winners = idx[won]
            self.last_bid_count[k] = idx.size
            self.last_admitted_count[k] = winners.size
            if winners.size:
                self.last_price[k] = paid[won][0]
                winners = winners[np.argsort(-bids[won], kind="stable")]  # highest bid first
                cost = self._cost_lists[k]
                chosen = []
                for _ in range(winners.size):
                    s = rial_choice(used, capacity, amount, cost)
                    if s < 0:  # cannot happen: n_slots counts the room site by site
                        raise AssertionError("RIAL found no room for an admitted request")
                    used[s] += amount[s]
                    chosen.append(s)
                self._admit(winners, np.array(chosen, dtype=np.int64), k)
            else:  # no winner: the price to beat is the highest bid when there was no slot
                self.last_price[k] = bids.max() if n_slots == 0 else 0.0
            parts.append((idx, members, bids, won, paid))
        idx = np.concatenate([p[0] for p in parts])
        members = np.concatenate([p[1] for p in parts])
        won = np.concatenate([p[3] for p in parts])
        vehicle = R.vehicle[idx]
        events = BidEvents(vehicle=vehicle, price=np.concatenate([p[2] for p in parts]),
                           value=R.value[idx], won=won, paid=np.concatenate([p[4] for p in parts]),
                           rebid=rebid[members], beta=beta, budget=self.budget[vehicle],
                           submission_index=members)
        # losers: rebid next step if they may, else fail (rejected)
        losers = idx[~won]
        out = R.attempts[losers] > self.config.max_rebids
        if out.any():
            fail = np.zeros(len(R), dtype=bool)
            fail[losers[out]] = True
            self._close(fail, REJECTED, closed)
        R.state[losers[~out]] = DECIDE
        return events

    def _admit(self, index: np.ndarray, site: np.ndarray, k: int) -> None:
        R = self.requests
        R.state[index] = TRANSIT
        R.site[index] = site
        R.amount[index] = self.slot_amount[site, k]
        R.nominal[index] = self.slot_duration[site, k]
        sharing = int((R.state == TRANSIT).sum())  # includes the requests admitted right now
        up, down = self.population.transfer_latency(R.vehicle[index], R.data_up[index],
                                                    R.data_down[index], self.site_latency[site],
                                                    sharing)
        R.ready_at[index] = self.t + up
        R.return_latency[index] = down

    def _drop_beyond_max_held(self, held: np.ndarray, closed: ClosedLog) -> None:
        """A vehicle holding more than ``max_held`` requests drops its newest ones."""
        R = self.requests
        max_held = self.config.max_held
        counts = np.bincount(R.vehicle[held], minlength=self.n_vehicles)
        for v in np.flatnonzero(counts > max_held):
            mine = np.flatnonzero(held & (R.vehicle == v))
            newest = mine[np.argsort(R.uid[mine])][max_held:]
            extra = np.zeros(len(R), dtype=bool)
            extra[newest] = True
            self._close(extra, HOLD_DROP, closed)
            held &= ~extra

    def _advance_sites(self, now: int, rng: np.random.Generator, closed: ClosedLog) -> None:
        """Finish, drop, start and queue requests at the sites; record what they report."""
        R = self.requests
        running = R.state == RUNNING
        # a result is on time when it is back by the deadline: finish_at + return latency <= deadline
        overrun = running & (now + R.return_latency > R.deadline)
        self._close(overrun, DEADLINE_MISS, closed)
        done = running & ~overrun & (R.finish_at <= now)
        self._close(done, SUCCESS, closed)
        arrive = (R.state == TRANSIT) & (R.ready_at <= now)
        R.state[arrive] = QUEUED
        queued = R.state == QUEUED
        hopeless = queued & (now + np.ceil(R.nominal - 1e-9) + R.return_latency > R.deadline)
        self._close(hopeless, DEADLINE_MISS, closed)
        queued &= ~hopeless
        noise_std = self.config.duration_noise_std
        for s in range(len(self.sites)):
            at_site = R.site == s
            in_use = float(R.amount[(R.state == RUNNING) & at_site].sum())
            mine = np.flatnonzero(queued & at_site)
            if mine.size:
                mine = mine[np.argsort(R.uid[mine], kind="stable")]
                fits = np.cumsum(R.amount[mine]) <= self.site_capacity[s] - in_use + 1e-9
                start = mine[: int(np.argmin(fits)) if not fits.all() else mine.size]
                if start.size:
                    noise = 1.0 + noise_std * rng.standard_normal(start.size) \
                        if noise_std > 0 else 1.0
                    duration = np.maximum(1, np.round(R.nominal[start] * noise)).astype(np.int64)
                    R.state[start] = RUNNING
                    R.finish_at[start] = now + duration
                    in_use += float(R.amount[start].sum())
            self.running[s] = in_use
            self.committed[s] = in_use + float(R.amount[(R.state == QUEUED) & at_site].sum())
            self._views[s].record(self.committed[s] / self.site_capacity[s])

    def _close(self, mask: np.ndarray, outcome: int | np.ndarray, closed: ClosedLog) -> None:
        """Settle the requests in ``mask`` with ``outcome`` (scalar or one per masked request)."""
        if not mask.any():
            return
        R = self.requests
        vehicle = R.vehicle[mask]
        closed.add(vehicle, np.broadcast_to(np.asarray(outcome, dtype=np.int64), vehicle.shape),
                   R.value[mask], R.state[mask] >= TRANSIT)
        R.state[mask] = -1

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
        self.arrival_rate += weight * np.bincount(vehicle, minlength=self.n_vehicles)
        stype = columns["stype"]
        relative = columns["relative_deadline"]
        columns["uid"] = np.arange(self._next_uid, self._next_uid + count)
        self._next_uid += count
        columns["created"] = np.full(count, now)
        columns["deadline"] = now + relative
        columns["value"] = bid_values(self.budget[vehicle], relative, self.chain_length[stype],
                                      self.config.reference_deadline)
        columns["state"] = np.full(count, DECIDE)
        columns["decide_at"] = np.full(count, now)
        columns["site"] = np.full(count, -1)
        self.requests.append(columns)
        return vehicle

    # ------------------------------------------------------------------ read-outs
    def counts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per vehicle: requests waiting for a decision, held, and in service."""
        R = self.requests
        n = self.n_vehicles
        state = R.state
        return (np.bincount(R.vehicle[state == DECIDE], minlength=n),
                np.bincount(R.vehicle[state == HELD], minlength=n),
                np.bincount(R.vehicle[state >= TRANSIT], minlength=n))

    def needs_action(self) -> np.ndarray:
        R = self.requests
        deciding = np.bincount(R.vehicle[R.state == DECIDE], minlength=self.n_vehicles)
        return (deciding > 0) & self.present

    def transit_count(self) -> int:
        return int((self.requests.state == TRANSIT).sum())


__all__ = ["CoreConfig", "Script", "V2XCore"]
