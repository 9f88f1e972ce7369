"""The V2X v1 fixes (issue 13, item 1), each against a hand computation; each fails on v0.

Scenario env as in ``test_scenarios.py``: two exact sites of 1 unit, every task holds 1 unit, F1
runs 3 steps and F2 30 (no noise), threshold r = 0.6; budgets 2000, so a request with deadline 50
and one task is worth ``v = 1750`` and ``W = 200``.
"""

from __future__ import annotations

import numpy as np
import pytest

from agents.baselines import PassiveV2XPolicy
from auction_envs.core import InvalidArgumentError
from auction_envs.envs.v2x import V2XIntersectionEnv, V2XOffloadingEnv
from auction_envs.envs.v2x.requests import RUNNING
from tests.v2x.test_scenarios import V, W, scenario, step


def test_backoff_cost_is_age_plus_hold_by_default() -> None:
    env = scenario([(0, 0, "F1", 50), (0, 0, "F1", 50)])
    # step 0: age 0 + 1, hold (1 - 0.5) * 10 = 5: q = (2000 / 2) / 50 * 6 / 10 = 12 per request
    _, rewards, *_ = step(env, v0=(0.5, 0.5))
    assert rewards["vehicle_0"] == pytest.approx(-24.0)
    for _ in range(4):
        step(env)
    # step 5: both back for a decision; age 5 + 1, hold (1 - 0.2) * 10 = 8: q = 20 * 14 / 10 = 28
    _, rewards, *_ = step(env, v0=(0.2, 0.5))
    assert rewards["vehicle_0"] == pytest.approx(-2 * 28.0)


def test_hold_only_cost_is_an_option() -> None:
    env = scenario([(0, 0, "F1", 50)] * 2, backoff_cost="hold")
    _, rewards, *_ = step(env, v0=(0.5, 0.5))
    assert rewards["vehicle_0"] == pytest.approx(-2 * 10.0)  # (2000 / 2) / 50 * 5 / 10


def test_a_failure_after_admission_costs_twice_its_value() -> None:
    env = scenario([(0, 0, "F1", 10)])
    _, rewards, *_ = step(env)  # admitted at p = 0: W (1 - 0)
    v = 2000 * (0.75 + 0.25 * (50 / 10) * 0.5)
    assert rewards["vehicle_0"] == pytest.approx(W)
    env.requests.finish_at[0] = 30  # the run overruns its deadline (step 10)
    total = 0.0
    for _ in range(10):
        _, rewards, _, _, infos = step(env)
        total += rewards["vehicle_0"]
    assert env.metrics()["ofr_deadline_miss"] == 1.0 and infos["vehicle_0"]["failed"] == 1
    assert total == pytest.approx(-2 * v)
    # admitted then late nets -v - p + W(1 - beta): no better than a rejection's -v + W(1 - beta)
    assert W + total <= -v + W


def test_a_hold_drop_costs_the_lost_bid_penalty_and_v0_charges_nothing() -> None:
    for kwargs, expected in (({}, -V), ({"failure_penalty": 0.0, "hold_drop_penalty": 0.0}, 0.0)):
        env = scenario([(0, 0, "F1", 50)], max_hold=1, backoff_cost="hold", **kwargs)
        _, first, *_ = step(env, v0=(0.5, 0.5))  # held 5 steps at q = 2000 / 50 * 5 / 10 = 20
        _, second, *_ = step(env, v0=(0.5, 0.5))  # 2 steps held > max_hold = 1: dropped
        assert env.metrics()["ofr_dropped_on_hold"] == 1.0
        assert first["vehicle_0"] == pytest.approx(-20.0)
        assert second["vehicle_0"] == pytest.approx(expected)


def test_beta_and_remote_utilization_are_refreshed_when_nobody_bids() -> None:
    # two F2 requests at step 0 fill both sites; the remote reports 3 steps late; nobody bids after
    env = scenario([(0, 0, "F2", 100), (0, 1, "F2", 100)], remote_delay=3)
    for _ in range(6):
        observations, *_ = step(env)
    layout = env.layout
    obs = observations["vehicle_2"]
    assert layout.get(obs, "remote_utilization") == 1.0  # v0: frozen at the step-0 view, 0
    assert layout.get(obs, "system_utilization") == 1.0
    assert layout.get(obs, "edge_utilization") == 1.0


def test_a_result_back_at_deadline_plus_one_is_a_miss() -> None:
    for finish, missed in ((10, 0.0), (11, 1.0)):
        env = scenario([(0, 0, "F1", 10)])
        step(env)  # admitted at 0; deadline = step 10
        assert env.requests.state[0] == RUNNING
        env.requests.finish_at[0] = finish
        for _ in range(11):
            step(env)
        m = env.metrics()
        assert m["finished"] == 1 and m["ofr_deadline_miss"] == missed, finish


def test_a_result_that_needs_its_return_latency_past_the_deadline_is_a_miss() -> None:
    from auction_envs.envs.v2x import SiteProfile

    sites = (SiteProfile("edge", 0.5, amount=(1.0, 1.0), work_rate=1.0, latency=2),
             SiteProfile("remote", 0.5, amount=(1.0, 1.0), work_rate=1.0, latency=2))
    # back at finish + 2: 8 + 2 = 10 = the deadline (on time), 9 + 2 = 11 = deadline + 1 (late)
    for finish, missed in ((8, 0.0), (9, 1.0)):
        env = scenario([(0, 0, "F1", 10)], sites=sites)
        for _ in range(2):
            step(env)  # admitted at 0, reaches the site and starts at 2, nominal end 5
        assert env.requests.state[0] == RUNNING and env.requests.finish_at[0] == 5
        env.requests.finish_at[0] = finish
        for _ in range(10):
            step(env)
        m = env.metrics()
        assert m["finished"] == 1 and m["ofr_deadline_miss"] == missed, finish


def test_chain_type_bid_count_and_arrival_rate_are_observable() -> None:
    arrivals = [(0, 0, "F1-F2", 300), (0, 1, "F2-F1", 300), (1, 0, "F1", 300), (1, 1, "F1", 300),
                (1, 2, "F1", 300)]
    env = scenario(arrivals, capacity=20.0)
    layout = env.layout
    observations, _ = env.reset(seed=0, options={"arrivals": arrivals, "budgets": [2000.0] * 3})
    assert layout.get(observations["vehicle_0"], "request0_type").tolist() == [0, 0, 1, 0]
    assert layout.get(observations["vehicle_1"], "request0_type").tolist() == [0, 0, 0, 1]
    # arrival-rate estimate: moving average with weight 1/100 of the requests created per step
    assert layout.get(observations["vehicle_0"], "arrival_rate") == pytest.approx(0.01)
    observations, *_ = step(env)
    assert layout.get(observations["vehicle_0"], "arrival_rate") == pytest.approx(0.99 * 0.01 + 0.01)
    assert layout.get(observations["vehicle_0"], "system_arrival_rate") == pytest.approx(
        3 * 0.01 + 2 * 0.99 * 0.01, rel=1e-5)
    assert layout.get(observations["vehicle_0"], "last_bid_count").tolist() == pytest.approx([0, 0, 1, 1])
    observations, *_ = step(env)  # three F1 bids, 20 units: all admitted
    fields = layout.unpack(observations["vehicle_2"])
    assert fields["last_bid_count"].tolist() == pytest.approx([3, 0, 0, 0])
    assert fields["last_admitted_count"].tolist() == pytest.approx([3, 0, 0, 0])


def test_history_stacks_the_last_frames_newest_first() -> None:
    env = V2XOffloadingEnv(capacity=60.0, max_cycles=50, history=3)
    single = V2XOffloadingEnv(capacity=60.0, max_cycles=50)
    assert env.layout.size == 3 * single.layout.size == 3 * env.frame_layout.size
    assert env.observation_space("vehicle_0").shape == (env.layout.size,)
    observations, _ = env.reset(seed=4)
    frames_single, _ = single.reset(seed=4)
    obs = observations["vehicle_0"].reshape(3, -1)
    assert np.array_equal(obs[0], frames_single["vehicle_0"]) and not obs[1:].any()
    policy = PassiveV2XPolicy(layout=env.layout)
    previous = [frames_single]
    for _ in range(5):
        observations, *_ = env.step(policy.act(observations))
        frames_single, *_ = single.step(PassiveV2XPolicy().act(frames_single))
        previous.insert(0, frames_single)
        for agent in env.agents:
            stacked = observations[agent].reshape(3, -1)
            for lag in range(min(3, len(previous))):
                assert np.array_equal(stacked[lag], previous[lag][agent])
            assert env.layout.get(observations[agent], "needs_action") == \
                single.layout.get(frames_single[agent], "needs_action")
            assert env.layout.get(observations[agent], "lag1_budget") == \
                single.layout.get(previous[1][agent], "budget")


def test_far_off_backoff_threshold_draws_terminate_inside_the_unit_interval() -> None:
    env = V2XOffloadingEnv(n_vehicles=3, backoff_threshold=(1.5, 0.1), max_cycles=5)
    env.reset(seed=0)
    draws = env.core._thresholds(1000, np.random.default_rng(0))  # v0: an endless rejection loop
    assert np.all((draws >= 0) & (draws <= 1)) and draws.mean() > 0.9
    for _ in range(5):
        env.step({a: np.array([0.5, 0.5], dtype=np.float32) for a in env.agents})


@pytest.mark.parametrize("kwargs", [{"remote_latency": -3}, {"info_delay": -1},
                                    {"info_delay_std": -1.0}, {"edge_share": 1.5},
                                    {"history": 0}, {"backoff_cost": "age"}])
def test_junction_checks_the_site_arguments(kwargs) -> None:
    with pytest.raises(InvalidArgumentError):
        V2XIntersectionEnv(**kwargs)


def test_bad_reset_options_change_nothing() -> None:
    env = V2XOffloadingEnv(n_vehicles=2, max_cycles=20)
    env.reset(seed=0)
    budget = env.core.budget.copy()
    rng_state = env.np_random.bit_generator.state
    for options in ({"budgets": [1.0]}, {"arrivals": [(0, 5, "F1", 50)]}):
        with pytest.raises(InvalidArgumentError):
            env.reset(options=options)
        assert env.np_random.bit_generator.state == rng_state  # v0 drew new budgets first
        assert np.array_equal(env.core.budget, budget)
