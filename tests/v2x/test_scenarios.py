"""Hand-computed small scenarios of the V2X simulator: auction, rewards, backoff, holds, deadlines,
delayed utilization and RIAL.

The scenario env has two identical exact sites of 1 resource unit each (capacity 2); every task
holds 1 unit, F1 runs 3 steps and F2 30 steps (work_rate 1, no duration noise); the backoff
threshold is fixed at r = 0.6 (std 0). Budgets are 2000, so an F1 or F2 request with deadline 50
is worth ``v = 2000 (0.75 + 0.25 * 1 * 1/2) = 1750`` and ``W = 200``.
"""

from __future__ import annotations

import numpy as np
import pytest

from auction_envs.envs.v2x import SiteProfile, V2XOffloadingEnv
from auction_envs.envs.v2x.requests import DECIDE, HELD, QUEUED, RUNNING
from auction_envs.envs.v2x.sites import DelayedView, rial_choice, rial_prices

V = 1750.0
W = 200.0


def scenario(arrivals, n=3, capacity=2.0, remote_delay=0, **kwargs) -> V2XOffloadingEnv:
    sites = (SiteProfile("edge", 0.5, amount=(1.0, 1.0), work_rate=1.0),
             SiteProfile("remote", 0.5, amount=(1.0, 1.0), work_rate=1.0, info_delay=remote_delay))
    options = dict(n_vehicles=n, capacity=capacity, sites=sites, duration_noise_std=0.0,
                   backoff_threshold=(0.6, 0.0), max_cycles=400)
    options.update(kwargs)
    env = V2XOffloadingEnv(**options)
    env.reset(seed=0, options={"arrivals": arrivals, "budgets": [2000.0] * n})
    return env


def step(env, **per_vehicle):
    """One step; ``vehicle_i=(alpha, b)``, the others submit at price 0.5 B."""
    actions = {agent: np.array(per_vehicle.get(agent.replace("vehicle_", "v"), (1.0, 0.5)),
                               dtype=np.float32) for agent in env.agents}
    return env.step(actions)


def test_contended_auction_winners_payments_and_rewards() -> None:
    env = scenario([(0, 0, "F1", 50), (0, 1, "F1", 50), (0, 2, "F1", 50)])
    _, rewards, _, _, infos = step(env, v0=(1, 0.05), v1=(1, 0.10), v2=(1, 0.15))
    # two slots (one per site), bids 100 < 200 < 300: 200 and 300 win and pay 100
    assert [infos[f"vehicle_{i}"]["admitted"] for i in range(3)] == [0, 1, 1]
    # (b = 0.05 arrives as float32: prices are 100 up to float32 rounding)
    assert infos["vehicle_1"]["payment"] == pytest.approx(100.0)
    assert infos["vehicle_2"]["payment"] == pytest.approx(100.0)
    assert rewards["vehicle_2"] == pytest.approx(V - 100 + W)  # beta = 0: empty sites
    assert rewards["vehicle_1"] == pytest.approx(V - 100 + W)
    assert rewards["vehicle_0"] == pytest.approx(-V + W)  # rejected: lost-bid penalty c = v
    # RIAL: equal prices on empty sites -> edge for the highest bid, then the remote site
    R = env.requests
    sites = {int(R.vehicle[i]): int(R.site[i]) for i in range(len(R)) if R.site[i] >= 0}
    assert sites == {2: 0, 1: 1}
    assert env.last_price[0] == pytest.approx(100.0)
    # vehicle 0 rebids (MP = 1) into full sites (beta = 1): rejected again, now for good
    assert infos["vehicle_0"]["needs_action"]
    _, rewards, _, _, infos = step(env, v0=(1, 1.0))
    assert rewards["vehicle_0"] == pytest.approx(-V)
    assert infos["vehicle_0"]["rejected"] == 1 and infos["vehicle_0"]["failed"] == 1
    assert env.last_price[0] == 2000.0  # no slot: the price to beat is the highest bid
    for _ in range(4):
        step(env)
    m = env.metrics()
    assert m["finished"] == 3 and m["ofr"] == pytest.approx(1 / 3)
    assert m["ofr_rejected"] == pytest.approx(1 / 3)
    # rebids per finished request, averaged over vehicles: (1/1 + 0 + 0) / 3
    assert m["rebidding_overhead"] == pytest.approx(1 / 3)
    assert m["rebids_per_vehicle"].tolist() == [1, 0, 0]


def test_uncontended_auction_is_free() -> None:
    env = scenario([(0, 0, "F1", 50), (0, 1, "F1", 50), (0, 2, "F1", 50)], capacity=4.0)
    _, rewards, _, _, infos = step(env)
    assert all(infos[a]["admitted"] == 1 and infos[a]["payment"] == 0.0 for a in env.agents)
    assert all(r == pytest.approx(W) for r in rewards.values())  # p = 0: W (1 - beta) only


def test_utilization_term_uses_the_acas_beta() -> None:
    # step 0 fills one of the two units; at step 1 beta = 1/2
    env = scenario([(0, 0, "F2", 50), (1, 1, "F1", 50)])
    step(env)
    _, rewards, _, _, _ = step(env)
    assert rewards["vehicle_1"] == pytest.approx(W * (1 - 0.5))


def test_backoff_timing_and_cost() -> None:
    env = scenario([(0, 0, "F1", 50), (0, 0, "F1", 50)], backoff_cost="hold")
    # alpha = 0.5 < r = 0.6: both held ceil(0.5 * 10) = 5 steps; q = (2000 / 2) / 50 * 5 / 10 = 10
    observations, rewards, _, _, infos = step(env, v0=(0.5, 0.5))
    assert rewards["vehicle_0"] == pytest.approx(-20.0)
    assert infos["vehicle_0"]["backed_off"] == 2
    assert (env.requests.state == HELD).sum() == 2
    assert env.layout.get(observations["vehicle_0"], "needs_action") == 0.0  # step 1: held
    for t in range(2, 5):
        observations, *_ = step(env)
        assert env.layout.get(observations["vehicle_0"], "needs_action") == 0.0, t  # steps 2-4: still held
    observations, *_ = step(env)  # step 5, 5 steps after the decision: decide again
    assert env.layout.get(observations["vehicle_0"], "needs_action") == 1.0
    assert (env.requests.state == DECIDE).sum() == 2
    # alpha = r is enough to submit
    _, _, _, _, infos = step(env, v0=(0.6, 0.5))
    assert infos["vehicle_0"]["admitted"] == 2
    m = env.metrics()
    assert m["backoff_by_budget"]["high"] == pytest.approx(10 / 4)  # 10 hold steps, 4 decisions


def test_hold_drop_after_max_hold_steps() -> None:
    env = scenario([(0, 0, "F1", 300)], max_hold=7)
    for t in range(7):
        step(env, v0=(0.5, 0.5))
        assert env.metrics()["finished"] == 0, t
    step(env, v0=(0.5, 0.5))  # 8 steps held > 7
    m = env.metrics()
    assert m["finished"] == 1 and m["ofr_dropped_on_hold"] == 1.0


def test_hold_drop_at_the_deadline() -> None:
    env = scenario([(0, 0, "F1", 3)])
    step(env, v0=(0.5, 0.5))
    step(env)
    assert env.metrics()["finished"] == 0
    step(env)  # step 3 = deadline
    assert env.metrics()["ofr_dropped_on_hold"] == 1.0


def test_hold_drop_beyond_max_held_drops_the_newest() -> None:
    env = scenario([(0, 0, "F1", 300)] * 4, max_held=2)
    step(env, v0=(0.0, 0.5))
    R = env.requests
    assert (R.state == HELD).sum() == 2 and sorted(R.uid.tolist()) == [0, 1]
    assert env.metrics()["ofr_dropped_on_hold"] == 1.0  # the 2 finished are both hold drops


def test_per_step_budget_caps_the_second_bid() -> None:
    env = scenario([(0, 0, "F1", 50), (0, 0, "F1", 50), (0, 1, "F1", 50)], capacity=2.0)
    step(env, v0=(1, 0.7), v1=(1, 0.65))
    # vehicle 0 bids 1400 then 600 (budget 2000 per step); vehicle 1 bids 1300
    m = env.metrics()
    assert m["price_by_budget"]["high"] == pytest.approx((1400 + 600 + 1300) / 3)
    assert env.last_price[0] == pytest.approx(600.0)
    env = scenario([(0, 0, "F1", 50), (0, 0, "F1", 50)], budget_mode="per_request")
    step(env, v0=(1, 0.7))
    assert env.metrics()["price_by_budget"]["high"] == pytest.approx(1400.0)


def test_stale_remote_view_over_admits_and_the_queued_request_misses_its_deadline() -> None:
    # remote utilization reaches the ACA 5 steps late: at step 2 it still looks empty
    arrivals = [(0, 0, "F2", 100), (1, 1, "F2", 100), (2, 2, "F2", 40)]
    env = scenario(arrivals, remote_delay=5)
    for _ in range(3):
        _, _, _, _, infos = step(env)
    assert infos["vehicle_2"]["admitted"] == 1  # admitted to the (really full) remote site
    R = env.requests
    queued = int(np.flatnonzero(R.vehicle == 2)[0])
    assert R.site[queued] == 1 and R.state[queued] == QUEUED
    # deadline 2 + 40 = 42; nominal 30 steps: hopeless once now + 30 > 42, i.e. at now = 13
    for _ in range(9):
        step(env)
    assert env.metrics()["ofr_deadline_miss"] == 0.0
    step(env)  # now = 13
    assert env.metrics()["ofr_deadline_miss"] == 1.0


def test_exact_remote_view_rejects_instead() -> None:
    arrivals = [(0, 0, "F2", 100), (1, 1, "F2", 100), (2, 2, "F2", 40)]
    env = scenario(arrivals, remote_delay=0)
    for _ in range(3):
        _, _, _, _, infos = step(env)
    assert infos["vehicle_2"]["rejected"] == 1


def test_running_request_overrunning_its_deadline_is_dropped() -> None:
    env = scenario([(0, 0, "F1", 10)])
    step(env)  # admitted at 0, starts at 1, nominal end 4
    R = env.requests
    assert R.state[0] == RUNNING and R.finish_at[0] == 4
    R.finish_at[0] = 30  # the actual run turned out much longer
    for _ in range(9):
        step(env)
    assert env.metrics()["finished"] == 0
    step(env)  # now = 11 > deadline 10
    assert env.metrics()["ofr_deadline_miss"] == 1.0


def test_success_frees_the_slot_and_counts() -> None:
    env = scenario([(0, 0, "F1", 50)])
    for _ in range(4):
        step(env)
    m = env.metrics()
    assert m["finished"] == 1 and m["ofr"] == 0.0 and len(env.requests) == 0


def test_delayed_view_reads_the_past() -> None:
    view = DelayedView(delay=3)
    view.reset(0.0)
    for value in (0.1, 0.2, 0.3, 0.4, 0.5):
        view.record(value)
    rng = np.random.default_rng(0)
    assert view.read(rng) == 0.2  # recorded 3 steps before the last (0.5)
    assert DelayedView(delay=0, history=[0.0, 0.7]).read(rng) == 0.7
    early = DelayedView(delay=10)
    early.reset(0.0)
    early.record(0.9)
    assert early.read(rng) == 0.0  # shorter history: the oldest record


def test_rial_choice_hand_computed() -> None:
    capacity, amount, cost = [1.0, 1.0], [0.1, 0.2], [3.0, 6.0]
    # edge 0.8 * 0.6 * 3 = 1.44 < remote 0.8 * 0.4 * 6 = 1.92
    assert rial_choice([0.5, 0.2], capacity, amount, cost) == 0
    assert rial_prices([0.6, 0.4], cost).tolist() == pytest.approx([1.44, 1.92])
    # edge 0.8 * 0.9 * 3 = 2.16 > 1.92
    assert rial_choice([0.8, 0.2], capacity, amount, cost) == 1
    assert rial_choice([0.95, 0.2], capacity, amount, cost) == 1  # edge has no room
    assert rial_choice([0.95, 0.9], capacity, amount, cost) == -1
    assert rial_choice([0.0, 0.0], [1.0, 1.0], [0.5, 0.5], [1.0, 1.0]) == 0  # tie -> edge


def test_fifo_tie_break_admits_the_oldest() -> None:
    arrivals = [(0, 1, "F1", 50), (0, 0, "F1", 50), (0, 2, "F1", 50)]
    env = scenario(arrivals, capacity=2.0, tie_break="fifo")
    _, _, _, _, infos = step(env)
    assert [infos[f"vehicle_{i}"]["admitted"] for i in range(3)] == [1, 1, 0]


def test_rial_choice_runs_the_tested_price_rule(monkeypatch) -> None:
    """The assignment prices sites with ``sites.rial_price`` itself: replacing that rule changes
    the choice (an inverted price sends the request to the dearer site)."""
    from auction_envs.envs.v2x import sites as site_module

    capacity, amount, cost = [1.0, 1.0], [0.1, 0.2], [3.0, 6.0]
    assert rial_choice([0.5, 0.2], capacity, amount, cost) == 0
    monkeypatch.setattr(site_module, "rial_price", lambda u, c, factor=0.8: -factor * u * c)
    assert site_module.rial_choice([0.5, 0.2], capacity, amount, cost) == 1
    assert site_module.rial_prices([0.6, 0.4], cost).tolist() == pytest.approx([-1.44, -1.92])
