"""The cloud double auction env: hand-computed rounds, documented rules, and invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import auction_envs
from auction_envs import InvalidArgumentError
from auction_envs.envs.cloud import CloudDoubleAuctionEnv
from auction_envs.envs.cloud.trace import write_task_events

START = 600_000_000


def _row(second: int, job: int, user: str, cpu: float, mem: float, disk: float) -> list[str]:
    return [str(START + second * 1_000_000 + job), "", str(job), "0", "", "0", user, "0", "0",
            str(cpu), str(mem), str(disk), "0"]


def tiny_env(tmp_path, rows=None, providers=None, budget=300.0, **kwargs) -> CloudDoubleAuctionEnv:
    """Two providers, fixed base prices [100, 10, 50], fixed budgets, lengths 2 and waits 1."""
    path = tmp_path / "trace.csv"
    write_task_events(rows or [_row(0, 1, "u0=", 0.5, 1.0, 0.2)], path)
    options = dict(
        trace_path=path,
        providers=providers if providers is not None else [[2000, 2048, 2048, 0],
                                                           [1000, 1024, 1024, 0]],
        reference_capacity=(1000.0, 1024.0, 1024.0),
        base_price_ranges=((100, 100), (10, 10), (50, 50)),
        budget_range=(budget, budget), length_range=(2, 2), wait_range=(1, 1),
        utilization_horizon=2, start_window=0,
    )
    options.update(kwargs)
    return CloudDoubleAuctionEnv(**options)


def act(env, values):
    return {agent: np.full(env.max_buyers, v, np.float32) for agent, v in
            zip(env.possible_agents, values)}


def test_registered_variants():
    env = auction_envs.make("auction_envs/CloudDoubleAuction-v1")
    fair = auction_envs.make("auction_envs/CloudDoubleAuctionFair-v1")
    assert len(env.possible_agents) == 7 and not env.fairness and fair.fairness
    assert env.action_space("provider_d1").shape == (24,)
    assert env.observation_space("provider_d1").shape == (24 * 11 + 14,)
    assert not any(i.endswith("-v0") for i in auction_envs.list_envs() if "CloudDouble" in i)
    obs, _ = env.reset(seed=0)
    k = env.batch["bid"].size
    fields = env.unwrapped.layout.unpack(obs["provider_d1"])
    np.testing.assert_array_equal(fields["present"], np.arange(24) < k)  # present flags
    np.testing.assert_allclose(fields["budget"][:k], env.batch["bid"], rtol=1e-6)
    np.testing.assert_allclose(fields["length"][:k], env.batch["length"], rtol=1e-6)
    np.testing.assert_allclose(fields["base_price_cpu"], env.base_prices[0, 0], rtol=1e-6)
    assert all(np.all(fields[name][k:] == 0) for name in ("budget", "strength", "cpu_share"))


def test_rtrm_round_by_hand(tmp_path):
    env = tiny_env(tmp_path)
    env.reset(seed=0)
    np.testing.assert_allclose(env.base_prices, [[100, 10, 50], [100, 10, 50]])
    # request (0.5, 1.0, 0.2) in price units; reserve 50 + 10 + 10 = 70
    # lone buyer: exclusive CSF eta = 1, strength m*eta = 1; predicted utilization over T = 2
    # steps = mean share: p0 (0.25 + 0.5 + 0.1)/3, p1 (0.5 + 1 + 0.2)/3
    gamma0, gamma1 = 1 + 0.85 / 3, 1 + 1.7 / 3
    offer0, offer1 = 70 * 1.5 * gamma0, 70 * 1.0 * gamma1
    _, rewards, _, _, infos = env.step(act(env, [0.5, 0.0]))
    np.testing.assert_allclose(infos["provider_d1"]["offers"][0], offer0)
    np.testing.assert_allclose(infos["provider_d2"]["offers"][0], offer1)
    # SAW: p1 cheaper (1 vs 0); utilization and wait equal (1, 1) -> p1 wins; GSP pays p0's offer
    (record,) = env.last_matches
    assert (record["provider"], record["runner_up"], record["n_feasible"]) == (1, 0, 2)
    np.testing.assert_allclose(record["payment"], offer0)
    np.testing.assert_allclose(rewards["provider_d2"], offer0 - 70)
    assert rewards["provider_d1"] == 0.0
    metrics = env.metrics()
    np.testing.assert_allclose(metrics["buyer_utility"], 300 - offer0)
    np.testing.assert_array_equal(metrics["wins"], [0, 1])
    # the job books p1 for two steps from now
    np.testing.assert_allclose(env.booked[1, 0], [0.5, 1.0, 0.2])
    assert env.booked[1, 1].sum() == 0 and env.booked[0].sum() == 0


def test_inclusive_csf_option(tmp_path):
    rows = [_row(0, 1, "u0=", 0.5, 1.0, 0.2), _row(0, 2, "u1=", 0.5, 1.0, 0.2)]
    for form in ("exclusive", "inclusive"):
        env = tiny_env(tmp_path, rows=rows, csf_form=form)
        obs, _ = env.reset(seed=0)
        strength = env.layout.get(obs["provider_d1"], "strength")[:2]
        # equal buyers: inclusive eta = 1/2 -> m*eta = 1; exclusive eta = 1 -> m*eta = 2
        np.testing.assert_allclose(strength, 1.0 if form == "inclusive" else 2.0)


def test_single_feasible_provider_rule(tmp_path):
    for rule, expected in (("own", None), ("reserve", 70.0)):
        env = tiny_env(tmp_path, budget=150.0, single_feasible_payment=rule)
        env.reset(seed=0)
        env.step(act(env, [1.0, 0.0]))  # p0 offers 70 * 2 * gamma0 > 150: only p1 is feasible
        (record,) = env.last_matches
        assert (record["provider"], record["runner_up"], record["n_feasible"]) == (1, -1, 1)
        own = 70 * (1 + 1.7 / 3)
        np.testing.assert_allclose(record["payment"], own if expected is None else expected)
        assert record["payment"] <= record["bid"]
        assert env.metrics()["single_feasible"] == 1


def test_baselines_price_with_their_own_rule_not_the_agents_multipliers(tmp_path):
    for mechanism in ("cdara", "icaa"):
        offers = []
        for prices in ([0.5, 0.0], [1.0, 1.0]):
            env = tiny_env(tmp_path, mechanism=mechanism, baseline_markup=0.25)
            env.reset(seed=0)
            _, _, _, _, infos = env.step(act(env, prices))
            offers.append([infos[a]["offers"][0] for a in env.possible_agents])
        np.testing.assert_array_equal(offers[0], offers[1])
    # CDARA's own fixed price: base cost 70 x 1.25 at both providers; the tie goes to p0
    env = tiny_env(tmp_path, mechanism="cdara", baseline_markup=0.25)
    env.reset(seed=0)
    env.step(act(env, [1.0, 0.0]))
    (record,) = env.last_matches
    assert record["offer"] == pytest.approx(87.5) and record["provider"] == 0
    assert record["payment"] == pytest.approx((300 + 87.5) / 2)


def test_cdara_and_icaa_by_hand(tmp_path):
    env = tiny_env(tmp_path, mechanism="cdara", baseline_markup=None)
    env.reset(seed=0)
    env.step(act(env, [0.5, 0.0]))  # asks 105 and 70: p1 wins, pays (300 + 70) / 2
    (record,) = env.last_matches
    assert record["provider"] == 1 and record["payment"] == pytest.approx(185.0)
    env = tiny_env(tmp_path, mechanism="icaa", baseline_markup=None)
    env.reset(seed=0)
    env.step(act(env, [0.5, 0.0]))
    # demand D = (0.5, 1, 0.2); rho = D / (2 * free): p0 free 2 -> D/4, p1 free 1 -> D/2
    factor = lambda rho: 1 + rho / (1 + rho)  # noqa: E731
    ask0 = 1.5 * (0.5 * 100 * factor(0.125) + 10 * factor(0.25) + 0.2 * 50 * factor(0.05))
    ask1 = 0.5 * 100 * factor(0.25) + 10 * factor(0.5) + 0.2 * 50 * factor(0.1)
    (record,) = env.last_matches
    assert ask1 < ask0 and record["provider"] == 1
    assert record["payment"] == pytest.approx(ask1)


def test_fairness_gives_the_starved_provider_a_win(tmp_path):
    providers = [[1000, 1024, 1024, 0], [4000, 4096, 4096, 0]]
    rows = [_row(s, s + 1, f"u{s}=", 0.1, 0.1, 0.1) for s in range(3)]
    winners = {}
    for fairness in (False, True):
        env = tiny_env(tmp_path, rows=rows, providers=providers, fairness=fairness)
        env.reset(seed=0)
        winners[fairness] = []
        for _ in range(3):
            env.step(act(env, [1.0, 0.0]))  # p1 is cheaper, larger, never worse
            winners[fairness].append(env.last_matches[0]["provider"])
    assert winners[False] == [1, 1, 1]
    # step 1: both have no win -> both under quota -> the better p1; step 2: p0 under quota
    assert winners[True][:2] == [1, 0]


def test_fairness_every_provider_wins_once_per_episode():
    env = auction_envs.make("auction_envs/CloudDoubleAuctionFair-v1", mechanism="cdara",
                            baseline_markup=None)
    for seed in range(3):
        env.reset(seed=seed)
        skewed = np.linspace(0.0, 1.0, 7)  # fixed, strongly ranked asks
        while env.agents:
            env.step(act(env, skewed))
        assert env.metrics()["providers_without_win"] == 0


def test_buyer_drops_after_five_lost_episodes_and_the_population_persists(tmp_path):
    rows = [_row(0, 1, "u0=", 0.5, 1.0, 0.2), _row(0, 2, "u1=", 0.1, 0.1, 0.1)]
    env = tiny_env(tmp_path, rows=rows, budget=60.0, max_cycles=1)  # u0's bundle costs 70 > 60
    for episode in range(5):
        env.reset(seed=episode)
        assert env.batch["bid"].size == 2
        env.step(act(env, [0.0, 0.0]))
        metrics = env.metrics()
        assert metrics["buyer_drops"] == (1 if episode == 4 else 0)
        assert metrics["population_episodes"] == episode + 1
    env.reset(seed=5)  # u0 left for good: her request is skipped, u1 (who wins) stays
    assert env.batch["user"].tolist() == [1]
    env.step(act(env, [0.0, 0.0]))
    metrics = env.metrics()
    assert metrics["dropped_requests"] >= 1 and metrics["population_drops"] == 1
    assert metrics["active_buyers"] == 1
    env.reset(seed=0, options={"new_population": True})
    assert env.batch["bid"].size == 2 and env.metrics()["population_drops"] == 0
    with pytest.raises(InvalidArgumentError):
        env.reset(options={"new_population": "yes"})


def test_a_won_episode_resets_the_loss_streak_and_an_unfinished_one_does_not_count(tmp_path):
    rows = [_row(0, 1, "u0=", 0.5, 1.0, 0.2)]
    env = tiny_env(tmp_path, rows=rows, max_cycles=1)
    for episode in range(9):
        env.reset(seed=0)
        env.batch["bid"][:] = 300.0 if episode == 4 else 50.0  # won only in episode 4
        env.step(act(env, [0.0, 0.0]))
    assert env.metrics()["population_drops"] == 0  # 4 losses, a win, 4 losses
    env = tiny_env(tmp_path, rows=rows, max_cycles=2, budget=10.0)
    for _ in range(6):
        env.reset(seed=0)
        env.step(act(env, [0.0, 0.0]))  # reset before the last step: the episode never ends
    assert env.metrics()["population_episodes"] == 0 and env.batch["bid"].size == 1


def test_surplus_of_every_match_is_budget_minus_base_cost_and_is_bounded(tmp_path):
    rows = [_row(0, 1, "u0=", 0.5, 1.0, 0.2), _row(0, 2, "u1=", 0.5, 1.0, 0.2)]
    env = tiny_env(tmp_path, rows=rows)
    env.reset(seed=0)
    env.step(act(env, [0.5, 0.0]))
    metrics = env.metrics()
    matched = [r for r in env.last_matches if r["provider"] >= 0]
    assert len(matched) == 2
    # each match: (bid - payment) + (payment - reserve) = bid - reserve; reserve 70 everywhere
    assert metrics["surplus"] == pytest.approx(2 * (300 - 70))
    assert metrics["surplus_bound"] == pytest.approx(2 * (300 - 70))
    for seed, mechanism in ((0, "rtrm"), (1, "cdara"), (2, "icaa")):
        env = auction_envs.make("auction_envs/CloudDoubleAuction-v1", mechanism=mechanism,
                                max_cycles=20)
        env.reset(seed=seed)
        while env.agents:
            env.step({a: np.full(24, 0.3, np.float32) for a in env.agents})
        m = env.unwrapped.metrics()
        assert m["surplus"] == pytest.approx(m["buyer_utility"] + m["total_provider_utility"])
        assert 0 < m["surplus"] <= m["surplus_bound"] + 1e-9


def test_payments_above_the_winners_own_ask_are_counted(tmp_path):
    env = tiny_env(tmp_path)
    env.reset(seed=0)
    env.step(act(env, [0.5, 0.0]))  # p1 wins with the cheaper offer and pays p0's higher offer
    (record,) = env.last_matches
    assert record["payment"] > record["offer"]
    assert env.metrics()["payments_above_ask"] == 1


def test_at_low_load_providers_starve_without_fairness_and_not_with_it():
    starved = {}
    for env_id in ("auction_envs/CloudDoubleAuctionLowLoad-v1",
                   "auction_envs/CloudDoubleAuctionLowLoadFair-v1"):
        env = auction_envs.make(env_id)
        starved[env_id] = 0
        for seed in range(3):
            env.reset(seed=seed)
            while env.agents:
                env.step({a: np.full(24, 0.2, np.float32) for a in env.agents})
            starved[env_id] += env.unwrapped.metrics()["providers_without_win"]
    assert starved["auction_envs/CloudDoubleAuctionLowLoad-v1"] > 0
    assert starved["auction_envs/CloudDoubleAuctionLowLoadFair-v1"] == 0


def test_deadline_failures_are_counted(tmp_path):
    env = tiny_env(tmp_path)
    env.reset(seed=0)
    env.step(act(env, [0.5, 0.0]))
    job = env.jobs[0]
    assert job["finish"] == job["start"] + 2 <= job["deadline"]
    job["deadline"] = job["finish"] - 1  # pretend it was promised earlier
    for _ in range(2):
        env.step(act(env, [0.5, 0.0]))
    metrics = env.metrics()
    assert metrics["deadline_failures"] == 1 and metrics["completed"] >= 1


def test_bad_arguments_fail_at_construction():
    for kwargs in ({"mechanism": "vcg"}, {"csf_form": "both"}, {"sigma": 0.0}, {"sigma": 1.5},
                   {"fairness": "yes"}, {"max_buyers": 0}, {"budget_range": (5, 1)},
                   {"wait_range": (1.5, 2)}, {"utilization_horizon": 99},
                   {"trace_path": "/no/such/file.csv"}, {"base_price_ranges": ((1, 2),)},
                   {"single_feasible_payment": "free"}, {"multiplier_low": -2.0}):
        with pytest.raises(InvalidArgumentError):
            CloudDoubleAuctionEnv(**kwargs)


# ---------------------------------------------------------------------------- invariants
def _check_step(env, booked_before_jobs):
    cap = env.capacity
    # capacity: rebuild the bookings from the job log, independently of env.booked
    now = env.num_cycles
    if env.jobs:
        start = np.array([j["start"] for j in env.jobs])
        finish = np.array([j["finish"] for j in env.jobs])
        provider = np.array([j["provider"] for j in env.jobs])
        request = np.array([j["request"] for j in env.jobs])
        steps = now + np.arange(env.horizon)
        running = (start[:, None] <= steps[None, :]) & (steps[None, :] < finish[:, None])
        for p in range(len(cap)):
            used = np.einsum("jt,jr->tr", running[provider == p], request[provider == p])
            assert np.all(used <= cap[p] + 1e-9), f"provider {p} over capacity"
    np.testing.assert_allclose(env.booked.sum(), booked_before_jobs(now), atol=1e-6)
    for record in env.last_matches:
        assert 0.0 <= record["payment"] <= record["bid"] + 1e-9
        if record["provider"] >= 0:
            assert record["offer"] <= record["bid"] + 1e-9
            assert record["payment"] >= record["reserve"] - 1e-9 or \
                record["payment"] == pytest.approx(record["bid"])
            assert record["arrival"] <= record["start"] <= record["arrival"] + record["wait"]
            assert record["finish"] == record["start"] + record["length"] <= record["deadline"]
            if env.mechanism == "cdara":
                assert record["payment"] == pytest.approx((record["bid"] + record["offer"]) / 2)
            elif env.mechanism == "icaa":
                assert record["payment"] == record["offer"]
            elif record["n_feasible"] == 1:
                assert record["runner_up"] == -1
                expected = record["offer"] if env.single_feasible_payment == "own" \
                    else record["reserve"]
                assert record["payment"] == pytest.approx(min(max(expected, record["reserve"]),
                                                              record["bid"]))
        else:
            assert record["payment"] == 0.0 and record["n_feasible"] == 0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), mechanism=st.sampled_from(["rtrm", "cdara", "icaa"]),
       fairness=st.booleans(), csf_form=st.sampled_from(["exclusive", "inclusive"]),
       single=st.sampled_from(["own", "reserve"]), order=st.sampled_from(["strength", "arrival"]),
       step_seconds=st.sampled_from([1.0, 3.0]), low=st.floats(0.0, 1.0))
def test_invariants_hold_at_every_step(seed, mechanism, fairness, csf_form, single, order,
                                       step_seconds, low):
    env = CloudDoubleAuctionEnv(mechanism=mechanism, fairness=fairness, csf_form=csf_form,
                                single_feasible_payment=single, matching_order=order,
                                step_seconds=step_seconds, max_cycles=30)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)

    def booked_total(now):
        total = 0.0
        for job in env.jobs:
            overlap = max(0, job["finish"] - max(job["start"], now))
            total += overlap * job["request"].sum()
        return total

    while env.agents:
        actions = {a: rng.uniform(low, 1.0, env.max_buyers).astype(np.float32) for a in env.agents}
        env.step(actions)
        _check_step(env, booked_total)
    metrics = env.metrics()
    finished = [j for j in env.jobs if j["finish"] <= env.num_cycles]
    assert metrics["completed"] == len(finished)
    assert metrics["deadline_failures"] == sum(j["finish"] > j["deadline"] for j in finished) == 0
    assert metrics["matched"] + metrics["unmatched_requests"] == metrics["auctioned"]
    assert np.all(metrics["utilization"] <= 1.0 + 1e-9)
