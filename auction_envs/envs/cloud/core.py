"""The cloud market's core: numpy state and one step over the joint action array.

:class:`CloudMarket` knows nothing of agent ids, dicts or spaces: providers are rows ``0..n-1``,
buyer slots columns ``0..max_buyers-1``. The shell (:class:`~auction_envs.envs.cloud.env.
CloudDoubleAuctionEnv`) checks arguments, turns the action dict into the ``(n, max_buyers)``
multiplier array, and builds observations, infos and metrics from the core's state.

One step: the batch of buyers (drawn at the end of the previous step, so that the observation shows
it) is priced by the mechanism (:data:`~auction_envs.mechanisms.double_auction.MECHANISM_RULES`),
matched buyer by buyer (every match books capacity, so matching is sequential within a market),
paid, accounted; then time advances one step and the next batch is drawn.

Speed: the quantities that are fixed for a step (asks, reserves, affordability, the price
criterion of the SAW preference, the earliest starts) are computed once per step over buyers x
providers; a match changes only the winner's bookings, so only its utilization, the quota and its
row of earliest starts (for the buyers still to come) are recomputed. The per-buyer decision runs
on plain float lists (a handful of providers, where numpy's per-call cost would dominate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from auction_envs.envs.cloud.trace import TaskEvents
from auction_envs.mechanisms.double_auction import (
    bundle_cost,
    contest_success,
    earliest_start,
    select_winner,
    under_quota,
    utilization_term,
)

COUNTERS = ("arrived", "auctioned", "matched", "overflow_requests", "dropped_requests",
            "buyer_drops", "deadline_failures", "completed", "single_feasible")


@dataclass(frozen=True)
class MarketSettings:
    """Everything the core needs, already checked by the shell (units: price units)."""

    rules: Any                      # a MECHANISM_RULES instance
    capacity: np.ndarray            # (n, 3)
    trace: TaskEvents
    trace_requests: np.ndarray      # (events, 3) in price units
    window_start: np.ndarray        # (windows + 1,) first event of every step window
    max_buyers: int
    budget_range: tuple[float, float]
    length_range: tuple[int, int]
    wait_range: tuple[int, int]
    base_price_ranges: np.ndarray   # (3, 2)
    sigma: float
    csf_form: str
    csf_weight: float
    utilization_horizon: int
    matching_order: str
    fairness: bool
    fair_share: float
    fair_min_wins: int
    drop_after: int

    @property
    def n_windows(self) -> int:
        return self.window_start.size - 1

    @property
    def horizon(self) -> int:
        return int(self.wait_range[1] + self.length_range[1])


@dataclass
class StepOutcome:
    """What one step produced, per provider ``(n,)`` or per provider and slot ``(n, max_buyers)``."""

    offers: np.ndarray
    won: np.ndarray
    payments: np.ndarray
    revenue: np.ndarray
    base_cost: np.ndarray

    @property
    def rewards(self) -> np.ndarray:
        return self.revenue - self.base_cost


def _empty_batch() -> dict[str, np.ndarray]:
    return {"row": np.zeros(0, np.int64), "user": np.zeros(0, np.int64),
            "request": np.zeros((0, 3)), "bid": np.zeros(0), "length": np.zeros(0, np.int64),
            "wait": np.zeros(0, np.int64)}


class CloudMarket:
    """State of one cloud market: bookings, base prices, the buyer batch, counters."""

    def __init__(self, settings: MarketSettings) -> None:
        self.settings = settings
        self.capacity = settings.capacity
        self.n_providers = settings.capacity.shape[0]
        self.horizon = settings.horizon
        self.new_population()
        self.clear()

    def new_population(self) -> None:
        """Every trace user back in the market with no lost episodes (the population persists
        across episodes otherwise)."""
        users = len(self.settings.trace.users)
        self.loss_streak = np.zeros(users, dtype=np.int64)  # consecutive lost episodes
        self.dropped = np.zeros(users, dtype=bool)
        self.population_episodes = 0
        self.population_drops = 0

    # ------------------------------------------------------------------ episode state
    def clear(self) -> None:
        """The state of an empty market (before the first reset: mean base prices, no batch)."""
        s, n = self.settings, self.n_providers
        self.base_prices = s.base_price_ranges.mean(axis=1)[None, :].repeat(n, axis=0)
        self.booked = np.zeros((n, self.horizon, 3))
        self.window = 0
        self.step_count = 0
        self.batch = _empty_batch()
        users = len(s.trace.users)
        self.took_part = np.zeros(users, dtype=bool)  # this episode: had a request auctioned
        self.won_once = np.zeros(users, dtype=bool)  # this episode: had a request matched
        self.episode_closed = False
        self.wins = np.zeros(n, dtype=np.int64)
        self.provider_utility = np.zeros(n)
        self.revenue = np.zeros(n)
        self.last_reward = np.zeros(n)
        self.last_matches: list[dict[str, Any]] = []
        self.jobs: list[dict[str, Any]] = []
        self._running: dict[int, list[dict[str, Any]]] = {}  # finish step -> jobs
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.buyer_utility = 0.0
        self.payments = 0.0
        self.payments_above_ask = 0
        self.surplus_bound = 0.0
        self.unmatched_demand = np.zeros(3)
        self.requested_demand = np.zeros(3)
        self.utilization_sum = np.zeros((n, 3))
        self.utilization_steps = 0
        self.eta = np.zeros(0)
        self.predicted = np.zeros((n, 0))
        self.gamma = np.zeros((n, 0))
        self.starts = np.zeros((n, 0), dtype=np.int64)
        self.reserve = np.zeros((n, 0))

    def reset(self, rng: np.random.Generator, start_window: int | None,
              new_population: bool = False) -> None:
        """A new episode: fresh base prices, a start window, the first batch (same buyers unless
        ``new_population``)."""
        if new_population:
            self.new_population()
        self.clear()
        s = self.settings
        low, high = s.base_price_ranges[:, 0], s.base_price_ranges[:, 1]
        self.base_prices = rng.uniform(low, high, size=(self.n_providers, 3))
        self.window = int(rng.integers(s.n_windows)) if start_window is None \
            else start_window % s.n_windows
        self.next_batch(rng)

    def next_batch(self, rng: np.random.Generator) -> None:
        """Read the current window's SUBMIT events into the batch (skipping dropped buyers)."""
        s = self.settings
        first, last = s.window_start[self.window], s.window_start[self.window + 1]
        rows = np.arange(first, last)
        self.counters["arrived"] += rows.size
        active = rows[~self.dropped[s.trace.user[rows]]]
        self.counters["dropped_requests"] += rows.size - active.size
        self.counters["overflow_requests"] += max(active.size - s.max_buyers, 0)
        rows = active[: s.max_buyers]
        k = rows.size
        self.batch = {
            "row": rows,
            "user": s.trace.user[rows],
            "request": s.trace_requests[rows],
            "bid": rng.uniform(*s.budget_range, size=k),
            "length": rng.integers(s.length_range[0], s.length_range[1] + 1, size=k),
            "wait": rng.integers(s.wait_range[0], s.wait_range[1] + 1, size=k),
        }
        self._prepare()

    def _prepare(self) -> None:
        """Quantities fixed for the whole step: CSF, Gamma, starts, predicted utilization."""
        s, batch = self.settings, self.batch
        free = self.capacity[:, None, :] - self.booked
        # the CSF needs w > 0: a zero maximum wait counts as one step in the strength
        strength_waits = np.maximum(batch["wait"], 1).astype(np.float64)
        self.eta = contest_success(batch["bid"], strength_waits, s.sigma, s.csf_form)
        horizon = s.utilization_horizon
        # means as sum / count: what np.mean computes, without its per-call overhead
        resources = self.capacity.shape[1]
        booked_share = (self.booked[:, :horizon, :] / self.capacity[:, None, :]).sum(axis=1)
        base_util = booked_share.sum(axis=-1) / resources / horizon  # (n,)
        self.share = batch["request"][None, :, :] / self.capacity[:, None, :]  # (n, k, 3)
        added = (np.minimum(batch["length"], horizon)[None, :] / horizon
                 * (self.share.sum(axis=-1) / resources))
        self.predicted = base_util[:, None] + added  # (n, k)
        self.gamma = utilization_term(self.eta, self.predicted, s.csf_weight)
        # lengths and waits are drawn inside the checked ranges (w + s <= horizon)
        self.starts = earliest_start(free, batch["request"], batch["length"], batch["wait"],
                                     check=False)
        self.reserve = bundle_cost(batch["request"], self.base_prices)  # (n, k)

    def under_quota(self) -> np.ndarray:
        s = self.settings
        if not s.fairness:
            return np.zeros(self.n_providers, dtype=bool)
        return under_quota(self.wins, s.fair_share, s.fair_min_wins)

    # ------------------------------------------------------------------ one step
    def step(self, multipliers: np.ndarray, rng: np.random.Generator) -> StepOutcome:
        """Price, match and pay the batch with ``multipliers`` ``(n, max_buyers)``; advance time."""
        s, batch, n = self.settings, self.batch, self.n_providers
        k = batch["bid"].size
        free_now = self.capacity - self.booked[:, 0, :]
        asks = s.rules.asks(self.base_prices, batch["request"], multipliers[:, :k], self.gamma,
                            free_now)
        outcome = StepOutcome(offers=np.zeros((n, s.max_buyers)), won=np.zeros((n, s.max_buyers)),
                              payments=np.zeros((n, s.max_buyers)), revenue=np.zeros(n),
                              base_cost=np.zeros(n))
        outcome.offers[:, :k] = asks
        self.last_matches = []
        matched = np.zeros(k, dtype=bool)
        if k:
            self._match(asks, outcome, matched)
        rewards = outcome.rewards
        self._update_buyers(matched)
        self._account(matched, rewards, outcome.revenue)
        self._advance(rng)
        return outcome

    def _match(self, asks: np.ndarray, outcome: StepOutcome, matched: np.ndarray) -> None:
        s, batch = self.settings, self.batch
        k = matched.size
        if s.matching_order == "strength":
            strength = batch["bid"] / np.maximum(batch["wait"], 1) ** s.sigma
            order = np.lexsort((np.arange(k), -strength)).tolist()
        else:
            order = list(range(k))
        score = s.rules.scorer(asks, batch["bid"])
        # per buyer the loop reads single entries: plain lists cost less than numpy indexing there
        affordable = (asks <= batch["bid"][None, :]).T.tolist()  # (k, n)
        offers = asks.T.tolist()  # (k, n)
        utilization = (self.booked[:, 0, :] / self.capacity).mean(axis=-1).tolist()
        capacity = self.capacity.tolist()
        priority = self.under_quota().tolist() if s.fairness else None
        buyers = {name: batch[name].tolist() for name in ("bid", "length", "wait", "user")}
        # earliest starts of the step's bookings; a match changes only the winner's row
        starts = self.starts.copy()
        for position, j in enumerate(order):
            record = self._match_one(j, starts[:, j].tolist(), affordable[j], offers[j],
                                     utilization, score, priority, buyers)
            self.last_matches.append(record)
            p = record["provider"]
            if p < 0:
                continue
            matched[j] = True
            outcome.won[p, j] = 1.0
            outcome.payments[p, j] = record["payment"]
            outcome.revenue[p] += record["payment"]
            outcome.base_cost[p] += record["reserve"]
            # only provider p's bookings changed: refresh its utilization, quota and starts
            # (the mean of the used shares summed left to right, as numpy's mean does)
            used = self.booked[p, 0, :].tolist()
            utilization[p] = sum(u / c for u, c in zip(used, capacity[p])) / len(used)
            if s.fairness:
                priority = self.under_quota().tolist()
            if position + 1 < k:  # buyers to come: p's starts for all (those done are not read)
                starts[p] = earliest_start((self.capacity[p] - self.booked[p])[None],
                                           batch["request"], batch["length"], batch["wait"],
                                           check=False)[0]

    def _match_one(self, j: int, start_at: list[int], affordable: list[bool],
                   offers: list[float], utilization: list[float], score: Any,
                   priority: list[bool] | None, buyers: dict[str, list[Any]]) -> dict[str, Any]:
        s = self.settings
        bid, length, wait = buyers["bid"][j], buyers["length"][j], buyers["wait"][j]
        request = self.batch["request"][j]
        feasible = [start >= 0 and ok for start, ok in zip(start_at, affordable)]
        n_feasible = sum(feasible)
        winner = runner_up = -1
        if n_feasible:
            waits = [float(start) if start >= 0 else float(self.horizon) for start in start_at]
            winner, runner_up = select_winner(score(j, utilization, waits), feasible, priority)
        record = {
            "slot": j, "user": buyers["user"][j], "bid": bid, "length": length, "wait": wait,
            "arrival": self.step_count, "provider": winner, "runner_up": runner_up,
            "n_feasible": n_feasible, "payment": 0.0, "reserve": 0.0, "offer": 0.0,
            "start": -1, "finish": -1, "deadline": self.step_count + wait + length,
            "request": request.copy(),
        }
        if winner < 0:
            return record
        reserve = float(self.reserve[winner, j])
        payment = s.rules.payment(offers, winner, runner_up, bid, reserve)
        start = start_at[winner]
        self.booked[winner, start:start + length, :] += request
        self.wins[winner] += 1
        self.counters["single_feasible"] += int(runner_up < 0)
        record.update(payment=payment, reserve=reserve, offer=offers[winner],
                      start=self.step_count + start, finish=self.step_count + start + length)
        self.jobs.append(dict(record))
        self._running.setdefault(record["finish"], []).append(self.jobs[-1])
        return record

    def _update_buyers(self, matched: np.ndarray) -> None:
        users = self.batch["user"]
        self.took_part[users] = True
        self.won_once[users[matched]] = True

    def end_episode(self) -> None:
        """Count the episode for every buyer who took part (once): a win resets her streak of lost
        episodes, a loss extends it; ``drop_after`` lost episodes in a row and she leaves."""
        if self.episode_closed:
            return
        self.episode_closed = True
        losers = self.took_part & ~self.won_once
        self.loss_streak[self.won_once] = 0
        self.loss_streak[losers] += 1
        leaving = losers & (self.loss_streak >= self.settings.drop_after) & ~self.dropped
        self.dropped |= leaving
        self.counters["buyer_drops"] = int(leaving.sum())
        self.population_episodes += 1
        self.population_drops += int(leaving.sum())

    def _account(self, matched: np.ndarray, rewards: np.ndarray, revenue: np.ndarray) -> None:
        batch = self.batch
        k = matched.size
        payments = np.array([r["payment"] for r in self.last_matches if r["provider"] >= 0])
        bids = np.array([r["bid"] for r in self.last_matches if r["provider"] >= 0])
        self.counters["auctioned"] += k
        self.counters["matched"] += int(matched.sum())
        self.buyer_utility += float(np.sum(bids - payments)) if payments.size else 0.0
        self.payments += float(payments.sum()) if payments.size else 0.0
        offers = np.array([r["offer"] for r in self.last_matches if r["provider"] >= 0])
        self.payments_above_ask += int(np.sum(payments > offers + 1e-9)) if payments.size else 0
        if k:  # any prices: a match yields at most bid - the cheapest base cost of the bundle
            self.surplus_bound += float(np.maximum(batch["bid"] - self.reserve.min(axis=0),
                                                   0.0).sum())
        self.requested_demand += batch["request"].sum(axis=0)
        self.unmatched_demand += batch["request"][~matched].sum(axis=0)
        self.provider_utility += rewards
        self.revenue += revenue
        self.last_reward = rewards
        self.utilization_sum += self.booked[:, 0, :] / self.capacity
        self.utilization_steps += 1

    def _advance(self, rng: np.random.Generator) -> None:
        """Move time one step: running jobs progress, finished ones are checked, next batch."""
        self.step_count += 1
        for job in self._running.pop(self.step_count, []):
            self.counters["completed"] += 1
            self.counters["deadline_failures"] += int(job["finish"] > job["deadline"])
        self.booked = np.concatenate([self.booked[:, 1:], np.zeros_like(self.booked[:, :1])],
                                     axis=1)
        self.window = (self.window + 1) % self.settings.n_windows
        self.next_batch(rng)
